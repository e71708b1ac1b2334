package metad

// Tests of the client's own behaviour (retries, request ids, deadlines,
// token, TLS) against a scripted in-process server; no daemon needed.

import (
	"context"
	"fmt"
	"io/ioutil"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/metad-project/metad/clients/go/internal/testdaemon"
	"github.com/metad-project/metad/clients/go/metadv1"
)

// scripted answers each method with the next error of its script (nil or
// an exhausted script means success) and records what it was sent.
type scripted struct {
	metadv1.UnimplementedTaskLogServiceServer
	metadv1.UnimplementedFileServiceServer
	mu         sync.Mutex
	script     map[string][]codes.Code
	calls      map[string]int
	requestIDs []string
	deadlines  []time.Duration // remaining time seen by each call; -1 for none
	auth       []string
}

func newScripted(script map[string][]codes.Code) *scripted {
	return &scripted{script: script, calls: map[string]int{}}
}

func (s *scripted) next(ctx context.Context, method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	if d, ok := ctx.Deadline(); ok {
		s.deadlines = append(s.deadlines, time.Until(d))
	} else {
		s.deadlines = append(s.deadlines, -1)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	s.auth = append(s.auth, md.Get("authorization")...)
	if script := s.script[method]; len(script) > 0 {
		s.script[method] = script[1:]
		if script[0] != codes.OK {
			return status.Errorf(script[0], "%s: scripted %s", method, script[0])
		}
	}
	return nil
}

func (s *scripted) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *scripted) StartRun(ctx context.Context, r *metadv1.StartRunRequest) (*metadv1.StartRunResponse, error) {
	s.mu.Lock()
	s.requestIDs = append(s.requestIDs, r.GetRequestId())
	s.mu.Unlock()
	if err := s.next(ctx, "StartRun"); err != nil {
		return nil, err
	}
	return &metadv1.StartRunResponse{Run: &metadv1.Run{Id: 7, RequestId: r.GetRequestId()}, Created: true}, nil
}

func (s *scripted) FinishRun(ctx context.Context, r *metadv1.FinishRunRequest) (*metadv1.FinishRunResponse, error) {
	if err := s.next(ctx, "FinishRun"); err != nil {
		return nil, err
	}
	return &metadv1.FinishRunResponse{Run: &metadv1.Run{Id: r.GetRunId()}}, nil
}

func (s *scripted) Heartbeat(ctx context.Context, r *metadv1.HeartbeatRequest) (*metadv1.HeartbeatResponse, error) {
	if err := s.next(ctx, "Heartbeat"); err != nil {
		return nil, err
	}
	return &metadv1.HeartbeatResponse{Run: &metadv1.Run{Id: r.GetRunId()}}, nil
}

func (s *scripted) RerunTasks(ctx context.Context, r *metadv1.RerunTasksRequest) (*metadv1.RerunTasksResponse, error) {
	if err := s.next(ctx, "RerunTasks"); err != nil {
		return nil, err
	}
	return &metadv1.RerunTasksResponse{}, nil
}

func (s *scripted) ClaimFiles(ctx context.Context, r *metadv1.ClaimFilesRequest) (*metadv1.ClaimFilesResponse, error) {
	s.mu.Lock()
	s.requestIDs = append(s.requestIDs, r.GetRequestId())
	s.mu.Unlock()
	if err := s.next(ctx, "ClaimFiles"); err != nil {
		return nil, err
	}
	return &metadv1.ClaimFilesResponse{Files: []*metadv1.File{{Id: 11}}}, nil
}

func (s *scripted) CompleteFile(ctx context.Context, r *metadv1.CompleteFileRequest) (*metadv1.CompleteFileResponse, error) {
	if err := s.next(ctx, "CompleteFile"); err != nil {
		return nil, err
	}
	return &metadv1.CompleteFileResponse{File: &metadv1.File{Id: r.GetFileId()}}, nil
}

func (s *scripted) GetRun(ctx context.Context, r *metadv1.GetRunRequest) (*metadv1.Run, error) {
	if err := s.next(ctx, "GetRun"); err != nil {
		return nil, err
	}
	return &metadv1.Run{Id: r.GetRunId()}, nil
}

