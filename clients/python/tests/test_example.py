"""The example worker, driven from the command line like a pipeline script."""

import json
import os
import subprocess
import sys

import grpc

from metad_client import files_pb2, task_log_pb2

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "load_sales_worker.py")


def _worker(daemon, *args):
    done = subprocess.run([sys.executable, EXAMPLE, "--address", daemon.address, *args],
                          capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout), done.stderr


def _register(client, source, names):
    client.files.RegisterFiles(files_pb2.RegisterFilesRequest(
        files=[files_pb2.FileSpec(source=source, file_name=n) for n in names]))


def test_example_loads_the_batch(client, daemon, uniq):
    task, source, batch = f"load_sales_{uniq}", f"s3://sales-{uniq}", f"2024-03-{uniq}"
    names = [f"sales_report_2024-{m:02d}.csv" for m in range(1, 8)]
    _register(client, source, names)
    _register(client, f"s3://other-{uniq}", ["not_mine.csv"])
    rc, out, err = _worker(daemon, "--batch", batch, "--source", source, "--task", task,
                           "--register-task", "--chunk", "3", "--fail-pattern", "*-05.csv")
    assert rc == 0, err
    assert out["status"] == "SUCCESS"
    assert sorted(out["loaded"]) == sorted(n for n in names if not n.endswith("-05.csv"))
    assert out["failed"] == ["sales_report_2024-05.csv"]
    files = client.files.ListFiles(files_pb2.ListFilesRequest(source=source)).files
    by_name = {f.file_name: f for f in files}
    assert by_name["sales_report_2024-05.csv"].status == files_pb2.FILE_STATUS_ERROR
    assert all(by_name[n].status == files_pb2.FILE_STATUS_SUCCESS
               for n in out["loaded"])
    other = client.files.GetFile(files_pb2.GetFileRequest(
        source=f"s3://other-{uniq}", file_name="not_mine.csv"))
    assert other.status == files_pb2.FILE_STATUS_NEW

    # Done in this batch: a second start is refused, with the gRPC code as exit status.
    rc, out, err = _worker(daemon, "--batch", batch, "--source", source, "--task", task)
    assert rc == grpc.StatusCode.FAILED_PRECONDITION.value[0], err
    assert out["error"].startswith("FAILED_PRECONDITION")


def test_example_crash_finishes_the_run_as_error(client, daemon, uniq):
    task, source, batch = f"load_sales_{uniq}", f"s3://crash-{uniq}", f"b-{uniq}"
    _register(client, source, ["a.csv", "b.csv"])
    rc, out, err = _worker(daemon, "--batch", batch, "--source", source, "--task", task,
                           "--register-task", "--crash-on", "b.csv")
    assert rc == 1, err
    assert out["status"] == "ERROR"
    run = client.task_log.GetRun(task_log_pb2.GetRunRequest(run_id=out["run_id"]))
    assert run.status == task_log_pb2.RUN_STATUS_ERROR
    assert "cannot load" in run.error_message


def test_example_unknown_task_is_not_found(daemon, uniq):
    rc, out, err = _worker(daemon, "--batch", "b", "--task", f"nope_{uniq}")
    assert rc == grpc.StatusCode.NOT_FOUND.value[0], err
