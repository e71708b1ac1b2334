"""Outputs (WorkerRun.record_outputs) and lineage (Client.lineage) against a
real metad."""

import grpc
import pytest

import metad_client
from metad_client import files_pb2, task_log_pb2

FS = files_pb2


def _edges(lineage):
    runs = {r.id: r.task_name for r in lineage.runs}
    files = {f.id: f.file_name for f in lineage.files}
    return [(e.depth, FS.LineageEdgeKind.Name(e.kind)[len("LINEAGE_EDGE_KIND_"):],
             runs.get(e.run_id, "?"), files.get(e.file_id, "?"))
            for e in lineage.edges]


def test_outputs_and_lineage_of_a_two_step_pipeline(client, uniq):
    raw, mid = f"raw-{uniq}", f"mid-{uniq}"
    a, b = client.ensure_task(f"a_{uniq}").name, client.ensure_task(f"b_{uniq}").name
    client.files.RegisterFile(FS.RegisterFileRequest(
        file=FS.FileSpec(source=raw, file_name="in0")))
    with client.run(a, "b1") as run:
        assert len(run.claim_files(10, source=raw)) == 1
        made = run.record_outputs([(mid, "m0"), {"source": mid, "file_name": "m1"}])
        assert [o.created for o in made] == [True, True]
        again = run.record_outputs([FS.FileSpec(source=mid, file_name="m0")])
        assert not again[0].created and again[0].file.id == made[0].file.id
        run_a = run.id
    with client.run(b, "b1") as run:
        assert len(run.claim_files(10, source=mid)) == 2
        out = run.record_outputs([(f"out-{uniq}", "o0")])[0].file

    up = client.lineage(file_id=out.id, direction="UPSTREAM", max_depth=16,
                        page_size=1)
    assert _edges(up) == [
        (1, "OUTPUT", b, "o0"), (2, "INPUT", b, "m0"), (2, "INPUT", b, "m1"),
        (3, "OUTPUT", a, "m0"), (3, "OUTPUT", a, "m1"), (4, "INPUT", a, "in0")]
    assert sorted(f.file_name for f in up.files) == ["in0", "m0", "m1", "o0"]
    assert not up.next_page_token
    down = client.lineage(run_id=run_a, direction="DOWNSTREAM", max_depth=1)
    assert _edges(down) == [(1, "OUTPUT", a, "m0"), (1, "OUTPUT", a, "m1")]


def test_outputs_of_a_finished_run_are_refused(client, uniq):
    task = client.ensure_task(f"t_{uniq}").name
    run = client.run(task, "b1", heartbeat=False)
    run.start()
    run.finish()
    with pytest.raises(metad_client.RunLost):
        run.record_outputs([(f"o-{uniq}", "late")])


def test_lineage_refuses_a_depth_of_a_billion(client, uniq):
    with pytest.raises(grpc.RpcError) as e:
        client.lineage(file_id=1, max_depth=10**9)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_depth" in e.value.details()
