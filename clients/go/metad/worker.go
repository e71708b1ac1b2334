package metad

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metadv1"
)

// MaxErrorMessageBytes is the longest error message CompleteFile and
// FinishRun accept.
const MaxErrorMessageBytes = 4096

// WorkerOptions configures StartWorkerRun. The zero value is fine.
type WorkerOptions struct {
	// WorkerID names the worker in the log; "" means host:pid.
	WorkerID string
	// LeaseSeconds is the lease asked for (1..86400); 0 for the task's
	// default.
	LeaseSeconds int32
	// RequestID is StartRun's idempotency key; "" means a fresh one. It is
	// chosen once, so a retried StartRun returns the same run.
	RequestID string
	// HeartbeatInterval is the time between heartbeats; 0 means a third of
	// the lease, a negative value sends none (the caller calls Heartbeat).
	HeartbeatInterval time.Duration
	// Labels are stored with the run (StartRunRequest.labels); ListRuns
	// and WatchRuns select runs by them (see Selector).
	Labels map[string]string
}

// WorkerRun is one run of a task, the safe way: a goroutine keeps its lease
// alive, each ClaimFiles carries its own request_id (so the client's
// retries after a lost answer return the same files), and Finish names
// every file the worker received, so a file whose claim answer never
// arrived goes back to NEW instead of being recorded as processed.
//
// A refusal that means the run is over (FAILED_PRECONDITION with reason
// RUN_ENDED, RUN_CANCELLED or LEASE_EXPIRED; for heartbeats, any refusal
// that is not transient) marks it lost: the heartbeats stop and every
// later call returns a *RunLostError. Its methods are safe for concurrent
// use.
type WorkerRun struct {
	client *Client
	id     int64
	// Lease is the lease length the daemon granted.
	Lease time.Duration

	mu       sync.Mutex
	run      *metadv1.Run
	received map[int64]bool
	pending  *pendingClaim // a claim whose answer was lost, reused by the next same claim
	lost     *RunLostError
	finished bool

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type pendingClaim struct {
	requestID string
	limit     int32
	source    string
}

// RunLostError says the run is over on the daemon's side (its lease lapsed,
// it was cancelled or ended otherwise): nothing more may be done in it.
// status.Code sees the refusal that revealed it (normally
// FAILED_PRECONDITION).
type RunLostError struct {
	RunID int64
	Err   error
}

func (e *RunLostError) Error() string {
	return fmt.Sprintf("metad: run %d lost: %v", e.RunID, e.Err)
}

func (e *RunLostError) Unwrap() error { return e.Err }

// GRPCStatus lets status.Code(err) see the refusal's code.
func (e *RunLostError) GRPCStatus() *status.Status {
	s, _ := status.FromError(e.Err)
	return s
}

// Reason is the ErrorInfo reason metad sent with err ("RUN_ENDED",
// "FILE_NOT_HELD", ...), or "" when there is none.
func Reason(err error) string {
	s, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range s.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// endsRun: err says the run is over (not just that one request was wrong).
func endsRun(err error) bool {
	if status.Code(err) != codes.FailedPrecondition {
		return false
	}
	switch Reason(err) {
	case "RUN_ENDED", "RUN_CANCELLED", "LEASE_EXPIRED", "":
		return true
	}
	return false
}

// transient: worth trying again soon (the heartbeat loop does).
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Canceled:
		return true
	}
	return false
}

// DefaultWorkerID is host:pid.
func DefaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// StartWorkerRun starts a run of task in batchID (StartRun, with one
// request_id for all its attempts) and its heartbeats. End it with Finish.
func StartWorkerRun(ctx context.Context, c *Client, task, batchID string, opts WorkerOptions) (*WorkerRun, error) {
	if opts.WorkerID == "" {
		opts.WorkerID = DefaultWorkerID()
	}
	if opts.RequestID == "" {
		opts.RequestID = NewRequestID()
	}
	resp, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{
		Task: task, BatchId: batchID, WorkerId: opts.WorkerID,
		LeaseSeconds: opts.LeaseSeconds, RequestId: opts.RequestID,
		Labels: opts.Labels,
	})
	if err != nil {
		return nil, err
	}
	run := resp.GetRun()
	w := &WorkerRun{
		client:   c,
		id:       run.GetId(),
		run:      run,
		received: map[int64]bool{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.Lease = run.GetLeaseExpireTime().AsTime().Sub(run.GetStartTime().AsTime())
	if run.GetLeaseExpireTime() == nil || run.GetStartTime() == nil || w.Lease <= 0 {
		w.Lease = time.Duration(opts.LeaseSeconds) * time.Second
		if w.Lease <= 0 {
			w.Lease = time.Minute
		}
	}
	interval := opts.HeartbeatInterval
	if interval == 0 {
		interval = w.Lease / 3
	}
	if interval > 0 {
		go w.heartbeats(interval)
	} else {
		close(w.done)
	}
	return w, nil
}

// ID is the run's id.
func (w *WorkerRun) ID() int64 { return w.id }

// Run is the latest Run message the daemon sent (StartRun, Heartbeat,
// FinishRun).
func (w *WorkerRun) Run() *metadv1.Run {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.run
}

// Err is a *RunLostError once the run is known to be lost, else nil.
func (w *WorkerRun) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost != nil {
		return w.lost
	}
	return nil
}

// Finished says whether Finish succeeded.
func (w *WorkerRun) Finished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.finished
}

