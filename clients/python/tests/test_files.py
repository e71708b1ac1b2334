"""File registration against a real metad: a file is remembered once."""

import grpc
import pytest

from metad_client import files_pb2

Spec = files_pb2.FileSpec


def test_register_file_twice_returns_the_stored_record(client, uniq):
    source = f"s3://sales-{uniq}"
    spec = Spec(source=source, file_name="sales_report_2024-03.csv",
                checksum="sha256:ab", size_bytes=1234, attributes={"month": "2024-03"})
    first = client.files.RegisterFile(files_pb2.RegisterFileRequest(file=spec))
    assert first.created
    assert first.file.id > 0
    assert first.file.status == files_pb2.FILE_STATUS_NEW
    assert first.file.attributes["month"] == "2024-03"

    same = Spec(source=source, file_name="sales_report_2024-03.csv",
                checksum="sha256:ab")
    again = client.files.RegisterFile(files_pb2.RegisterFileRequest(file=same))
    assert not again.created
    assert not again.changed
    assert again.file == first.file  # unchanged, not overwritten

    # Other content: a new version of the same file (a CHANGED event).
    changed = Spec(source=source, file_name="sales_report_2024-03.csv",
                   checksum="sha256:other", size_bytes=1)
    newer = client.files.RegisterFile(files_pb2.RegisterFileRequest(file=changed))
    assert not newer.created
    assert newer.changed
    assert newer.file.id == first.file.id
    assert (newer.file.version, newer.file.checksum, newer.file.size_bytes) == (
        2, "sha256:other", 1)

    got = client.files.GetFile(files_pb2.GetFileRequest(
        source=source, file_name="sales_report_2024-03.csv"))
    assert got == newer.file


def test_register_files_reports_per_item_whether_new(client, uniq):
    source = f"s3://batch-{uniq}"
    client.files.RegisterFile(files_pb2.RegisterFileRequest(
        file=Spec(source=source, file_name="old.csv")))
    response = client.files.RegisterFiles(files_pb2.RegisterFilesRequest(files=[
        Spec(source=source, file_name="a.csv"),
        Spec(source=source, file_name="old.csv"),
        Spec(source=source, file_name="b.csv"),
        Spec(source=source, file_name="a.csv"),  # twice in one call
    ]))
    assert [r.created for r in response.results] == [True, False, True, False]
    assert response.created_count == 2
    assert response.results[0].file.id == response.results[3].file.id
    names = [r.file.file_name for r in response.results]
    assert names == ["a.csv", "old.csv", "b.csv", "a.csv"]


def test_registering_a_claimed_file_again_does_not_reset_it(client, uniq):
    source = f"s3://claimed-{uniq}"
    client.ensure_task(f"t_{uniq}")
    client.files.RegisterFile(files_pb2.RegisterFileRequest(
        file=Spec(source=source, file_name="x.csv")))
    with client.run(task=f"t_{uniq}", batch_id=f"b_{uniq}") as run:
        [claimed] = run.claim_files(10, source=source)
        again = client.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=Spec(source=source, file_name="x.csv")))
        assert not again.created
        assert again.file.status == files_pb2.FILE_STATUS_PROCESSING
        assert again.file.run_id == run.id
    done = client.files.RegisterFile(files_pb2.RegisterFileRequest(
        file=Spec(source=source, file_name="x.csv")))
    assert not done.created
    assert done.file.status == files_pb2.FILE_STATUS_SUCCESS
    assert done.file.id == claimed.id


def test_malformed_spec_is_invalid_argument_and_not_retried(client):
    with pytest.raises(grpc.RpcError) as err:
        client.files.RegisterFile(files_pb2.RegisterFileRequest(
            file=Spec(source="", file_name="x")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "source" in err.value.details()


def test_changed_content_and_reprocess_files(client, uniq):
    from metad_client import errors
    source = f"s3://versions-{uniq}"
    client.ensure_task(f"v_{uniq}")
    client.files.RegisterFile(files_pb2.RegisterFileRequest(
        file=Spec(source=source, file_name="x.csv", checksum="c1")))
    # A NEW file is not final: refused, nothing changes.
    first = client.files.GetFile(files_pb2.GetFileRequest(
        source=source, file_name="x.csv"))
    with pytest.raises(grpc.RpcError) as err:
        client.files.ReprocessFiles(files_pb2.ReprocessFilesRequest(
            file_ids=[first.id]))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert errors.error_details(err.value).error_info.reason == "FILE_NOT_FINAL"

    with client.run(task=f"v_{uniq}", batch_id=f"b_{uniq}") as run:
        run.claim_files(10, source=source)
    # New content, REPROCESS: the SUCCESS file is NEW again at version 2.
    changed = client.files.RegisterFile(files_pb2.RegisterFileRequest(
        file=Spec(source=source, file_name="x.csv", checksum="c2"),
        change_policy=files_pb2.CHANGE_POLICY_REPROCESS))
    assert changed.changed
    assert (changed.file.version, changed.file.status) == (
        2, files_pb2.FILE_STATUS_NEW)

    with client.run(task=f"v_{uniq}", batch_id=f"b2_{uniq}") as run:
        run.claim_files(10, source=source)
    answer = client.files.ReprocessFiles(files_pb2.ReprocessFilesRequest(
        source=source, reason="again"))
    assert list(answer.file_ids) == [first.id]
    assert not answer.more
    events = client.files.ListFileEvents(files_pb2.ListFileEventsRequest(
        file_id=first.id)).events
    assert events[-1].kind == "REPROCESSED"
    assert events[-1].message == "again"
    change = [e for e in events if e.kind == "CHANGED"][0]
    assert (change.previous.checksum, change.current.checksum) == ("c1", "c2")
