package metad_test

// The worker helper and the exactly-once calls against a real metad.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

// workerSetup registers a task and n files of a fresh source; it returns
// the task, a batch and the source.
func workerSetup(t *testing.T, c *metad.Client, tag string, n int) (task, batch, source string) {
	t.Helper()
	ctx := context.Background()
	task, batch, source = name("w_"+tag), name("wb_"+tag), name("ws_"+tag)
	if _, err := c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: task}); err != nil {
		t.Fatal(err)
	}
	var specs []*metadv1.FileSpec
	for i := 0; i < n; i++ {
		specs = append(specs, &metadv1.FileSpec{Source: source, FileName: fmt.Sprintf("f%02d.csv", i)})
	}
	if _, err := c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{Files: specs}); err != nil {
		t.Fatal(err)
	}
	return task, batch, source
}

func ids(files []*metadv1.File) []int64 {
	out := []int64{}
	for _, f := range files {
		out = append(out, f.GetId())
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// statusOf returns "STATUS/run" of a file ("NEW/0" when no run holds it).
func statusOf(t *testing.T, c *metad.Client, id int64) string {
	t.Helper()
	f, err := c.Files.GetFile(context.Background(), &metadv1.GetFileRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/%d", f.GetStatus().String()[len("FILE_STATUS_"):], f.GetRunId())
}

func countEvents(t *testing.T, c *metad.Client, id int64, kind string) int {
	t.Helper()
	resp, err := c.Files.ListFileEvents(context.Background(), &metadv1.ListFileEventsRequest{FileId: id})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range resp.GetEvents() {
		if e.GetKind() == kind {
			n++
		}
	}
	return n
}

func TestWorkerRunFinishesTheFilesItReceived(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, source := workerSetup(t, c, "ok", 5)
	w, err := metad.StartWorkerRun(ctx, c, task, batch, metad.WorkerOptions{LeaseSeconds: 30, WorkerID: "go-worker"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.StopHeartbeats()
	if w.ID() <= 0 || w.Lease < 29*time.Second || w.Lease > 31*time.Second || w.Run().GetWorkerId() != "go-worker" {
		t.Fatalf("started run %v, lease %v", w.Run(), w.Lease)
	}
	first, err := w.ClaimFiles(ctx, 3, source)
	if err != nil || len(first) != 3 {
		t.Fatalf("first claim: %v, %v; want 3 files", first, err)
	}
	rest, err := w.ClaimFiles(ctx, 10, source)
	if err != nil || len(rest) != 2 {
		t.Fatalf("second claim: %v, %v; want the 2 others", rest, err)
	}
	bad := first[0].GetId()
	if f, err := w.CompleteFile(ctx, bad, metadv1.FileStatus_FILE_STATUS_ERROR, "bad row 7"); err != nil ||
		f.GetStatus() != metadv1.FileStatus_FILE_STATUS_ERROR {
		t.Fatalf("CompleteFile: %v, %v", f, err)
	}
	all := ids(append(first, rest...))
	if got := w.Received(); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("Received() = %v, want %v", got, all)
	}
	done, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, "")
	if err != nil {
		t.Fatal(err)
	}
	if done.GetFilesFinished() != 4 || done.GetFilesReleased() != 0 || done.GetReplayed() ||
		done.GetRun().GetStatus() != metadv1.RunStatus_RUN_STATUS_SUCCESS || !w.Finished() {
		t.Fatalf("Finish: %v; want SUCCESS, 4 files finished, none released", done)
	}
	for _, id := range all {
		want := fmt.Sprintf("SUCCESS/%d", w.ID())
		if id == bad {
			want = fmt.Sprintf("ERROR/%d", w.ID())
		}
		if got := statusOf(t, c, id); got != want {
			t.Errorf("file %d is %s, want %s", id, got, want)
		}
	}
	// The run is over: the heartbeats stopped, and a retried Finish is the
	// first one's answer.
	again, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, "")
	if err != nil || !again.GetReplayed() || again.GetFilesFinished() != 4 {
		t.Fatalf("Finish again: %v, %v; want replayed with the same counts", again, err)
	}
}

// Files the run holds but the worker never received (a claim whose answer
// was lost: here, a claim through the bare stub) go back to NEW.
func TestWorkerRunReleasesFilesItNeverReceived(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, source := workerSetup(t, c, "unseen", 4)
	w, err := metad.StartWorkerRun(ctx, c, task, batch, metad.WorkerOptions{LeaseSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer w.StopHeartbeats()
	unseen, err := c.Files.ClaimFiles(ctx, &metadv1.ClaimFilesRequest{RunId: w.ID(), Source: source, Limit: 2})
	if err != nil || len(unseen.GetFiles()) != 2 {
		t.Fatalf("bare ClaimFiles: %v, %v", unseen, err)
	}
	seen, err := w.ClaimFiles(ctx, 10, source)
	if err != nil || len(seen) != 2 {
		t.Fatalf("worker ClaimFiles: %v, %v; want the 2 others", seen, err)
	}
	done, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, "")
	if err != nil {
		t.Fatal(err)
	}
	if done.GetFilesFinished() != 2 || done.GetFilesReleased() != 2 {
		t.Fatalf("Finish: %v; want 2 finished, 2 released", done)
	}
	for _, f := range unseen.GetFiles() {
		if got := statusOf(t, c, f.GetId()); got != "NEW/0" {
			t.Errorf("unseen file %d is %s, want NEW", f.GetId(), got)
		}
		if n := countEvents(t, c, f.GetId(), "RELEASED"); n != 1 {
			t.Errorf("unseen file %d has %d RELEASED events, want 1", f.GetId(), n)
		}
	}
	for _, f := range seen {
		if got := statusOf(t, c, f.GetId()); got != fmt.Sprintf("SUCCESS/%d", w.ID()) {
			t.Errorf("received file %d is %s, want SUCCESS", f.GetId(), got)
		}
	}
}

// The same request twice (what a retry after a lost answer sends) is
// answered as the first, and changes nothing more.
func TestRetriedCallsAreReplayed(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, source := workerSetup(t, c, "replay", 3)
	started, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: task, BatchId: batch, LeaseSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	run := started.GetRun().GetId()
	claim := &metadv1.ClaimFilesRequest{RunId: run, Source: source, Limit: 2, RequestId: "claim-1"}
	first, err := c.Files.ClaimFiles(ctx, claim)
	if err != nil || len(first.GetFiles()) != 2 || first.GetReplayed() {
		t.Fatalf("ClaimFiles: %v, %v", first, err)
	}
	retry, err := c.Files.ClaimFiles(ctx, claim)
	if err != nil || !retry.GetReplayed() || fmt.Sprint(ids(retry.GetFiles())) != fmt.Sprint(ids(first.GetFiles())) {
		t.Fatalf("ClaimFiles again: %v, %v; want replayed with the same files", retry, err)
	}
	// The same key for another claim is a mistake.
	_, err = c.Files.ClaimFiles(ctx, &metadv1.ClaimFilesRequest{RunId: run, Source: source, Limit: 3, RequestId: "claim-1"})
	wantCode(t, "ClaimFiles reusing a key", err, codes.AlreadyExists, "request_id")
	if r := metad.Reason(err); r != "REQUEST_ID_REUSED" {
		t.Errorf("reason %q, want REQUEST_ID_REUSED", r)
	}

	a, b := first.GetFiles()[0].GetId(), first.GetFiles()[1].GetId()
	complete := &metadv1.CompleteFileRequest{FileId: a, RunId: run, Status: metadv1.FileStatus_FILE_STATUS_ERROR, ErrorMessage: "bad"}
	if r, err := c.Files.CompleteFile(ctx, complete); err != nil || r.GetReplayed() {
		t.Fatalf("CompleteFile: %v, %v", r, err)
	}
	if r, err := c.Files.CompleteFile(ctx, complete); err != nil || !r.GetReplayed() ||
		r.GetFile().GetStatus() != metadv1.FileStatus_FILE_STATUS_ERROR {
		t.Fatalf("CompleteFile again: %v, %v; want replayed, ERROR", r, err)
	}
	finish := &metadv1.FinishRunRequest{RunId: run, Status: metadv1.RunStatus_RUN_STATUS_SUCCESS, FileIds: []int64{a, b}}
	done, err := c.Runs.FinishRun(ctx, finish)
	if err != nil || done.GetReplayed() || done.GetFilesFinished() != 1 || done.GetFilesReleased() != 0 {
		t.Fatalf("FinishRun: %v, %v; want 1 finished", done, err)
	}
	again, err := c.Runs.FinishRun(ctx, finish)
	if err != nil || !again.GetReplayed() || again.GetFilesFinished() != 1 ||
		again.GetRun().GetStatus() != metadv1.RunStatus_RUN_STATUS_SUCCESS {
		t.Fatalf("FinishRun again: %v, %v; want replayed with the same counts", again, err)
	}
	for _, id := range []int64{a, b} {
		if n := countEvents(t, c, id, "COMPLETED") + countEvents(t, c, id, "FINISHED"); n != 1 {
			t.Errorf("file %d ended %d times, want once", id, n)
		}
	}
	// Another ending is not a retry.
	_, err = c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: run, Status: metadv1.RunStatus_RUN_STATUS_ERROR, ErrorMessage: "no"})
	wantCode(t, "FinishRun with another outcome", err, codes.FailedPrecondition)
}

// dropper loses the answers of calls that took effect: the next drop[m]
// successful calls of method m answer UNAVAILABLE instead.
type dropper struct {
	mu      sync.Mutex
	drop    map[string]int
	calls   map[string]int
	dropped map[string]int
}

func newDropper() *dropper {
	return &dropper{drop: map[string]int{}, calls: map[string]int{}, dropped: map[string]int{}}
}

func (d *dropper) set(method string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drop["/metad.v1."+method] = n
}

func (d *dropper) count(m map[string]int, method string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return m["/metad.v1."+method]
}

func (d *dropper) intercept(ctx context.Context, method string, req, reply interface{},
	cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[method]++
	if err == nil && d.drop[method] > 0 {
		d.drop[method]--
		d.dropped[method]++
		return status.Error(codes.Unavailable, "answer dropped by the test")
	}
	return err
}

// Through the client's own retries: answers of ClaimFiles, CompleteFile and
// FinishRun are lost after the calls took effect; the retries are answered
// as the first calls, so the worker gets the files that were claimed for
// it, nothing is claimed twice, and every file ends SUCCESS once.
func TestLostAnswersAreRetriedByTheClient(t *testing.T) {
	plain := connect(t)
	ctx := context.Background()
	task, batch, source := workerSetup(t, plain, "lossy", 6)
	d := newDropper()
	c, err := metad.Dial(ctx, daemon.Address, metad.Options{
		InitialBackoff: time.Millisecond, MaxAttempts: 3,
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(d.intercept)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := metad.StartWorkerRun(ctx, c, task, batch, metad.WorkerOptions{LeaseSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer w.StopHeartbeats()

	d.set("FileService/ClaimFiles", 1)
	got, err := w.ClaimFiles(ctx, 4, source)
	if err != nil || len(got) != 4 {
		t.Fatalf("ClaimFiles with a lost answer: %v, %v; want 4 files", got, err)
	}
	if n := d.count(d.calls, "FileService/ClaimFiles"); n != 2 {
		t.Fatalf("ClaimFiles sent %d times, want 2 (the retry)", n)
	}
	held, err := plain.Files.ListFiles(ctx, &metadv1.ListFilesRequest{RunId: w.ID(), PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(held.GetFiles())) != fmt.Sprint(ids(got)) {
		t.Fatalf("the run holds %v, the worker received %v: want the same files", ids(held.GetFiles()), ids(got))
	}

	// Every attempt of a claim lost: the error reaches the worker, and its
	// next claim of the same shape reuses the key, so it gets those files.
	d.set("FileService/ClaimFiles", 3)
	if _, err := w.ClaimFiles(ctx, 1, source); status.Code(err) != codes.Unavailable {
		t.Fatalf("ClaimFiles with every answer lost: %v, want UNAVAILABLE", err)
	}
	late, err := w.ClaimFiles(ctx, 1, source)
	if err != nil || len(late) != 1 {
		t.Fatalf("ClaimFiles after the lost one: %v, %v; want 1 file", late, err)
	}
	got = append(got, late...)

	d.set("FileService/CompleteFile", 1)
	if f, err := w.CompleteFile(ctx, got[0].GetId(), metadv1.FileStatus_FILE_STATUS_SUCCESS, ""); err != nil ||
		f.GetStatus() != metadv1.FileStatus_FILE_STATUS_SUCCESS {
		t.Fatalf("CompleteFile with a lost answer: %v, %v", f, err)
	}
	d.set("TaskLogService/FinishRun", 1)
	done, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, "")
	if err != nil {
		t.Fatalf("Finish with a lost answer: %v", err)
	}
	if !done.GetReplayed() || done.GetFilesFinished() != 4 || done.GetFilesReleased() != 0 {
		t.Fatalf("Finish: %v; want the replayed answer: 4 finished, none released", done)
	}
	for _, m := range []string{"FileService/ClaimFiles", "FileService/CompleteFile", "TaskLogService/FinishRun"} {
		if d.count(d.drop, m) != 0 {
			t.Errorf("%s: an answer meant to be lost was not", m)
		}
	}
	for _, f := range got {
		if s := statusOf(t, plain, f.GetId()); s != fmt.Sprintf("SUCCESS/%d", w.ID()) {
			t.Errorf("file %d is %s, want SUCCESS", f.GetId(), s)
		}
		if n := countEvents(t, plain, f.GetId(), "CLAIMED"); n != 1 {
			t.Errorf("file %d claimed %d times, want once", f.GetId(), n)
		}
	}
	// The sixth file was never claimed.
	rest, err := plain.Files.ListFiles(ctx, &metadv1.ListFilesRequest{Source: source, Status: metadv1.FileStatus_FILE_STATUS_NEW})
	if err != nil || len(rest.GetFiles()) != 1 {
		t.Fatalf("NEW files left: %v, %v; want 1", rest, err)
	}
}

// A run whose lease lapsed is lost: the helper's calls return RunLostError
// with the daemon's refusal.
func TestWorkerRunLost(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, source := workerSetup(t, c, "lost", 1)
	w, err := metad.StartWorkerRun(ctx, c, task, batch, metad.WorkerOptions{LeaseSeconds: 1, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	files, err := w.ClaimFiles(ctx, 1, source)
	if err != nil || len(files) != 1 {
		t.Fatalf("ClaimFiles: %v, %v", files, err)
	}
	// No heartbeats: wait for the lease to lapse (the daemon's clock).
	time.Sleep(time.Until(w.Run().GetLeaseExpireTime().AsTime()) + 200*time.Millisecond)
	_, err = w.CompleteFile(ctx, files[0].GetId(), metadv1.FileStatus_FILE_STATUS_SUCCESS, "")
	var lost *metad.RunLostError
	if !errors.As(err, &lost) || lost.RunID != w.ID() || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("CompleteFile after the lapse: %v; want RunLostError, FAILED_PRECONDITION", err)
	}
	if r := metad.Reason(err); r != "LEASE_EXPIRED" && r != "RUN_ENDED" {
		t.Errorf("reason %q, want LEASE_EXPIRED or RUN_ENDED", r)
	}
	if _, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, ""); !errors.As(err, &lost) {
		t.Fatalf("Finish of a lost run: %v, want RunLostError", err)
	}
	if _, err := w.ClaimFiles(ctx, 1, source); !errors.As(err, &lost) || w.Err() == nil {
		t.Fatalf("ClaimFiles of a lost run: %v, want RunLostError", err)
	}
	if got := statusOf(t, c, files[0].GetId()); got != "NEW/0" {
		t.Fatalf("the lost run's file is %s, want NEW", got)
	}
}

// waitFor polls cond (every 20 ms, at most 10 s): for what a background
// goroutine does, with no assumption on how fast.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// The heartbeat goroutine extends the lease; when the daemon refuses a
// heartbeat (here the run was ended behind the worker's back) the run is
// lost and the helper's calls say so.
func TestWorkerRunHeartbeats(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, source := workerSetup(t, c, "beats", 1)
	w, err := metad.StartWorkerRun(ctx, c, task, batch, metad.WorkerOptions{LeaseSeconds: 30, HeartbeatInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.StopHeartbeats()
	start := w.Run().GetLeaseExpireTime().AsTime()
	waitFor(t, "a heartbeat extending the lease", func() bool {
		return w.Run().GetLeaseExpireTime().AsTime().After(start)
	})
	files, err := w.ClaimFiles(ctx, 1, source)
	if err != nil || len(files) != 1 {
		t.Fatalf("ClaimFiles: %v, %v", files, err)
	}
	if _, err := c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: w.ID(), Status: metadv1.RunStatus_RUN_STATUS_ERROR,
		ErrorMessage: "ended elsewhere"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the heartbeat finding the run ended", func() bool { return w.Err() != nil })
	var lost *metad.RunLostError
	if !errors.As(w.Err(), &lost) || metad.Reason(w.Err()) != "RUN_ENDED" {
		t.Fatalf("Err() = %v, want RunLostError with RUN_ENDED", w.Err())
	}
	if _, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, ""); !errors.As(err, &lost) {
		t.Fatalf("Finish of the lost run: %v, want RunLostError", err)
	}
	w.StopHeartbeats() // returns: the goroutine has ended
}
