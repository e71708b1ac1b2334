#!/usr/bin/python3
"""Example worker: runs `load_sales` for one batch over the files of a source.

    clients/python/examples/load_sales_worker.py --address 127.0.0.1:50051 \\
        --batch 2024-03 --source s3://sales [--register-task]

Starts a run of the task in the batch (refused when an upstream task has not
succeeded there yet, or the task already succeeded), claims the source's NEW
files in chunks, "loads" each one (here: reads its attributes and counts it),
records each file's outcome as it goes, and finishes the run: SUCCESS, or
ERROR when loading raised. Prints one JSON object on stdout:

    {"task": "load_sales", "batch_id": "2024-03", "run_id": 7,
     "status": "SUCCESS", "loaded": ["sales_report_2024-03.csv"], "failed": []}

Exit status: 0 when the run succeeded; otherwise the numeric gRPC status code
of the refusal (9 FAILED_PRECONDITION: not ready, already done, lease lost;
5 NOT_FOUND: unknown task; 14 UNAVAILABLE: no daemon), or 1 when the run
ended as ERROR. Meant to be driven from scripts, as in the cross-language
pipeline test.
"""

import argparse
import fnmatch
import json
import os
import sys
import time

import grpc

try:
    import metad_client  # installed (pip install clients/python)
except ImportError:  # run from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import metad_client


def parse_args(argv):
    p = argparse.ArgumentParser(description="Run load_sales for one batch.")
    p.add_argument("--address", default=os.environ.get("METAD_ADDRESS", "127.0.0.1:50051"))
    p.add_argument("--token", default=None, help="bearer token (default $METAD_TOKEN)")
    p.add_argument("--batch", required=True, help="batch id of the workflow")
    p.add_argument("--source", default="", help="claim only files of this source")
    p.add_argument("--task", default="load_sales")
    p.add_argument("--worker-id", default=None, help="default host:pid")
    p.add_argument("--lease", type=int, default=30, help="lease seconds")
    p.add_argument("--chunk", type=int, default=100, help="files per claim")
    p.add_argument("--register-task", action="store_true",
                   help="register the task if it does not exist")
    p.add_argument("--fail-pattern", default=None,
                   help="glob of file names to fail (demonstrates ERROR files)")
    p.add_argument("--crash-on", default=None,
                   help="glob of a file name that makes the whole run fail")
    p.add_argument("--work-seconds", type=float, default=0.0,
                   help="simulated work per file")
    return p.parse_args(argv)


def load(file, args):
    """Stands in for the real load: parse the file and write it somewhere."""
    if args.crash_on and fnmatch.fnmatch(file.file_name, args.crash_on):
        raise RuntimeError(f"cannot load {file.source}/{file.file_name}")
    if args.fail_pattern and fnmatch.fnmatch(file.file_name, args.fail_pattern):
        raise ValueError(f"{file.file_name}: malformed row")
    time.sleep(args.work_seconds)


def main(argv=None):
    args = parse_args(argv)
    result = {"task": args.task, "batch_id": args.batch, "run_id": 0,
              "status": "", "loaded": [], "failed": []}
    try:
        with metad_client.connect(args.address, token=args.token) as client:
            if args.register_task:
                client.ensure_task(args.task, description="Load monthly sales files")
            run = client.run(task=args.task, batch_id=args.batch,
                             worker_id=args.worker_id, lease_seconds=args.lease)
            try:
                with run:
                    result["run_id"] = run.id
                    while True:
                        files = run.claim_files(args.chunk, source=args.source)
                        if not files:
                            break
                        for f in files:
                            try:
                                load(f, args)
                            except ValueError as e:  # this file only
                                run.fail_file(f, str(e))
                                result["failed"].append(f.file_name)
                            else:
                                run.complete_file(f)
                                result["loaded"].append(f.file_name)
            finally:
                if run.finished:
                    result["status"] = metad_client.task_log_pb2.RunStatus.Name(
                        run.run.status).removeprefix("RUN_STATUS_")
                elif run.lost:
                    result["status"] = "LOST"
    except grpc.RpcError as e:
        result["error"] = f"{e.code().name}: {e.details()}"
        print(json.dumps(result))
        print(f"load_sales_worker: {result['error']}", file=sys.stderr)
        return e.code().value[0]
    except Exception as e:  # the run was finished as ERROR with this message
        result["error"] = metad_client.worker.error_message(e)
        print(json.dumps(result))
        print(f"load_sales_worker: {result['error']}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
