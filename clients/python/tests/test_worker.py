"""The worker helper (client.run) against a real metad."""

import time

import grpc
import pytest

import metad_client
from helpers import wait_until
from metad_client import dependencies_pb2, files_pb2, task_log_pb2, tasks_pb2

FS = files_pb2
RS = task_log_pb2


def _register(client, source, *names):
    response = client.files.RegisterFiles(FS.RegisterFilesRequest(
        files=[FS.FileSpec(source=source, file_name=n) for n in names]))
    return [r.file for r in response.results]


def _file(client, file_id):
    return client.files.GetFile(FS.GetFileRequest(id=file_id))


def _run(client, run_id):
    return client.task_log.GetRun(RS.GetRunRequest(run_id=run_id))


def _run_events(client, run_id):
    return [e.kind for e in client.task_log.ListRunEvents(
        RS.ListRunEventsRequest(run_id=run_id)).events]


@pytest.fixture
def task(client, uniq):
    return client.ensure_task(f"load_sales_{uniq}").name


def test_success_path_finishes_run_and_claimed_files(client, uniq, task):
    source = f"s3://sales-{uniq}"
    registered = _register(client, source, "a.csv", "b.csv", "c.csv")
    with client.run(task=task, batch_id=f"b_{uniq}", worker_id="w1",
                    lease_seconds=30) as run:
        assert run.run.status == RS.RUN_STATUS_PROCESSING
        assert run.run.worker_id == "w1"
        assert run.lease_seconds == pytest.approx(30, abs=0.5)
        claimed = run.claim_files(10, source=source)
        assert sorted(f.id for f in claimed) == sorted(f.id for f in registered)
        assert all(f.status == FS.FILE_STATUS_PROCESSING for f in claimed)
        assert run.claim_files(10, source=source) == []  # nothing left
        early = run.complete_file(claimed[0])  # one ended early
        assert early.status == FS.FILE_STATUS_SUCCESS
        run_id = run.id

    finished = _run(client, run_id)
    assert finished.status == RS.RUN_STATUS_SUCCESS
    assert finished.error_message == ""
    for f in registered:
        stored = _file(client, f.id)
        assert stored.status == FS.FILE_STATUS_SUCCESS
        assert stored.run_id == run_id
    assert _run_events(client, run_id) == ["STARTED", "FINISHED"]


def test_exception_finishes_run_as_error_with_its_message(client, uniq, task):
    source = f"s3://broken-{uniq}"
    registered = _register(client, source, "a.csv", "b.csv")
    with pytest.raises(ValueError, match="bad row 17"):
        with client.run(task=task, batch_id=f"b_{uniq}") as run:
            assert len(run.claim_files(10, source=source)) == 2
            run_id = run.id
            raise ValueError("bad row 17 in a.csv")

    failed = _run(client, run_id)
    assert failed.status == RS.RUN_STATUS_ERROR
    assert failed.error_message == "ValueError: bad row 17 in a.csv"
    for f in registered:
        assert _file(client, f.id).status == FS.FILE_STATUS_ERROR


def test_file_failed_early_keeps_its_own_message(client, uniq, task):
    source = f"s3://mixed-{uniq}"
    _register(client, source, "good.csv", "bad.csv")
    with client.run(task=task, batch_id=f"b_{uniq}") as run:
        for f in run.claim_files(10, source=source):
            if f.file_name == "bad.csv":
                run.fail_file(f, "column 3 is not a number")
    files = {f.file_name: f for f in client.files.ListFiles(
        FS.ListFilesRequest(source=source)).files}
    assert files["good.csv"].status == FS.FILE_STATUS_SUCCESS
    assert files["bad.csv"].status == FS.FILE_STATUS_ERROR
    assert files["bad.csv"].error_message == "column 3 is not a number"