// serve starts s on a loopback port; the server stops with the test.
func serve(t *testing.T, s *scripted, opts ...grpc.ServerOption) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	metadv1.RegisterTaskLogServiceServer(srv, s)
	metadv1.RegisterFileServiceServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

func dial(t *testing.T, addr string, opts Options) *Client {
	t.Helper()
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = time.Millisecond
	}
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kindWant is every metad.v1 method's expected retry kind, written out so
// that an annotation changed in a .proto shows up here as a test failure.
var kindWant = map[string]CallKind{
	"/metad.v1.FileService/RegisterFile":           Creating,
	"/metad.v1.FileService/RegisterFiles":          Creating,
	"/metad.v1.FileService/ClaimFiles":             Creating,
	"/metad.v1.TaskService/RegisterTask":           Creating,
	"/metad.v1.TaskLogService/StartRun":            Creating,
	"/metad.v1.DependencyService/AddDependency":    Creating,
	"/metad.v1.FileService/GetFile":                Read,
	"/metad.v1.FileService/ListFiles":              Read,
	"/metad.v1.FileService/ListFileEvents":         Read,
	"/metad.v1.FileService/GetLineage":             Read,
	"/metad.v1.TaskService/GetTask":                Read,
	"/metad.v1.TaskService/ListTasks":              Read,
	"/metad.v1.TaskService/ListTaskEvents":         Read,
	"/metad.v1.DependencyService/ListDependencies": Read,
	"/metad.v1.DependencyService/GetUpstream":      Read,
	"/metad.v1.DependencyService/GetDownstream":    Read,
	"/metad.v1.DependencyService/GetExecutionPlan": Read,
	"/metad.v1.DependencyService/GetReadyTasks":    Read,
	"/metad.v1.TaskLogService/GetRun":              Read,
	"/metad.v1.TaskLogService/ListRuns":            Read,
	"/metad.v1.TaskLogService/GetBatch":            Read,
	"/metad.v1.TaskLogService/ListRunEvents":       Read,
	"/metad.v1.WatchService/WatchFiles":            Read, // streams: never through the unary retries
	"/metad.v1.WatchService/WatchRuns":             Read,
	"/metad.v1.FileService/CompleteFile":           Idempotent,
	"/metad.v1.TaskLogService/FinishRun":           Idempotent,
	"/metad.v1.TaskLogService/Heartbeat":           Idempotent,
	"/metad.v1.TaskLogService/CancelRun":           Idempotent,
	"/metad.v1.TaskLogService/RecordOutputs":       Idempotent,
	"/metad.v1.AdminService/PruneHistory":          Idempotent,
	"/metad.v1.DeadlineService/SetBatchDeadline":   Idempotent,
	"/metad.v1.DeadlineService/SetSourceFreshness": Idempotent,
	"/metad.v1.DeadlineService/ListAlerts":         Read,
	"/metad.v1.TaskLogService/RerunTasks":          Once,
	"/metad.v1.FileService/ReprocessFiles":         Once,
	"/metad.v1.FileService/ResetFile":              Once,
	"/metad.v1.TaskService/DeleteTask":             Once,
	"/metad.v1.TaskService/UpdateTask":             Once,
	"/metad.v1.DependencyService/RemoveDependency": Once,
}

// KindOf reads each method's idempotency_level: every method of the
// compiled metad.v1 descriptors is in kindWant with the kind it gets, and
// unknown names are Once.
func TestKindOf(t *testing.T) {
	seen := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("metad.v1", func(f protoreflect.FileDescriptor) bool {
		for i := 0; i < f.Services().Len(); i++ {
			s := f.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				method := fmt.Sprintf("/%s/%s", s.FullName(), s.Methods().Get(j).Name())
				want, ok := kindWant[method]
				if !ok {
					t.Errorf("%s is not in kindWant: add it with the kind it should get", method)
					continue
				}
				seen++
				if got := KindOf(method); got != want {
					t.Errorf("KindOf(%s) = %v, want %v", method, got, want)
				}
			}
		}
		return true
	})
	if seen != len(kindWant) {
		t.Errorf("kindWant names %d methods, the descriptors %d", len(kindWant), seen)
	}
	for _, method := range []string{"/other.v1.Service/GetThing", "/metad.v1.FileService/Nope",
		"/metad.v1.FileRequest/Get", "metad.v1.FileService.GetFile", ""} {
		if got := KindOf(method); got != Once {
			t.Errorf("KindOf(%q) = %v, want once", method, got)
		}
	}
}

