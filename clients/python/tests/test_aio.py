"""metad_client.aio: the asyncio client and its worker helper. Retry rules
against scripted in-process servers; the rest against a real metad."""

import asyncio

import grpc
import pytest

import metad_client
import metad_client.aio
from metad_client import files_pb2, task_log_pb2, tasks_pb2
import test_retry  # its scripted servers (imported whole: no test runs twice)

FAST = test_retry.FAST

FS = files_pb2
RS = task_log_pb2


@pytest.fixture
def fake():
    script = test_retry.Script()
    server, port = test_retry._serve(script)
    yield script, f"127.0.0.1:{port}"
    server.stop(None)


def _with_client(address, body, **kwargs):
    async def main():
        async with metad_client.aio.connect(address, **kwargs) as client:
            return await body(client)
    return asyncio.run(main())


# --- the same retry, deadline and token rules as the blocking client -------

def test_read_is_retried_and_state_changes_without_request_id_are_not(fake):
    script, address = fake
    script.failures["GetFile"] = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED]
    script.failures["ResetFile"] = [grpc.StatusCode.UNAVAILABLE]

    async def body(client):
        f = await client.files.GetFile(FS.GetFileRequest(id=7))
        with pytest.raises(grpc.RpcError) as err:
            await client.files.ResetFile(FS.ResetFileRequest(file_id=1))
        return f, err.value.code()

    f, code = _with_client(address, body, retry=FAST)
    assert f.id == 7 and script.attempts("GetFile") == 3
    assert code == grpc.StatusCode.UNAVAILABLE and script.attempts("ResetFile") == 1


def test_retries_stop_after_max_attempts_and_other_codes_are_final(fake):
    script, address = fake
    script.failures["GetFile"] = [grpc.StatusCode.UNAVAILABLE] * 10
    script.failures["CompleteFile"] = [grpc.StatusCode.INVALID_ARGUMENT]

    async def body(client):
        codes = []
        for call in (client.files.GetFile(FS.GetFileRequest(id=7)),
                     client.files.CompleteFile(FS.CompleteFileRequest(file_id=1))):
            with pytest.raises(grpc.RpcError) as err:
                await call
            codes.append(err.value.code())
        return codes

    codes = _with_client(address, body, retry=FAST)
    assert codes == [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INVALID_ARGUMENT]
    assert script.attempts("GetFile") == FAST.max_attempts
    assert script.attempts("CompleteFile") == 1


def test_idempotent_call_is_retried_unchanged(fake):
    script, address = fake
    script.failures["FinishRun"] = [grpc.StatusCode.UNAVAILABLE] * 2

    async def body(client):
        await client.task_log.FinishRun(RS.FinishRunRequest(run_id=1, file_ids=[3, 4]))

    _with_client(address, body, retry=FAST)
    assert script.attempts("FinishRun") == 3
    assert len({r.SerializeToString() for r in script.requests["FinishRun"]}) == 1


def test_creating_calls_get_one_request_id_for_all_attempts(fake):
    script, address = fake
    script.failures["StartRun"] = [grpc.StatusCode.UNAVAILABLE] * 2
    script.failures["ClaimFiles"] = [grpc.StatusCode.ABORTED]
    request = RS.StartRunRequest(task="t", batch_id="b")

    async def body(client):
        response = await client.task_log.StartRun(request)
        await client.files.ClaimFiles(FS.ClaimFilesRequest(run_id=1, limit=5))
        mine = FS.ClaimFilesRequest(run_id=1, limit=5, request_id="mine")
        await client.files.ClaimFiles(mine)
        return response

    response = _with_client(address, body, retry=FAST)
    ids = [r.request_id for r in script.requests["StartRun"]]
    assert len(ids) == 3 and ids[0] and len(set(ids)) == 1
    assert response.run.request_id == ids[0]
    assert request.request_id == ""  # the caller's object is not changed
    claims = [r.request_id for r in script.requests["ClaimFiles"]]
    assert claims[0] and claims[0] == claims[1] and claims[2] == "mine"


def test_default_deadline_and_token(fake):
    script, address = fake

    async def body(client):
        await client.files.GetFile(FS.GetFileRequest(id=1))
        await client.files.GetFile(FS.GetFileRequest(id=1), timeout=100,
                                   metadata=(("x-trace", "1"),))

    _with_client(address, body, timeout=7, token="s3cret")
    assert 0 < script.time_remaining[0] <= 7.5
    assert 7 < script.time_remaining[1] <= 102
    assert script.metadata[0]["authorization"] == "Bearer s3cret"
    assert script.metadata[1]["authorization"] == "Bearer s3cret"
    assert script.metadata[1]["x-trace"] == "1"


# --- against metad -----------------------------------------------------------

async def _register(client, source, *names):
    response = await client.files.RegisterFiles(FS.RegisterFilesRequest(
        files=[FS.FileSpec(source=source, file_name=n) for n in names]))
    return [r.file for r in response.results]


def test_calls_helpers_and_error_details(daemon, uniq):
    async def body(client):
        task = await client.ensure_task(f"aio_{uniq}", max_attempts=4)
        again = await client.ensure_task(f"aio_{uniq}")
        got = await client.tasks.GetTask(tasks_pb2.GetTaskRequest(name=task.name))
        with pytest.raises(grpc.RpcError) as err:
            await client.task_log.StartRun(RS.StartRunRequest(
                task=f"nope_{uniq}", batch_id="b"))
        return task, again, got, err.value

    task, again, got, err = _with_client(daemon.address, body)
    assert task.max_attempts == 4 and again.id == task.id == got.id
    assert err.code() == grpc.StatusCode.NOT_FOUND
    details = metad_client.error_details(err)
    assert details is not None and details.reason


