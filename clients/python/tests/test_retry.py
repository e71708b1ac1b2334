"""Deadlines, retries, request ids, token and TLS, against scripted in-process
servers (no metad needed): what is retried, what never is, and how long."""

import subprocess
import threading
from concurrent import futures

import grpc
import pytest

import metad_client
from metad_client import files_pb2, files_pb2_grpc, task_log_pb2, task_log_pb2_grpc
from metad_client import retry
from metad_client.retry import DefaultsInterceptor, RetryPolicy

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.005)


class Script:
    """Per method: the codes to fail with before answering, and what was seen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.failures = {}
        self.requests = {}
        self.metadata = []
        self.time_remaining = []

    def answer(self, method, request, context, response):
        with self.lock:
            self.requests.setdefault(method, []).append(request)
            self.metadata.append(dict(context.invocation_metadata()))
            self.time_remaining.append(context.time_remaining())
            pending = self.failures.get(method, [])
            code = pending.pop(0) if pending else None
        if code is not None:
            context.abort(code, f"scripted {code.name}")
        return response

    def attempts(self, method):
        return len(self.requests.get(method, []))


class Files(files_pb2_grpc.FileServiceServicer):
    def __init__(self, script):
        self.s = script

    def GetFile(self, request, context):
        return self.s.answer("GetFile", request, context,
                             files_pb2.File(id=request.id, source="s", file_name="f"))

    def ClaimFiles(self, request, context):
        return self.s.answer("ClaimFiles", request, context,
                             files_pb2.ClaimFilesResponse())

    def ResetFile(self, request, context):
        return self.s.answer("ResetFile", request, context,
                             files_pb2.ResetFileResponse())

    def CompleteFile(self, request, context):
        return self.s.answer("CompleteFile", request, context,
                             files_pb2.CompleteFileResponse())

    def RegisterFiles(self, request, context):
        return self.s.answer("RegisterFiles", request, context,
                             files_pb2.RegisterFilesResponse())


class TaskLog(task_log_pb2_grpc.TaskLogServiceServicer):
    def __init__(self, script):
        self.s = script

    def StartRun(self, request, context):
        return self.s.answer("StartRun", request, context, task_log_pb2.StartRunResponse(
            run=task_log_pb2.Run(id=1, request_id=request.request_id), created=True))

    def FinishRun(self, request, context):
        return self.s.answer("FinishRun", request, context,
                             task_log_pb2.FinishRunResponse())


def _serve(script, credentials=None, host="127.0.0.1"):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    files_pb2_grpc.add_FileServiceServicer_to_server(Files(script), server)
    task_log_pb2_grpc.add_TaskLogServiceServicer_to_server(TaskLog(script), server)
    if credentials is None:
        port = server.add_insecure_port(f"{host}:0")
    else:
        port = server.add_secure_port(f"{host}:0", credentials)
    server.start()
    return server, port


@pytest.fixture
def fake():
    script = Script()
    server, port = _serve(script)
    yield script, f"127.0.0.1:{port}"
    server.stop(None)


def test_read_is_retried_on_unavailable_and_aborted(fake):
    script, address = fake
    script.failures["GetFile"] = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED]
    with metad_client.connect(address, retry=FAST) as client:
        f = client.files.GetFile(files_pb2.GetFileRequest(id=7))
    assert f.id == 7
    assert script.attempts("GetFile") == 3


def test_retries_stop_after_max_attempts(fake):
    script, address = fake
    script.failures["GetFile"] = [grpc.StatusCode.UNAVAILABLE] * 10
    with metad_client.connect(address, retry=FAST) as client:
        with pytest.raises(grpc.RpcError) as err:
            client.files.GetFile(files_pb2.GetFileRequest(id=7))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert script.attempts("GetFile") == FAST.max_attempts


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.NOT_FOUND,
                                  grpc.StatusCode.INTERNAL])
def test_other_codes_are_never_retried(fake, code):
    script, address = fake
    script.failures["GetFile"] = [code]
    with metad_client.connect(address, retry=FAST) as client:
        with pytest.raises(grpc.RpcError) as err:
            client.files.GetFile(files_pb2.GetFileRequest(id=7))
    assert err.value.code() == code
    assert script.attempts("GetFile") == 1


def test_state_changes_that_are_not_idempotent_are_tried_once(fake):
    # A repeated ResetFile that did reach the database is refused
    # (FAILED_PRECONDITION), as if it had failed.
    script, address = fake
    script.failures["ResetFile"] = [grpc.StatusCode.UNAVAILABLE]
    with metad_client.connect(address, retry=FAST) as client:
        with pytest.raises(grpc.RpcError) as err:
            client.files.ResetFile(files_pb2.ResetFileRequest(file_id=1))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert script.attempts("ResetFile") == 1


@pytest.mark.parametrize("method", ["CompleteFile", "FinishRun"])
def test_idempotent_calls_are_retried_unchanged(fake, method):
    # The daemon answers a repeat of a call that took effect as it answered
    # the first (replayed), so a lost answer is retried.
    script, address = fake
    script.failures[method] = [grpc.StatusCode.UNAVAILABLE] * 2
    with metad_client.connect(address, retry=FAST) as client:
        if method == "CompleteFile":
            client.files.CompleteFile(files_pb2.CompleteFileRequest(
                file_id=3, run_id=1, status=files_pb2.FILE_STATUS_SUCCESS))
        else:
            client.task_log.FinishRun(task_log_pb2.FinishRunRequest(
                run_id=1, file_ids=[3, 4]))
    assert script.attempts(method) == 3
    assert len({r.SerializeToString() for r in script.requests[method]}) == 1


def test_claim_gets_one_request_id_for_all_attempts(fake):
    # A lost ClaimFiles answer is retried with the same request_id, which
    # returns the files of the first call rather than a second set.
    script, address = fake
    script.failures["ClaimFiles"] = [grpc.StatusCode.UNAVAILABLE] * 2
    with metad_client.connect(address, retry=FAST) as client:
        client.files.ClaimFiles(files_pb2.ClaimFilesRequest(run_id=1, limit=5))
    ids = [r.request_id for r in script.requests["ClaimFiles"]]
    assert len(ids) == 3
    assert ids[0] and len(set(ids)) == 1


def test_creating_call_gets_one_request_id_for_all_attempts(fake):
    script, address = fake
    script.failures["StartRun"] = [grpc.StatusCode.UNAVAILABLE] * 2
    with metad_client.connect(address, retry=FAST) as client:
        response = client.task_log.StartRun(
            task_log_pb2.StartRunRequest(task="t", batch_id="b"))
    ids = [r.request_id for r in script.requests["StartRun"]]
    assert len(ids) == 3
    assert ids[0] and len(set(ids)) == 1
    assert response.run.request_id == ids[0]


def test_callers_request_id_is_kept_and_request_not_mutated(fake):
    script, address = fake
    script.failures["RegisterFiles"] = [grpc.StatusCode.ABORTED]
    request = files_pb2.RegisterFilesRequest(
        files=[files_pb2.FileSpec(source="s", file_name="a")])
    with metad_client.connect(address, retry=FAST) as client:
        client.files.RegisterFiles(request)
        request.request_id = "mine"
        client.files.RegisterFiles(request)
    seen = [r.request_id for r in script.requests["RegisterFiles"]]
    assert seen[0] and seen[0] == seen[1] and seen[2] == "mine"


def test_each_call_gets_the_default_deadline(fake):
    script, address = fake
    with metad_client.connect(address, timeout=7) as client:
        client.files.GetFile(files_pb2.GetFileRequest(id=1))
        client.files.GetFile(files_pb2.GetFileRequest(id=1), timeout=100)
    assert 0 < script.time_remaining[0] <= 7.5  # clocks of client and server threads differ slightly
    assert 7 < script.time_remaining[1] <= 102  # gRPC rounds deadlines up


def test_token_is_sent_as_bearer_metadata(fake):
    script, address = fake
    with metad_client.connect(address, token="s3cret") as client:
        client.files.GetFile(files_pb2.GetFileRequest(id=1))
        client.files.GetFile(files_pb2.GetFileRequest(id=1),
                             metadata=(("x-trace", "1"),))
    assert script.metadata[0]["authorization"] == "Bearer s3cret"
    assert script.metadata[1]["authorization"] == "Bearer s3cret"
    assert script.metadata[1]["x-trace"] == "1"


def test_no_token_no_authorization_header(fake, monkeypatch):
    monkeypatch.delenv("METAD_TOKEN", raising=False)
    script, address = fake
    with metad_client.connect(address) as client:
        client.files.GetFile(files_pb2.GetFileRequest(id=1))
    assert "authorization" not in script.metadata[0]


def test_tls_with_a_private_ca(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    script = Script()
    server, port = _serve(script, creds, host="localhost")
    try:
        with metad_client.connect(f"localhost:{port}", tls=True,
                                  root_certificates=str(cert)) as client:
            assert client.files.GetFile(files_pb2.GetFileRequest(id=3)).id == 3
        # Plaintext against a TLS port fails; it is not silently downgraded.
        with metad_client.connect(f"localhost:{port}", timeout=1,
                                  retry=metad_client.NO_RETRY) as client:
            with pytest.raises(grpc.RpcError):
                client.files.GetFile(files_pb2.GetFileRequest(id=3))
    finally:
        server.stop(None)


# --- the interceptor alone, on a fake clock ---------------------------------

class _Outcome:
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code


class _Details:
    def __init__(self, method, timeout=None):
        self.method = method
        self.timeout = timeout
        self.metadata = None
        self.credentials = None
        self.wait_for_ready = None
        self.compression = None


class _Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class _MaxRng:
    @staticmethod
    def uniform(low, high):
        return high


def test_backoff_grows_exponentially_up_to_the_cap():
    clock = _Clock()
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.1, max_backoff=0.5)
    interceptor = DefaultsInterceptor(timeout=None, retry=policy, sleep=clock.sleep,
                                      clock=clock, rng=_MaxRng)
    calls = []

    def continuation(details, request):
        calls.append(details.timeout)
        return _Outcome(grpc.StatusCode.UNAVAILABLE)

    out = interceptor.intercept_unary_unary(
        continuation, _Details("/metad.v1.FileService/ListFiles"),
        files_pb2.ListFilesRequest())
    assert out.code() == grpc.StatusCode.UNAVAILABLE
    assert len(calls) == 6
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_deadline_bounds_all_attempts_together():
    clock = _Clock()
    policy = RetryPolicy(max_attempts=100, initial_backoff=1.0, max_backoff=1.0)
    interceptor = DefaultsInterceptor(timeout=3.5, retry=policy, sleep=clock.sleep,
                                      clock=clock, rng=_MaxRng)
    timeouts = []

    def continuation(details, request):
        timeouts.append(details.timeout)
        return _Outcome(grpc.StatusCode.ABORTED)

    interceptor.intercept_unary_unary(
        continuation, _Details("/metad.v1.TaskService/GetTask"),
        files_pb2.GetFileRequest())
    # Attempts at t=0,1,2,3; a fifth backoff would end past the deadline.
    assert timeouts == pytest.approx([3.5, 2.5, 1.5, 0.5])
    assert clock.now - 100.0 == pytest.approx(3.0)


# --- which methods are retried: the proto's idempotency_level ----------------

KIND_WANT = {
    "/metad.v1.FileService/RegisterFile": retry.CREATING,
    "/metad.v1.FileService/RegisterFiles": retry.CREATING,
    "/metad.v1.FileService/ClaimFiles": retry.CREATING,
    "/metad.v1.TaskService/RegisterTask": retry.CREATING,
    "/metad.v1.TaskLogService/StartRun": retry.CREATING,
    "/metad.v1.DependencyService/AddDependency": retry.CREATING,
    "/metad.v1.FileService/GetFile": retry.READ,
    "/metad.v1.FileService/ListFiles": retry.READ,
    "/metad.v1.FileService/ListFileEvents": retry.READ,
    "/metad.v1.FileService/GetLineage": retry.READ,
    "/metad.v1.TaskService/GetTask": retry.READ,
    "/metad.v1.TaskService/ListTasks": retry.READ,
    "/metad.v1.TaskService/ListTaskEvents": retry.READ,
    "/metad.v1.DependencyService/ListDependencies": retry.READ,
    "/metad.v1.DependencyService/GetUpstream": retry.READ,
    "/metad.v1.DependencyService/GetDownstream": retry.READ,
    "/metad.v1.DependencyService/GetExecutionPlan": retry.READ,
    "/metad.v1.DependencyService/GetReadyTasks": retry.READ,
    "/metad.v1.TaskLogService/GetRun": retry.READ,
    "/metad.v1.TaskLogService/ListRuns": retry.READ,
    "/metad.v1.TaskLogService/GetBatch": retry.READ,
    "/metad.v1.TaskLogService/ListRunEvents": retry.READ,
    # Streams never pass through the unary retries; watch.py resumes them.
    "/metad.v1.WatchService/WatchFiles": retry.READ,
    "/metad.v1.WatchService/WatchRuns": retry.READ,
    "/metad.v1.FileService/CompleteFile": retry.IDEMPOTENT,
    "/metad.v1.TaskLogService/FinishRun": retry.IDEMPOTENT,
    "/metad.v1.TaskLogService/Heartbeat": retry.IDEMPOTENT,
    "/metad.v1.TaskLogService/CancelRun": retry.IDEMPOTENT,
    "/metad.v1.TaskLogService/RecordOutputs": retry.IDEMPOTENT,
    "/metad.v1.AdminService/PruneHistory": retry.IDEMPOTENT,
    "/metad.v1.DeadlineService/SetBatchDeadline": retry.IDEMPOTENT,
    "/metad.v1.DeadlineService/SetSourceFreshness": retry.IDEMPOTENT,
    "/metad.v1.DeadlineService/ListAlerts": retry.READ,
    "/metad.v1.TaskLogService/RerunTasks": retry.ONCE,
    "/metad.v1.FileService/ReprocessFiles": retry.ONCE,
    "/metad.v1.FileService/ResetFile": retry.ONCE,
    "/metad.v1.TaskService/DeleteTask": retry.ONCE,
    "/metad.v1.TaskService/UpdateTask": retry.ONCE,
    "/metad.v1.DependencyService/RemoveDependency": retry.ONCE,
}


def test_every_method_is_classified_as_the_table_says():
    modules = [metad_client.files_pb2, metad_client.tasks_pb2, metad_client.task_log_pb2,
               metad_client.dependencies_pb2, metad_client.admin_pb2,
               metad_client.deadlines_pb2, metad_client.watch_pb2]
    methods = [f"/{s.full_name}/{m.name}" for module in modules
               for s in module.DESCRIPTOR.services_by_name.values() for m in s.methods]
    assert sorted(methods) == sorted(KIND_WANT), "add new methods to KIND_WANT"
    assert {m: retry.kind_of(m) for m in methods} == KIND_WANT
    assert retry.kind_of(b"/metad.v1.FileService/GetFile") == retry.READ
    for unknown in ("/other.v1.Service/GetThing", "/metad.v1.FileService/Nope",
                    "metad.v1.FileService.GetFile", ""):
        assert retry.kind_of(unknown) == retry.ONCE


def test_a_creating_method_is_one_whose_request_has_a_request_id():
    for method, kind in KIND_WANT.items():
        service, name = method[1:].split("/")
        descriptor = metad_client.files_pb2.DESCRIPTOR.pool.FindMethodByName(
            f"{service}.{name}")
        has_id = "request_id" in descriptor.input_type.fields_by_name
        assert has_id == (kind == retry.CREATING), method