def test_heartbeats_keep_a_short_lease_alive(client, uniq, task):
    # A 2 s lease and 5 s of work: without the heartbeat thread the reaper
    # (every 0.2 s here) would end the run and release the file.
    source = f"s3://slow-{uniq}"
    [registered] = _register(client, source, "big.csv")
    with client.run(task=task, batch_id=f"b_{uniq}", lease_seconds=2) as run:
        run.claim_files(1, source=source)
        started = run.run.heartbeat_time.ToNanoseconds()
        time.sleep(5)  # the work; what is under test is the passing of time
        assert not run.lost
        assert _file(client, registered.id).status == FS.FILE_STATUS_PROCESSING
        live = _run(client, run.id)
        assert live.status == RS.RUN_STATUS_PROCESSING
        assert live.heartbeat_time.ToNanoseconds() > started
        run_id = run.id
    assert _run(client, run_id).status == RS.RUN_STATUS_SUCCESS
    assert _file(client, registered.id).status == FS.FILE_STATUS_SUCCESS
    assert "EXPIRED" not in _run_events(client, run_id)


def _expire(daemon, run_id):
    daemon.sql("UPDATE task_log SET lease_expire_time = now() - interval '1 second' "
               f"WHERE id = {int(run_id)}")


def test_lapsed_lease_without_heartbeats_makes_finish_fail(client, daemon, uniq, task):
    source = f"s3://lapsed-{uniq}"
    [registered] = _register(client, source, "a.csv")
    with pytest.raises(grpc.RpcError) as err:
        with client.run(task=task, batch_id=f"b_{uniq}", heartbeat=False) as run:
            run.claim_files(1, source=source)
            run_id = run.id
            _expire(daemon, run_id)  # as if the worker had hung past its lease
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert run.lost

    # The daemon ends the run itself and gives the file back.
    ended = wait_until(lambda: (r := _run(client, run_id)).status == RS.RUN_STATUS_ERROR
                       and r, what="the run to be ended by the reaper")
    assert "lease expired" in ended.error_message
    file = _file(client, registered.id)
    assert file.status == FS.FILE_STATUS_NEW
    assert file.run_id == 0


def test_refused_heartbeat_marks_the_run_lost(client, daemon, uniq, task):
    source = f"s3://lost-{uniq}"
    [registered] = _register(client, source, "a.csv")
    _register(client, source, "b.csv")
    with pytest.raises(metad_client.RunLost) as err:
        with client.run(task=task, batch_id=f"b_{uniq}", lease_seconds=3) as run:
            run.claim_files(1, source=source)
            run_id = run.id
            _expire(daemon, run_id)
            wait_until(lambda: run.lost, what="a heartbeat to be refused")
            run.claim_files(1, source=source)  # the worker's next call raises
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert isinstance(err.value, grpc.RpcError)
    assert err.value.run_id == run_id
    ended = wait_until(lambda: (r := _run(client, run_id)).status == RS.RUN_STATUS_ERROR
                       and r, what="the run to be ended")
    assert "lease expired" in ended.error_message
    assert _file(client, registered.id).status == FS.FILE_STATUS_NEW


def test_lost_run_raises_on_normal_exit_too(client, daemon, uniq, task):
    with pytest.raises(metad_client.RunLost):
        with client.run(task=task, batch_id=f"b_{uniq}", lease_seconds=3) as run:
            _expire(daemon, run.id)
            wait_until(lambda: run.lost, what="a heartbeat to be refused")


def test_start_refused_names_the_unmet_parent_then_starts(client, uniq):
    parent = client.ensure_task(f"load_{uniq}").name
    child = client.ensure_task(f"profit_{uniq}").name
    client.dependencies.AddDependency(dependencies_pb2.AddDependencyRequest(
        parent_task=parent, child_task=child))
    batch = f"b_{uniq}"
    with pytest.raises(grpc.RpcError) as err:
        with client.run(task=child, batch_id=batch):
            pytest.fail("the body must not run")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert parent in err.value.details()

    with client.run(task=parent, batch_id=batch):
        pass
    with client.run(task=child, batch_id=batch) as run:
        assert run.run.task_name == child


