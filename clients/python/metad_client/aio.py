"""The asyncio client of metad, on grpc.aio: the blocking client's API with
awaitable calls.

    import metad_client.aio

    async def main():
        async with metad_client.aio.connect("127.0.0.1:50051") as client:
            await client.ensure_task("load_sales")
            async with client.run(task="load_sales", batch_id="b1",
                                  lease_seconds=30) as run:
                for f in await run.claim_files(100, source="s3://sales"):
                    ...
                    await run.complete_file(f)
            async for e in client.watch_runs(batch_id="b1"):
                ...

Deadlines, retries (the same rules: metad_client.retry), request ids and
the token are applied by interceptors exactly as in the blocking client; the
worker helper (AsyncWorkerRun) keeps the lease alive from an asyncio task and
follows WorkerRun's rules; watches (AsyncWatch) resume like
metad_client.watch.Watch. Create the client inside the event loop that uses
it. Works on Python 3.9+.
"""

import asyncio
import logging
import os
import random
import time

import grpc
import grpc.aio

from metad_client import _stubs
from metad_client.client import (DEFAULT_ADDRESS, DEFAULT_TIMEOUT,
                                 channel_credentials, channel_options,
                                 LineageMerge, ensure_update, ensure_wanted,
                                 register_fields,
                                 lineage_request, token_metadata)
from metad_client.retry import (NO_RETRY, Attempts, RetryPolicy, is_retryable,
                                new_request_id, with_request_id)
from metad_client.watch import (Reconnects, start_position, watch_files_request,
                                watch_runs_request)
from metad_client.worker import (_TRANSIENT, RunLost, _file_spec, _file_status,
                                 add_note, default_worker_id, error_message)

files_pb2 = _stubs.files_pb2
tasks_pb2 = _stubs.tasks_pb2
task_log_pb2 = _stubs.task_log_pb2
watch_pb2 = _stubs.watch_pb2

log = logging.getLogger("metad_client")

__all__ = ["connect", "Client", "AsyncWorkerRun", "AsyncWatch", "RunLost"]


def _details(details, timeout, metadata):
    return grpc.aio.ClientCallDetails(details.method, timeout, metadata,
                                      details.credentials, details.wait_for_ready)


def _merged_metadata(details, extra):
    return grpc.aio.Metadata(*(tuple(details.metadata or ()) + tuple(extra)))


class _UnaryDefaults(grpc.aio.UnaryUnaryClientInterceptor):
    """Default deadline, token and the retry loop (metad_client.retry)."""

    def __init__(self, timeout, retry, metadata, clock=time.monotonic, rng=random):
        self._timeout = timeout
        self._retry = retry or NO_RETRY
        self._metadata = tuple(metadata)
        self._clock = clock
        self._rng = rng

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        timeout = client_call_details.timeout
        if timeout is None:
            timeout = self._timeout
        metadata = _merged_metadata(client_call_details, self._metadata)
        request = with_request_id(request)
        attempts = Attempts(self._retry, timeout,
                            is_retryable(client_call_details.method, request),
                            self._clock, self._rng)
        while True:
            call = await continuation(
                _details(client_call_details, attempts.remaining(), metadata), request)
            delay = attempts.delay(await call.code())
            if delay is None:
                return call
            await asyncio.sleep(delay)


class _StreamDefaults(grpc.aio.UnaryStreamClientInterceptor):
    """Server streams get the token only (no default deadline, no retry)."""

    def __init__(self, metadata):
        self._metadata = tuple(metadata)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(_details(
            client_call_details, client_call_details.timeout,
            _merged_metadata(client_call_details, self._metadata)), request)


def connect(address=None, token=None, tls=False, *, root_certificates=None,
            certificate_chain=None, private_key=None, server_name=None,
            timeout=DEFAULT_TIMEOUT, retry=RetryPolicy(), options=()):
    """Opens a grpc.aio channel to metad and returns a Client; the arguments
    are metad_client.connect's. Call it from the event loop that will use
    the client."""
    address = address or os.environ.get("METAD_ADDRESS") or DEFAULT_ADDRESS
    metadata = token_metadata(token)
    interceptors = [_UnaryDefaults(timeout, retry, metadata), _StreamDefaults(metadata)]
    options = channel_options(options, server_name)
    creds = channel_credentials(tls, root_certificates, certificate_chain, private_key)
    if creds is None:
        channel = grpc.aio.insecure_channel(address, options=options,
                                            interceptors=interceptors)
    else:
        channel = grpc.aio.secure_channel(address, creds, options=options,
                                          interceptors=interceptors)
    return Client(channel, address=address)


