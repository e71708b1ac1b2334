package metad

import (
	"context"
	"math/rand"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metad-project/metad/clients/go/metadv1"
)

// WatchStartHeader is the response header in which the daemon names the
// event id a watch stream starts after (resolving after_event_id 0 and -1).
const WatchStartHeader = "metad-after-event-id"

// WatchOptions configures WatchFiles and WatchRuns. The zero value resumes
// without limit, waiting DefaultInitialBackoff doubling to
// DefaultMaxBackoff between attempts.
type WatchOptions struct {
	// InitialBackoff and MaxBackoff bound the wait before a reconnect (it
	// doubles from one reconnect to the next, with jitter, and starts again
	// from InitialBackoff once an event arrives).
	InitialBackoff, MaxBackoff time.Duration
	// MaxReconnects is how many reconnects in a row, without an event in
	// between, Recv makes before it returns the UNAVAILABLE error; 0 means
	// no limit (a watch is meant to outlive daemon restarts).
	MaxReconnects int
}

// Watch is a WatchFiles or WatchRuns stream that resumes by itself: when
// the stream ends with UNAVAILABLE (the daemon stopped, the connection
// broke, the database failed) Recv reconnects with after_event_id set to
// the id of the last event it returned, so the caller sees every matching
// event once, in id order, across reconnects. Every other ending is
// returned by Recv and ends the watch; among them OUT_OF_RANGE (see
// IsHistoryPruned): events after the cursor were pruned, so the caller must
// rebuild its view from the List calls and watch again from -1 or 0.
//
// A Watch is used by one goroutine at a time; Close may be called from any.
type Watch[E proto.Message] struct {
	ctx    context.Context
	cancel context.CancelFunc
	opts   WatchOptions
	open   func(ctx context.Context, after int64) (eventStream[E], error)
	idOf   func(E) int64

	after      int64 // the cursor: the next stream starts after this id
	stream     eventStream[E]
	stopStream context.CancelFunc
	reconnects int
	err        error // the error that ended the watch
}

// FileWatch is the Watch WatchFiles returns.
type FileWatch = Watch[*metadv1.WatchedFileEvent]

// RunWatch is the Watch WatchRuns returns.
type RunWatch = Watch[*metadv1.WatchedRunEvent]

type eventStream[E any] interface {
	Header() (metadata.MD, error)
	Recv() (E, error)
}

// WatchFiles follows the file events req selects (see WatchFilesRequest),
// resuming after UNAVAILABLE (see Watch). It opens the stream before
// returning, so with after_event_id 0 ("from now") every event committed
// after WatchFiles returns is delivered. Errors of that first attempt are
// returned by Recv. Close it, or cancel ctx, when done.
func (c *Client) WatchFiles(ctx context.Context, req *metadv1.WatchFilesRequest, opts WatchOptions) *FileWatch {
	open := func(ctx context.Context, after int64) (eventStream[*metadv1.WatchedFileEvent], error) {
		r := proto.Clone(req).(*metadv1.WatchFilesRequest)
		r.AfterEventId = after
		return c.Watch.WatchFiles(ctx, r)
	}
	idOf := func(e *metadv1.WatchedFileEvent) int64 { return e.GetEvent().GetId() }
	return newWatch(ctx, opts, req.GetAfterEventId(), open, idOf)
}

// WatchRuns follows the run events req selects (see WatchRunsRequest),
// like WatchFiles.
func (c *Client) WatchRuns(ctx context.Context, req *metadv1.WatchRunsRequest, opts WatchOptions) *RunWatch {
	open := func(ctx context.Context, after int64) (eventStream[*metadv1.WatchedRunEvent], error) {
		r := proto.Clone(req).(*metadv1.WatchRunsRequest)
		r.AfterEventId = after
		return c.Watch.WatchRuns(ctx, r)
	}
	idOf := func(e *metadv1.WatchedRunEvent) int64 { return e.GetEvent().GetId() }
	return newWatch(ctx, opts, req.GetAfterEventId(), open, idOf)
}

// IsHistoryPruned tells whether err is the OUT_OF_RANGE a watch ends with
// when it resumes (or starts) before events retention has deleted.
func IsHistoryPruned(err error) bool { return status.Code(err) == codes.OutOfRange }

