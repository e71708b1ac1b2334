"""The generated stubs: importable, complete, and regenerated when stale."""

import os

import codegen  # clients/python/codegen.py: the build step's generator
import metad_client

EXPECTED = {
    "FileService": {"RegisterFile", "RegisterFiles", "GetFile", "ListFiles",
                    "ClaimFiles", "CompleteFile", "ResetFile", "ListFileEvents",
                    "ReprocessFiles", "GetLineage"},
    "TaskService": {"RegisterTask", "GetTask", "ListTasks", "DeleteTask", "UpdateTask",
                    "ListTaskEvents"},
    "TaskLogService": {"StartRun", "Heartbeat", "FinishRun", "GetRun",
                       "ListRuns", "GetBatch", "ListRunEvents",
                       "RecordOutputs", "CancelRun", "RerunTasks"},
    "DependencyService": {"AddDependency", "RemoveDependency",
                          "ListDependencies", "GetUpstream", "GetDownstream",
                          "GetExecutionPlan", "GetReadyTasks"},
    "AdminService": {"PruneHistory"},
    "DeadlineService": {"SetBatchDeadline", "SetSourceFreshness", "ListAlerts"},
    "WatchService": {"WatchFiles", "WatchRuns"},
}


def test_generated_modules_import_as_metad_v1():
    from metad.v1 import files_pb2  # the import path protoc gave them
    assert files_pb2 is metad_client.files_pb2
    assert metad_client.task_log_pb2.RunStatus.Name(2) == "RUN_STATUS_SUCCESS"
    assert metad_client.files_pb2.FileStatus.Name(1) == "FILE_STATUS_NEW"


def test_every_service_and_method_of_the_proto_has_a_stub():
    modules = [metad_client.files_pb2, metad_client.tasks_pb2,
               metad_client.task_log_pb2, metad_client.dependencies_pb2,
               metad_client.admin_pb2, metad_client.deadlines_pb2,
               metad_client.watch_pb2]
    found = {}
    for m in modules:
        for name, service in m.DESCRIPTOR.services_by_name.items():
            found[name] = {method.name for method in service.methods}
    assert found == EXPECTED
    channel_free_stubs = {
        "FileService": metad_client.files_pb2_grpc.FileServiceStub,
        "TaskService": metad_client.tasks_pb2_grpc.TaskServiceStub,
        "TaskLogService": metad_client.task_log_pb2_grpc.TaskLogServiceStub,
        "DependencyService": metad_client.dependencies_pb2_grpc.DependencyServiceStub,
        "AdminService": metad_client.admin_pb2_grpc.AdminServiceStub,
        "DeadlineService": metad_client.deadlines_pb2_grpc.DeadlineServiceStub,
        "WatchService": metad_client.watch_pb2_grpc.WatchServiceStub,
    }
    import grpc
    channel = grpc.insecure_channel("127.0.0.1:1")
    try:
        for service, stub_class in channel_free_stubs.items():
            stub = stub_class(channel)
            for method in EXPECTED[service]:
                assert callable(getattr(stub, method))
    finally:
        channel.close()


def test_stamp_matches_the_protos():
    assert codegen.is_current(codegen.find_proto_dir())


def test_codegen_writes_a_fresh_tree_and_skips_when_current(tmp_path):
    out = str(tmp_path / "gen")
    assert codegen.generate(out_dir=out) == out
    for name in ("v1/task_log_pb2_grpc.py", "v1/task_log_pb2.pyi",
                 "_google_rpc/status_pb2.py", "py.typed"):
        assert os.path.isfile(os.path.join(out, name)), name
    marker = os.path.join(out, "marker")
    open(marker, "w").close()
    codegen.generate(out_dir=out)  # current: left alone
    assert os.path.exists(marker)
    codegen.generate(out_dir=out, force=True)  # replaced as a whole
    assert not os.path.exists(marker)
    assert codegen.is_current(codegen.find_proto_dir(), out_dir=out)
