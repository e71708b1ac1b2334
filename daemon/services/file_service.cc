#include "daemon/services/file_service.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "daemon/rpc/page_token.h"
#include "daemon/rpc/selector.h"
#include "daemon/rpc/validation.h"
#include "daemon/services/file_spec_check.h"

namespace metad::daemon {
namespace {

using metad::v1::FileSpec;
using metad::v1::FileStatus;

// A ListFiles page stops growing past this many bytes (files can carry up to
// ~280 KiB of attributes each), so a page stays below gRPC's default 4 MiB
// receive limit; the next page continues after the last file returned.
constexpr size_t kMaxListResponseBytes = 2 << 20;

// Empty means "any source"; otherwise a valid source.
absl::Status CheckOptionalSource(const std::string& source) {
  if (source.empty()) return absl::OkStatus();
  return CheckText("source", source, 1, kMaxSourceBytes);
}

absl::Status CheckEnumKnown(absl::string_view field, FileStatus status) {
  if (!metad::v1::FileStatus_IsValid(status)) {
    return metad::InvalidFieldError(
        field,
        absl::StrCat("unknown FileStatus value ", static_cast<int>(status)));
  }
  return absl::OkStatus();
}

// The change policy of a registration, and who asks (CallRunner::ActorOf:
// carried per file, since group commit shares one transaction among
// callers).
absl::StatusOr<store::ChangeIntent> IntentOf(std::string actor,
                                             metad::v1::ChangePolicy policy) {
  if (!metad::v1::ChangePolicy_IsValid(policy)) {
    return metad::InvalidFieldError(
        "change_policy",
        absl::StrCat("unknown ChangePolicy value ", static_cast<int>(policy)));
  }
  return store::ChangeIntent{policy == metad::v1::CHANGE_POLICY_REPROCESS,
                             std::move(actor)};
}

bool HasReprocessFilter(const metad::v1::ReprocessFilesRequest& request) {
  return request.status() != metad::v1::FILE_STATUS_UNSPECIFIED ||
         !request.source().empty() || request.run_id() != 0 ||
         request.producer_run_id() != 0 || request.has_updated_after() ||
         request.has_updated_before();
}

// ReprocessFiles' filter fields into `filter`; INVALID_ARGUMENT naming the
// field that is malformed.
absl::Status ReprocessFilterOf(const metad::v1::ReprocessFilesRequest& request,
                               store::ReprocessFilter* filter) {
  RETURN_IF_ERROR(CheckEnumKnown("status", request.status()));
  if (request.status() != metad::v1::FILE_STATUS_UNSPECIFIED) {
    if (request.status() != metad::v1::FILE_STATUS_SUCCESS &&
        request.status() != metad::v1::FILE_STATUS_ERROR) {
      return metad::InvalidFieldError(
          "status",
          absl::StrCat("must be FILE_STATUS_SUCCESS, FILE_STATUS_ERROR or "
                       "unset for both (got ",
                       metad::v1::FileStatus_Name(request.status()), ")"));
    }
    filter->status = request.status();
  }
  RETURN_IF_ERROR(CheckOptionalSource(request.source()));
  if (!request.source().empty()) filter->source = request.source();
  if (request.run_id() != 0) {
    RETURN_IF_ERROR(CheckId("run_id", request.run_id()));
    filter->run_id = request.run_id();
  }
  if (request.producer_run_id() != 0) {
    RETURN_IF_ERROR(CheckId("producer_run_id", request.producer_run_id()));
    filter->producer_run_id = request.producer_run_id();
  }
  if (request.has_updated_after()) {
    RETURN_IF_ERROR(CheckTimestamp("updated_after", request.updated_after()));
    filter->updated_after_us = TimestampToMicros(request.updated_after());
  }
  if (request.has_updated_before()) {
    RETURN_IF_ERROR(CheckTimestamp("updated_before", request.updated_before()));
    filter->updated_before_us = TimestampToMicros(request.updated_before());
  }
  if (filter->updated_after_us && filter->updated_before_us &&
      *filter->updated_after_us >= *filter->updated_before_us) {
    return metad::InvalidFieldError(
        "updated_before", "must be later than updated_after (empty range)");
  }
  return absl::OkStatus();
}

}  // namespace

FileServiceImpl::FileServiceImpl(store::Database* db, CallRunner* runner)
    : runner_(runner),
      store_(db),
      register_batcher_(&store_),
      claim_batcher_(&store_),
      lineage_(db) {}

grpc::ServerUnaryReactor* FileServiceImpl::RegisterFile(
    grpc::CallbackServerContext* context,
    const metad::v1::RegisterFileRequest* request,
    metad::v1::RegisterFileResponse* response) {
  // Validated here on gRPC's thread; stored by the batcher, which may share
  // the transaction with concurrent RegisterFile calls.
  return runner_->RunAsync(
      context, "RegisterFile",
      [=](store::TxOptions options, CallRunner::Done done) {
        absl::Status valid = [&]() -> absl::Status {
          if (!request->has_file()) {
            return metad::InvalidFieldError("file", "required");
          }
          RETURN_IF_ERROR(CheckFileSpec("file.", request->file()));
          return CheckRequestId("request_id", request->request_id());
        }();
        absl::StatusOr<store::ChangeIntent> intent =
            IntentOf(runner_->ActorOf(*context), request->change_policy());
        if (valid.ok()) valid = intent.status();
        if (!valid.ok()) {
          done(valid);
          return;
        }
        register_batcher_.Submit(
            std::move(options), {&request->file()}, request->request_id(),
            *std::move(intent),
            Answer<std::vector<store::RegisteredFile>>(
                std::move(done), [response](auto& results) {
                  *response->mutable_file() = std::move(results[0].file);
                  response->set_created(results[0].created);
                  response->set_changed(results[0].changed);
                }));
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::RegisterFiles(
    grpc::CallbackServerContext* context,
    const metad::v1::RegisterFilesRequest* request,
    metad::v1::RegisterFilesResponse* response) {
  return runner_->Run(
      context, "RegisterFiles",
      [=](const store::TxOptions& options) -> absl::Status {
        if (request->files_size() < 1 ||
            request->files_size() > kMaxRegisterBatch) {
          return metad::InvalidFieldError(
              "files",
              absl::StrCat("must hold 1..", kMaxRegisterBatch, " files (got ",
                           request->files_size(), ")"));
        }
        std::vector<const FileSpec*> specs;
        specs.reserve(request->files_size());
        for (int i = 0; i < request->files_size(); ++i) {
          RETURN_IF_ERROR(CheckFileSpec(absl::StrCat("files[", i, "]."),
                                        request->files(i)));
          specs.push_back(&request->files(i));
        }
        RETURN_IF_ERROR(CheckRequestId("request_id", request->request_id()));
        ASSIGN_OR_RETURN(store::ChangeIntent intent,
                         IntentOf(runner_->ActorOf(*context), request->change_policy()));
        ASSIGN_OR_RETURN(
            auto results,
            store_.Register(options, specs, request->request_id(), intent));
        int created = 0;
        int changed = 0;
        for (auto& result : results) {
          auto* out = response->add_results();
          *out->mutable_file() = std::move(result.file);
          out->set_created(result.created);
          out->set_changed(result.changed);
          created += result.created ? 1 : 0;
          changed += result.changed ? 1 : 0;
        }
        response->set_created_count(created);
        response->set_changed_count(changed);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::GetFile(
    grpc::CallbackServerContext* context,
    const metad::v1::GetFileRequest* request, metad::v1::File* response) {
  return runner_->Run(
      context, "GetFile", [=](const store::TxOptions& options) -> absl::Status {
        const bool by_name =
            !request->source().empty() || !request->file_name().empty();
        if (request->id() != 0) {
          RETURN_IF_ERROR(CheckId("id", request->id()));
          if (by_name) {
            return metad::InvalidFieldError(
                "id", "give either id, or source and file_name, not both");
          }
          ASSIGN_OR_RETURN(*response, store_.Get(options, request->id()));
          return absl::OkStatus();
        }
        if (!by_name) {
          return metad::InvalidFieldError("id",
                                          "required (or source and file_name)");
        }
        RETURN_IF_ERROR(
            CheckText("source", request->source(), 1, kMaxSourceBytes));
        RETURN_IF_ERROR(
            CheckText("file_name", request->file_name(), 1, kMaxFileNameBytes));
        ASSIGN_OR_RETURN(*response, store_.GetByName(options, request->source(),
                                                     request->file_name()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::ListFiles(
    grpc::CallbackServerContext* context,
    const metad::v1::ListFilesRequest* request,
    metad::v1::ListFilesResponse* response) {
  return runner_->Run(
      context, "ListFiles",
      [=](const store::TxOptions& options) -> absl::Status {
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        store::FileFilter filter;
        RETURN_IF_ERROR(CheckEnumKnown("status", request->status()));
        if (request->status() != metad::v1::FILE_STATUS_UNSPECIFIED) {
          filter.status = request->status();
        }
        RETURN_IF_ERROR(CheckOptionalSource(request->source()));
        if (!request->source().empty()) filter.source = request->source();
        if (request->run_id() != 0) {
          RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
          filter.run_id = request->run_id();
        }
        if (request->has_created_after()) {
          RETURN_IF_ERROR(
              CheckTimestamp("created_after", request->created_after()));
          filter.created_after_us = TimestampToMicros(request->created_after());
        }
        if (request->has_created_before()) {
          RETURN_IF_ERROR(
              CheckTimestamp("created_before", request->created_before()));
          filter.created_before_us =
              TimestampToMicros(request->created_before());
        }
        ASSIGN_OR_RETURN(
            filter.attributes,
            ParseSelector("attribute_selector", request->attribute_selector(),
                          SelectorKind::kAttributes));
        // The fingerprint covers the selector's text: a token only pages
        // the selector it was issued for.
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after_id,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        ASSIGN_OR_RETURN(auto files,
                         store_.List(options, filter, after_id, page_size + 1));
        bool more = static_cast<int>(files.size()) > page_size;
        size_t bytes = 0;
        for (int i = 0; i < static_cast<int>(files.size()) && i < page_size;
             ++i) {
          bytes += files[i].ByteSizeLong();
          if (i > 0 && bytes > kMaxListResponseBytes) {
            more = true;
            break;
          }
          *response->add_files() = std::move(files[i]);
        }
        if (more) {
          response->set_next_page_token(EncodePageToken(
              response->files(response->files_size() - 1).id(), fingerprint));
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::ClaimFiles(
    grpc::CallbackServerContext* context,
    const metad::v1::ClaimFilesRequest* request,
    metad::v1::ClaimFilesResponse* response) {
  // Validated here on gRPC's thread; claimed by the batcher, which may share
  // the transaction and the scan with concurrent ClaimFiles calls.
  return runner_->RunAsync(
      context, "ClaimFiles",
      [=](store::TxOptions options, CallRunner::Done done) {
        absl::Status valid = [&]() -> absl::Status {
          RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
          RETURN_IF_ERROR(CheckOptionalSource(request->source()));
          if (request->limit() < 1 || request->limit() > kMaxClaimLimit) {
            return metad::InvalidFieldError(
                "limit", absl::StrCat("must be 1..", kMaxClaimLimit, " (got ",
                                      request->limit(), ")"));
          }
          return CheckRequestId("request_id", request->request_id());
        }();
        if (!valid.ok()) {
          done(valid);
          return;
        }
        claim_batcher_.Submit(
            std::move(options),
            store::ClaimCall{request->run_id(), request->source(),
                             request->limit(), request->request_id()},
            Answer<store::ClaimResult>(
                std::move(done), [response](store::ClaimResult& claimed) {
                  for (auto& file : claimed.files) {
                    *response->add_files() = std::move(file);
                  }
                  response->set_replayed(claimed.replayed);
                }));
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::CompleteFile(
    grpc::CallbackServerContext* context,
    const metad::v1::CompleteFileRequest* request,
    metad::v1::CompleteFileResponse* response) {
  return runner_->Run(
      context, "CompleteFile",
      [=](const store::TxOptions& options) -> absl::Status {
        RETURN_IF_ERROR(CheckId("file_id", request->file_id()));
        RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
        const FileStatus status = request->status();
        if (status != metad::v1::FILE_STATUS_SUCCESS &&
            status != metad::v1::FILE_STATUS_ERROR) {
          const std::string got =
              metad::v1::FileStatus_IsValid(status)
                  ? metad::v1::FileStatus_Name(status)
                  : std::to_string(static_cast<int>(status));
          return metad::InvalidFieldError(
              "status",
              absl::StrCat(
                  "must be FILE_STATUS_SUCCESS or FILE_STATUS_ERROR (got ", got,
                  ")"));
        }
        RETURN_IF_ERROR(CheckText("error_message", request->error_message(), 0,
                                  kMaxMessageBytes));
        if (status == metad::v1::FILE_STATUS_SUCCESS &&
            !request->error_message().empty()) {
          return metad::InvalidFieldError("error_message",
                                          "must be empty when status is "
                                          "FILE_STATUS_SUCCESS");
        }
        ASSIGN_OR_RETURN(
            store::CompleteResult completed,
            store_.Complete(options, request->file_id(), request->run_id(),
                            status, request->error_message()));
        *response->mutable_file() = std::move(completed.file);
        response->set_replayed(completed.replayed);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::ResetFile(
    grpc::CallbackServerContext* context,
    const metad::v1::ResetFileRequest* request,
    metad::v1::ResetFileResponse* response) {
  return runner_->Run(
      context, "ResetFile",
      [=](const store::TxOptions& options) -> absl::Status {
        RETURN_IF_ERROR(CheckId("file_id", request->file_id()));
        RETURN_IF_ERROR(
            CheckText("reason", request->reason(), 0, kMaxMessageBytes));
        ASSIGN_OR_RETURN(
            *response->mutable_file(),
            store_.Reset(options, request->file_id(), request->reason()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::ReprocessFiles(
    grpc::CallbackServerContext* context,
    const metad::v1::ReprocessFilesRequest* request,
    metad::v1::ReprocessFilesResponse* response) {
  return runner_->Run(
      context, "ReprocessFiles",
      [=](const store::TxOptions& options) -> absl::Status {
        RETURN_IF_ERROR(
            CheckText("reason", request->reason(), 0, kMaxMessageBytes));
        if (request->limit() < 0 || request->limit() > kMaxReprocessLimit) {
          return metad::InvalidFieldError(
              "limit", absl::StrCat("must be 0..", kMaxReprocessLimit,
                                    " (0 means ", kMaxReprocessLimit, "; got ",
                                    request->limit(), ")"));
        }
        const bool by_filter = HasReprocessFilter(*request);
        store::Reprocessed done;
        if (request->file_ids_size() > 0) {
          if (by_filter) {
            return metad::InvalidFieldError(
                "file_ids", "give either file_ids or filter fields, not both");
          }
          if (request->file_ids_size() > kMaxReprocessLimit) {
            return metad::InvalidFieldError(
                "file_ids",
                absl::StrCat("must hold 1..", kMaxReprocessLimit, " ids (got ",
                             request->file_ids_size(), ")"));
          }
          std::vector<int64_t> ids;
          for (int i = 0; i < request->file_ids_size(); ++i) {
            RETURN_IF_ERROR(CheckId(absl::StrCat("file_ids[", i, "]"),
                                    request->file_ids(i)));
            ids.push_back(request->file_ids(i));
          }
          ASSIGN_OR_RETURN(done,
                           store_.ReprocessIds(options, ids, request->reason(),
                                               runner_->ActorOf(*context)));
        } else {
          if (!by_filter) {
            return metad::InvalidFieldError(
                "file_ids",
                "required, or at least one filter field (status, source, "
                "run_id, producer_run_id, updated_after, updated_before)");
          }
          store::ReprocessFilter filter;
          RETURN_IF_ERROR(ReprocessFilterOf(*request, &filter));
          const int limit =
              request->limit() == 0 ? kMaxReprocessLimit : request->limit();
          ASSIGN_OR_RETURN(done, store_.ReprocessFiltered(
                                     options, filter, limit, request->reason(),
                                     runner_->ActorOf(*context)));
        }
        for (int64_t id : done.file_ids) response->add_file_ids(id);
        response->set_more(done.more);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* FileServiceImpl::ListFileEvents(
    grpc::CallbackServerContext* context,
    const metad::v1::ListFileEventsRequest* request,
    metad::v1::ListFileEventsResponse* response) {
  return runner_->Run(
      context, "ListFileEvents",
      [=](const store::TxOptions& options) -> absl::Status {
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        if (request->file_id() != 0) {
          RETURN_IF_ERROR(CheckId("file_id", request->file_id()));
        }
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after_id,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        ASSIGN_OR_RETURN(auto events,
                         store_.ListEvents(options, request->file_id(),
                                           after_id, page_size + 1));
        const bool more = static_cast<int>(events.size()) > page_size;
        if (more) {
          events.resize(page_size);
          response->set_next_page_token(
              EncodePageToken(events.back().id(), fingerprint));
        }
        for (auto& event : events) *response->add_events() = std::move(event);
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
