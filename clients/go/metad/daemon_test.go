package metad_test

// Tests against a real metad (see internal/testdaemon): the daemon of
// METAD_ADDRESS, or one started for this package with a fresh database.
// Names carry a per-run suffix, so the tests also pass against a shared
// daemon that already holds data.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/internal/testdaemon"
	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

var (
	daemon    *testdaemon.Daemon
	daemonErr error
	suffix    = fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano()%1000000)
)

func TestMain(m *testing.M) {
	daemon, daemonErr = testdaemon.Start("go_client")
	code := m.Run()
	if daemon != nil {
		if err := daemon.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// connect returns a client of the test daemon, or skips the test when none
// is configured (METAD_REQUIRE_DAEMON=1 turns that into a failure).
func connect(t *testing.T) *metad.Client {
	t.Helper()
	if daemonErr != nil {
		if errors.Is(daemonErr, testdaemon.ErrNotConfigured) && os.Getenv("METAD_REQUIRE_DAEMON") == "" {
			t.Skip(daemonErr)
		}
		t.Fatal(daemonErr)
	}
	c, err := metad.Dial(context.Background(), daemon.Address, metad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func name(base string) string { return base + "_" + suffix }

// wantCode fails unless err has the code and its message mentions every
// one of words.
func wantCode(t *testing.T, what string, err error, code codes.Code, words ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
	for _, w := range words {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Fatalf("%s: message %q does not mention %q", what, status.Convert(err).Message(), w)
		}
	}
}

func TestRegisterFileDedupe(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	source := name("sales")
	spec := &metadv1.FileSpec{Source: source, FileName: "sales_report_2024-03.csv",
		Checksum: "sha256:aa", SizeBytes: 1234, Attributes: map[string]string{"month": "2024-03"}}
	first, err := c.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: spec})
	if err != nil {
		t.Fatal(err)
	}
	f := first.GetFile()
	if !first.GetCreated() || f.GetId() <= 0 || f.GetStatus() != metadv1.FileStatus_FILE_STATUS_NEW ||
		f.GetChecksum() != "sha256:aa" || f.GetSizeBytes() != 1234 || f.GetAttributes()["month"] != "2024-03" {
		t.Fatalf("first registration: %v", first)
	}
	// Again, with the same content: the stored record comes back unchanged.
	again, err := c.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: &metadv1.FileSpec{
		Source: source, FileName: "sales_report_2024-03.csv", Checksum: "sha256:aa"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetCreated() || again.GetChanged() || again.GetFile().GetId() != f.GetId() ||
		again.GetFile().GetChecksum() != "sha256:aa" || again.GetFile().GetVersion() != 1 {
		t.Fatalf("second registration: %v, want created=false and the stored record", again)
	}
	// Other content: a new version of the same file.
	newer, err := c.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: &metadv1.FileSpec{
		Source: source, FileName: "sales_report_2024-03.csv", Checksum: "sha256:bb"}})
	if err != nil {
		t.Fatal(err)
	}
	if newer.GetCreated() || !newer.GetChanged() || newer.GetFile().GetId() != f.GetId() ||
		newer.GetFile().GetChecksum() != "sha256:bb" || newer.GetFile().GetVersion() != 2 {
		t.Fatalf("changed registration: %v, want changed=true at version 2", newer)
	}

	// RegisterFiles reports per item; a repeat within the request is not new.
	batch, err := c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{Files: []*metadv1.FileSpec{
		{Source: source, FileName: "a.csv"},
		{Source: source, FileName: "b.csv"},
		{Source: source, FileName: "a.csv"},
		{Source: source, FileName: "sales_report_2024-03.csv"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var created []bool
	for _, r := range batch.GetResults() {
		created = append(created, r.GetCreated())
	}
	if fmt.Sprint(created) != "[true true false false]" || batch.GetCreatedCount() != 2 {
		t.Fatalf("RegisterFiles created %v (count %d), want [true true false false] (2)", created, batch.GetCreatedCount())
	}
	if r := batch.GetResults(); r[2].GetFile().GetId() != r[0].GetFile().GetId() || r[3].GetFile().GetId() != f.GetId() {
		t.Fatalf("repeated files got other ids: %v", r)
	}

	// Chunked registration: 2,500 files in 3 calls, then none new.
	var specs []*metadv1.FileSpec
	for i := 0; i < 2500; i++ {
		specs = append(specs, &metadv1.FileSpec{Source: source, FileName: fmt.Sprintf("part-%05d.csv", i)})
	}
	sum, err := c.RegisterInChunks(ctx, specs, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (metad.RegisterSummary{Files: 2500, Created: 2500, Calls: 3}) {
		t.Fatalf("first chunked registration: %+v", sum)
	}
	if sum, err = c.RegisterInChunks(ctx, specs, 1000, nil); err != nil || sum.Created != 0 {
		t.Fatalf("second chunked registration: %+v, %v; want nothing new", sum, err)
	}
	list, err := c.Files.ListFiles(ctx, &metadv1.ListFilesRequest{Source: source, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetFiles()) != 1000 || list.GetNextPageToken() == "" {
		t.Fatalf("ListFiles: %d files, next %q; want a full page and more", len(list.GetFiles()), list.GetNextPageToken())
	}
}

func TestRegisterRefusals(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	_, err := c.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: &metadv1.FileSpec{FileName: "x.csv"}})
	wantCode(t, "RegisterFile without source", err, codes.InvalidArgument, "source")
	_, err = c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{})
	wantCode(t, "RegisterFiles of nothing", err, codes.InvalidArgument)
	// A malformed item fails the whole call: nothing of it is stored.
	source := name("atomic")
	_, err = c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{Files: []*metadv1.FileSpec{
		{Source: source, FileName: "ok.csv"}, {Source: source, FileName: ""}}})
	wantCode(t, "RegisterFiles with an empty name", err, codes.InvalidArgument, "file_name")
	_, err = c.Files.GetFile(ctx, &metadv1.GetFileRequest{Source: source, FileName: "ok.csv"})
	wantCode(t, "GetFile of the refused batch's file", err, codes.NotFound)
	var chunkErr *metad.ChunkError
	_, err = c.RegisterInChunks(ctx, []*metadv1.FileSpec{{Source: source, FileName: "ok.csv"}, {Source: source}}, 1, nil)
	if !errors.As(err, &chunkErr) || chunkErr.First != 1 || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("RegisterInChunks: %v, want a ChunkError for file 1 with INVALID_ARGUMENT", err)
	}
	_, err = c.Files.ListFiles(ctx, &metadv1.ListFilesRequest{PageToken: "not-a-token"})
	wantCode(t, "ListFiles with a forged token", err, codes.InvalidArgument, "page_token")
	_, err = c.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: 1 << 50})
	wantCode(t, "GetFile of an unknown id", err, codes.NotFound)
}

