"""connect() and Client: the four metad.v1 stubs behind one channel."""

import os

import grpc
from google.protobuf import duration_pb2, field_mask_pb2

from metad_client import _stubs
from metad_client.retry import DefaultsInterceptor, RetryPolicy
from metad_client.selector import selector
from metad_client.session import ReadYourWrites
from metad_client.watch import Watch, watch_files_request, watch_runs_request
from metad_client.worker import WorkerRun

files_pb2 = _stubs.files_pb2
tasks_pb2 = _stubs.tasks_pb2
task_log_pb2 = _stubs.task_log_pb2
watch_pb2 = _stubs.watch_pb2

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0


def _read_bytes(value):
    """PEM material given as bytes, or as the path of a file holding it."""
    if value is None or isinstance(value, bytes):
        return value
    with open(os.fspath(value), "rb") as f:
        return f.read()


def channel_options(options=(), server_name=None):
    """The channel arguments connect() uses (shared with metad_client.aio)."""
    options = [("grpc.max_receive_message_length", 64 << 20),
               ("grpc.keepalive_time_ms", 30000)] + list(options)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


def channel_credentials(tls, root_certificates=None, certificate_chain=None,
                        private_key=None):
    """None for plaintext, else the grpc.ChannelCredentials of `tls`."""
    if tls is False or tls is None:
        return None
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    return grpc.ssl_channel_credentials(
        root_certificates=_read_bytes(root_certificates),
        private_key=_read_bytes(private_key),
        certificate_chain=_read_bytes(certificate_chain))


def token_metadata(token):
    """The authorization metadata of `token` ($METAD_TOKEN when None)."""
    if token is None:
        token = os.environ.get("METAD_TOKEN") or None
    return (("authorization", f"Bearer {token}"),) if token else ()


def connect(address=None, token=None, tls=False, *, root_certificates=None,
            certificate_chain=None, private_key=None, server_name=None,
            timeout=DEFAULT_TIMEOUT, retry=RetryPolicy(), options=(),
            read_your_writes=True):
    """Opens a channel to metad and returns a Client.

    address: host:port; default $METAD_ADDRESS, else 127.0.0.1:50051.
    token: sent as "authorization: Bearer <token>" on every call; default
        $METAD_TOKEN.
    tls: False for plaintext, True for TLS, or grpc.ChannelCredentials.
        With True, root_certificates (CA bundle; default the system roots)
        and, for mutual TLS, certificate_chain and private_key are PEM bytes
        or paths of PEM files. server_name overrides the name checked against
        the server's certificate.
    timeout: the default deadline of a call in seconds, retries included
        (None for none); a call's own timeout= wins.
    retry: a RetryPolicy, or None to never retry.
    read_your_writes: with metad reading from a standby (--read_database),
        every read sees the changes this client made (metad_client.session);
        False lets reads be served by a standby that is behind.
    """
    address = address or os.environ.get("METAD_ADDRESS") or DEFAULT_ADDRESS
    options = channel_options(options, server_name)
    creds = channel_credentials(tls, root_certificates, certificate_chain, private_key)
    if creds is None:
        channel = grpc.insecure_channel(address, options=options)
    else:
        channel = grpc.secure_channel(address, creds, options=options)
    interceptor = DefaultsInterceptor(timeout=timeout, retry=retry,
                                      metadata=token_metadata(token))
    interceptors = [interceptor]
    session = ReadYourWrites() if read_your_writes else None
    if session is not None:
        interceptors.append(session)  # inside the retries: each attempt's answer
    return Client(grpc.intercept_channel(channel, *interceptors), address=address,
                  raw_channel=channel, session=session)


