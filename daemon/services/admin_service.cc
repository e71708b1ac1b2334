#include "daemon/services/admin_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "daemon/background/retention.h"
#include "daemon/rpc/limits.h"

namespace metad::daemon {
namespace {

constexpr int32_t kDefaultBatchSize = 1000;

absl::StatusOr<PruneOptions> DecodePrune(
    const metad::v1::PruneHistoryRequest& request) {
  PruneOptions options;
  if (!request.has_older_than()) {
    return absl::InvalidArgumentError(
        "older_than: required (at least 1 hour, e.g. 2592000s for 30 days)");
  }
  const google::protobuf::Duration& d = request.older_than();
  if (d.seconds() < kMinOlderThanSeconds ||
      d.seconds() > kMaxOlderThanSeconds || d.nanos() < 0 ||
      d.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(
        "older_than: must be from ", kMinOlderThanSeconds, " s (1 hour) to ",
        kMaxOlderThanSeconds, " s (100 years) (got ", d.seconds(), " s)"));
  }
  options.older_than =
      absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  if (request.batch_size() < 0 || request.batch_size() > kMaxPruneBatchSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size: must be 0 (", kDefaultBatchSize, ") or 1..",
                     kMaxPruneBatchSize, " (got ", request.batch_size(), ")"));
  }
  options.batch_size =
      request.batch_size() == 0 ? kDefaultBatchSize : request.batch_size();
  if (request.max_batches() < 0 || request.max_batches() > kMaxPruneBatches) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batches: must be 0 (no limit) or 1..",
                     kMaxPruneBatches, " (got ", request.max_batches(), ")"));
  }
  options.max_batches = request.max_batches();
  options.dry_run = request.dry_run();
  return options;
}

}  // namespace

AdminServiceImpl::AdminServiceImpl(store::Database* db, CallRunner* runner)
    : store_(db), runner_(runner) {}

grpc::ServerUnaryReactor* AdminServiceImpl::PruneHistory(
    grpc::CallbackServerContext* context,
    const metad::v1::PruneHistoryRequest* request,
    metad::v1::PruneHistoryResponse* response) {
  return runner_->Run(
      context, "PruneHistory",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        ASSIGN_OR_RETURN(PruneOptions options, DecodePrune(*request));
        ASSIGN_OR_RETURN(PruneResult result,
                         daemon::PruneHistory(&store_, options, absl::Now(),
                                              o.deadline, o.cancelled));
        MicrosToTimestamp(absl::ToUnixMicros(result.cutoff),
                          response->mutable_cutoff());
        response->set_runs_deleted(result.counts.runs);
        response->set_run_events_deleted(result.counts.run_events);
        response->set_file_events_deleted(result.counts.file_events);
        response->set_batches(result.batches);
        response->set_complete(result.complete);
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
