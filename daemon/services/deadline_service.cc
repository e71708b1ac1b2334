#include "daemon/services/deadline_service.h"

#include "common/error_details.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "daemon/rpc/duration_check.h"
#include "daemon/rpc/limits.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

// The Unix epoch .. 9999-12-31: a deadline before 1970 is a mistake.
constexpr int64_t kMaxDeadlineSeconds = int64_t{253402300799};

}  // namespace

DeadlineServiceImpl::DeadlineServiceImpl(store::Database* db,
                                         CallRunner* runner)
    : store_(db), runner_(runner) {}

grpc::ServerUnaryReactor* DeadlineServiceImpl::SetBatchDeadline(
    grpc::CallbackServerContext* context,
    const metad::v1::SetBatchDeadlineRequest* request,
    metad::v1::SetBatchDeadlineResponse* response) {
  return runner_->Run(
      context, "SetBatchDeadline",
      [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
        RETURN_IF_ERROR(CheckTaskName("task", request->task()));
        std::optional<int64_t> deadline_us;
        if (request->clear()) {
          if (request->has_deadline()) {
            return metad::InvalidFieldError("deadline",
                                            "must be unset with clear");
          }
        } else {
          if (!request->has_deadline()) {
            return metad::InvalidFieldError(
                "deadline", "required (or clear=true to remove it)");
          }
          const google::protobuf::Timestamp& ts = request->deadline();
          if (ts.seconds() < 0 || ts.seconds() > kMaxDeadlineSeconds ||
              ts.nanos() < 0 || ts.nanos() > 999999999) {
            return metad::InvalidFieldError(
                "deadline", "must be between 1970-01-01 and 9999-12-31");
          }
          deadline_us = TimestampToMicros(ts);
        }
        ASSIGN_OR_RETURN(std::optional<int64_t> in_force,
                         store_.SetBatchDeadline(o, request->batch_id(),
                                                 request->task(), deadline_us));
        if (in_force)
          MicrosToTimestamp(*in_force, response->mutable_deadline());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DeadlineServiceImpl::SetSourceFreshness(
    grpc::CallbackServerContext* context,
    const metad::v1::SetSourceFreshnessRequest* request,
    metad::v1::SourceFreshness* response) {
  return runner_->Run(
      context, "SetSourceFreshness",
      [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(
            CheckText("source", request->source(), 1, kMaxSourceBytes));
        int64_t max_age_us = 0;
        if (request->has_max_age()) {
          RETURN_IF_ERROR(CheckPositiveDuration("max_age", request->max_age(),
                                                &max_age_us));
          if (max_age_us < 1000000) {
            return metad::InvalidFieldError("max_age", "must be at least 1s");
          }
        }
        ASSIGN_OR_RETURN(*response, store_.SetSourceFreshness(
                                        o, request->source(), max_age_us));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DeadlineServiceImpl::ListAlerts(
    grpc::CallbackServerContext* context,
    const metad::v1::ListAlertsRequest* request,
    metad::v1::ListAlertsResponse* response) {
  return runner_->Run(
      context, "ListAlerts", [=](const store::TxOptions& o) -> absl::Status {
        if (!request->kind().empty() && request->kind() != "DEADLINE_MISSED" &&
            request->kind() != "STALE") {
          return metad::InvalidFieldError(
              "kind", "must be DEADLINE_MISSED, STALE or empty");
        }
        if (request->after_id() < 0) {
          return metad::InvalidFieldError("after_id", "must not be negative");
        }
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        ASSIGN_OR_RETURN(std::vector<metad::v1::Alert> alerts,
                         store_.ListAlerts(o, request->kind(),
                                           request->after_id(), page_size + 1));
        const bool more = static_cast<int32_t>(alerts.size()) > page_size;
        if (more) alerts.resize(page_size);
        for (metad::v1::Alert& a : alerts)
          *response->add_alerts() = std::move(a);
        response->set_has_more(more);
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