// The seed's shape: load_sales -> calculate_profit in one batch.
func TestRunLifecycle(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	load, calc, batch, source := name("load_sales"), name("calculate_profit"), name("batch"), name("lifecycle")
	for _, task := range []string{load, calc} {
		if _, err := c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: task, MaxAttempts: 2}); err != nil {
			t.Fatal(err)
		}
	}
	dep, err := c.Deps.AddDependency(ctx, &metadv1.AddDependencyRequest{ParentTask: load, ChildTask: calc})
	if err != nil || !dep.GetCreated() {
		t.Fatalf("AddDependency: %v, %v", dep, err)
	}
	if dep, err = c.Deps.AddDependency(ctx, &metadv1.AddDependencyRequest{ParentTask: load, ChildTask: calc}); err != nil || dep.GetCreated() {
		t.Fatalf("AddDependency again: %v, %v; want created=false", dep, err)
	}
	_, err = c.Deps.AddDependency(ctx, &metadv1.AddDependencyRequest{ParentTask: calc, ChildTask: load})
	wantCode(t, "AddDependency closing a cycle", err, codes.FailedPrecondition)

	ready := func() []string {
		t.Helper()
		r, err := c.Deps.GetReadyTasks(ctx, &metadv1.GetReadyTasksRequest{BatchId: batch, Targets: []string{calc}})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, task := range r.GetTasks() {
			names = append(names, task.GetName())
		}
		return names
	}
	if got := ready(); fmt.Sprint(got) != fmt.Sprint([]string{load}) {
		t.Fatalf("ready before any run: %v, want [%s]", got, load)
	}
	_, err = c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: calc, BatchId: batch, WorkerId: "go-test"})
	wantCode(t, "StartRun of the child first", err, codes.FailedPrecondition, load)

	if _, err := c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{Files: []*metadv1.FileSpec{
		{Source: source, FileName: "f1.csv"}, {Source: source, FileName: "f2.csv"}, {Source: source, FileName: "f3.csv"}}}); err != nil {
		t.Fatal(err)
	}
	started, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: load, BatchId: batch, WorkerId: "go-test", LeaseSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	run := started.GetRun()
	if !started.GetCreated() || run.GetStatus() != metadv1.RunStatus_RUN_STATUS_PROCESSING || run.GetAttempt() != 1 ||
		len(run.GetRequestId()) != 32 || run.GetLeaseExpireTime() == nil {
		t.Fatalf("StartRun: %v; want a new PROCESSING first attempt with the client's request id and a lease", started)
	}
	// The same request id is the same run (what makes retrying it safe).
	same, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: load, BatchId: batch, RequestId: run.GetRequestId()})
	if err != nil || same.GetCreated() || same.GetRun().GetId() != run.GetId() {
		t.Fatalf("StartRun with the same request id: %v, %v; want run %d, created=false", same, err, run.GetId())
	}
	_, err = c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: load, BatchId: batch})
	wantCode(t, "a second StartRun while one is PROCESSING", err, codes.FailedPrecondition)

	claimed, err := c.Files.ClaimFiles(ctx, &metadv1.ClaimFilesRequest{RunId: run.GetId(), Source: source, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed.GetFiles()) != 3 {
		t.Fatalf("claimed %d files, want 3", len(claimed.GetFiles()))
	}
	for _, f := range claimed.GetFiles() {
		if f.GetStatus() != metadv1.FileStatus_FILE_STATUS_PROCESSING || f.GetRunId() != run.GetId() {
			t.Fatalf("claimed file %v: want PROCESSING held by run %d", f, run.GetId())
		}
	}
	if again, err := c.Files.ClaimFiles(ctx, &metadv1.ClaimFilesRequest{RunId: run.GetId(), Source: source, Limit: 10}); err != nil || len(again.GetFiles()) != 0 {
		t.Fatalf("second claim: %v, %v; want nothing", again, err)
	}
	hb, err := c.Runs.Heartbeat(ctx, &metadv1.HeartbeatRequest{RunId: run.GetId(), LeaseSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if !hb.GetRun().GetLeaseExpireTime().AsTime().After(run.GetLeaseExpireTime().AsTime()) {
		t.Fatalf("Heartbeat did not extend the lease: %v -> %v", run.GetLeaseExpireTime().AsTime(), hb.GetRun().GetLeaseExpireTime().AsTime())
	}
	bad := claimed.GetFiles()[0]
	done, err := c.Files.CompleteFile(ctx, &metadv1.CompleteFileRequest{FileId: bad.GetId(), RunId: run.GetId(),
		Status: metadv1.FileStatus_FILE_STATUS_ERROR, ErrorMessage: "bad row 7"})
	if err != nil || done.GetFile().GetStatus() != metadv1.FileStatus_FILE_STATUS_ERROR {
		t.Fatalf("CompleteFile: %v, %v", done, err)
	}
	// FinishRun names the files the worker received: held ones take the
	// run's outcome (one was completed already).
	var received []int64
	for _, f := range claimed.GetFiles() {
		received = append(received, f.GetId())
	}
	finished, err := c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: run.GetId(),
		Status: metadv1.RunStatus_RUN_STATUS_SUCCESS, FileIds: received})
	if err != nil {
		t.Fatal(err)
	}
	if finished.GetFilesFinished() != 2 || finished.GetRun().GetStatus() != metadv1.RunStatus_RUN_STATUS_SUCCESS || finished.GetRun().GetEndTime() == nil {
		t.Fatalf("FinishRun: %v; want SUCCESS with 2 files finished", finished)
	}
	for _, f := range claimed.GetFiles() {
		got, err := c.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: f.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		want := metadv1.FileStatus_FILE_STATUS_SUCCESS
		if f.GetId() == bad.GetId() {
			want = metadv1.FileStatus_FILE_STATUS_ERROR
		}
		if got.GetStatus() != want {
			t.Fatalf("file %s is %s, want %s", got.GetFileName(), got.GetStatus(), want)
		}
	}

	// The ended run refuses every further transition.
	_, err = c.Runs.Heartbeat(ctx, &metadv1.HeartbeatRequest{RunId: run.GetId()})
	wantCode(t, "Heartbeat of a finished run", err, codes.FailedPrecondition)
	_, err = c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: run.GetId(), Status: metadv1.RunStatus_RUN_STATUS_ERROR})
	wantCode(t, "FinishRun twice", err, codes.FailedPrecondition)
	_, err = c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: load, BatchId: batch})
	wantCode(t, "StartRun of a task that succeeded in the batch", err, codes.FailedPrecondition)
	_, err = c.Files.ResetFile(ctx, &metadv1.ResetFileRequest{FileId: claimed.GetFiles()[1].GetId()})
	wantCode(t, "ResetFile of a SUCCESS file", err, codes.FailedPrecondition)
	reset, err := c.Files.ResetFile(ctx, &metadv1.ResetFileRequest{FileId: bad.GetId(), Reason: "fixed upstream"})
	if err != nil || reset.GetFile().GetStatus() != metadv1.FileStatus_FILE_STATUS_NEW {
		t.Fatalf("ResetFile of the ERROR file: %v, %v; want NEW", reset, err)
	}

	if got := ready(); fmt.Sprint(got) != fmt.Sprint([]string{calc}) {
		t.Fatalf("ready after %s succeeded: %v, want [%s]", load, got, calc)
	}
	b, err := c.Runs.GetBatch(ctx, &metadv1.GetBatchRequest{BatchId: batch})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.GetTasks()) != 1 || b.GetTasks()[0].GetTaskName() != load ||
		b.GetTasks()[0].GetStatus() != metadv1.RunStatus_RUN_STATUS_SUCCESS || b.GetSuccessRuns() != 1 {
		t.Fatalf("GetBatch: %v; want %s SUCCESS", b, load)
	}
	events, err := c.Runs.ListRunEvents(ctx, &metadv1.ListRunEventsRequest{RunId: run.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(events.GetEvents()); got != "[STARTED FINISHED]" {
		t.Fatalf("run events %s, want [STARTED FINISHED]", got)
	}
	fileEvents, err := c.Files.ListFileEvents(ctx, &metadv1.ListFileEventsRequest{FileId: bad.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(fileEvents.GetEvents()); got != "[REGISTERED CLAIMED COMPLETED RESET]" {
		t.Fatalf("file events %s, want [REGISTERED CLAIMED COMPLETED RESET]", got)
	}
}

func kinds[E interface{ GetKind() string }](events []E) string {
	var out []string
	for _, e := range events {
		out = append(out, e.GetKind())
	}
	return fmt.Sprint(out)
}

// A lost lease: the run ends as ERROR, its files go back to NEW, and the
// late worker's calls are refused.
func TestLeaseLapseRefusesTheLateWorker(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, source := name("lapsing"), name("batch"), name("lapse")
	if _, err := c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: task, MaxAttempts: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: &metadv1.FileSpec{Source: source, FileName: "late.csv"}}); err != nil {
		t.Fatal(err)
	}
	started, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: task, BatchId: batch, LeaseSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	run := started.GetRun()
	claimed, err := c.Files.ClaimFiles(ctx, &metadv1.ClaimFilesRequest{RunId: run.GetId(), Source: source, Limit: 1})
	if err != nil || len(claimed.GetFiles()) != 1 {
		t.Fatalf("ClaimFiles: %v, %v", claimed, err)
	}
	// The only wait in these tests: a client cannot move the daemon's clock.
	time.Sleep(time.Until(run.GetLeaseExpireTime().AsTime()) + 200*time.Millisecond)

	_, err = c.Runs.Heartbeat(ctx, &metadv1.HeartbeatRequest{RunId: run.GetId()})
	wantCode(t, "Heartbeat after the lease lapsed", err, codes.FailedPrecondition)
	_, err = c.Files.CompleteFile(ctx, &metadv1.CompleteFileRequest{FileId: claimed.GetFiles()[0].GetId(), RunId: run.GetId(),
		Status: metadv1.FileStatus_FILE_STATUS_SUCCESS})
	wantCode(t, "CompleteFile by the lost run", err, codes.FailedPrecondition)
	_, err = c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: run.GetId(), Status: metadv1.RunStatus_RUN_STATUS_SUCCESS})
	wantCode(t, "FinishRun by the lost run", err, codes.FailedPrecondition)
	got, err := c.Runs.GetRun(ctx, &metadv1.GetRunRequest{RunId: run.GetId()})
	if err != nil || got.GetStatus() != metadv1.RunStatus_RUN_STATUS_ERROR || !strings.Contains(got.GetErrorMessage(), "lease expired") {
		t.Fatalf("GetRun: %v, %v; want ERROR \"lease expired\"", got, err)
	}
	file, err := c.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: claimed.GetFiles()[0].GetId()})
	if err != nil || file.GetStatus() != metadv1.FileStatus_FILE_STATUS_NEW {
		t.Fatalf("GetFile: %v, %v; want NEW again", file, err)
	}
	// The next attempt may start and gets the file.
	next, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: task, BatchId: batch})
	if err != nil || next.GetRun().GetAttempt() != 2 {
		t.Fatalf("StartRun after the lapse: %v, %v; want attempt 2", next, err)
	}
}

func TestUnknownTaskAndSelfEdge(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	_, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: name("never_registered"), BatchId: "b"})
	wantCode(t, "StartRun of an unknown task", err, codes.NotFound)
	task := name("selfish")
	if _, err := c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: task}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Deps.AddDependency(ctx, &metadv1.AddDependencyRequest{ParentTask: task, ChildTask: task})
	wantCode(t, "AddDependency of a self-edge", err, codes.FailedPrecondition)
	_, err = c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: "bad name!"})
	wantCode(t, "RegisterTask with a malformed name", err, codes.InvalidArgument, "name")
	_, err = c.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{RunId: 1 << 50, Status: metadv1.RunStatus_RUN_STATUS_SUCCESS})
	wantCode(t, "FinishRun of an unknown run", err, codes.NotFound)
}
