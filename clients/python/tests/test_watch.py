"""Watch streams (client.watch_files / watch_runs, blocking and asyncio)
against a real metad: delivery, resuming across a daemon restart, and
OUT_OF_RANGE after PruneHistory."""

import asyncio
import threading

import grpc
import pytest
from google.protobuf import duration_pb2

import metad_client
import metad_client.aio
from conftest import restart
from helpers import wait_until
from metad_client import admin_pb2, files_pb2, task_log_pb2

FS = files_pb2
RS = task_log_pb2
# Short reconnect waits, so a restarted daemon is found again quickly.
FAST_RECONNECT = metad_client.RetryPolicy(initial_backoff=0.05, max_backoff=0.5)
CHANNEL = [("grpc.initial_reconnect_backoff_ms", 100),
           ("grpc.min_reconnect_backoff_ms", 100),
           ("grpc.max_reconnect_backoff_ms", 500)]


def _register(client, source, *names):
    response = client.files.RegisterFiles(FS.RegisterFilesRequest(
        files=[FS.FileSpec(source=source, file_name=n) for n in names]))
    return [r.file for r in response.results]


def _take(watch, n):
    out = []
    for event in watch:
        out.append(event)
        if len(out) == n:
            return out
    raise AssertionError(f"the watch ended after {len(out)} of {n} events")


def test_watch_runs_delivers_a_runs_events_in_order(client, uniq):
    task, batch = f"watched_{uniq}", f"b_{uniq}"
    client.ensure_task(task)
    with client.run(task=task, batch_id=batch) as run:
        pass
    with client.watch_runs(after_event_id=-1, batch_id=batch) as watch:
        started, finished = _take(watch, 2)
    assert (started.event.kind, finished.event.kind) == ("STARTED", "FINISHED")
    assert started.event.run_id == finished.event.run_id == run.id
    assert started.task_name == task and started.batch_id == batch
    assert finished.event.to_status == RS.RUN_STATUS_SUCCESS
    assert started.event.id < finished.event.id == watch.last_event_id


def test_from_now_starts_at_the_header_position(client, uniq):
    source = f"s3://watch-now-{uniq}"
    [old] = _register(client, source, "old.csv")
    watch = client.watch_files(source=source)  # 0: from now
    got = []
    reader = threading.Thread(target=lambda: got.extend(_take(watch, 1)))
    reader.start()
    wait_until(lambda: watch.last_event_id is not None, what="the stream to open")
    [new] = _register(client, source, "new.csv")
    reader.join(30)
    watch.cancel()
    assert [e.event.file_id for e in got] == [new.id]
    assert got[0].file_name == "new.csv" and got[0].source == source


def test_cancel_ends_the_iteration(client, uniq):
    watch = client.watch_files(source=f"s3://quiet-{uniq}")
    done = []
    reader = threading.Thread(target=lambda: done.append(list(watch)))
    reader.start()
    wait_until(lambda: watch.last_event_id is not None, what="the stream to open")
    watch.cancel()
    reader.join(30)
    assert done == [[]]


def test_aio_watch_files(daemon, client, uniq):
    source = f"s3://aio-watch-{uniq}"
    registered = _register(client, source, "a.csv", "b.csv")

    async def main():
        async with metad_client.aio.connect(daemon.address) as c:
            out = []
            async with c.watch_files(after_event_id=-1, source=source,
                                     status="NEW") as watch:
                async for e in watch:
                    out.append(e)
                    if len(out) == 2:
                        break
            return out

    events = asyncio.run(main())
    assert [e.event.file_id for e in events] == [f.id for f in registered]
    assert all(e.event.to_status == FS.FILE_STATUS_NEW for e in events)


def test_watch_resumes_across_a_daemon_restart(own_daemon, uniq):
    source = f"s3://restart-{uniq}"
    with metad_client.connect(own_daemon.address, options=CHANNEL) as client:
        first = _register(client, source, "a.csv", "b.csv")
        watch = client.watch_files(after_event_id=-1, source=source,
                                   backoff=FAST_RECONNECT)
        got = []
        reader = threading.Thread(target=lambda: got.extend(_take(watch, 4)))
        reader.start()
        wait_until(lambda: len(got) == 0 and watch.last_event_id is not None,
                   what="the stream to open")
        restart(own_daemon)  # the stream ends UNAVAILABLE; reconnects fail meanwhile
        second = _register(client, source, "c.csv", "d.csv")
        reader.join(60)
        watch.cancel()
    assert not reader.is_alive()
    assert [e.event.file_id for e in got] == [f.id for f in first + second]
    ids = [e.event.id for e in got]
    assert ids == sorted(set(ids))  # each once, in order
    assert watch.reconnects >= 1


def _prune(client, daemon):
    # Ages every stored event past the 1 hour minimum, then prunes.
    daemon.sql("UPDATE file_events SET event_time = now() - interval '2 hours'")
    response = client.admin.PruneHistory(admin_pb2.PruneHistoryRequest(
        older_than=duration_pb2.Duration(seconds=3600)))
    assert response.file_events_deleted > 0


def test_out_of_range_after_pruning(own_daemon, uniq):
    source = f"s3://pruned-{uniq}"
    with metad_client.connect(own_daemon.address) as client:
        f, _ = _register(client, source, "a.csv", "b.csv")
        # A cursor inside the pruned range: the event after it is gone.
        first = client.files.ListFileEvents(
            FS.ListFileEventsRequest(file_id=f.id)).events[0].id
        _prune(client, own_daemon)
        with pytest.raises(metad_client.HistoryPruned) as err:
            next(iter(client.watch_files(after_event_id=first, source=source)))
        assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert isinstance(err.value, grpc.RpcError)
        assert err.value.after_event_id == first

        async def aio_watch():
            async with metad_client.aio.connect(own_daemon.address) as c:
                async for _ in c.watch_files(after_event_id=first):
                    pass

        with pytest.raises(metad_client.HistoryPruned) as err:
            asyncio.run(aio_watch())
        assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE

        # From now on the daemon serves what it kept: a new event arrives.
        [g] = _register(client, source, "c.csv")
        with client.watch_files(after_event_id=-1, source=source) as watch:
            assert next(watch).event.file_id == g.id