class Client:
    """The stubs of metad.v1, with deadlines, retries and the token applied.

    files: FileService        tasks: TaskService
    task_log: TaskLogService  dependencies: DependencyService
    admin: AdminService       watch: WatchService (raw streams; see
                              watch_files and watch_runs)
    deadlines: DeadlineService (SetBatchDeadline, SetSourceFreshness,
                              ListAlerts)

    Each is the generated stub: client.files.GetFile(files_pb2.GetFileRequest(
    id=7)) returns a File or raises grpc.RpcError. Thread-safe; close() (or a
    with-block) closes the channel.
    """

    def __init__(self, channel, address="", raw_channel=None, session=None):
        self.channel = channel
        self._session = session
        self.address = address
        self._raw_channel = raw_channel or channel
        self.files = _stubs.files_pb2_grpc.FileServiceStub(channel)
        self.tasks = _stubs.tasks_pb2_grpc.TaskServiceStub(channel)
        self.task_log = _stubs.task_log_pb2_grpc.TaskLogServiceStub(channel)
        self.dependencies = _stubs.dependencies_pb2_grpc.DependencyServiceStub(channel)
        self.admin = _stubs.admin_pb2_grpc.AdminServiceStub(channel)
        self.deadlines = _stubs.deadlines_pb2_grpc.DeadlineServiceStub(channel)
        self.watch = _stubs.watch_pb2_grpc.WatchServiceStub(channel)

    @property
    def commit_position(self):
        """The highest commit position an answer carried (read_your_writes;
        0 before any, or without a read pool on the daemon)."""
        return self._session.position if self._session is not None else 0

    def set_commit_position(self, position):
        """Makes this client's reads see at least what a client that saw
        `position` (its commit_position) had written."""
        if self._session is None:
            raise ValueError("this client was opened with read_your_writes=False")
        self._session.see(position)

    def close(self):
        self._raw_channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def ensure_task(self, name, description=None, max_attempts=None,
                    default_lease_seconds=None, attempts=5,
                    concurrency_limit=None, concurrency_key_label=None,
                    expected_duration=None):
        """Returns the task `name`, registering it if it does not exist.

        Settings left as None keep the stored value (or the server's default
        for a new task); given ones that differ are written with UpdateTask,
        naming only them in the field mask and sending the etag read, so a
        worker calling this at start neither undoes an operator's change of
        another setting nor overwrites a change made since its read (on
        ABORTED it reads, compares and updates again, `attempts` times in
        all). Raises grpc.RpcError (INVALID_ARGUMENT for a bad name or
        setting; ABORTED when every attempt met a concurrent change).
        concurrency_limit (0: none) and concurrency_key_label ("": one limit
        for the task) are set with UpdateTask, also on a task this call
        registers (RegisterTask does not take them).
        expected_duration (seconds, or a datetime.timedelta): the task is
        due this long after its batch's first run (Task.expected_duration).
        """
        wanted = ensure_wanted(description, max_attempts, default_lease_seconds,
                               concurrency_limit, concurrency_key_label,
                               expected_duration)
        for attempt in range(attempts):
            try:
                task = self.tasks.GetTask(tasks_pb2.GetTaskRequest(name=name))
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                response = self.tasks.RegisterTask(tasks_pb2.RegisterTaskRequest(
                    name=name, **register_fields(wanted)))
                if not response.created:
                    continue  # registered meanwhile by someone else: compare
                task = response.task
            update = ensure_update(task, wanted)
            if update is None:
                return task
            try:
                return self.tasks.UpdateTask(update)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.ABORTED or attempt + 1 == attempts:
                    raise
        raise RuntimeError(f"ensure_task({name!r}): no answer in {attempts} attempts")

    def lineage(self, file_id=0, run_id=0, direction="BOTH", max_depth=0,
                page_size=0):
        """GetLineage from a file or a run (exactly one), every page merged
        into one GetLineageResponse (each file and run once, the start
        included; next_page_token empty). `direction` is "UPSTREAM",
        "DOWNSTREAM" or "BOTH" (or the enum); max_depth 0 means 3, at most
        16. Raises grpc.RpcError: INVALID_ARGUMENT for a bad start, depth or
        direction, NOT_FOUND for an unknown start."""
        request = lineage_request(file_id, run_id, direction, max_depth,
                                  page_size)
        merged = LineageMerge()
        while True:
            page = self.files.GetLineage(request)
            if not merged.add(page):
                return merged.response
            request.page_token = page.next_page_token

    def run(self, task, batch_id, worker_id=None, lease_seconds=0,
            request_id=None, heartbeat=True, heartbeat_interval=None,
            labels=None):
        """A worker's run of `task` in `batch_id`, as a context manager.

            with client.run(task="load_sales", batch_id="b1",
                            lease_seconds=30) as run:
                for f in run.claim_files(100, source="s3://sales"):
                    load(f)
                    run.complete_file(f)

        Entering starts the run (StartRun; FAILED_PRECONDITION when the task
        may not start in the batch, NOT_FOUND for an unknown task) and keeps
        its lease alive from a background thread. Leaving finishes it:
        SUCCESS on normal exit, ERROR with the exception's message when the
        block raised (the exception propagates). labels: a dict of strings
        stored with the run (ListRuns / watch_runs select by them). See
        WorkerRun.
        """
        return WorkerRun(self, task=task, batch_id=batch_id, worker_id=worker_id,
                         lease_seconds=lease_seconds, request_id=request_id,
                         heartbeat=heartbeat, heartbeat_interval=heartbeat_interval,
                         labels=labels)

    def list_runs(self, labels=None, task="", batch_id="", status=None,
                  page_size=0):
        """Every run ListRuns returns, page after page (an iterator of Run).
        labels: only runs whose labels match (a selector string "k=v,k2" or
        a dict, None for "key exists"; see metad_client.selector). status: a
        RunStatus or its name ("ERROR")."""
        if isinstance(status, str):
            status = task_log_pb2.RunStatus.Value("RUN_STATUS_" + status.upper())
        request = task_log_pb2.ListRunsRequest(
            task=task, batch_id=batch_id, status=status or 0,
            page_size=page_size, label_selector=selector(labels))
        while True:
            page = self.task_log.ListRuns(request)
            yield from page.runs
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def list_files(self, attributes=None, source="", status=None, run_id=0,
                   page_size=0):
        """Every file ListFiles returns, page after page (an iterator of
        File). attributes: only files whose attributes match (a selector
        string or a dict, as list_runs' labels). status: a FileStatus or its
        name ("NEW")."""
        if isinstance(status, str):
            status = files_pb2.FileStatus.Value("FILE_STATUS_" + status.upper())
        request = files_pb2.ListFilesRequest(
            source=source, status=status or 0, run_id=run_id,
            page_size=page_size, attribute_selector=selector(attributes))
        while True:
            page = self.files.ListFiles(request)
            yield from page.files
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def watch_files(self, after_event_id=0, source="", status=None, file_id=0,
                    *, attributes=None, metadata=None, backoff=None,
                    give_up_after=None):
        """WatchFiles as an iterator of WatchedFileEvent that resumes by
        itself after UNAVAILABLE (see metad_client.watch). after_event_id:
        > 0 after that event, 0 from now, -1 from the oldest event kept.
        status: a FileStatus or its name ("SUCCESS"). backoff: a RetryPolicy
        for the reconnect waits; give_up_after: seconds of failed reconnects
        before the UNAVAILABLE is raised (None: never). Raises HistoryPruned
        (OUT_OF_RANGE) when the events after the position were pruned.
        attributes: only files whose attributes match (a selector string
        "k=v,k2" or a dict, see metad_client.selector)."""
        request = watch_files_request(after_event_id, source, status, file_id,
                                      attributes)
        return Watch(self.watch.WatchFiles, request, metadata=metadata,
                     backoff=backoff, give_up_after=give_up_after)

    def watch_runs(self, after_event_id=0, batch_id="", task="", status=None,
                   run_id=0, *, labels=None, metadata=None, backoff=None,
                   give_up_after=None):
        """WatchRuns as an iterator of WatchedRunEvent; the same rules as
        watch_files. status: a RunStatus or its name ("ERROR"). labels: only
        runs whose labels match (a selector string or a dict)."""
        request = watch_runs_request(after_event_id, batch_id, task, status,
                                     run_id, labels)
        return Watch(self.watch.WatchRuns, request, metadata=metadata,
                     backoff=backoff, give_up_after=give_up_after)