class Client:
    """The stubs of metad.v1 on a grpc.aio channel: files, tasks, task_log,
    dependencies, admin, watch. client.files.GetFile(request) is awaitable
    and raises grpc.RpcError (grpc.aio.AioRpcError). close() (or an async
    with-block) closes the channel."""

    def __init__(self, channel, address=""):
        self.channel = channel
        self.address = address
        self.files = _stubs.files_pb2_grpc.FileServiceStub(channel)
        self.tasks = _stubs.tasks_pb2_grpc.TaskServiceStub(channel)
        self.task_log = _stubs.task_log_pb2_grpc.TaskLogServiceStub(channel)
        self.dependencies = _stubs.dependencies_pb2_grpc.DependencyServiceStub(channel)
        self.admin = _stubs.admin_pb2_grpc.AdminServiceStub(channel)
        self.deadlines = _stubs.deadlines_pb2_grpc.DeadlineServiceStub(channel)
        self.watch = _stubs.watch_pb2_grpc.WatchServiceStub(channel)

    async def close(self):
        await self.channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False

    async def ensure_task(self, name, description=None, max_attempts=None,
                          default_lease_seconds=None, attempts=5,
                          concurrency_limit=None, concurrency_key_label=None,
                          expected_duration=None):
        """metad_client.Client.ensure_task, awaitable."""
        wanted = ensure_wanted(description, max_attempts, default_lease_seconds,
                               concurrency_limit, concurrency_key_label,
                               expected_duration)
        for attempt in range(attempts):
            try:
                task = await self.tasks.GetTask(tasks_pb2.GetTaskRequest(name=name))
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                response = await self.tasks.RegisterTask(
                    tasks_pb2.RegisterTaskRequest(name=name,
                                                  **register_fields(wanted)))
                if not response.created:
                    continue  # registered meanwhile by someone else: compare
                task = response.task
            update = ensure_update(task, wanted)
            if update is None:
                return task
            try:
                return await self.tasks.UpdateTask(update)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.ABORTED or attempt + 1 == attempts:
                    raise
        raise RuntimeError(f"ensure_task({name!r}): no answer in {attempts} attempts")

    async def lineage(self, file_id=0, run_id=0, direction="BOTH", max_depth=0,
                      page_size=0):
        """metad_client.Client.lineage, awaitable."""
        request = lineage_request(file_id, run_id, direction, max_depth,
                                  page_size)
        merged = LineageMerge()
        while True:
            page = await self.files.GetLineage(request)
            if not merged.add(page):
                return merged.response
            request.page_token = page.next_page_token

    def run(self, task, batch_id, worker_id=None, lease_seconds=0,
            request_id=None, heartbeat=True, heartbeat_interval=None,
            labels=None):
        """A worker's run as an async context manager (AsyncWorkerRun):
        `async with client.run(task=..., batch_id=...) as run:`."""
        return AsyncWorkerRun(self, task=task, batch_id=batch_id, worker_id=worker_id,
                              lease_seconds=lease_seconds, request_id=request_id,
                              heartbeat=heartbeat, heartbeat_interval=heartbeat_interval,
                              labels=labels)

    def watch_files(self, after_event_id=0, source="", status=None, file_id=0,
                    *, attributes=None, metadata=None, backoff=None,
                    give_up_after=None):
        """WatchFiles as an async iterator of WatchedFileEvent that resumes
        by itself (metad_client.Client.watch_files has the rules)."""
        request = watch_files_request(after_event_id, source, status, file_id,
                                      attributes)
        return AsyncWatch(self.watch.WatchFiles, request, metadata=metadata,
                          backoff=backoff, give_up_after=give_up_after)

    def watch_runs(self, after_event_id=0, batch_id="", task="", status=None,
                   run_id=0, *, labels=None, metadata=None, backoff=None,
                   give_up_after=None):
        """WatchRuns as an async iterator of WatchedRunEvent."""
        request = watch_runs_request(after_event_id, batch_id, task, status,
                                     run_id, labels)
        return AsyncWatch(self.watch.WatchRuns, request, metadata=metadata,
                          backoff=backoff, give_up_after=give_up_after)