func TestCreatingCallRetriesWithOneRequestID(t *testing.T) {
	s := newScripted(map[string][]codes.Code{"StartRun": {codes.Unavailable, codes.Aborted}})
	c := dial(t, serve(t, s), Options{})
	req := &metadv1.StartRunRequest{Task: "load_sales", BatchId: "b1"}
	resp, err := c.Runs.StartRun(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.requestIDs) != 3 {
		t.Fatalf("server saw %d attempts, want 3", len(s.requestIDs))
	}
	id := s.requestIDs[0]
	if len(id) != 32 || s.requestIDs[1] != id || s.requestIDs[2] != id {
		t.Fatalf("request ids %q: want one generated id on every attempt", s.requestIDs)
	}
	if resp.GetRun().GetRequestId() != id {
		t.Fatalf("response request id %q, want %q", resp.GetRun().GetRequestId(), id)
	}
	if req.GetRequestId() != "" {
		t.Fatalf("the caller's request was changed: request_id %q", req.GetRequestId())
	}
	// A second call with the same message gets a new id: it is a new call.
	if _, err := c.Runs.StartRun(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if s.requestIDs[3] == id {
		t.Fatal("a new call reused the previous call's request id")
	}
}

func TestCallerRequestIDIsKept(t *testing.T) {
	s := newScripted(map[string][]codes.Code{"StartRun": {codes.Unavailable}})
	c := dial(t, serve(t, s), Options{})
	_, err := c.Runs.StartRun(context.Background(), &metadv1.StartRunRequest{RequestId: "mine-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.requestIDs) != 2 || s.requestIDs[0] != "mine-1" || s.requestIDs[1] != "mine-1" {
		t.Fatalf("request ids %q, want [mine-1 mine-1]", s.requestIDs)
	}
}

func TestReadRetriesUnavailableAndAborted(t *testing.T) {
	s := newScripted(map[string][]codes.Code{"GetRun": {codes.Unavailable, codes.Aborted, codes.Unavailable}})
	c := dial(t, serve(t, s), Options{})
	if _, err := c.Runs.GetRun(context.Background(), &metadv1.GetRunRequest{RunId: 3}); err != nil {
		t.Fatal(err)
	}
	if got := s.count("GetRun"); got != 4 {
		t.Fatalf("GetRun attempts = %d, want 4", got)
	}
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	s := newScripted(map[string][]codes.Code{"GetRun": {codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable}})
	c := dial(t, serve(t, s), Options{MaxAttempts: 3})
	_, err := c.Runs.GetRun(context.Background(), &metadv1.GetRunRequest{RunId: 3})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want UNAVAILABLE", err)
	}
	if got := s.count("GetRun"); got != 3 {
		t.Fatalf("GetRun attempts = %d, want 3", got)
	}
}

func TestOtherCodesAndUnsafeCallsAreNotRetried(t *testing.T) {
	s := newScripted(map[string][]codes.Code{
		"GetRun":     {codes.NotFound},
		"StartRun":   {codes.FailedPrecondition},
		"FinishRun":  {codes.FailedPrecondition},
		"RerunTasks": {codes.Unavailable},
	})
	c := dial(t, serve(t, s), Options{})
	ctx := context.Background()
	if _, err := c.Runs.GetRun(ctx, &metadv1.GetRunRequest{RunId: 1}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRun: %v, want NOT_FOUND", err)
	}
	if _, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("StartRun: %v, want FAILED_PRECONDITION", err)
	}
	if _, err := c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: 1}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("FinishRun: %v, want FAILED_PRECONDITION", err)
	}
	if _, err := c.Runs.RerunTasks(ctx, &metadv1.RerunTasksRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("RerunTasks: %v, want UNAVAILABLE", err)
	}
	for _, m := range []string{"GetRun", "StartRun", "FinishRun", "RerunTasks"} {
		if got := s.count(m); got != 1 {
			t.Errorf("%s attempts = %d, want 1", m, got)
		}
	}
}

