#!/usr/bin/python3
"""Lists and describes metad's services through gRPC server reflection, as
grpcurl does: ServerReflectionInfo list_services, then file_containing_symbol
for a service, whose FileDescriptorProto must describe its methods.

  tests/reflection_check.py HOST:PORT
"""
import os
import shutil
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2

PROTO = "/usr/share/grpc-proto"


def main():
    address = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        # Compile reflection.proto under a package path of our own, so the
        # generated modules do not collide with the grpc library's package.
        os.makedirs(os.path.join(tmp, "refl"))
        shutil.copy(os.path.join(PROTO, "grpc/reflection/v1alpha/reflection.proto"),
                    os.path.join(tmp, "refl", "reflection.proto"))
        subprocess.run(
            ["protoc", "-I", tmp, "--python_out=" + tmp, "--grpc_out=" + tmp,
             "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
             "refl/reflection.proto"], check=True)
        sys.path.insert(0, tmp)
        from refl import reflection_pb2 as pb2  # noqa: E402
        from refl import reflection_pb2_grpc as pb2_grpc  # noqa: E402
        channel = grpc.insecure_channel(address)
        stub = pb2_grpc.ServerReflectionStub(channel)

        def ask(**kw):
            responses = stub.ServerReflectionInfo(
                iter([pb2.ServerReflectionRequest(**kw)]), timeout=10)
            return next(iter(responses))

        services = sorted(s.name for s in
                          ask(list_services="").list_services_response.service)
        print("services:", " ".join(services))
        want = {"metad.v1.FileService", "metad.v1.TaskService",
                "metad.v1.TaskLogService", "metad.v1.DependencyService",
                "grpc.health.v1.Health"}
        missing = want - set(services)
        if missing:
            print("missing services:", missing, file=sys.stderr)
            return 1
        resp = ask(file_containing_symbol="metad.v1.TaskLogService")
        methods = set()
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for svc in fd.service:
                if svc.name == "TaskLogService":
                    methods = {m.name for m in svc.method}
        print("TaskLogService methods:", " ".join(sorted(methods)))
        need = {"StartRun", "Heartbeat", "FinishRun", "GetRun", "ListRuns",
                "GetBatch", "ListRunEvents"}
        if not need <= methods:
            print("missing methods:", need - methods, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
