"""CancelRun and RerunTasks from Python, against a real metad: the stubs
reach them, and a cancelled run's worker learns it (RUN_CANCELLED)."""

import grpc
import pytest

import metad_client
from metad_client import task_log_pb2


def test_cancel_refuses_the_workers_next_heartbeat(client, uniq):
    task = f"cancel_me_{uniq}"
    client.ensure_task(task, max_attempts=2)
    run = client.task_log.StartRun(task_log_pb2.StartRunRequest(
        task=task, batch_id=f"b_{uniq}")).run
    cancelled = client.task_log.CancelRun(task_log_pb2.CancelRunRequest(
        run_id=run.id, reason="wrong input"))
    assert cancelled.run.cancelled
    assert cancelled.run.error_message == "cancelled: wrong input"
    assert not cancelled.replayed
    again = client.task_log.CancelRun(task_log_pb2.CancelRunRequest(
        run_id=run.id))
    assert again.replayed

    with pytest.raises(grpc.RpcError) as caught:
        client.task_log.Heartbeat(task_log_pb2.HeartbeatRequest(run_id=run.id))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert metad_client.error_details(caught.value).reason == "RUN_CANCELLED"


def test_rerun_reopens_a_succeeded_task(client, uniq):
    task, batch = f"rerun_me_{uniq}", f"b_{uniq}"
    client.ensure_task(task)
    first = client.task_log.StartRun(task_log_pb2.StartRunRequest(
        task=task, batch_id=batch)).run
    client.task_log.FinishRun(task_log_pb2.FinishRunRequest(
        run_id=first.id, status=task_log_pb2.RUN_STATUS_SUCCESS))
    reopened = client.task_log.RerunTasks(task_log_pb2.RerunTasksRequest(
        batch_id=batch, tasks=[task], reason="bad data"))
    assert list(reopened.tasks) == [task]
    assert reopened.runs_superseded == 1
    assert client.task_log.GetRun(
        task_log_pb2.GetRunRequest(run_id=first.id)).superseded
    second = client.task_log.StartRun(task_log_pb2.StartRunRequest(
        task=task, batch_id=batch)).run
    assert second.attempt == 2
