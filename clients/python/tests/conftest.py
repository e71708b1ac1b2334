"""Fixtures: a real metad on a free loopback port with a fresh database.

Mirrors scripts/daemon_for_tests.sh. Needs METAD_TEST_PG (libpq keywords of
the test cluster, e.g. "host=/tmp/pg/sock port=5432 user=postgres") and
METAD_BIN_DIR (the build directory holding metad); run_tests.sh checks both.
Tests that use the `daemon` fixture are skipped when they are unset.
"""

import os
import random
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # clients/python: metad_client

import metad_client  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(conninfo, query):
    done = subprocess.run(
        ["psql", conninfo, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", query],
        capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


class Daemon:
    def __init__(self, address, database_url, process, log_path):
        self.address = address
        self.database_url = database_url
        self.process = process
        self.log_path = log_path

    def sql(self, query):
        """Runs SQL on the daemon's database; returns psql's unaligned output."""
        return psql(self.database_url, query)

    def log_tail(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def _start(bin_dir, url, log_path, port=None, extra=()):
    """Starts metad on `port`, or on a free port (retrying if another process
    took it); `extra`: more flags."""
    for _ in range(1 if port else 3):
        port = port or free_port()
        log = open(log_path, "ab")
        proc = subprocess.Popen(
            [os.path.join(bin_dir, "metad"), "serve", "--listen",
             f"127.0.0.1:{port}", "--database", url, "--reaper_interval", "0.2",
             *extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        address = f"127.0.0.1:{port}"
        channel = grpc.insecure_channel(address)
        ready = grpc.channel_ready_future(channel)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ready.result(timeout=0.2)
                    return address, proc
                except grpc.FutureTimeoutError:
                    pass
        finally:
            ready.cancel()  # stops its polling thread before the close
            channel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"metad did not listen on {address} within 60 s")
        port = None
    with open(log_path, errors="replace") as f:
        raise RuntimeError("metad did not start:\n" + f.read()[-3000:])


def _stop(proc):
    """SIGTERM; returns the exit status ("timeout" if it had to be killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "timeout"


def _own_daemon(tmp_path_factory):
    """A metad on a database of its own; yields it, then stops it (checking
    a clean exit) and drops the database."""
    pg = os.environ.get("METAD_TEST_PG")
    bin_dir = os.environ.get("METAD_BIN_DIR")
    if not pg or not bin_dir:
        pytest.skip("METAD_TEST_PG and METAD_BIN_DIR are needed (run_tests.sh)")
    name = f"t_py_{os.getpid()}_{random.randrange(1 << 30)}"
    psql(f"{pg} dbname=postgres", f'CREATE DATABASE "{name}"')
    url = f"{pg} dbname={name}"
    log_path = str(tmp_path_factory.mktemp("metad") / "metad.log")
    address, proc = _start(bin_dir, url, log_path)
    d = Daemon(address, url, proc, log_path)
    d.bin_dir = bin_dir
    yield d
    rc = _stop(d.process)
    psql(f"{pg} dbname=postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert rc == 0, f"metad exited with {rc} after SIGTERM:\n{d.log_tail()}"


def restart(d):
    """Stops d's metad (SIGTERM, clean exit expected) and starts it again on
    the same address and database."""
    rc = _stop(d.process)
    assert rc == 0, f"metad exited with {rc} after SIGTERM:\n{d.log_tail()}"
    port = int(d.address.rsplit(":", 1)[1])
    _, d.process = _start(d.bin_dir, d.database_url, d.log_path, port=port)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    yield from _own_daemon(tmp_path_factory)


@pytest.fixture(scope="module")
def own_daemon(tmp_path_factory):
    """A daemon of the module's own, for tests that restart it or prune its
    history (the session's daemon is shared)."""
    yield from _own_daemon(tmp_path_factory)


@pytest.fixture(scope="session")
def client(daemon):
    with metad_client.connect(daemon.address, timeout=15) as c:
        yield c


@pytest.fixture
def uniq():
    """A suffix that keeps each test's tasks, sources and batches apart."""
    return f"{os.getpid()}_{random.randrange(1 << 40):x}"
