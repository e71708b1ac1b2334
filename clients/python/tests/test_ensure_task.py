"""ensure_task against a real metad: UpdateTask with only the differing
fields and the etag read, again after a concurrent change (ABORTED)."""

import grpc
import pytest

from metad_client import tasks_pb2


def test_ensure_task_registers_then_writes_only_what_differs(client, uniq):
    name = f"ensure_{uniq}"
    first = client.ensure_task(name, description="loads sales", max_attempts=3)
    assert (first.description, first.max_attempts) == ("loads sales", 3)
    # An operator changes the lease; a worker restarting with its own
    # max_attempts must not undo that.
    client.tasks.UpdateTask(tasks_pb2.UpdateTaskRequest(
        task=tasks_pb2.Task(name=name, default_lease_seconds=77),
        update_mask={"paths": ["default_lease_seconds"]}))
    same = client.ensure_task(name, max_attempts=3)
    assert same.default_lease_seconds == 77
    changed = client.ensure_task(name, max_attempts=5)
    assert (changed.max_attempts, changed.default_lease_seconds,
            changed.description) == (5, 77, "loads sales")
    assert changed.etag != same.etag


class _ChangeAfterRead:
    """The TaskService stub, but another writer changes the task right after
    each of the first `times` reads (so the etag read is stale)."""

    def __init__(self, tasks, times):
        self._tasks, self._times, self.reads = tasks, times, 0

    def GetTask(self, request):
        task = self._tasks.GetTask(request)
        self.reads += 1
        if self.reads <= self._times:
            self._tasks.UpdateTask(tasks_pb2.UpdateTaskRequest(
                task=tasks_pb2.Task(name=request.name,
                                    description=f"operator {self.reads}"),
                update_mask={"paths": ["description"]}))
        return task

    def __getattr__(self, attr):
        return getattr(self._tasks, attr)


def test_ensure_task_reads_again_after_a_concurrent_change(client, uniq):
    name = f"ensure_race_{uniq}"
    client.ensure_task(name, max_attempts=2)
    stub = client.tasks
    client.tasks = _ChangeAfterRead(stub, times=2)
    try:
        task = client.ensure_task(name, max_attempts=9)
    finally:
        client.tasks = stub
    # The third read saw the operator's second change and kept it.
    assert (task.max_attempts, task.description) == (9, "operator 2")
    assert client.tasks.GetTask(tasks_pb2.GetTaskRequest(name=name)) == task


def test_ensure_task_gives_up_with_aborted(client, uniq):
    name = f"ensure_busy_{uniq}"
    client.ensure_task(name, max_attempts=2)
    stub = client.tasks
    client.tasks = _ChangeAfterRead(stub, times=100)
    try:
        with pytest.raises(grpc.RpcError) as raised:
            client.ensure_task(name, max_attempts=9, attempts=3)
    finally:
        client.tasks = stub
    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(name=name)).max_attempts == 2


def test_ensure_task_sets_concurrency_and_start_refusal_is_not_retried(
        client, uniq):
    from metad_client import task_log_pb2
    from metad_client.errors import error_details
    name = f"limited_{uniq}"
    task = client.ensure_task(name, concurrency_limit=1)
    assert (task.concurrency_limit, task.concurrency_key_label) == (1, "")
    keyed = client.ensure_task(name, concurrency_limit=2,
                               concurrency_key_label="warehouse")
    assert (keyed.concurrency_limit, keyed.concurrency_key_label) == (
        2, "warehouse")
    client.ensure_task(name, concurrency_key_label="")
    first = client.task_log.StartRun(task_log_pb2.StartRunRequest(
        task=name, batch_id="b1"))
    client.task_log.StartRun(task_log_pb2.StartRunRequest(
        task=name, batch_id="b2"))
    with pytest.raises(grpc.RpcError) as refused:
        client.task_log.StartRun(task_log_pb2.StartRunRequest(
            task=name, batch_id="b3"))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error_details(refused.value)
    assert details.reason == "CONCURRENCY_LIMIT"
    assert details.metadata["limit"] == "2"
    assert str(first.run.id) in details.metadata["holder_run_ids"]
    # Not an outcome-unknown (nothing was written): the retry policy does
    # not send it again.
    from metad_client import RetryPolicy
    assert grpc.StatusCode.RESOURCE_EXHAUSTED not in RetryPolicy().codes


def test_ensure_task_sets_expected_duration_and_deadlines_answer(client, uniq):
    import datetime

    from metad_client import deadlines_pb2
    name = f"ensure_due_{uniq}"
    task = client.ensure_task(name, expected_duration=90)
    assert task.expected_duration.seconds == 90
    same = client.ensure_task(name, expected_duration=datetime.timedelta(seconds=90))
    assert same.etag == task.etag  # nothing differed: nothing written
    longer = client.ensure_task(name, expected_duration=datetime.timedelta(minutes=5))
    assert longer.expected_duration.seconds == 300
    answer = client.deadlines.SetBatchDeadline(deadlines_pb2.SetBatchDeadlineRequest(
        batch_id=f"b_{uniq}", task=name, deadline={"seconds": 2000000000}))
    assert answer.deadline.seconds == 2000000000
    with pytest.raises(grpc.RpcError) as e:
        client.deadlines.SetSourceFreshness(deadlines_pb2.SetSourceFreshnessRequest(
            source=f"s_{uniq}", max_age={"nanos": 1000}))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith("max_age: ")
    listed = client.deadlines.ListAlerts(deadlines_pb2.ListAlertsRequest(kind="STALE"))
    assert all(a.kind == "STALE" for a in listed.alerts)
