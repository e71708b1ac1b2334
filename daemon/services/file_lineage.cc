// FileService.GetLineage: the runs and files upstream and/or downstream of a
// file or a run (store/lineage_store.h has the rules of the walk).
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/page_token.h"
#include "daemon/rpc/validation.h"
#include "daemon/services/file_service.h"

namespace metad::daemon {
namespace {

// Exactly one of file_id and run_id, positive.
absl::Status CheckLineageStart(const metad::v1::GetLineageRequest& request) {
  if (request.file_id() == 0 && request.run_id() == 0) {
    return metad::InvalidFieldError(
        "file_id", "give exactly one of file_id and run_id (got neither)");
  }
  if (request.file_id() != 0 && request.run_id() != 0) {
    return metad::InvalidFieldError(
        "file_id", "give exactly one of file_id and run_id, not both");
  }
  if (request.file_id() != 0) return CheckId("file_id", request.file_id());
  return CheckId("run_id", request.run_id());
}

// A page stops growing past this many bytes of files and runs (a file can
// carry ~280 KiB of attributes), so that it stays below gRPC's default
// 4 MiB receive limit, as ListFiles does; the next page continues after the
// last edge kept.
constexpr size_t kMaxLineageResponseBytes = 2 << 20;

// Keeps the edges of `page` (at least one) whose files and runs fit in
// kMaxLineageResponseBytes, and the files and runs they name (and the
// start, kept whatever its size).
// True when edges were dropped.
bool FitPage(store::LineagePage* page) {
  size_t bytes = 0;
  for (const auto& f : page->files) bytes += f.ByteSizeLong();
  for (const auto& r : page->runs) bytes += r.ByteSizeLong();
  if (bytes <= kMaxLineageResponseBytes || page->edges.size() <= 1) {
    return false;
  }
  absl::flat_hash_map<int64_t, const metad::v1::File*> files;
  absl::flat_hash_map<int64_t, const metad::v1::Run*> runs;
  for (const auto& f : page->files) files[f.id()] = &f;
  for (const auto& r : page->runs) runs[r.id()] = &r;
  absl::flat_hash_set<int64_t> kept_files, kept_runs;
  bytes = 0;
  size_t kept = 0;
  for (const auto& e : page->edges) {
    size_t more = 0;
    if (!kept_files.contains(e.file_id()) && files.contains(e.file_id())) {
      more += files[e.file_id()]->ByteSizeLong();
    }
    if (!kept_runs.contains(e.run_id()) && runs.contains(e.run_id())) {
      more += runs[e.run_id()]->ByteSizeLong();
    }
    if (kept > 0 && bytes + more > kMaxLineageResponseBytes) break;
    bytes += more;
    kept_files.insert(e.file_id());
    kept_runs.insert(e.run_id());
    ++kept;
  }
  if (kept == page->edges.size()) return false;
  page->edges.resize(kept);
  auto drop_files = [&](const metad::v1::File& f) {
    return !kept_files.contains(f.id()) && f.id() != page->start_file_id;
  };
  auto drop_runs = [&](const metad::v1::Run& r) {
    return !kept_runs.contains(r.id()) && r.id() != page->start_run_id;
  };
  page->files.erase(
      std::remove_if(page->files.begin(), page->files.end(), drop_files),
      page->files.end());
  page->runs.erase(
      std::remove_if(page->runs.begin(), page->runs.end(), drop_runs),
      page->runs.end());
  return true;
}

}  // namespace

grpc::ServerUnaryReactor* FileServiceImpl::GetLineage(
    grpc::CallbackServerContext* context,
    const metad::v1::GetLineageRequest* request,
    metad::v1::GetLineageResponse* response) {
  return runner_->Run(
      context, "GetLineage",
      [=](const store::TxOptions& options) -> absl::Status {
        RETURN_IF_ERROR(CheckLineageStart(*request));
        metad::v1::LineageDirection direction = request->direction();
        if (!metad::v1::LineageDirection_IsValid(direction)) {
          return metad::InvalidFieldError(
              "direction", absl::StrCat("unknown LineageDirection value ",
                                        static_cast<int>(direction)));
        }
        if (direction == metad::v1::LINEAGE_DIRECTION_UNSPECIFIED) {
          direction = metad::v1::LINEAGE_DIRECTION_BOTH;
        }
        int32_t depth = request->max_depth();
        if (depth < 0 || depth > kMaxLineageDepth) {
          return metad::InvalidFieldError(
              "max_depth",
              absl::StrCat("must be 0 (", kDefaultLineageDepth, ") or 1..",
                           kMaxLineageDepth, " steps (got ", depth, ")"));
        }
        if (depth == 0) depth = kDefaultLineageDepth;
        int32_t page_size = 0;
        RETURN_IF_ERROR(CheckPageSize("page_size", request->page_size(),
                                      kDefaultLineagePageSize,
                                      kMaxLineagePageSize, &page_size));
        // The token is bound to the walk as it runs (defaults filled in),
        // not to how the request spelled it.
        metad::v1::GetLineageRequest walk;
        walk.set_file_id(request->file_id());
        walk.set_run_id(request->run_id());
        walk.set_direction(direction);
        walk.set_max_depth(depth);
        const uint64_t fingerprint = FilterFingerprint(walk);
        ASSIGN_OR_RETURN(std::vector<int64_t> key,
                         DecodeKeyPageToken("page_token", request->page_token(),
                                            fingerprint, 4));
        store::LineageKey after;
        if (!key.empty()) {
          if (key[0] > kMaxLineageDepth ||
              !metad::v1::LineageEdgeKind_IsValid(static_cast<int>(key[1]))) {
            return metad::InvalidFieldError(
                "page_token", "is not a page token issued by metad");
          }
          after.depth = static_cast<int32_t>(key[0]);
          after.kind = static_cast<metad::v1::LineageEdgeKind>(key[1]);
          after.run_id = key[2];
          after.file_id = key[3];
        }
        store::LineageQuery query;
        query.file_id = request->file_id();
        query.run_id = request->run_id();
        query.upstream = direction != metad::v1::LINEAGE_DIRECTION_DOWNSTREAM;
        query.downstream = direction != metad::v1::LINEAGE_DIRECTION_UPSTREAM;
        query.max_depth = depth;
        query.max_edges = kMaxLineageEdges;
        ASSIGN_OR_RETURN(store::LineagePage page,
                         lineage_.GetLineage(options, query, after, page_size,
                                             /*with_start=*/key.empty()));
        if (FitPage(&page)) page.more = true;
        for (auto& edge : page.edges) *response->add_edges() = std::move(edge);
        for (auto& file : page.files) *response->add_files() = std::move(file);
        for (auto& run : page.runs) *response->add_runs() = std::move(run);
        if (page.more) {
          const metad::v1::LineageEdge& last =
              response->edges(response->edges_size() - 1);
          response->set_next_page_token(EncodeKeyPageToken(
              {last.depth(), last.kind(), last.run_id(), last.file_id()},
              fingerprint));
        }
        if (page.truncated) {
          // The API has no field for it: say it in a trailer (documented
          // in FileServiceImpl::GetLineage).
          context->AddTrailingMetadata(kLineageTruncatedTrailer, "true");
        }
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
