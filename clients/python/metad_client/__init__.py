"""Python client of metad (metad.v1 over gRPC).

    import metad_client
    client = metad_client.connect("127.0.0.1:50051")
    client.ensure_task("load_sales")
    with client.run(task="load_sales", batch_id="b1", lease_seconds=30) as run:
        for f in run.claim_files(100, source="s3://sales"):
            ...
            run.complete_file(f)

asyncio: metad_client.aio (the same API, awaitable). Watch streams:
client.watch_files() / client.watch_runs() (metad_client.watch). Labels and
search: client.run(..., labels={...}), client.list_runs(labels=...),
client.list_files(attributes=...), metad_client.selector.

The generated modules (package ``metad.v1``, shipped in the installed
package) are also exported here as files_pb2, tasks_pb2, task_log_pb2,
dependencies_pb2, admin_pb2, deadlines_pb2, watch_pb2, run_pb2 and their
*_pb2_grpc.
"""

from metad_client._stubs import (admin_pb2, admin_pb2_grpc, deadlines_pb2,
                                 deadlines_pb2_grpc, dependencies_pb2,
                                 dependencies_pb2_grpc, files_pb2, files_pb2_grpc,
                                 options_pb2, run_pb2, task_log_pb2, task_log_pb2_grpc,
                                 tasks_pb2, tasks_pb2_grpc, watch_pb2,
                                 watch_pb2_grpc)
from metad_client.client import DEFAULT_ADDRESS, Client, connect
from metad_client.errors import ErrorDetails, error_details
from metad_client.retry import NO_RETRY, RetryPolicy
from metad_client.selector import selector
from metad_client.watch import HistoryPruned, Watch
from metad_client.worker import RunLost, WorkerRun

__all__ = [
    "Client", "connect", "DEFAULT_ADDRESS", "ErrorDetails", "error_details", "RetryPolicy", "NO_RETRY",
    "RunLost", "WorkerRun", "HistoryPruned", "Watch", "options_pb2", "files_pb2", "files_pb2_grpc", "tasks_pb2",
    "tasks_pb2_grpc", "task_log_pb2", "task_log_pb2_grpc", "dependencies_pb2",
    "dependencies_pb2_grpc", "admin_pb2", "admin_pb2_grpc", "deadlines_pb2",
    "deadlines_pb2_grpc", "watch_pb2", "watch_pb2_grpc", "run_pb2", "selector",
]
