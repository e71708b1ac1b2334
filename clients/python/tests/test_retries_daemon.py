"""Retries through a proxy that loses answers after metad has acted."""

import grpc
import pytest

import metad_client
from metad_client import files_pb2, task_log_pb2
from proxy import FlakyProxy

FAST = metad_client.RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def proxy(daemon):
    p = FlakyProxy(daemon.address)
    yield p
    p.close()


@pytest.fixture
def flaky(proxy):
    with metad_client.connect(proxy.address, retry=FAST, timeout=15) as c:
        yield c


def test_start_run_retried_after_a_lost_answer_returns_the_same_run(
        client, proxy, flaky, uniq):
    task = client.ensure_task(f"retry_{uniq}").name
    batch = f"b_{uniq}"
    proxy.drop["StartRun"] = 1
    response = flaky.task_log.StartRun(task_log_pb2.StartRunRequest(
        task=task, batch_id=batch))  # no request_id: the client makes one
    sent = [task_log_pb2.StartRunRequest.FromString(b) for b in proxy.forwarded["StartRun"]]
    assert len(sent) == 2  # both attempts reached metad
    assert sent[0].request_id and sent[0].request_id == sent[1].request_id
    assert not response.created  # the second attempt found the first's run
    runs = client.task_log.ListRuns(task_log_pb2.ListRunsRequest(
        task=task, batch_id=batch)).runs
    assert [r.id for r in runs] == [response.run.id]


def test_worker_run_survives_a_lost_start_answer(client, proxy, flaky, uniq):
    task = client.ensure_task(f"retry_w_{uniq}").name
    proxy.drop["StartRun"] = 1
    with flaky.run(task=task, batch_id=f"b_{uniq}") as run:
        assert run.request_id
        run_id = run.id
    assert client.task_log.GetRun(task_log_pb2.GetRunRequest(
        run_id=run_id)).status == task_log_pb2.RUN_STATUS_SUCCESS


def test_register_files_retried_after_a_lost_answer_registers_once(
        client, proxy, flaky, uniq):
    source = f"s3://retry-{uniq}"
    proxy.drop["RegisterFiles"] = 1
    response = flaky.files.RegisterFiles(files_pb2.RegisterFilesRequest(files=[
        files_pb2.FileSpec(source=source, file_name=f"f{i}.csv") for i in range(5)]))
    assert len(proxy.forwarded["RegisterFiles"]) == 2
    # The retry sees the files the lost attempt stored: nothing twice.
    assert len({r.file.id for r in response.results}) == 5
    listed = client.files.ListFiles(files_pb2.ListFilesRequest(source=source)).files
    assert len(listed) == 5


def test_claim_retried_after_a_lost_answer_returns_the_same_files(
        client, proxy, flaky, uniq):
    task = client.ensure_task(f"claim_{uniq}").name
    source = f"s3://claim-{uniq}"
    client.files.RegisterFiles(files_pb2.RegisterFilesRequest(files=[
        files_pb2.FileSpec(source=source, file_name=f"f{i}.csv") for i in range(4)]))
    with flaky.run(task=task, batch_id=f"b_{uniq}") as run:
        proxy.drop["ClaimFiles"] = 1
        claimed = run.claim_files(2, source=source)
        # The lost attempt did claim; the retry carried the same request_id
        # and got those files back instead of two more.
        sent = proxy.forwarded["ClaimFiles"]
        assert len(sent) == 2
        assert len({files_pb2.ClaimFilesRequest.FromString(b).request_id
                    for b in sent}) == 1
        assert len(claimed) == 2
        held = run.held_files()
        assert sorted(f.id for f in held) == sorted(f.id for f in claimed)
        rest = run.claim_files(10, source=source)
        assert len(rest) == 2
        assert {f.id for f in claimed}.isdisjoint(f.id for f in rest)