def test_same_request_id_returns_the_same_run(client, uniq, task):
    batch = f"b_{uniq}"
    request = RS.StartRunRequest(task=task, batch_id=batch, request_id=f"req-{uniq}")
    first = client.task_log.StartRun(request)
    again = client.task_log.StartRun(request)
    assert first.created and not again.created
    assert again.run.id == first.run.id
    # The key belongs to that (task, batch): reused elsewhere it is refused.
    with pytest.raises(grpc.RpcError) as err:
        client.task_log.StartRun(RS.StartRunRequest(
            task=task, batch_id=batch + "x", request_id=f"req-{uniq}"))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    client.task_log.FinishRun(RS.FinishRunRequest(
        run_id=first.run.id, status=RS.RUN_STATUS_SUCCESS))


def test_ensure_task_keeps_settings_it_is_not_given(client, uniq):
    name = f"tuned_{uniq}"
    created = client.ensure_task(name, description="d", max_attempts=3)
    assert created.max_attempts == 3
    kept = client.ensure_task(name)
    assert kept.max_attempts == 3 and kept.description == "d"
    assert kept.update_time == created.update_time  # nothing written
    changed = client.ensure_task(name, default_lease_seconds=120)
    assert changed.default_lease_seconds == 120
    assert changed.max_attempts == 3 and changed.description == "d"
    got = client.tasks.GetTask(tasks_pb2.GetTaskRequest(name=name))
    assert got.default_lease_seconds == 120


def test_finish_releases_held_files_the_worker_never_received(client, uniq, task):
    # A ClaimFiles whose answer never reached the worker (here: a claim made
    # behind the helper's back) leaves files held by the run. FinishRun
    # names only what the worker received, so those go back to NEW instead
    # of being recorded as processed.
    source = f"s3://lost-{uniq}"
    seen, unseen = _register(client, source, "seen.csv", "unseen.csv")
    with client.run(task=task, batch_id=f"b_{uniq}") as run:
        assert [f.id for f in run.claim_files(1, source=source)] == [seen.id]
        client.files.ClaimFiles(FS.ClaimFilesRequest(
            run_id=run.id, source=source, limit=1))
        response = run.finish()
    assert response.files_finished == 1
    assert response.files_released == 1
    assert _file(client, seen.id).status == FS.FILE_STATUS_SUCCESS
    assert _file(client, unseen.id).status == FS.FILE_STATUS_NEW
    events = client.files.ListFileEvents(
        FS.ListFileEventsRequest(file_id=unseen.id)).events
    assert [e.kind for e in events][-1] == "RELEASED"
    assert events[-1].message == "not named by FinishRun"


def test_retried_calls_are_answered_as_the_first(client, uniq, task):
    source = f"s3://retry-{uniq}"
    _register(client, source, "a.csv", "b.csv", "c.csv")
    run = client.task_log.StartRun(RS.StartRunRequest(
        task=task, batch_id=f"b_{uniq}")).run
    claim = FS.ClaimFilesRequest(run_id=run.id, source=source, limit=2,
                                 request_id=f"claim-{uniq}")
    first = client.files.ClaimFiles(claim)
    again = client.files.ClaimFiles(claim)
    assert again.replayed and not first.replayed
    assert [f.id for f in again.files] == [f.id for f in first.files]
    complete = FS.CompleteFileRequest(file_id=first.files[0].id, run_id=run.id,
                                      status=FS.FILE_STATUS_SUCCESS)
    assert not client.files.CompleteFile(complete).replayed
    assert client.files.CompleteFile(complete).replayed
    finish = RS.FinishRunRequest(run_id=run.id, status=RS.RUN_STATUS_SUCCESS,
                                 file_ids=[f.id for f in first.files])
    done = client.task_log.FinishRun(finish)
    redone = client.task_log.FinishRun(finish)
    assert not done.replayed and redone.replayed
    assert (redone.files_finished, redone.files_released) == (1, 0)
