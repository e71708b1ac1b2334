package metad

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/metad-project/metad/clients/go/metadv1"
)

// TaskSettings are the settings EnsureTask wants. Description is always
// compared (empty means none); a zero MaxAttempts or DefaultLeaseSeconds
// means "whatever is stored", and so does a zero ExpectedDuration
// (Task.expected_duration: due this long after the batch's first run).
type TaskSettings struct {
	Description         string
	MaxAttempts         int32
	DefaultLeaseSeconds int32
	// ConcurrencyLimit and ConcurrencyKeyLabel: nil keeps what is stored.
	// A limit of 0 removes it; an empty key label makes it one limit for
	// the task (Task.concurrency_limit). Set with UpdateTask, also on a
	// task EnsureTask registers (RegisterTask does not take them).
	ConcurrencyLimit    *int32
	ConcurrencyKeyLabel *string
	ExpectedDuration    time.Duration
}

// EnsureTask makes task `name` exist with settings without clobbering a
// concurrent change: it registers the task when it is missing; otherwise,
// when a wanted setting differs, it sends UpdateTask with only the
// differing fields in the mask and the etag it read. On ABORTED (the task
// changed in between: ETAG_MISMATCH) it reads, compares and updates again,
// attempts times in all (0 means 5). It returns the task as stored, the
// last ABORTED when every attempt lost a race, or any other error as is.
func (c *Client) EnsureTask(ctx context.Context, name string, settings TaskSettings, attempts int) (*metadv1.Task, error) {
	if attempts <= 0 {
		attempts = 5
	}
	var expected *durationpb.Duration
	if settings.ExpectedDuration > 0 {
		expected = durationpb.New(settings.ExpectedDuration.Truncate(time.Microsecond))
	}
	var last error
	for i := 0; i < attempts; i++ {
		task, err := c.Tasks.GetTask(ctx, &metadv1.GetTaskRequest{Key: &metadv1.GetTaskRequest_Name{Name: name}})
		if status.Code(err) == codes.NotFound {
			resp, regErr := c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{
				Name: name, Description: settings.Description,
				MaxAttempts: settings.MaxAttempts, DefaultLeaseSeconds: settings.DefaultLeaseSeconds,
				ExpectedDuration: expected,
			})
			if regErr != nil {
				return nil, regErr
			}
			if !resp.GetCreated() {
				continue // registered by someone else meanwhile: compare again
			}
			task, err = resp.GetTask(), nil
		}
		if err != nil {
			return nil, err
		}
		update := &metadv1.UpdateTaskRequest{
			Task:       &metadv1.Task{Name: name},
			UpdateMask: &fieldmaskpb.FieldMask{},
			Etag:       task.GetEtag(),
		}
		if task.GetDescription() != settings.Description {
			update.Task.Description = settings.Description
			update.UpdateMask.Paths = append(update.UpdateMask.Paths, "description")
		}
		if settings.MaxAttempts != 0 && task.GetMaxAttempts() != settings.MaxAttempts {
			update.Task.MaxAttempts = settings.MaxAttempts
			update.UpdateMask.Paths = append(update.UpdateMask.Paths, "max_attempts")
		}
		if settings.DefaultLeaseSeconds != 0 && task.GetDefaultLeaseSeconds() != settings.DefaultLeaseSeconds {
			update.Task.DefaultLeaseSeconds = settings.DefaultLeaseSeconds
			update.UpdateMask.Paths = append(update.UpdateMask.Paths, "default_lease_seconds")
		}
		if l := settings.ConcurrencyLimit; l != nil && task.GetConcurrencyLimit() != *l {
			update.Task.ConcurrencyLimit = *l
			update.UpdateMask.Paths = append(update.UpdateMask.Paths, "concurrency_limit")
		}
		if k := settings.ConcurrencyKeyLabel; k != nil && task.GetConcurrencyKeyLabel() != *k {
			update.Task.ConcurrencyKeyLabel = *k
			update.UpdateMask.Paths = append(update.UpdateMask.Paths, "concurrency_key_label")
		}
		if expected != nil && !proto.Equal(task.GetExpectedDuration(), expected) {
			update.Task.ExpectedDuration = expected
			update.UpdateMask.Paths = append(update.UpdateMask.Paths, "expected_duration")
		}
		if len(update.UpdateMask.Paths) == 0 {
			return task, nil
		}
		updated, err := c.Tasks.UpdateTask(ctx, update)
		if err == nil {
			return updated, nil
		}
		if status.Code(err) != codes.Aborted {
			return nil, err
		}
		last = err // changed since the read: read and decide again
	}
	return nil, last
}