// Received is every file id the worker received (from ClaimFiles, or
// named to CompleteFile), sorted: what Finish names.
func (w *WorkerRun) Received() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]int64, 0, len(w.received))
	for id := range w.received {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// ClaimFiles moves up to limit NEW files (of source, or any when "") to
// PROCESSING under the run and returns them, maybe none. Each claim has its
// own request_id, which the client's retries keep: a lost answer is
// answered again with the same files. When the call still fails with a
// transient code, the next ClaimFiles with the same limit and source
// reuses that request_id, so the files of the lost claim are not left
// behind.
func (w *WorkerRun) ClaimFiles(ctx context.Context, limit int32, source string) ([]*metadv1.File, error) {
	w.mu.Lock()
	if w.lost != nil {
		w.mu.Unlock()
		return nil, w.lost
	}
	claim := w.pending
	if claim == nil || claim.limit != limit || claim.source != source {
		claim = &pendingClaim{requestID: NewRequestID(), limit: limit, source: source}
	}
	w.mu.Unlock()
	resp, err := w.client.Files.ClaimFiles(ctx, &metadv1.ClaimFilesRequest{
		RunId: w.id, Source: source, Limit: limit, RequestId: claim.requestID,
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if transient(err) {
			w.pending = claim
		}
		return nil, w.noteLocked(err)
	}
	w.pending = nil
	for _, f := range resp.GetFiles() {
		w.received[f.GetId()] = true
	}
	return resp.GetFiles(), nil
}

// CompleteFile ends one file early: FILE_STATUS_SUCCESS, or
// FILE_STATUS_ERROR with a message (cut to MaxErrorMessageBytes). It
// returns the updated file. A retry of a completion that took effect is
// answered as the first (the client retries it on UNAVAILABLE).
func (w *WorkerRun) CompleteFile(ctx context.Context, fileID int64, st metadv1.FileStatus, message string) (*metadv1.File, error) {
	if err := w.Err(); err != nil {
		return nil, err
	}
	resp, err := w.client.Files.CompleteFile(ctx, &metadv1.CompleteFileRequest{
		FileId: fileID, RunId: w.id, Status: st, ErrorMessage: CutErrorMessage(message),
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil || transient(err) {
		// The worker has the file (maybe from a listing of what the run
		// holds): Finish names it.
		w.received[fileID] = true
	}
	if err != nil {
		return nil, w.noteLocked(err)
	}
	return resp.GetFile(), nil
}

// Heartbeat extends the lease now and returns the run.
func (w *WorkerRun) Heartbeat(ctx context.Context) (*metadv1.Run, error) {
	if err := w.Err(); err != nil {
		return nil, err
	}
	resp, err := w.client.Runs.Heartbeat(ctx, &metadv1.HeartbeatRequest{RunId: w.id})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if !transient(err) {
			return nil, w.loseLocked(err)
		}
		return nil, err
	}
	if !w.finished {
		w.run = resp.GetRun()
	}
	return resp.GetRun(), nil
}

// Finish ends the run with RUN_STATUS_SUCCESS, or RUN_STATUS_ERROR and a
// message (cut to MaxErrorMessageBytes), and stops the heartbeats. It names
// every file received (Received): those still held take the run's outcome;
// held files the worker never received (a claim whose answer was lost) go
// back to NEW (FinishRunResponse.files_released). After a transient
// failure Finish may be called again: a FinishRun that took effect is
// answered as the first (replayed=true).
func (w *WorkerRun) Finish(ctx context.Context, st metadv1.RunStatus, message string) (*metadv1.FinishRunResponse, error) {
	w.StopHeartbeats()
	if err := w.Err(); err != nil {
		return nil, err
	}
	resp, err := w.client.Runs.FinishRun(ctx, &metadv1.FinishRunRequest{
		RunId: w.id, Status: st, ErrorMessage: CutErrorMessage(message), FileIds: w.Received(),
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		return nil, w.noteLocked(err)
	}
	w.run = resp.GetRun()
	w.finished = true
	return resp, nil
}

// StopHeartbeats stops the heartbeat goroutine and waits for it (Finish
// does it; call it to abandon a run without finishing it, whose lease then
// lapses).
func (w *WorkerRun) StopHeartbeats() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// noteLocked returns err, or the RunLostError when err says the run is over.
func (w *WorkerRun) noteLocked(err error) error {
	if endsRun(err) {
		return w.loseLocked(err)
	}
	return err
}

func (w *WorkerRun) loseLocked(err error) error {
	if w.lost == nil {
		w.lost = &RunLostError{RunID: w.id, Err: err}
		w.stopOnce.Do(func() { close(w.stop) })
	}
	return w.lost
}

func (w *WorkerRun) heartbeats(interval time.Duration) {
	defer close(w.done)
	wait := interval
	failures := 0
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-timer.C:
		}
		callTimeout := interval
		if callTimeout < time.Second {
			callTimeout = time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		_, err := w.Heartbeat(ctx)
		cancel()
		switch {
		case err == nil:
			failures, wait = 0, interval
		case transient(err):
			// Sooner than the next beat: the lease must not lapse.
			failures++
			wait = 100 * time.Millisecond << uint(failures)
			if wait > interval || failures > 20 {
				wait = interval
			}
		default:
			return // lost (Heartbeat marked it)
		}
		timer.Reset(wait)
	}
}

// CutErrorMessage cuts message to MaxErrorMessageBytes at a rune boundary.
func CutErrorMessage(message string) string {
	if len(message) <= MaxErrorMessageBytes {
		return message
	}
	cut := MaxErrorMessageBytes
	for cut > 0 && message[cut]&0xC0 == 0x80 {
		cut--
	}
	return message[:cut]
}