def ensure_wanted(description, max_attempts, default_lease_seconds,
                  concurrency_limit=None, concurrency_key_label=None,
                  expected_duration=None):
    """The settings ensure_task was given (None: keep what is stored)."""
    wanted = {"description": description, "max_attempts": max_attempts,
              "default_lease_seconds": default_lease_seconds,
              "concurrency_limit": concurrency_limit,
              "concurrency_key_label": concurrency_key_label}
    if expected_duration is not None:
        seconds = (expected_duration.total_seconds()
                   if hasattr(expected_duration, "total_seconds")
                   else float(expected_duration))
        micros = round(seconds * 1_000_000)
        wanted["expected_duration"] = duration_pb2.Duration(
            seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
    return {k: v for k, v in wanted.items() if v is not None}


_REGISTER_FIELDS = ("description", "max_attempts", "default_lease_seconds",
                    "expected_duration")


def register_fields(wanted):
    """The settings RegisterTask takes (the concurrency ones it does not:
    ensure_task sets those with UpdateTask after registering)."""
    return {k: v for k, v in wanted.items() if k in _REGISTER_FIELDS}


def ensure_update(task, wanted):
    """The UpdateTaskRequest that makes `task` have `wanted` (only the
    differing fields in the mask, the etag read), or None when it has."""
    paths = sorted(k for k, v in wanted.items() if getattr(task, k) != v)
    if not paths:
        return None
    return tasks_pb2.UpdateTaskRequest(
        task=tasks_pb2.Task(name=task.name, **{k: wanted[k] for k in paths}),
        update_mask=field_mask_pb2.FieldMask(paths=paths), etag=task.etag)


def lineage_request(file_id, run_id, direction, max_depth, page_size):
    """The first GetLineageRequest of Client.lineage (direction: a name such
    as "UPSTREAM", or the enum)."""
    if isinstance(direction, str):
        direction = files_pb2.LineageDirection.Value(
            "LINEAGE_DIRECTION_" + direction.upper())
    return files_pb2.GetLineageRequest(
        file_id=file_id, run_id=run_id, direction=direction,
        max_depth=max_depth, page_size=page_size)


class LineageMerge:
    """GetLineage pages merged into one response: every edge, each file and
    run once."""

    def __init__(self):
        self.response = files_pb2.GetLineageResponse()
        self._files, self._runs = set(), set()

    def add(self, page):
        """Adds a page; True while another page follows."""
        self.response.edges.extend(page.edges)
        for f in page.files:
            if f.id not in self._files:
                self._files.add(f.id)
                self.response.files.append(f)
        for r in page.runs:
            if r.id not in self._runs:
                self._runs.add(r.id)
                self.response.runs.append(r)
        return bool(page.next_page_token)
