"""The build step of metad-client (metadata lives in pyproject.toml).

build_py generates the stubs (codegen.py: protoc, grpc_python_plugin,
protoc-gen-mypy) from the .proto files straight into the build directory, as
the package ``metad``; the source tree is left as it is. sdist carries the
.proto files (proto/), so a wheel built from it generates the same stubs.
"""

import glob
import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))


def _codegen():
    spec = importlib.util.spec_from_file_location(
        "_metad_codegen", os.path.join(HERE, "codegen.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        codegen = _codegen()
        out = os.path.join(self.build_lib, "metad")
        codegen.generate(codegen.find_proto_dir(), out, force=True)
        os.remove(os.path.join(out, codegen.STAMP))  # a dev-tree marker only

    def get_outputs(self, include_bytecode=1):
        out = os.path.join(self.build_lib, "metad")
        generated = [p for p in glob.glob(os.path.join(out, "**"), recursive=True)
                     if os.path.isfile(p)]
        return super().get_outputs(include_bytecode) + generated


class SdistWithProtos(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        codegen = _codegen()
        proto_dir = codegen.find_proto_dir()
        if proto_dir is None:
            raise SystemExit("no proto/metad/v1/*.proto to put in the sdist")
        rpc_dir = codegen.googleapis_dir(proto_dir)
        sources = [(p, os.path.relpath(p, proto_dir))
                   for p in glob.glob(os.path.join(proto_dir, "metad", "v1", "*.proto"))]
        sources += [(os.path.join(rpc_dir, p), p) for p in codegen.GOOGLE_RPC_PROTOS]
        for src, rel in sources:
            dst = os.path.join(base_dir, "proto", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildWithStubs, "sdist": SdistWithProtos})
