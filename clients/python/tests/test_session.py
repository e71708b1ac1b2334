"""Read-your-writes (metad_client.session): the interceptor on its own, and a
client against a metad with a read pool (--read_database). The pool here is
the primary's own database, so no read is stale; the standby case, where a
read without the position does miss a write, is tests/faults/
read_standby_pgtest.cc."""

import os
import random

import grpc
import pytest

import metad_client
from metad_client import files_pb2
from metad_client.session import ReadYourWrites
from conftest import _start, _stop, psql


class _Outcome:
    def __init__(self, code, trailers):
        self._code, self._trailers = code, trailers

    def code(self):
        return self._code

    def trailing_metadata(self):
        return self._trailers

    def add_done_callback(self, fn):
        fn(self)


class _Details:
    method, timeout, metadata = "/metad.v1.FileService/GetFile", 5.0, None
    credentials = wait_for_ready = compression = None


def _call(session, code=grpc.StatusCode.OK, trailers=()):
    sent = []

    def continuation(details, request):
        sent.append(dict(details.metadata or ()))
        return _Outcome(code, trailers)

    session.intercept_unary_unary(continuation, _Details(), None)
    return sent[0]


def test_sends_the_highest_position_seen():
    s = ReadYourWrites()
    assert "metad-min-lsn" not in _call(s, trailers=(("metad-commit-lsn", "42"),))
    assert _call(s, trailers=(("metad-commit-lsn", "17"),))["metad-min-lsn"] == "42"
    # A failed call's trailer (there is none from metad) is not taken.
    _call(s, grpc.StatusCode.UNAVAILABLE, (("metad-commit-lsn", "99"),))
    assert s.position == 42
    _call(s, trailers=(("metad-commit-lsn", "not a number"),))
    assert _call(s)["metad-min-lsn"] == "42"


@pytest.fixture(scope="module")
def read_pool_daemon(tmp_path_factory):
    pg = os.environ.get("METAD_TEST_PG")
    bin_dir = os.environ.get("METAD_BIN_DIR")
    if not pg or not bin_dir:
        pytest.skip("METAD_TEST_PG and METAD_BIN_DIR are needed (run_tests.sh)")
    name = f"t_py_rp_{os.getpid()}_{random.randrange(1 << 30)}"
    psql(f"{pg} dbname=postgres", f'CREATE DATABASE "{name}"')
    url = f"{pg} dbname={name}"
    log = str(tmp_path_factory.mktemp("metad") / "metad.log")
    address, proc = _start(bin_dir, url, log, extra=("--read_database", url))
    yield address
    rc = _stop(proc)
    psql(f"{pg} dbname=postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert rc == 0


def test_a_client_carries_the_position_of_its_writes(read_pool_daemon):
    with metad_client.connect(read_pool_daemon) as c:
        assert c.commit_position == 0
        c.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=files_pb2.FileSpec(source="s", file_name="a.csv")))
        first = c.commit_position
        assert first > 0
        c.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=files_pb2.FileSpec(source="s", file_name="b.csv")))
        assert c.commit_position > first
        got = c.files.GetFile(files_pb2.GetFileRequest(source="s", file_name="b.csv"))
        assert got.file_name == "b.csv"
        # Another client picks up where this one is.
        with metad_client.connect(read_pool_daemon) as other:
            other.set_commit_position(c.commit_position)
            assert other.commit_position == c.commit_position
    with metad_client.connect(read_pool_daemon, read_your_writes=False) as off:
        off.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=files_pb2.FileSpec(source="s", file_name="c.csv")))
        assert off.commit_position == 0


def test_without_a_read_pool_no_position_is_sent(daemon):
    with metad_client.connect(daemon.address) as c:
        c.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=files_pb2.FileSpec(source="s", file_name="nopool.csv")))
        assert c.commit_position == 0