class AsyncWatch:
    """metad_client.watch.Watch for asyncio: `async for e in watch`. cancel()
    or leaving an async with-block ends the iteration."""

    def __init__(self, method, request, metadata=None, backoff=None,
                 give_up_after=None):
        self._method = method
        self._request = request
        self._metadata = metadata
        self._reconnects = Reconnects(backoff, give_up_after)
        self.last_event_id = (request.after_event_id
                              if request.after_event_id > 0 else None)
        self._closed = False
        self._wake = None  # asyncio.Event, made in the loop on first use
        self._call = None

    @property
    def reconnects(self):
        return self._reconnects.reconnects

    def __aiter__(self):
        return self

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.cancel()
        return False

    def cancel(self):
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        if self._call is not None:
            self._call.cancel()

    async def _open(self):
        request = type(self._request)()
        request.CopyFrom(self._request)
        if self.last_event_id is not None:
            request.after_event_id = self.last_event_id
        self._call = self._method(request, metadata=self._metadata)
        if self.last_event_id is None:
            try:
                position = start_position(await self._call.initial_metadata())
            except grpc.RpcError:
                position = None  # the read below raises it
            if position is not None:
                self.last_event_id = position
                self._reconnects.connected()
        return self._call

    async def __anext__(self):
        if self._wake is None:
            self._wake = asyncio.Event()
        while not self._closed:
            try:
                call = self._call or await self._open()
                event = await call.read()
            except asyncio.CancelledError:
                if self._closed:
                    break  # our own cancel() of the call
                raise
            except grpc.RpcError as e:
                self._call = None
                if self._closed:
                    break
                delay = self._reconnects.delay(e, self.last_event_id)
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            if event is grpc.aio.EOF:
                break  # the daemon ended the stream without an error
            self._reconnects.connected()
            self.last_event_id = event.event.id
            return event
        self.cancel()
        raise StopAsyncIteration


