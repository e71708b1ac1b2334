"""Labels and search (issue 15) through the Python client against a real
metad: client.run(labels=...), list_runs / list_files with selectors (dicts
and strings), watch_runs(labels=...), watch_files(attributes=...), the
selector escaping, and a refused selector."""

import asyncio

import grpc
import pytest

import metad_client
import metad_client.aio
from metad_client import files_pb2, selector

FS = files_pb2


def _take(watch, n):
    out = []
    for event in watch:
        out.append(event)
        if len(out) == n:
            return out
    raise AssertionError(f"the watch ended after {len(out)} of {n} events")


def test_selector_escapes_and_passes_strings_through():
    assert selector(None) == ""
    assert selector("env=prod,sha") == "env=prod,sha"
    assert selector({"env": "prod", "sha": None}) == "env=prod,sha"
    assert selector({"a,b": "x=y", "sp": " v "}) == r"a\,b=x\=y,sp=\ v\ "


def test_run_labels_are_stored_and_selected(client, uniq):
    task = f"labelled_{uniq}"
    client.ensure_task(task)
    with client.run(task=task, batch_id="b1",
                    labels={"env": "prod", "sha": uniq}) as prod:
        assert dict(prod.run.labels) == {"env": "prod", "sha": uniq}
    with client.run(task=task, batch_id="b2", labels={"env": "dev"}) as dev:
        pass
    assert [r.id for r in client.list_runs(labels={"sha": uniq})] == [prod.id]
    both = [r.id for r in client.list_runs(task=task, page_size=1,
                                           labels="env")]
    assert both == [prod.id, dev.id]
    assert [r.id for r in client.list_runs(task=task,
                                           labels={"env": "dev"})] == [dev.id]
    with client.watch_runs(after_event_id=-1, labels={"sha": uniq}) as watch:
        started, finished = _take(watch, 2)
    assert started.event.run_id == finished.event.run_id == prod.id


def test_files_selected_by_attributes(client, uniq):
    source = f"s3://labels-{uniq}"
    specs = [FS.FileSpec(source=source, file_name="a.csv",
                         attributes={"region": "eu", "a,b": "x=y"}),
             FS.FileSpec(source=source, file_name="b.csv",
                         attributes={"region": "us"})]
    response = client.files.RegisterFiles(FS.RegisterFilesRequest(files=specs))
    a, b = (r.file.id for r in response.results)
    assert [f.id for f in client.list_files(source=source,
                                            attributes={"region": "eu"})] == [a]
    assert [f.id for f in client.list_files(source=source,
                                            attributes={"a,b": "x=y"})] == [a]
    assert [f.id for f in client.list_files(source=source,
                                            attributes={"region": None},
                                            page_size=1)] == [a, b]
    with client.watch_files(after_event_id=-1, source=source,
                            attributes="region=us") as watch:
        [event] = _take(watch, 1)
    assert event.event.file_id == b


def test_bad_selector_is_invalid_argument_naming_the_term(client):
    with pytest.raises(grpc.RpcError) as e:
        list(client.list_runs(labels="env=prod,bad key"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'term 2 "bad key"' in e.value.details()


def test_aio_run_labels(daemon, uniq):
    async def main():
        async with metad_client.aio.connect(daemon.address) as client:
            await client.ensure_task(f"aio_labelled_{uniq}")
            async with client.run(task=f"aio_labelled_{uniq}", batch_id="b",
                                  labels={"k": "v"}) as run:
                return dict(run.run.labels)
    assert asyncio.run(main()) == {"k": "v"}
