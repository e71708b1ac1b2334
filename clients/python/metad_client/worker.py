"""WorkerRun: one run of a task, its lease kept alive in the background."""

import logging
import os
import socket
import threading

import grpc

from metad_client import _stubs
from metad_client.retry import new_request_id

files_pb2 = _stubs.files_pb2
task_log_pb2 = _stubs.task_log_pb2

log = logging.getLogger("metad_client")

MAX_ERROR_MESSAGE_BYTES = 4096
_TRANSIENT = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
})


class RunLost(grpc.RpcError):
    """The run's lease is gone: the daemon ended the run (as ERROR, "lease
    expired") and released its files, so nothing more may be done in it.

    A grpc.RpcError with the code of the refusal that revealed it (normally
    FAILED_PRECONDITION), so code that handles RpcError handles this too.
    """

    def __init__(self, run_id, cause=None):
        self.run_id = run_id
        self.cause = cause
        detail = cause.details() if cause is not None else "lease lost"
        super().__init__(f"run {run_id} lost: {detail}")

    def code(self):
        if self.cause is not None:
            return self.cause.code()
        return grpc.StatusCode.FAILED_PRECONDITION

    def details(self):
        return str(self)


def default_worker_id():
    return f"{socket.gethostname()}:{os.getpid()}"


def error_message(exc):
    """"Type: message" of an exception, cut to what FinishRun accepts."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    data = text.encode("utf-8")
    if len(data) <= MAX_ERROR_MESSAGE_BYTES:
        return text
    return data[:MAX_ERROR_MESSAGE_BYTES].decode("utf-8", "ignore")


def add_note(exc, note):
    """exc.add_note(note) where it exists (Python 3.11+)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)


def _file_spec(output):
    """A FileSpec from a FileSpec, a dict of its fields or (source, name)."""
    if isinstance(output, files_pb2.FileSpec):
        return output
    if isinstance(output, dict):
        return files_pb2.FileSpec(**output)
    source, file_name = output
    return files_pb2.FileSpec(source=source, file_name=file_name)


def _file_status(status):
    if isinstance(status, str):
        return files_pb2.FileStatus.Value("FILE_STATUS_" + status.upper())
    return status