class AsyncWorkerRun:
    """metad_client.WorkerRun for asyncio; made by Client.run().

    The same attributes (id, run, lease_seconds, lost, finished) and rules:
    heartbeats every lease/3 seconds (or heartbeat_interval) from an asyncio
    task, transient failures retried sooner, any other refusal marks the run
    lost and the next call raises RunLost; claims carry their own
    request_id; finish names exactly the file ids the claims brought.
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
        self._stop = None  # asyncio.Event, made in start()
        self._task = None
        self._lost = None  # the RunLost, once known
        self._finished = False
        # Every file id a ClaimFiles answer brought: FinishRun names them, so
        # files claimed by a call whose answer never arrived go back to NEW.
        self._received = set()
        self.run = None
        self.lease_seconds = None

    # -- lifecycle --------------------------------------------------------

    async def start(self):
        """Calls StartRun and starts the heartbeat task; returns the Run."""
        if self.run is not None:
            raise RuntimeError(f"run {self.run.id} already started")
        response = await self._client.task_log.StartRun(task_log_pb2.StartRunRequest(
            task=self.task, batch_id=self.batch_id, worker_id=self.worker_id,
            lease_seconds=self._lease_request, request_id=self.request_id,
            labels=self.labels))
        self.run = response.run
        run = response.run
        lease = (run.lease_expire_time.ToNanoseconds() -
                 run.start_time.ToNanoseconds()) / 1e9
        self.lease_seconds = lease if lease > 0 else float(self._lease_request or 60)
        self._stop = asyncio.Event()
        if self._heartbeat:
            interval = self._heartbeat_interval or self.lease_seconds / 3
            self._task = asyncio.ensure_future(self._heartbeat_loop(interval))
        return run

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self._stop_heartbeats()
        if self._finished:
            return False
        if exc is None:
            await self.finish(task_log_pb2.RUN_STATUS_SUCCESS)
            return False
        if self._lost is not None:
            return False  # the daemon already ended the run
        try:
            await self.finish(task_log_pb2.RUN_STATUS_ERROR, error_message(exc))
        except grpc.RpcError as e:
            log.warning("run %d: FinishRun(ERROR) failed: %s", self.id, e)
            add_note(exc, f"metad: finishing run {self.id} as ERROR failed: "
                          f"{e.code().name}: {e.details()}")
        return False

    async def finish(self, status=task_log_pb2.RUN_STATUS_SUCCESS, error_message=""):
        """WorkerRun.finish, awaitable: ends the run naming exactly the files
        this object received. Returns FinishRunResponse; raises RunLost when
        the lease was lost, grpc.RpcError FAILED_PRECONDITION when refused."""
        if isinstance(status, str):
            status = task_log_pb2.RunStatus.Value("RUN_STATUS_" + status.upper())
        await self._stop_heartbeats()
        self.check()
        file_ids = sorted(self._received)
        try:
            response = await self._client.task_log.FinishRun(task_log_pb2.FinishRunRequest(
                run_id=self.id, status=status, error_message=error_message,
                file_ids=file_ids))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self._mark_lost(e)
            raise
        self.run = response.run
        self._finished = True
        return response

    # -- work -------------------------------------------------------------

    @property
    def id(self):
        return self.run.id if self.run is not None else 0

    @property
    def finished(self):
        return self._finished

    @property
    def lost(self):
        return self._lost is not None

    def check(self):
        """Raises RunLost if the lease is known to be lost."""
        if self._lost is not None:
            raise self._lost

    async def claim_files(self, limit=100, source=None):
        """WorkerRun.claim_files, awaitable: a list of File, maybe empty."""
        self.check()
        try:
            response = await self._client.files.ClaimFiles(files_pb2.ClaimFilesRequest(
                run_id=self.id, source=source or "", limit=limit,
                request_id=new_request_id()))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self._mark_lost(e)
                raise self._lost from e
            raise
        self._received.update(f.id for f in response.files)
        return list(response.files)

    async def held_files(self, page_size=1000):
        """WorkerRun.held_files, awaitable: files returned count as received."""
        self.check()
        files, token = [], ""
        while True:
            response = await self._client.files.ListFiles(files_pb2.ListFilesRequest(
                run_id=self.id, status=files_pb2.FILE_STATUS_PROCESSING,
                page_size=page_size, page_token=token))
            files.extend(response.files)
            token = response.next_page_token
            if not token:
                self._received.update(f.id for f in files)
                return files

    async def complete_file(self, file, status="SUCCESS", error_message=""):
        """WorkerRun.complete_file, awaitable. Returns the updated File."""
        self.check()
        file_id = file if isinstance(file, int) else file.id
        response = await self._client.files.CompleteFile(files_pb2.CompleteFileRequest(
            file_id=file_id, run_id=self.id, status=_file_status(status),
            error_message=error_message))
        return response.file

    async def fail_file(self, file, error_message):
        return await self.complete_file(file, "ERROR", error_message)

    async def record_outputs(self, outputs):
        """WorkerRun.record_outputs, awaitable."""
        self.check()
        specs = [_file_spec(o) for o in outputs]
        try:
            response = await self._client.task_log.RecordOutputs(
                task_log_pb2.RecordOutputsRequest(run_id=self.id, outputs=specs))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self._mark_lost(e)
                raise self._lost from e
            raise
        return list(response.outputs)

    async def heartbeat(self):
        """Extends the lease now; returns the Run. Raises RunLost if refused."""
        self.check()
        try:
            response = await self._client.task_log.Heartbeat(
                task_log_pb2.HeartbeatRequest(run_id=self.id))
        except grpc.RpcError as e:
            if e.code() not in _TRANSIENT:
                self._mark_lost(e)
                raise self._lost from e
            raise
        self.run = response.run
        return response.run

    # -- internals --------------------------------------------------------

    def _mark_lost(self, cause):
        if self._lost is None:
            self._lost = RunLost(self.id, cause)
            log.warning("run %d lost: %s", self.id, cause.details())
        if self._stop is not None:
            self._stop.set()

    async def _stop_heartbeats(self):
        if self._stop is not None:
            self._stop.set()
        task = self._task
        self._task = None
        if task is not None and task is not asyncio.current_task():
            await task

    async def _heartbeat_loop(self, interval):
        failures = 0
        wait = interval
        call_timeout = max(1.0, interval)
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), wait)
                return
            except asyncio.TimeoutError:
                pass
            try:
                response = await self._client.task_log.Heartbeat(
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
            if not self._stop.is_set():
                self.run = response.run