def test_worker_run_success_path_and_lineage(client, daemon, uniq):
    source, task = f"s3://aio-{uniq}", f"aio_load_{uniq}"

    async def body(c):
        await c.ensure_task(task)
        registered = await _register(c, source, "a.csv", "b.csv", "c.csv")
        async with c.run(task=task, batch_id=f"b_{uniq}", worker_id="w1",
                         lease_seconds=30) as run:
            assert run.run.status == RS.RUN_STATUS_PROCESSING
            assert run.lease_seconds == pytest.approx(30, abs=0.5)
            claimed = await run.claim_files(10, source=source)
            assert await run.claim_files(10, source=source) == []
            await run.fail_file(claimed[0], "bad row")
            outs = await run.record_outputs([(f"s3://aio-out-{uniq}", "sum.csv")])
            run_id = run.id
        lineage = await c.lineage(run_id=run_id)
        return registered, claimed, outs, run, run_id, lineage

    registered, claimed, outs, run, run_id, lineage = _with_client(daemon.address, body)
    assert sorted(f.id for f in claimed) == sorted(f.id for f in registered)
    assert run.finished and not run.lost
    assert client.task_log.GetRun(RS.GetRunRequest(run_id=run_id)).status == \
        RS.RUN_STATUS_SUCCESS
    statuses = {f.id: client.files.GetFile(FS.GetFileRequest(id=f.id)).status
                for f in registered}
    assert statuses[claimed[0].id] == FS.FILE_STATUS_ERROR
    assert sorted(statuses.values()).count(FS.FILE_STATUS_SUCCESS) == 2
    assert outs[0].created
    assert {f.id for f in lineage.files} >= {f.id for f in registered}


def test_worker_run_exception_finishes_as_error(client, daemon, uniq):
    source, task = f"s3://aio-err-{uniq}", f"aio_err_{uniq}"
    holder = {}

    async def body(c):
        await c.ensure_task(task)
        holder["files"] = await _register(c, source, "a.csv")
        async with c.run(task=task, batch_id=f"b_{uniq}") as run:
            holder["run"] = run
            await run.claim_files(10, source=source)
            raise ValueError("bad row 17")

    with pytest.raises(ValueError, match="bad row 17"):
        _with_client(daemon.address, body)
    run = client.task_log.GetRun(RS.GetRunRequest(run_id=holder["run"].id))
    assert run.status == RS.RUN_STATUS_ERROR
    assert run.error_message == "ValueError: bad row 17"
    [f] = holder["files"]
    assert client.files.GetFile(FS.GetFileRequest(id=f.id)).status == FS.FILE_STATUS_ERROR


def test_finish_names_exactly_the_files_received(client, daemon, uniq):
    # A claim whose answer the worker never saw (made behind its back here)
    # leaves a file held; finish names only what the helper received.
    source, task = f"s3://aio-lost-{uniq}", f"aio_lost_{uniq}"

    async def body(c):
        await c.ensure_task(task)
        seen, unseen = await _register(c, source, "seen.csv", "unseen.csv")
        async with c.run(task=task, batch_id=f"b_{uniq}") as run:
            assert [f.id for f in await run.claim_files(1, source=source)] == [seen.id]
            await c.files.ClaimFiles(FS.ClaimFilesRequest(run_id=run.id, source=source,
                                                          limit=1))
            response = await run.finish()
        return seen, unseen, response

    seen, unseen, response = _with_client(daemon.address, body)
    assert (response.files_finished, response.files_released) == (1, 1)
    assert client.files.GetFile(FS.GetFileRequest(id=seen.id)).status == \
        FS.FILE_STATUS_SUCCESS
    assert client.files.GetFile(FS.GetFileRequest(id=unseen.id)).status == \
        FS.FILE_STATUS_NEW


def test_heartbeat_task_keeps_a_short_lease_alive(client, daemon, uniq):
    # A 2 s lease and 3.5 s of work; the reaper runs every 0.2 s here.
    task = f"aio_slow_{uniq}"

    async def body(c):
        await c.ensure_task(task)
        async with c.run(task=task, batch_id=f"b_{uniq}", lease_seconds=2) as run:
            started = run.run.heartbeat_time.ToNanoseconds()
            await asyncio.sleep(3.5)  # the work: the passing of time is under test
            assert not run.lost
            live = await c.task_log.GetRun(RS.GetRunRequest(run_id=run.id))
            assert live.status == RS.RUN_STATUS_PROCESSING
            assert live.heartbeat_time.ToNanoseconds() > started
        return run.id

    run_id = _with_client(daemon.address, body)
    assert client.task_log.GetRun(RS.GetRunRequest(run_id=run_id)).status == \
        RS.RUN_STATUS_SUCCESS


def test_refused_heartbeat_marks_the_run_lost(client, daemon, uniq):
    task, source = f"aio_gone_{uniq}", f"s3://aio-gone-{uniq}"

    async def body(c):
        await c.ensure_task(task)
        await _register(c, source, "a.csv", "b.csv")
        async with c.run(task=task, batch_id=f"b_{uniq}", lease_seconds=3,
                         heartbeat_interval=0.1) as run:
            await run.claim_files(1, source=source)
            daemon.sql("UPDATE task_log SET lease_expire_time = now() - "
                       f"interval '1 second' WHERE id = {int(run.id)}")
            for _ in range(300):  # the heartbeat task notices (at most 30 s)
                if run.lost:
                    break
                await asyncio.sleep(0.1)
            await run.claim_files(1, source=source)  # the next call raises

    with pytest.raises(metad_client.RunLost) as err:
        _with_client(daemon.address, body)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