// FinishRun, Heartbeat and CompleteFile answer a repeat of a call that took
// effect as the first one, so they are retried like reads.
func TestIdempotentCallsAreRetried(t *testing.T) {
	s := newScripted(map[string][]codes.Code{
		"FinishRun":    {codes.Unavailable, codes.Unavailable},
		"Heartbeat":    {codes.Aborted},
		"CompleteFile": {codes.Unavailable},
	})
	c := dial(t, serve(t, s), Options{})
	ctx := context.Background()
	if _, err := c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: 1, FileIds: []int64{3}}); err != nil {
		t.Errorf("FinishRun: %v", err)
	}
	if _, err := c.Runs.Heartbeat(ctx, &metadv1.HeartbeatRequest{RunId: 1}); err != nil {
		t.Errorf("Heartbeat: %v", err)
	}
	if _, err := c.Files.CompleteFile(ctx, &metadv1.CompleteFileRequest{RunId: 1, FileId: 3}); err != nil {
		t.Errorf("CompleteFile: %v", err)
	}
	for m, want := range map[string]int{"FinishRun": 3, "Heartbeat": 2, "CompleteFile": 2} {
		if got := s.count(m); got != want {
			t.Errorf("%s attempts = %d, want %d", m, got, want)
		}
	}
}

// ClaimFiles is a creating call: every attempt carries the same request_id,
// so a retry after a lost answer returns the first attempt's files.
func TestClaimFilesRetriesWithOneRequestID(t *testing.T) {
	s := newScripted(map[string][]codes.Code{"ClaimFiles": {codes.Unavailable}})
	c := dial(t, serve(t, s), Options{})
	req := &metadv1.ClaimFilesRequest{RunId: 1, Limit: 5}
	if _, err := c.Files.ClaimFiles(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(s.requestIDs) != 2 || len(s.requestIDs[0]) != 32 || s.requestIDs[1] != s.requestIDs[0] {
		t.Fatalf("request ids %q: want one generated id on both attempts", s.requestIDs)
	}
	if req.GetRequestId() != "" {
		t.Fatalf("the caller's request was changed: request_id %q", req.GetRequestId())
	}
}

func TestDefaultDeadline(t *testing.T) {
	s := newScripted(nil)
	c := dial(t, serve(t, s), Options{CallTimeout: 5 * time.Second})
	if _, err := c.Runs.GetRun(context.Background(), &metadv1.GetRunRequest{RunId: 1}); err != nil {
		t.Fatal(err)
	}
	// The caller's own deadline wins.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Runs.GetRun(ctx, &metadv1.GetRunRequest{RunId: 1}); err != nil {
		t.Fatal(err)
	}
	if d := s.deadlines[0]; d <= 0 || d > 5*time.Second {
		t.Errorf("first call's deadline %v from now, want (0, 5s]", d)
	}
	if d := s.deadlines[1]; d <= 5*time.Second {
		t.Errorf("second call's deadline %v from now, want the caller's minute", d)
	}
}

func TestTokenFileOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := testdaemon.SelfSignedCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := ioutil.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serverCreds, err := credentials.NewServerTLSFromFile(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := newScripted(nil)
	addr := serve(t, s, grpc.Creds(serverCreds))
	c := dial(t, addr, Options{CAFile: certFile, ServerName: "localhost", TokenFile: tokenFile})
	if _, err := c.Runs.GetRun(context.Background(), &metadv1.GetRunRequest{RunId: 1}); err != nil {
		t.Fatal(err)
	}
	if len(s.auth) != 1 || s.auth[0] != "Bearer s3cret-token" {
		t.Fatalf("authorization metadata %q, want [Bearer s3cret-token]", s.auth)
	}
	// Without the CA the server is not trusted.
	if _, err := Dial(context.Background(), addr, Options{TLS: true, DialTimeout: 300 * time.Millisecond}); err == nil {
		t.Fatal("dial with system roots to a self-signed server succeeded")
	}
	// An empty token file is a mistake, not "no token".
	empty := filepath.Join(dir, "empty")
	ioutil.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := Dial(context.Background(), addr, Options{TokenFile: empty}); err == nil {
		t.Fatal("dial with an empty token file succeeded")
	}
}
