"""Watch streams (WatchFiles, WatchRuns) as iterators that resume by
themselves.

    for e in client.watch_runs(batch_id="2024-03"):
        print(e.event.id, e.task_name, e.event.to_status)

A stream that ends with UNAVAILABLE (the daemon restarted, the network or
the database failed), or that the daemon cancelled, is reopened after a backoff with after_event_id set to
the last event delivered, so the caller sees every matching event once, in
id order, as the daemon guarantees for a resumed stream (watch.proto). Before
the first event the position is the daemon's `metad-after-event-id` header,
so a stream opened "from now" (0) resumes from where it actually started.

OUT_OF_RANGE (the events after the position were pruned by PruneHistory)
raises HistoryPruned: the caller must rebuild its view from the Get/List
calls and watch again with after_event_id -1 or 0. Any other error is raised
as the grpc.RpcError it is. cancel() (from any thread) or leaving a
with-block ends the iteration.
"""

import random
import threading
import time

import grpc

from metad_client import _stubs
from metad_client.retry import RetryPolicy
from metad_client.selector import selector

START_HEADER = "metad-after-event-id"
# Reconnects wait 0.1 s doubling to 5 s (full jitter); only max_backoff,
# initial_backoff and multiplier of the policy are used.
DEFAULT_BACKOFF = RetryPolicy(initial_backoff=0.1, max_backoff=5.0)


# UNAVAILABLE: the daemon went away or is shutting down. CANCELLED, when not
# ours (our own cancel() ends the iteration first): a stream opened while
# metad is stopping is sometimes cancelled by its gRPC server instead.
RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


class HistoryPruned(grpc.RpcError):
    """The daemon no longer has the events after `after_event_id`
    (OUT_OF_RANGE, "history pruned"). A grpc.RpcError whose code() is
    OUT_OF_RANGE."""

    def __init__(self, after_event_id, cause):
        self.after_event_id = after_event_id
        self.cause = cause
        super().__init__(f"events after {after_event_id} were pruned: "
                         f"{cause.details()}")

    def code(self):
        return grpc.StatusCode.OUT_OF_RANGE

    def details(self):
        return str(self)

    def trailing_metadata(self):
        return self.cause.trailing_metadata()


def start_position(initial_metadata):
    """The metad-after-event-id header as an int, or None."""
    for key, value in initial_metadata or ():
        if key == START_HEADER:
            try:
                return int(value)
            except ValueError:
                return None
    return None


class Reconnects:
    """When to reopen a stream: shared by the blocking and asyncio watches."""

    def __init__(self, backoff, give_up_after, clock=time.monotonic, rng=random):
        self._backoff = backoff or DEFAULT_BACKOFF
        self._give_up_after = give_up_after
        self._clock = clock
        self._rng = rng
        self._failures = 0
        self._first_failure = None
        self.reconnects = 0  # streams reopened after UNAVAILABLE, in all

    def connected(self):
        self._failures = 0
        self._first_failure = None

    def delay(self, error, position):
        """Seconds to wait before reopening after `error`; raises what the
        caller should see instead."""
        code = error.code()
        if code == grpc.StatusCode.OUT_OF_RANGE:
            raise HistoryPruned(position, error) from error
        if code not in RESUMABLE:
            raise error
        now = self._clock()
        if self._first_failure is None:
            self._first_failure = now
        elif (self._give_up_after is not None
              and now - self._first_failure >= self._give_up_after):
            raise error
        self._failures += 1
        self.reconnects += 1
        return self._backoff.backoff(self._failures, self._rng)


class Watch:
    """A resuming iterator over WatchedFileEvent or WatchedRunEvent; made by
    Client.watch_files / Client.watch_runs.

    Attributes: last_event_id (the position a reopened stream resumes after;
    None until known), reconnects (how many times it reopened).
    """

    def __init__(self, method, request, metadata=None, backoff=None,
                 give_up_after=None):
        self._method = method
        self._request = request
        self._metadata = metadata
        self._reconnects = Reconnects(backoff, give_up_after)
        self.last_event_id = (request.after_event_id
                              if request.after_event_id > 0 else None)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._call = None

    @property
    def reconnects(self):
        return self._reconnects.reconnects

    def __iter__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cancel()
        return False

    def cancel(self):
        """Ends the iteration (the current stream is cancelled)."""
        self._closed.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()

    def _open(self):
        request = type(self._request)()
        request.CopyFrom(self._request)
        if self.last_event_id is not None:
            request.after_event_id = self.last_event_id
        call = self._method(request, metadata=self._metadata)
        with self._lock:
            self._call = call
        if self._closed.is_set():
            call.cancel()
        if self.last_event_id is None:
            position = start_position(call.initial_metadata())
            if position is not None:
                self.last_event_id = position
                self._reconnects.connected()
        return call

    def __next__(self):
        while not self._closed.is_set():
            call = self._call or self._open()
            try:
                event = next(call)
            except StopIteration:
                break  # the daemon ended the stream without an error
            except grpc.RpcError as e:
                with self._lock:
                    self._call = None
                if self._closed.is_set():
                    break
                delay = self._reconnects.delay(e, self.last_event_id)
                if self._closed.wait(delay):
                    break
                continue
            self._reconnects.connected()
            self.last_event_id = event.event.id
            return event
        self.cancel()
        raise StopIteration


def watch_files_request(after_event_id, source, status, file_id,
                        attributes=None):
    """The WatchFilesRequest of watch_files (status: a FileStatus or its
    name, "SUCCESS"; attributes: a selector string or dict)."""
    if isinstance(status, str):
        status = _stubs.files_pb2.FileStatus.Value("FILE_STATUS_" + status.upper())
    return _stubs.watch_pb2.WatchFilesRequest(
        after_event_id=after_event_id, source=source, status=status or 0,
        file_id=file_id, attribute_selector=selector(attributes))


def watch_runs_request(after_event_id, batch_id, task, status, run_id,
                       labels=None):
    """The WatchRunsRequest of watch_runs (status: a RunStatus or its name,
    "ERROR"; labels: a selector string or dict)."""
    if isinstance(status, str):
        status = _stubs.task_log_pb2.RunStatus.Value("RUN_STATUS_" + status.upper())
    return _stubs.watch_pb2.WatchRunsRequest(
        after_event_id=after_event_id, batch_id=batch_id, task=task,
        status=status or 0, run_id=run_id, label_selector=selector(labels))
