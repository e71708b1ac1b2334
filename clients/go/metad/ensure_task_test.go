package metad_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

// EnsureTask registers, then changes only what differs; a stale etag is
// ABORTED; racing ensurers each end with the value they wanted.
func TestEnsureTask(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task := name("ensure")
	got, err := c.EnsureTask(ctx, task, metad.TaskSettings{Description: "d", MaxAttempts: 3, DefaultLeaseSeconds: 60}, 0)
	if err != nil || got.GetMaxAttempts() != 3 {
		t.Fatalf("first EnsureTask: %v %v", got, err)
	}
	etag := got.GetEtag()
	same, err := c.EnsureTask(ctx, task, metad.TaskSettings{Description: "d"}, 0)
	if err != nil || same.GetEtag() != etag {
		t.Fatalf("EnsureTask with the stored settings changed the task: %v %v", same, err)
	}
	changed, err := c.EnsureTask(ctx, task, metad.TaskSettings{Description: "d", MaxAttempts: 5}, 0)
	if err != nil || changed.GetMaxAttempts() != 5 || changed.GetDefaultLeaseSeconds() != 60 || changed.GetEtag() == etag {
		t.Fatalf("EnsureTask max_attempts 5: %v %v", changed, err)
	}
	_, err = c.Tasks.UpdateTask(ctx, &metadv1.UpdateTaskRequest{
		Task:       &metadv1.Task{Name: task, MaxAttempts: 7},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"max_attempts"}},
		Etag:       etag,
	})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateTask with a stale etag: got %v, want ABORTED", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := int32(0); i < 8; i++ {
		wg.Add(1)
		go func(want int32) {
			defer wg.Done()
			// Each lost race is another's win (at most 7): 20 attempts suffice.
			got, err := c.EnsureTask(ctx, task, metad.TaskSettings{Description: "d", MaxAttempts: want}, 20)
			if err == nil && got.GetMaxAttempts() != want {
				err = status.Errorf(codes.Internal, "got max_attempts %d, want %d", got.GetMaxAttempts(), want)
			}
			errs <- err
		}(i + 10)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// EnsureTask sets a concurrency limit on the task it registers; a StartRun
// past the limit is RESOURCE_EXHAUSTED with Reason CONCURRENCY_LIMIT, and
// not retried by the client (it is not an outcome-unknown).
func TestEnsureTaskConcurrencyLimit(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task := name("limited")
	limit := int32(1)
	got, err := c.EnsureTask(ctx, task, metad.TaskSettings{ConcurrencyLimit: &limit}, 0)
	if err != nil || got.GetConcurrencyLimit() != 1 || got.GetConcurrencyKeyLabel() != "" {
		t.Fatalf("EnsureTask with a limit: %v %v", got, err)
	}
	label := "warehouse"
	keyed, err := c.EnsureTask(ctx, task, metad.TaskSettings{ConcurrencyKeyLabel: &label}, 0)
	if err != nil || keyed.GetConcurrencyLimit() != 1 || keyed.GetConcurrencyKeyLabel() != label {
		t.Fatalf("EnsureTask with a key label: %v %v", keyed, err)
	}
	global := ""
	if _, err := c.EnsureTask(ctx, task, metad.TaskSettings{ConcurrencyKeyLabel: &global}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: task, BatchId: "b1"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: task, BatchId: "b2"})
	if status.Code(err) != codes.ResourceExhausted || metad.Reason(err) != "CONCURRENCY_LIMIT" {
		t.Fatalf("StartRun past the limit: got %v (reason %q)", err, metad.Reason(err))
	}
}

func TestEnsureTaskExpectedDurationAndDeadlines(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task := name("ensure_due")
	got, err := c.EnsureTask(ctx, task, metad.TaskSettings{ExpectedDuration: 90 * time.Second}, 0)
	if err != nil || got.GetExpectedDuration().AsDuration() != 90*time.Second {
		t.Fatalf("EnsureTask expected 90s: %v %v", got, err)
	}
	same, err := c.EnsureTask(ctx, task, metad.TaskSettings{ExpectedDuration: 90 * time.Second}, 0)
	if err != nil || same.GetEtag() != got.GetEtag() {
		t.Fatalf("EnsureTask with the stored duration changed the task: %v %v", same, err)
	}
	set, err := c.Deadlines.SetBatchDeadline(ctx, &metadv1.SetBatchDeadlineRequest{
		BatchId: task, Task: task, Deadline: timestamppb.New(time.Unix(2000000000, 0)),
	})
	if err != nil || set.GetDeadline().GetSeconds() != 2000000000 {
		t.Fatalf("SetBatchDeadline: %v %v", set, err)
	}
	_, err = c.Deadlines.SetSourceFreshness(ctx, &metadv1.SetSourceFreshnessRequest{Source: task})
	if err != nil {
		t.Fatalf("SetSourceFreshness (remove): %v", err)
	}
	if _, err = c.Deadlines.ListAlerts(ctx, &metadv1.ListAlertsRequest{Kind: "LATE"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ListAlerts kind LATE: got %v, want INVALID_ARGUMENT", err)
	}
}
