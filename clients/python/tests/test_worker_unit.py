"""WorkerRun's own logic against a scripted in-process TaskLogService (no
metad): finishing on exit, the heartbeat thread, and how a loss surfaces."""

import threading
from concurrent import futures

import grpc
import pytest

import metad_client
from helpers import wait_until
from metad_client import files_pb2, files_pb2_grpc, task_log_pb2, task_log_pb2_grpc

RS = task_log_pb2


class Daemonish(task_log_pb2_grpc.TaskLogServiceServicer, files_pb2_grpc.FileServiceServicer):
    def __init__(self, lease_seconds=30):
        self.lock = threading.Lock()
        self.lease_seconds = lease_seconds
        self.heartbeats = 0
        self.heartbeat_codes = []  # codes to answer the next heartbeats with
        self.finishes = []

    def StartRun(self, request, context):
        run = RS.Run(id=42, task_name=request.task, batch_id=request.batch_id,
                     status=RS.RUN_STATUS_PROCESSING, worker_id=request.worker_id)
        run.start_time.FromSeconds(1000)
        run.lease_expire_time.FromNanoseconds(int((1000 + self.lease_seconds) * 1e9))
        return RS.StartRunResponse(run=run, created=True)

    def Heartbeat(self, request, context):
        with self.lock:
            self.heartbeats += 1
            code = self.heartbeat_codes.pop(0) if self.heartbeat_codes else None
        if code is not None:
            context.abort(code, "run 42: lease expired at 1030; start a new run")
        return RS.HeartbeatResponse(run=RS.Run(id=42, status=RS.RUN_STATUS_PROCESSING))

    def FinishRun(self, request, context):
        with self.lock:
            self.finishes.append(request)
        return RS.FinishRunResponse(run=RS.Run(id=42, status=request.status,
                                               error_message=request.error_message))

    def ClaimFiles(self, request, context):
        return files_pb2.ClaimFilesResponse(files=[files_pb2.File(id=1, run_id=42)])


@pytest.fixture
def fake():
    servicer = Daemonish()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    task_log_pb2_grpc.add_TaskLogServiceServicer_to_server(servicer, server)
    files_pb2_grpc.add_FileServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with metad_client.connect(f"127.0.0.1:{port}", timeout=5) as client:
        yield servicer, client
    server.stop(None)


def test_normal_exit_finishes_success(fake):
    servicer, client = fake
    with client.run(task="t", batch_id="b", heartbeat=False) as run:
        assert run.id == 42
        assert run.lease_seconds == 30
        assert run.worker_id  # host:pid by default
    [finish] = servicer.finishes
    assert finish.status == RS.RUN_STATUS_SUCCESS and finish.run_id == 42
    assert run.finished and run.run.status == RS.RUN_STATUS_SUCCESS


def test_exception_finishes_error_with_message_and_propagates(fake):
    servicer, client = fake
    with pytest.raises(KeyError):
        with client.run(task="t", batch_id="b", heartbeat=False):
            raise KeyError("month")
    [finish] = servicer.finishes
    assert finish.status == RS.RUN_STATUS_ERROR
    assert finish.error_message == "KeyError: 'month'"


def test_long_error_message_is_cut_to_4096_bytes(fake):
    servicer, client = fake
    with pytest.raises(RuntimeError):
        with client.run(task="t", batch_id="b", heartbeat=False):
            raise RuntimeError("é" * 5000)
    message = servicer.finishes[0].error_message
    assert len(message.encode()) <= 4096
    assert message.startswith("RuntimeError: éé")


def test_explicit_finish_is_not_repeated_on_exit(fake):
    servicer, client = fake
    with client.run(task="t", batch_id="b", heartbeat=False) as run:
        run.finish("ERROR", "gave up")
    assert [f.status for f in servicer.finishes] == [RS.RUN_STATUS_ERROR]


def test_heartbeats_run_at_a_third_of_the_lease(fake):
    servicer, client = fake
    servicer.lease_seconds = 0.3  # interval 0.1 s
    with client.run(task="t", batch_id="b") as run:
        wait_until(lambda: servicer.heartbeats >= 3, timeout=10, what="3 heartbeats")
        assert not run.lost
    count = servicer.heartbeats
    assert servicer.finishes[0].status == RS.RUN_STATUS_SUCCESS
    # The thread is stopped by the exit: no heartbeat after the finish.
    assert not any(t.name == "metad-heartbeat-42" for t in threading.enumerate())
    assert servicer.heartbeats == count


def test_transient_heartbeat_failure_is_retried_not_lost(fake):
    servicer, client = fake
    servicer.heartbeat_codes = [grpc.StatusCode.UNAVAILABLE] * 3
    with client.run(task="t", batch_id="b", heartbeat_interval=0.05) as run:
        wait_until(lambda: servicer.heartbeats >= 5, timeout=10, what="5 heartbeats")
        assert not run.lost
    assert servicer.finishes[0].status == RS.RUN_STATUS_SUCCESS


def test_refused_heartbeat_loses_the_run(fake):
    servicer, client = fake
    servicer.heartbeat_codes = [grpc.StatusCode.FAILED_PRECONDITION]
    with pytest.raises(metad_client.RunLost) as err:
        with client.run(task="t", batch_id="b", heartbeat_interval=0.05) as run:
            wait_until(lambda: run.lost, timeout=10, what="the loss")
            beats = servicer.heartbeats
            run.claim_files(10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "lease expired" in err.value.details()
    assert servicer.heartbeats == beats  # the thread stopped at the refusal
    assert servicer.finishes == []  # the daemon already ended the run


def test_lost_run_raises_on_normal_exit(fake):
    servicer, client = fake
    servicer.heartbeat_codes = [grpc.StatusCode.NOT_FOUND]
    with pytest.raises(metad_client.RunLost) as err:
        with client.run(task="t", batch_id="b", heartbeat_interval=0.05) as run:
            wait_until(lambda: run.lost, timeout=10, what="the loss")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert servicer.finishes == []


def test_manual_heartbeat_refusal_raises_run_lost(fake):
    servicer, client = fake
    servicer.heartbeat_codes = [grpc.StatusCode.FAILED_PRECONDITION]
    run = client.run(task="t", batch_id="b", heartbeat=False)
    run.start()
    with pytest.raises(metad_client.RunLost):
        run.heartbeat()
    with pytest.raises(metad_client.RunLost):
        run.check()


def test_finish_names_the_files_the_worker_received(fake):
    servicer, client = fake
    with client.run(task="t", batch_id="b", heartbeat=False) as run:
        run.claim_files(10)
    assert list(servicer.finishes[0].file_ids) == [1]
    assert not servicer.finishes[0].settle_all_held
