package metad_test

// WatchFiles and WatchRuns against a real daemon: a stream broken under the
// watch (through a TCP proxy the test cuts) resumes from the last event by
// itself, and a resume into pruned history surfaces OUT_OF_RANGE.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/metad-project/metad/clients/go/internal/testdaemon"
	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

var watchSeq int

// fresh returns a name no other call made in this process (go test -count).
func fresh(base string) string {
	watchSeq++
	return fmt.Sprintf("%s_%d", name(base), watchSeq)
}

// watchCtx bounds a test's watch so that a missing event fails the test
// instead of hanging it; the bound is far beyond any expected wait.
func watchCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proxied returns a client of address through a proxy the test can break.
func proxied(t *testing.T, address string) (*metad.Client, *testdaemon.Proxy) {
	t.Helper()
	p, err := testdaemon.NewProxy(address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c, err := metad.Dial(context.Background(), p.Address, metad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

func register(t *testing.T, c *metad.Client, source string, names ...string) []int64 {
	t.Helper()
	var ids []int64
	for _, n := range names {
		resp, err := c.Files.RegisterFile(context.Background(),
			&metadv1.RegisterFileRequest{File: &metadv1.FileSpec{Source: source, FileName: n}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetFile().GetId())
	}
	return ids
}

// recvFiles receives n events and returns "file_name:kind" for each,
// checking that event ids only grow.
func recvFiles(t *testing.T, w *metad.FileWatch, n int) []string {
	t.Helper()
	var got []string
	last := w.LastEventID()
	for i := 0; i < n; i++ {
		ev, err := w.Recv()
		if err != nil {
			t.Fatalf("event %d of %d: %v (got %v)", i+1, n, err, got)
		}
		if id := ev.GetEvent().GetId(); id <= last {
			t.Fatalf("event id %d after %d: repeated or out of order", id, last)
		}
		last = ev.GetEvent().GetId()
		got = append(got, ev.GetFileName()+":"+ev.GetEvent().GetKind())
	}
	return got
}

func TestWatchFilesResumesAfterTheStreamBreaks(t *testing.T) {
	direct := connect(t)
	c, proxy := proxied(t, daemon.Address)
	source := fresh("watch_resume")
	register(t, direct, source, "a.csv", "b.csv")

	w := c.WatchFiles(watchCtx(t), &metadv1.WatchFilesRequest{AfterEventId: -1, Source: source},
		metad.WatchOptions{InitialBackoff: 10 * time.Millisecond})
	defer w.Close()
	got := recvFiles(t, w, 2)
	if fmt.Sprint(got) != "[a.csv:REGISTERED b.csv:REGISTERED]" {
		t.Fatalf("before the break: %v", got)
	}
	// Break the stream, then commit events while no stream is open: the
	// watch must resume after b.csv's event, seeing each later one once.
	if n := proxy.Break(); n == 0 {
		t.Fatal("the proxy had no connection to break")
	}
	register(t, direct, source, "c.csv", "d.csv")
	got = recvFiles(t, w, 2)
	if fmt.Sprint(got) != "[c.csv:REGISTERED d.csv:REGISTERED]" {
		t.Fatalf("after the break: %v", got)
	}
	if w.Reconnects() == 0 {
		t.Fatal("the stream did not break: no reconnect")
	}
	// And again, live: the resumed stream follows new events.
	proxy.Break()
	register(t, direct, source, "e.csv")
	if got = recvFiles(t, w, 1); fmt.Sprint(got) != "[e.csv:REGISTERED]" {
		t.Fatalf("after the second break: %v", got)
	}
}

// A watch "from now" (0) that breaks before its first event resumes from
// the position the daemon gave it (the start header), not from a new
// "now", so the event committed while it was away is not skipped.
func TestWatchRunsFromNowResumesFromTheStartHeader(t *testing.T) {
	direct := connect(t)
	c, proxy := proxied(t, daemon.Address)
	task, batch := fresh("watch_now"), fresh("watch_now_b")
	if _, err := direct.Tasks.RegisterTask(context.Background(), &metadv1.RegisterTaskRequest{Name: task}); err != nil {
		t.Fatal(err)
	}
	// An earlier event of the task, which "from now" must not deliver.
	if _, err := direct.Runs.StartRun(context.Background(), &metadv1.StartRunRequest{Task: task, BatchId: batch + "_before"}); err != nil {
		t.Fatal(err)
	}
	w := c.WatchRuns(watchCtx(t), &metadv1.WatchRunsRequest{Task: task},
		metad.WatchOptions{InitialBackoff: 10 * time.Millisecond})
	defer w.Close()
	if w.LastEventID() <= 0 {
		t.Fatalf("no start position from the header: cursor %d", w.LastEventID())
	}
	proxy.Break()
	run, err := direct.Runs.StartRun(context.Background(), &metadv1.StartRunRequest{Task: task, BatchId: batch})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetEvent().GetRunId() != run.GetRun().GetId() || ev.GetTaskName() != task || ev.GetBatchId() != batch {
		t.Fatalf("got %v, want the STARTED event of run %d", ev, run.GetRun().GetId())
	}
	if w.Reconnects() == 0 {
		t.Fatal("the stream did not break: no reconnect")
	}
	if w.LastEventID() != ev.GetEvent().GetId() {
		t.Fatalf("cursor %d, want %d", w.LastEventID(), ev.GetEvent().GetId())
	}
}

// Recv returns what is not UNAVAILABLE at once, without retrying.
func TestWatchReturnsOtherErrors(t *testing.T) {
	c := connect(t)
	w := c.WatchFiles(watchCtx(t), &metadv1.WatchFilesRequest{AfterEventId: -2}, metad.WatchOptions{})
	_, err := w.Recv()
	wantCode(t, "after_event_id -2", err, codes.InvalidArgument)
	if _, again := w.Recv(); status.Code(again) != codes.InvalidArgument || w.Reconnects() != 0 {
		t.Fatalf("the watch went on after INVALID_ARGUMENT: %v, %d reconnects", again, w.Reconnects())
	}
	// Close ends a watch waiting for events with CANCELLED.
	w = c.WatchFiles(context.Background(), &metadv1.WatchFilesRequest{Source: fresh("watch_quiet")}, metad.WatchOptions{})
	go func() { time.Sleep(50 * time.Millisecond); w.Close() }()
	_, err = w.Recv()
	wantCode(t, "closed watch", err, codes.Canceled)
}

// A watch whose stream breaks and whose events after the cursor were then
// pruned ends with OUT_OF_RANGE (history pruned) instead of resuming with a
// silent gap.
func TestWatchResumeIntoPrunedHistoryIsOutOfRange(t *testing.T) {
	d, err := testdaemon.StartOwn("go_watch_prune", testdaemon.Config{})
	if errors.Is(err, testdaemon.ErrNotConfigured) {
		t.Skip("needs METAD_BIN_DIR and METAD_TEST_PG to start a daemon of its own:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	}()
	direct, err := metad.Dial(context.Background(), d.Address, metad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	c, proxy := proxied(t, d.Address)
	ids := register(t, direct, "prune", "first.csv", "second.csv", "third.csv")

	// Only the first file's events: the watch's cursor stays at its event
	// while the later ones are written.
	w := c.WatchFiles(watchCtx(t), &metadv1.WatchFilesRequest{AfterEventId: -1, FileId: ids[0]},
		metad.WatchOptions{InitialBackoff: 10 * time.Millisecond})
	defer w.Close()
	if got := recvFiles(t, w, 1); fmt.Sprint(got) != "[first.csv:REGISTERED]" {
		t.Fatalf("got %v", got)
	}
	proxy.Break()
	if err := d.SQL("UPDATE file_events SET event_time = now() - interval '40 days'"); err != nil {
		t.Fatal(err)
	}
	pruned, err := direct.Admin.PruneHistory(context.Background(),
		&metadv1.PruneHistoryRequest{OlderThan: durationpb.New(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if pruned.GetFileEventsDeleted() < 3 {
		t.Fatalf("pruned %d file events, want at least 3", pruned.GetFileEventsDeleted())
	}
	_, err = w.Recv()
	if !metad.IsHistoryPruned(err) {
		t.Fatalf("resume into pruned history: got %v, want OUT_OF_RANGE", err)
	}
	if w.Reconnects() == 0 {
		t.Fatal("the stream did not break: no reconnect")
	}
	// A new watch from -1 starts with what is still kept: nothing of the
	// pruned events, then the new ones.
	w2 := c.WatchFiles(watchCtx(t), &metadv1.WatchFilesRequest{AfterEventId: -1, Source: "prune"}, metad.WatchOptions{})
	defer w2.Close()
	register(t, direct, "prune", "fourth.csv")
	if got := recvFiles(t, w2, 1); fmt.Sprint(got) != "[fourth.csv:REGISTERED]" {
		t.Fatalf("after pruning, from -1: %v", got)
	}
}
