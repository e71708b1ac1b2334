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

    changed = Spec(source=source, file_name="sales_report_2024-03.csv",
                   checksum="sha256:other", size_bytes=1)
    again = client.files.RegisterFile(files_pb2.RegisterFileRequest(file=changed))
    assert not again.created
    assert again.file == first.file  # unchanged, not overwritten

    got = client.files.GetFile(files_pb2.GetFileRequest(
        source=source, file_name="sales_report_2024-03.csv"))
    assert got == first.file


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
