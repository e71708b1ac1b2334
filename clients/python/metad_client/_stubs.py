"""Loads the generated metad.v1 modules, generating them first if needed.

The generated files import each other as ``metad.v1.<name>_pb2``, so their
root (metad_client/_gen) goes on sys.path.
"""

import importlib
import os
import sys

from metad_client import codegen

STUBS_DIR = codegen.DEFAULT_OUT


def _ensure_generated():
    present = os.path.isfile(os.path.join(STUBS_DIR, "metad", "v1", "files_pb2.py"))
    if os.path.isdir(codegen.DEFAULT_PROTO_DIR) and not codegen.is_current():
        try:
            codegen.generate()
        except codegen.CodegenError:
            if not present:  # stale stubs beat none when protoc is missing
                raise
    elif not present:
        raise ImportError(
            f"metad stubs not found in {STUBS_DIR}; run "
            "`/usr/bin/python3 clients/python/metad_client/codegen.py`")


_ensure_generated()
if STUBS_DIR not in sys.path:
    sys.path.insert(0, STUBS_DIR)

files_pb2 = importlib.import_module("metad.v1.files_pb2")
files_pb2_grpc = importlib.import_module("metad.v1.files_pb2_grpc")
tasks_pb2 = importlib.import_module("metad.v1.tasks_pb2")
tasks_pb2_grpc = importlib.import_module("metad.v1.tasks_pb2_grpc")
task_log_pb2 = importlib.import_module("metad.v1.task_log_pb2")
task_log_pb2_grpc = importlib.import_module("metad.v1.task_log_pb2_grpc")
dependencies_pb2 = importlib.import_module("metad.v1.dependencies_pb2")
dependencies_pb2_grpc = importlib.import_module("metad.v1.dependencies_pb2_grpc")
