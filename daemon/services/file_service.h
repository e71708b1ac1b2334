// metad.v1.FileService: decode, validate, call the file store, map status.
//
// Every RPC answers INVALID_ARGUMENT naming the field (for RegisterFiles the
// item, e.g. "files[3].file_name: ...") for malformed input, plus the codes
// of store::FileStore listed per method there, plus the transport codes of
// Database::Transact (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, ...).
#ifndef METAD_DAEMON_SERVICES_FILE_SERVICE_H_
#define METAD_DAEMON_SERVICES_FILE_SERVICE_H_

#include "daemon/rpc/call_runner.h"
#include "metad/v1/files.grpc.pb.h"
#include "store/claim_batcher.h"
#include "store/database.h"
#include "store/file_store.h"
#include "store/lineage_store.h"
#include "store/register_batcher.h"

namespace metad::daemon {

// Trailing metadata of a GetLineage answer whose walk hit the edge cap
// (limits.h kMaxLineageEdges): the graph is cut there.
inline constexpr char kLineageTruncatedTrailer[] = "metad-lineage-truncated";

class FileServiceImpl final : public metad::v1::FileService::CallbackService {
 public:
  FileServiceImpl(store::Database* db, CallRunner* runner);

  // OK with the stored record, created and changed; INVALID_ARGUMENT for an
  // unknown change_policy.
  grpc::ServerUnaryReactor* RegisterFile(
      grpc::CallbackServerContext* context,
      const metad::v1::RegisterFileRequest* request,
      metad::v1::RegisterFileResponse* response) override;

  // 1..1000 files in one transaction; INVALID_ARGUMENT for an empty or
  // oversized list or any malformed item (nothing is stored then).
  grpc::ServerUnaryReactor* RegisterFiles(
      grpc::CallbackServerContext* context,
      const metad::v1::RegisterFilesRequest* request,
      metad::v1::RegisterFilesResponse* response) override;

  // By id, or by source and file_name (not both); NOT_FOUND if absent.
  grpc::ServerUnaryReactor* GetFile(grpc::CallbackServerContext* context,
                                    const metad::v1::GetFileRequest* request,
                                    metad::v1::File* response) override;

  // INVALID_ARGUMENT for an unknown status number, a negative run_id, an
  // invalid time, a bad page size, or a page token that is forged or was
  // issued for other filters.
  grpc::ServerUnaryReactor* ListFiles(
      grpc::CallbackServerContext* context,
      const metad::v1::ListFilesRequest* request,
      metad::v1::ListFilesResponse* response) override;

  // NOT_FOUND unknown run; FAILED_PRECONDITION run ended or lease lapsed;
  // INVALID_ARGUMENT limit outside 1..1000.
  grpc::ServerUnaryReactor* ClaimFiles(
      grpc::CallbackServerContext* context,
      const metad::v1::ClaimFilesRequest* request,
      metad::v1::ClaimFilesResponse* response) override;

  // NOT_FOUND unknown file or run; FAILED_PRECONDITION the file is not
  // PROCESSING, another run holds it, the run ended or its lease lapsed;
  // INVALID_ARGUMENT a status other than SUCCESS/ERROR, or an error_message
  // with SUCCESS.
  grpc::ServerUnaryReactor* CompleteFile(
      grpc::CallbackServerContext* context,
      const metad::v1::CompleteFileRequest* request,
      metad::v1::CompleteFileResponse* response) override;

  // NOT_FOUND unknown file; FAILED_PRECONDITION the file is not ERROR.
  grpc::ServerUnaryReactor* ResetFile(
      grpc::CallbackServerContext* context,
      const metad::v1::ResetFileRequest* request,
      metad::v1::ResetFileResponse* response) override;

  // By file_ids (1..1000) or by a filter (at least one field), not both:
  // INVALID_ARGUMENT otherwise, or for a bad id, status, time range, limit
  // or reason. NOT_FOUND unknown id; FAILED_PRECONDITION (FILE_NOT_FINAL) an
  // id that is NEW or PROCESSING.
  grpc::ServerUnaryReactor* ReprocessFiles(
      grpc::CallbackServerContext* context,
      const metad::v1::ReprocessFilesRequest* request,
      metad::v1::ReprocessFilesResponse* response) override;

  // NOT_FOUND when file_id names no file.
  grpc::ServerUnaryReactor* ListFileEvents(
      grpc::CallbackServerContext* context,
      const metad::v1::ListFileEventsRequest* request,
      metad::v1::ListFileEventsResponse* response) override;

  // The lineage graph around a file or a run (file_lineage.cc).
  // INVALID_ARGUMENT for neither or both of file_id and run_id, an unknown
  // direction, max_depth outside 0..16, page_size outside 0..5000, or a
  // page token of another walk; NOT_FOUND (ResourceInfo) for an unknown
  // start. The walk stops after 100000 edges: the answers then carry the
  // trailer kLineageTruncatedTrailer = "true".
  grpc::ServerUnaryReactor* GetLineage(
      grpc::CallbackServerContext* context,
      const metad::v1::GetLineageRequest* request,
      metad::v1::GetLineageResponse* response) override;

 private:
  CallRunner* runner_;
  store::FileStore store_;
  // Single-file registrations share transactions (group commit).
  store::RegisterBatcher register_batcher_;
  // Concurrent claims share a transaction and one scan per source.
  store::ClaimBatcher claim_batcher_;
  store::LineageStore lineage_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_FILE_SERVICE_H_
