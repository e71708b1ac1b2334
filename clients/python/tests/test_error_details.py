"""Error details against a real metad: what a refusal carries beyond its code.

Shows how a Python worker reads them: metad_client.error_details(e) decodes
the google.rpc.Status in the grpc-status-details-bin trailer.
"""

import grpc
import pytest

import metad_client
from metad_client import dependencies_pb2, files_pb2, task_log_pb2


def test_unmet_parents_are_listed_one_per_violation(client, uniq):
    parents = [f"load_a_{uniq}", f"load_b_{uniq}"]
    child = f"report_{uniq}"
    for name in parents + [child]:
        client.ensure_task(name)
    for parent in parents:
        client.dependencies.AddDependency(dependencies_pb2.AddDependencyRequest(
            parent_task=parent, child_task=child))

    with pytest.raises(grpc.RpcError) as caught:
        client.task_log.StartRun(task_log_pb2.StartRunRequest(
            task=child, batch_id=f"b_{uniq}"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = metad_client.error_details(caught.value)
    assert details is not None
    assert details.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert details.message == caught.value.details()
    assert details.reason == "PARENTS_NOT_SUCCEEDED"
    assert details.error_info.domain == "metad.dev"
    assert details.metadata["parents"] == ",".join(sorted(parents))
    assert [(v.type, v.subject) for v in details.violations] == [
        ("DEPENDENCY", p) for p in sorted(parents)]


def test_cycle_carries_its_path(client, uniq):
    a, b = f"cyc_a_{uniq}", f"cyc_b_{uniq}"
    for name in (a, b):
        client.ensure_task(name)
    client.dependencies.AddDependency(dependencies_pb2.AddDependencyRequest(
        parent_task=a, child_task=b))
    with pytest.raises(grpc.RpcError) as caught:
        client.dependencies.AddDependency(dependencies_pb2.AddDependencyRequest(
            parent_task=b, child_task=a))
    details = metad_client.error_details(caught.value)
    assert details.reason == "DEPENDENCY_CYCLE"
    assert details.metadata["cycle"].split(",") == [b, a, b]
    assert details.violations[0].subject == f"{b} -> {a}"


def test_invalid_argument_names_the_field(client):
    with pytest.raises(grpc.RpcError) as caught:
        client.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=files_pb2.FileSpec(source="", file_name="x.csv")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = metad_client.error_details(caught.value)
    assert [v.field for v in details.field_violations] == ["file.source"]
    assert details.reason == "INVALID_ARGUMENT"


def test_not_found_names_the_resource(client, uniq):
    with pytest.raises(grpc.RpcError) as caught:
        client.task_log.StartRun(task_log_pb2.StartRunRequest(
            task=f"missing_{uniq}", batch_id="b"))
    details = metad_client.error_details(caught.value)
    assert details.resource_info.resource_type == "metad.v1.Task"
    assert details.resource_info.resource_name == f"missing_{uniq}"


def test_an_error_without_details_gives_none():
    class Plain(grpc.RpcError):
        def trailing_metadata(self):
            return (("other", "x"),)
    assert metad_client.error_details(Plain()) is None
