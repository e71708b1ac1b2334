"""Generates the Python stubs of metad.v1 from the repository's proto/ files.

    /usr/bin/python3 clients/python/codegen.py [--proto-dir DIR] [--out DIR] [--force]

Used by setup.py (the build step of `pip install`) and, in a source checkout,
by run_tests.sh and by metad_client itself (see metad_client/_stubs.py). It
is not part of the installed package: an installed metad_client never
generates anything.

The output is one package directory, ``metad`` (clients/python/metad by
default, gitignored):
    metad/v1/*_pb2.py, *_pb2_grpc.py   protoc + grpc_python_plugin, imported
                                       as protoc names them (``metad.v1``)
    metad/v1/*.pyi                     type stubs (mypy-protobuf's protoc-gen-mypy)
    metad/_google_rpc/*_pb2.py(i)      google.rpc.Status and error details, for
                                       decoding metad's error details; private
                                       so they never collide with an installed
                                       googleapis-common-protos
    metad/py.typed, .proto-hash        PEP 561 marker; hash of the sources
Generation is skipped while the hash matches. Output is written to a
temporary directory and renamed into place, so a concurrent reader or
generator never sees half a tree.
"""

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "metad")
STAMP = ".proto-hash"
# Bumped when the layout of the output changes, so old trees are replaced.
LAYOUT = "metad-py-2"
PLUGINS = {
    "grpc": "/usr/bin/grpc_python_plugin",     # protobuf-compiler-grpc
    "mypy": "/usr/bin/protoc-gen-mypy",        # mypy-protobuf
    "mypy_grpc": "/usr/bin/protoc-gen-mypy_grpc",
}
# google/rpc/status.proto and error_details.proto: Debian ships them in
# golang-github-gogo-googleapis-dev; an sdist carries copies in proto/.
GOOGLEAPIS_DIR = os.environ.get(
    "METAD_GOOGLEAPIS_DIR", "/usr/share/gocode/src/github.com/gogo/googleapis")
GOOGLE_RPC_PROTOS = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


class CodegenError(RuntimeError):
    pass


def find_proto_dir():
    """$METAD_PROTO_DIR, proto/ next to this file (an sdist), or the
    repository's proto/ (a checkout); None when there is none."""
    candidates = [os.environ.get("METAD_PROTO_DIR"), os.path.join(HERE, "proto"),
                  os.path.join(HERE, "..", "..", "proto")]
    for d in candidates:
        if d and glob.glob(os.path.join(d, "metad", "v1", "*.proto")):
            return os.path.normpath(d)
    return None


def _proto_files(proto_dir):
    files = sorted(glob.glob(os.path.join(proto_dir, "metad", "v1", "*.proto")))
    if not files:
        raise CodegenError(f"no metad/v1/*.proto under {proto_dir}")
    return files


def googleapis_dir(proto_dir):
    """Where google/rpc/*.proto are: beside metad/ in proto_dir, else Debian's."""
    for d in (proto_dir, GOOGLEAPIS_DIR):
        if all(os.path.isfile(os.path.join(d, p)) for p in GOOGLE_RPC_PROTOS):
            return d
    raise CodegenError(
        "google/rpc/status.proto not found (apt-get install "
        "golang-github-gogo-googleapis-dev, or set METAD_GOOGLEAPIS_DIR)")


def proto_hash(proto_dir):
    digest = hashlib.sha256(LAYOUT.encode())
    paths = _proto_files(proto_dir)
    rpc_dir = googleapis_dir(proto_dir)
    paths += [os.path.join(rpc_dir, p) for p in GOOGLE_RPC_PROTOS]
    for path in paths:
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def is_current(proto_dir, out_dir=DEFAULT_OUT):
    try:
        with open(os.path.join(out_dir, STAMP)) as f:
            return f.read().strip() == proto_hash(proto_dir)
    except (OSError, CodegenError):
        return False


def _protoc(args):
    protoc = shutil.which("protoc")
    missing = [p for p in PLUGINS.values() if not os.access(p, os.X_OK)]
    if protoc is None or missing:
        raise CodegenError(
            "protoc, grpc_python_plugin and protoc-gen-mypy are needed to "
            "generate the metad stubs (apt-get install protobuf-compiler "
            "protobuf-compiler-grpc mypy-protobuf)")
    done = subprocess.run([protoc] + args, capture_output=True, text=True)
    if done.returncode != 0:
        raise CodegenError(f"protoc failed: {done.stderr.strip()}")


def _write_tree(proto_dir, root):
    """Generates everything into root/metad."""
    plugins = [f"--plugin=protoc-gen-{name}={path}" for name, path in PLUGINS.items()]
    _protoc(plugins + [f"--python_out={root}", f"--grpc_out={root}",
                       f"--mypy_out={root}", f"--mypy_grpc_out={root}",
                       f"-I{proto_dir}"] + _proto_files(proto_dir))
    rpc_tmp = os.path.join(root, "_rpc")
    os.mkdir(rpc_tmp)
    _protoc(plugins + [f"--python_out={rpc_tmp}", f"--mypy_out={rpc_tmp}",
                       f"-I{googleapis_dir(proto_dir)}"] + GOOGLE_RPC_PROTOS)
    pkg = os.path.join(root, "metad")
    # status_pb2 and error_details_pb2 import only google.protobuf, so they
    # work from any package.
    os.rename(os.path.join(rpc_tmp, "google", "rpc"), os.path.join(pkg, "_google_rpc"))
    shutil.rmtree(rpc_tmp)
    # Regular packages, so the import never depends on namespace lookup order.
    for sub in ("", "v1", "_google_rpc"):
        open(os.path.join(pkg, sub, "__init__.py"), "a").close()
    open(os.path.join(pkg, "py.typed"), "w").close()
    with open(os.path.join(pkg, STAMP), "w") as f:
        f.write(proto_hash(proto_dir) + "\n")
    return pkg


def generate(proto_dir=None, out_dir=DEFAULT_OUT, force=False):
    """Generates the `metad` package into out_dir unless it is current;
    returns out_dir. Raises CodegenError."""
    proto_dir = proto_dir or find_proto_dir()
    if proto_dir is None:
        raise CodegenError("no proto/metad/v1/*.proto found (set METAD_PROTO_DIR)")
    proto_dir = os.path.abspath(proto_dir)
    out_dir = os.path.abspath(out_dir)
    if not force and is_current(proto_dir, out_dir):
        return out_dir
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="._gen.", dir=parent)
    try:
        pkg = _write_tree(proto_dir, tmp)
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix="._old.", dir=parent)
            try:
                os.rename(out_dir, os.path.join(old, "gen"))
            except FileNotFoundError:  # another generator moved it first
                pass
        try:
            os.rename(pkg, out_dir)
        except OSError:
            # Another generator put its tree in place between our two renames;
            # it was made from the same sources if its stamp matches.
            if not is_current(proto_dir, out_dir):
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", default=None)
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
