"""The package installed the way Python installs packages: pip into a fresh
venv (offline: Debian's setuptools, grpcio and protobuf through
--system-site-packages), then used from outside the source tree."""

import json
import os
import shutil
import subprocess
import zipfile

import pytest

from metad_client import files_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
PY_DIR = os.path.dirname(HERE)                      # clients/python
REPO = os.path.dirname(os.path.dirname(PY_DIR))     # proto/ lives here
SYSTEM_PYTHON = "/usr/bin/python3"

# Run by the venv's python with cwd outside the repository: what it imports
# and where from, and whether importing wrote anything.
CHECK = r'''
import json, os, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
def files():
    out = {}
    for top in (site, os.getcwd()):
        for d, _, names in os.walk(top):
            for n in names:
                p = os.path.join(d, n)
                out[p] = os.stat(p).st_mtime_ns
    return out
before = files()
import metad_client, metad_client.aio, metad_client.watch
from metad.v1 import watch_pb2, admin_pb2
from metad_client import errors
status_pb2, _ = errors._rpc_modules()
after = files()
print(json.dumps({
    "metad_client": metad_client.__file__, "metad": watch_pb2.__file__,
    "rpc": status_pb2.__file__, "site": site,
    "written": sorted(p for p in after if before.get(p) != after[p]),
    "path": sys.path}))
'''


def _copy_tree(dst):
    """The parts of the repository the build reads: clients/python, proto."""
    ignore = shutil.ignore_patterns("metad", "build", "dist", "*.egg-info",
                                    "__pycache__", "tests", ".pytest_cache")
    shutil.copytree(PY_DIR, os.path.join(dst, "clients", "python"), ignore=ignore)
    shutil.copytree(os.path.join(REPO, "proto"), os.path.join(dst, "proto"))
    return os.path.join(dst, "clients", "python")


def _run(cmd, cwd, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, **kwargs)
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("Debian's /usr/bin/python3 is needed")
    root = tmp_path_factory.mktemp("install")
    src = _copy_tree(str(root / "src"))
    v = str(root / "venv")
    done = _run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", v], cwd=str(root))
    assert done.returncode == 0, done.stderr
    done = _run([os.path.join(v, "bin", "pip"), "install", "--no-build-isolation", src],
                cwd=str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    work = root / "work"
    work.mkdir()
    return os.path.join(v, "bin", "python"), str(work)


def test_installed_package_carries_its_stubs_and_generates_nothing(venv):
    python, work = venv
    done = _run([python, "-c", CHECK], cwd=work)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    site = info["site"]
    for module in ("metad_client", "metad", "rpc"):
        assert info[module].startswith(site + os.sep), info
    assert not any(p.startswith(PY_DIR) for p in info["path"])
    assert info["written"] == []
    for package in ("metad_client", "metad"):
        assert os.path.isfile(os.path.join(site, package, "py.typed"))
    stubs = sorted(os.listdir(os.path.join(site, "metad", "v1")))
    for name in ("files", "tasks", "task_log", "dependencies", "watch", "admin"):
        assert f"{name}_pb2.py" in stubs and f"{name}_pb2.pyi" in stubs
        assert f"{name}_pb2_grpc.py" in stubs
    assert not os.path.exists(os.path.join(site, "codegen.py"))


def test_example_worker_runs_from_the_installed_package(venv, client, daemon, uniq):
    python, work = venv
    example = shutil.copy(os.path.join(PY_DIR, "examples", "load_sales_worker.py"), work)
    source, task = f"s3://installed-{uniq}", f"load_installed_{uniq}"
    client.files.RegisterFiles(files_pb2.RegisterFilesRequest(files=[
        files_pb2.FileSpec(source=source, file_name=n) for n in ("a.csv", "b.csv")]))
    done = _run([python, example, "--address", daemon.address, "--batch", f"b_{uniq}",
                 "--source", source, "--task", task, "--register-task"], cwd=work)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "SUCCESS"
    assert sorted(out["loaded"]) == ["a.csv", "b.csv"]
    assert os.listdir(work) == ["load_sales_worker.py"]  # nothing generated here


def test_sdist_carries_the_protos_and_its_wheel_the_stubs(tmp_path):
    # python3 -m build makes the sdist, then the wheel from the unpacked sdist,
    # where ../../proto is out of reach: the sdist's own proto/ must do.
    src = _copy_tree(str(tmp_path / "src"))
    out = str(tmp_path / "dist")
    done = _run([SYSTEM_PYTHON, "-m", "build", "--no-isolation", "--outdir", out, src],
                cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = [n for n in os.listdir(out) if n.endswith(".whl")]
    with zipfile.ZipFile(os.path.join(out, wheel)) as z:
        names = set(z.namelist())
    for name in ("metad_client/py.typed", "metad_client/aio.py", "metad/py.typed",
                 "metad/v1/files_pb2.py", "metad/v1/files_pb2.pyi",
                 "metad/v1/watch_pb2_grpc.py", "metad/_google_rpc/status_pb2.py"):
        assert name in names, name
    assert not any(n.endswith(("codegen.py", ".proto", ".proto-hash")) for n in names)


def test_sources_parse_as_python_3_9():
    # requires-python >= 3.9: no match statements, except*, or other newer
    # syntax in what the package ships (the API calls are kept 3.9 by hand).
    import ast
    import glob
    sources = glob.glob(os.path.join(PY_DIR, "metad_client", "*.py"))
    sources += [os.path.join(PY_DIR, f) for f in
                ("codegen.py", "setup.py", os.path.join("examples", "load_sales_worker.py"))]
    for path in sources:
        with open(path) as f:
            ast.parse(f.read(), path, feature_version=(3, 9))