class WorkerRun:
    """A run of a task in a batch; made by Client.run().

    Attributes: id (the run id, after start), run (the latest Run message),
    lease_seconds (as granted), lost (True once the lease is known to be
    gone), finished (True once FinishRun succeeded).

    The heartbeat thread calls Heartbeat every lease/3 seconds (or
    heartbeat_interval). A transient failure (UNAVAILABLE, DEADLINE_EXCEEDED,
    ...) is retried sooner; any other refusal, FAILED_PRECONDITION above all,
    means the run is lost: the thread stops, and the worker's next call on
    this object (claim_files, complete_file, heartbeat, check, finish, or
    leaving the with-block normally) raises RunLost.
    """

    def __init__(self, client, task, batch_id, worker_id=None, lease_seconds=0,
                 request_id=None, heartbeat=True, heartbeat_interval=None,
                 labels=None):
        self._client = client
        # The run's labels (StartRunRequest.labels), returned on run.labels.
        self.labels = dict(labels or {})
        self.task = task
        self.batch_id = batch_id
        self.worker_id = worker_id or default_worker_id()
        self._lease_request = lease_seconds
        # Chosen once, so a retried StartRun returns the same run.
        self.request_id = request_id or new_request_id()
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._lost = None  # the RunLost, once known
        self._finished = False
        # Every file id a ClaimFiles answer brought: FinishRun names them, so
        # files claimed by a call whose answer never arrived go back to NEW.
        self._received = set()
        self.run = None
        self.lease_seconds = None

    # -- lifecycle --------------------------------------------------------

    def start(self):
        """Calls StartRun and starts the heartbeat thread; returns the Run."""
        if self.run is not None:
            raise RuntimeError(f"run {self.run.id} already started")
        response = self._client.task_log.StartRun(task_log_pb2.StartRunRequest(
            task=self.task, batch_id=self.batch_id, worker_id=self.worker_id,
            lease_seconds=self._lease_request, request_id=self.request_id,
            labels=self.labels))
        self.run = response.run
        run = response.run
        lease = (run.lease_expire_time.ToNanoseconds() -
                 run.start_time.ToNanoseconds()) / 1e9
        self.lease_seconds = lease if lease > 0 else float(self._lease_request or 60)
        if self._heartbeat:
            interval = self._heartbeat_interval or self.lease_seconds / 3
            self._thread = threading.Thread(
                target=self._heartbeat_loop, args=(interval,),
                name=f"metad-heartbeat-{run.id}", daemon=True)
            self._thread.start()
        return run

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._stop_heartbeats()
        if self._finished:
            return False
        if exc is None:
            self.finish(task_log_pb2.RUN_STATUS_SUCCESS)
            return False
        if self._lost is not None:
            return False  # the daemon already ended the run
        try:
            self.finish(task_log_pb2.RUN_STATUS_ERROR, error_message(exc))
        except grpc.RpcError as e:
            log.warning("run %d: FinishRun(ERROR) failed: %s", self.id, e)
            add_note(exc, f"metad: finishing run {self.id} as ERROR failed: "
                          f"{e.code().name}: {e.details()}")
        return False

    def finish(self, status=task_log_pb2.RUN_STATUS_SUCCESS, error_message=""):
        """Ends the run (FinishRun) and stops the heartbeats. The files this
        object received from claim_files and the run still holds get the same
        outcome; files the run holds that never reached this worker (a lost
        ClaimFiles answer) go back to NEW (FinishRunResponse.files_released).
        Safe to retry: the client retries a lost answer and the daemon
        answers the repeat as the first call (replayed). Returns
        FinishRunResponse. Raises RunLost when the lease was lost,
        grpc.RpcError FAILED_PRECONDITION when the daemon refuses (the run
        ended otherwise, was cancelled, or its lease lapsed)."""
        if isinstance(status, str):
            status = task_log_pb2.RunStatus.Value("RUN_STATUS_" + status.upper())
        self._stop_heartbeats()
        self.check()
        with self._lock:
            file_ids = sorted(self._received)
        try:
            response = self._client.task_log.FinishRun(task_log_pb2.FinishRunRequest(
                run_id=self.id, status=status, error_message=error_message,
                file_ids=file_ids))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self._mark_lost(e)
            raise
        with self._lock:
            self.run = response.run
            self._finished = True
        return response

    # -- work -------------------------------------------------------------

    @property
    def id(self):
        return self.run.id if self.run is not None else 0

    @property
    def finished(self):
        """True once FinishRun succeeded through this object."""
        return self._finished

    @property
    def lost(self):
        return self._lost is not None

    def check(self):
        """Raises RunLost if the lease is known to be lost."""
        lost = self._lost
        if lost is not None:
            raise lost

    def claim_files(self, limit=100, source=None):
        """Moves up to `limit` NEW files (of `source`, or any) to PROCESSING
        under this run and returns them (a list of File, maybe empty).

        Each call has its own request_id, kept by the client's retries: a
        retry after a lost answer returns the files the first attempt
        claimed, never a second set."""
        self.check()
        try:
            response = self._client.files.ClaimFiles(files_pb2.ClaimFilesRequest(
                run_id=self.id, source=source or "", limit=limit,
                request_id=new_request_id()))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self._mark_lost(e)
                raise self._lost from e
            raise
        with self._lock:
            self._received.update(f.id for f in response.files)
        return list(response.files)

    def held_files(self, page_size=1000):
        """The files this run holds (PROCESSING under it), by id.

        When a ClaimFiles answer is lost for good (its retries ran out) the
        daemon may still have claimed files for the run; finish() releases
        them, since this worker never saw them. This shows them, for a worker
        that would rather process them: files returned here count as
        received."""
        self.check()
        files, token = [], ""
        while True:
            response = self._client.files.ListFiles(files_pb2.ListFilesRequest(
                run_id=self.id, status=files_pb2.FILE_STATUS_PROCESSING,
                page_size=page_size, page_token=token))
            files.extend(response.files)
            token = response.next_page_token
            if not token:
                with self._lock:
                    self._received.update(f.id for f in files)
                return files

    def complete_file(self, file, status="SUCCESS", error_message=""):
        """Ends one held file early: SUCCESS, or ERROR with a message.
        `file` is a File or its id. Returns the updated File. Safe to retry
        (a repeat is answered as the first call)."""
        self.check()
        file_id = file if isinstance(file, int) else file.id
        return self._client.files.CompleteFile(files_pb2.CompleteFileRequest(
            file_id=file_id, run_id=self.id, status=_file_status(status),
            error_message=error_message)).file

    def fail_file(self, file, error_message):
        return self.complete_file(file, "ERROR", error_message)

    def record_outputs(self, outputs):
        """Records files this run produced (RecordOutputs), registered if new
        with this run as their producer. `outputs` holds FileSpec messages,
        dicts of FileSpec fields, or (source, file_name) pairs (1..1000).
        Returns one RegisterFileResponse per output (created: new here).
        Recording the same outputs again changes nothing. Raises RunLost when
        the daemon refuses because the run ended or its lease lapsed."""
        self.check()
        specs = [_file_spec(o) for o in outputs]
        try:
            response = self._client.task_log.RecordOutputs(
                task_log_pb2.RecordOutputsRequest(run_id=self.id, outputs=specs))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self._mark_lost(e)
                raise self._lost from e
            raise
        return list(response.outputs)

    def heartbeat(self):
        """Extends the lease now; returns the Run. Raises RunLost if refused."""
        self.check()
        try:
            response = self._client.task_log.Heartbeat(
                task_log_pb2.HeartbeatRequest(run_id=self.id))
        except grpc.RpcError as e:
            if e.code() not in _TRANSIENT:
                self._mark_lost(e)
                raise self._lost from e
            raise
        with self._lock:
            self.run = response.run
        return response.run

    # -- internals --------------------------------------------------------

    def _mark_lost(self, cause):
        with self._lock:
            if self._lost is None:
                self._lost = RunLost(self.id, cause)
                log.warning("run %d lost: %s", self.id, cause.details())
        self._stop.set()

    def _stop_heartbeats(self):
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None

    def _heartbeat_loop(self, interval):
        failures = 0
        wait = interval
        call_timeout = max(1.0, interval)
        while not self._stop.wait(wait):
            try:
                response = self._client.task_log.Heartbeat(
                    task_log_pb2.HeartbeatRequest(run_id=self.id),
                    timeout=call_timeout)
            except grpc.RpcError as e:
                if e.code() in _TRANSIENT:
                    failures += 1
                    wait = min(interval, 0.1 * 2 ** failures)
                    log.info("run %d: heartbeat failed (%s), retrying in %.1fs",
                             self.id, e.code().name, wait)
                    continue
                self._mark_lost(e)
                return
            failures = 0
            wait = interval
            with self._lock:
                if not self._stop.is_set():
                    self.run = response.run
