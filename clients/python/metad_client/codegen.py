"""Generates the Python stubs of metad.v1 from the repository's proto/ files.

    /usr/bin/python3 clients/python/metad_client/codegen.py [--proto-dir DIR] [--out DIR] [--force]

The stubs go to metad_client/_gen (gitignored) as the package ``metad.v1``,
the import path protoc gives them (``from metad.v1 import tasks_pb2``).
A stamp file records a hash of the .proto sources, so generation is skipped
while they are unchanged. Output is written to a temporary directory and
moved into place, so concurrent generators never see half a tree.
"""

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(PACKAGE_DIR, "_gen")
# clients/python/metad_client -> repository root.
DEFAULT_PROTO_DIR = os.path.normpath(
    os.path.join(PACKAGE_DIR, "..", "..", "..", "proto"))
STAMP = ".proto-hash"
PLUGIN = "/usr/bin/grpc_python_plugin"
# google/rpc/status.proto and error_details.proto, for decoding the error
# details metad sends (Debian ships them in golang-github-gogo-googleapis-dev).
GOOGLEAPIS_DIR = os.environ.get(
    "METAD_GOOGLEAPIS_DIR", "/usr/share/gocode/src/github.com/gogo/googleapis")
GOOGLE_RPC_PROTOS = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


class CodegenError(RuntimeError):
    pass


def _proto_files(proto_dir):
    files = sorted(glob.glob(os.path.join(proto_dir, "metad", "v1", "*.proto")))
    if not files:
        raise CodegenError(f"no metad/v1/*.proto under {proto_dir}")
    return files


def _google_rpc_files():
    """The google.rpc protos when installed; [] otherwise (no error details)."""
    paths = [os.path.join(GOOGLEAPIS_DIR, p) for p in GOOGLE_RPC_PROTOS]
    return paths if all(os.path.isfile(p) for p in paths) else []


def proto_hash(proto_dir):
    digest = hashlib.sha256()
    for path in _proto_files(proto_dir):
        digest.update(os.path.relpath(path, proto_dir).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    for path in _google_rpc_files():
        digest.update(path.encode())
    return digest.hexdigest()


def is_current(proto_dir=DEFAULT_PROTO_DIR, out_dir=DEFAULT_OUT):
    try:
        with open(os.path.join(out_dir, STAMP)) as f:
            return f.read().strip() == proto_hash(proto_dir)
    except OSError:
        return False


def generate(proto_dir=DEFAULT_PROTO_DIR, out_dir=DEFAULT_OUT, force=False):
    """Generates the stubs unless they are current; returns out_dir."""
    proto_dir = os.path.abspath(proto_dir)
    out_dir = os.path.abspath(out_dir)
    if not force and is_current(proto_dir, out_dir):
        return out_dir
    protoc = shutil.which("protoc")
    if protoc is None or not os.access(PLUGIN, os.X_OK):
        raise CodegenError(
            "protoc and grpc_python_plugin are needed to generate the metad "
            "stubs (apt-get install protobuf-compiler protobuf-compiler-grpc)")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="._gen.", dir=parent)
    try:
        cmd = [protoc, f"--python_out={tmp}", f"--grpc_out={tmp}",
               f"--plugin=protoc-gen-grpc={PLUGIN}", f"-I{proto_dir}"]
        cmd += _proto_files(proto_dir)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise CodegenError(f"protoc failed: {done.stderr.strip()}")
        if _google_rpc_files():
            # No __init__.py under google/: it must stay a namespace package
            # that merges with the installed google.protobuf.
            done = subprocess.run(
                [protoc, f"--python_out={tmp}", f"-I{GOOGLEAPIS_DIR}"]
                + GOOGLE_RPC_PROTOS, capture_output=True, text=True)
            if done.returncode != 0:
                raise CodegenError(f"protoc failed: {done.stderr.strip()}")
        # protoc writes plain directories; make them regular packages so the
        # import does not depend on namespace-package lookup order.
        for sub in ("metad", os.path.join("metad", "v1")):
            open(os.path.join(tmp, sub, "__init__.py"), "a").close()
        with open(os.path.join(tmp, STAMP), "w") as f:
            f.write(proto_hash(proto_dir) + "\n")
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix="._old.", dir=parent)
            try:
                os.rename(out_dir, os.path.join(old, "gen"))
            except FileNotFoundError:  # another generator moved it first
                pass
        try:
            os.rename(tmp, out_dir)
        except OSError:
            # Another generator put its tree in place between our two renames;
            # it was made from the same sources if its stamp matches.
            if not is_current(proto_dir, out_dir):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true",
                        help="regenerate even if the stamp matches")
    args = parser.parse_args(argv)
    try:
        out = generate(args.proto_dir, args.out, force=args.force)
    except CodegenError as e:
        print(f"codegen: {e}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