func newWatch[E proto.Message](ctx context.Context, opts WatchOptions, after int64,
	open func(context.Context, int64) (eventStream[E], error), idOf func(E) int64) *Watch[E] {
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = DefaultInitialBackoff
	}
	if opts.MaxBackoff < opts.InitialBackoff {
		opts.MaxBackoff = DefaultMaxBackoff
		if opts.MaxBackoff < opts.InitialBackoff {
			opts.MaxBackoff = opts.InitialBackoff
		}
	}
	w := &Watch[E]{opts: opts, open: open, idOf: idOf, after: after}
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.connect() // a failure is Recv's to report or retry
	return w
}

// Recv returns the next event, reconnecting after UNAVAILABLE (or a
// CANCELLED the watch did not ask for) as needed.
// After an error other than UNAVAILABLE (or once MaxReconnects is spent,
// or ctx is done) the watch is over and Recv keeps returning that error.
func (w *Watch[E]) Recv() (E, error) {
	var zero E
	backoff := w.opts.InitialBackoff
	failures := 0
	for w.err == nil {
		var err error
		if w.stream == nil {
			err = w.connect()
		}
		if err == nil {
			var ev E
			if ev, err = w.stream.Recv(); err == nil {
				w.after = w.idOf(ev)
				return ev, nil
			}
		}
		w.dropStream()
		// A CANCELLED while ctx is live was not ours: gRPC gives it to a
		// stream that opened while metad was stopping. Resumable too.
		code := status.Code(err)
		resumable := code == codes.Unavailable || code == codes.Canceled
		if !resumable || w.ctx.Err() != nil ||
			(w.opts.MaxReconnects > 0 && failures >= w.opts.MaxReconnects) {
			w.fail(err)
			break
		}
		// Full jitter in [backoff/2, backoff).
		wait := backoff/2 + time.Duration(rand.Int63n(int64(backoff/2)+1))
		timer := time.NewTimer(wait)
		select {
		case <-w.ctx.Done():
			timer.Stop()
			w.fail(err)
		case <-timer.C:
		}
		failures++
		w.reconnects++
		if backoff *= 2; backoff > w.opts.MaxBackoff {
			backoff = w.opts.MaxBackoff
		}
	}
	return zero, w.err
}

// LastEventID is the cursor: the id of the last event Recv returned, else
// the position the first stream started after (its WatchStartHeader), else
// the after_event_id asked for. A new watch from it misses nothing.
func (w *Watch[E]) LastEventID() int64 { return w.after }

// Reconnects counts the streams opened again after UNAVAILABLE.
func (w *Watch[E]) Reconnects() int { return w.reconnects }

// Close ends the watch; a Recv in progress returns CANCELLED.
func (w *Watch[E]) Close() { w.cancel() }

// connect opens a stream after the cursor and waits for its header, which
// fixes where it starts: before any event arrives the cursor becomes that
// position, so a reconnect with after_event_id 0 does not skip the events
// committed in between.
func (w *Watch[E]) connect() error {
	ctx, stop := context.WithCancel(w.ctx)
	s, err := w.open(ctx, w.after)
	if err != nil {
		stop()
		return err
	}
	w.stream, w.stopStream = s, stop
	md, err := s.Header()
	if err != nil {
		return nil // the stream failed; its Recv says how
	}
	if w.after <= 0 {
		if v := md.Get(WatchStartHeader); len(v) == 1 {
			if start, perr := strconv.ParseInt(v[0], 10, 64); perr == nil && start > 0 {
				w.after = start
			} else if perr == nil && start == 0 {
				w.after = -1 // no event yet: from the first one, not "from now"
			}
		}
	}
	return nil
}

func (w *Watch[E]) dropStream() {
	if w.stopStream != nil {
		w.stopStream()
	}
	w.stream, w.stopStream = nil, nil
}

// fail ends the watch with err, or with CANCELLED / DEADLINE_EXCEEDED when
// the watch's context ended first.
func (w *Watch[E]) fail(err error) {
	switch w.ctx.Err() {
	case context.Canceled:
		err = status.Error(codes.Canceled, "metad: watch closed")
	case context.DeadlineExceeded:
		err = status.Error(codes.DeadlineExceeded, "metad: watch deadline exceeded")
	}
	w.err = err
	w.cancel()
}
