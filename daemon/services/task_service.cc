#include "daemon/services/task_service.h"

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/duration_check.h"
#include "daemon/rpc/page_token.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

using metad::v1::DeleteTaskRequest;
using metad::v1::DeleteTaskResponse;
using metad::v1::GetTaskRequest;
using metad::v1::ListTasksRequest;
using metad::v1::ListTasksResponse;
using metad::v1::RegisterTaskRequest;
using metad::v1::RegisterTaskResponse;
using metad::v1::Task;
using metad::v1::UpdateTaskRequest;

// "field: must be 1..max (got n)": a setting UpdateTask's mask names.
absl::Status CheckMaskedSetting(absl::string_view field, int32_t value,
                                int32_t max) {
  if (value < 1 || value > max) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must be 1..", max, " (got ", value, ")"));
  }
  return absl::OkStatus();
}

// The most live runs a concurrency limit may allow.
constexpr int32_t kMaxConcurrencyLimit = 100000;

// A run label key, as StartRunRequest.labels takes them (1..128 bytes of
// [A-Za-z0-9._/-], starting with a letter or digit), or empty (no key).
absl::Status CheckConcurrencyKeyLabel(absl::string_view field,
                                      absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  };
  bool ok = value.size() <= 128 && word(value[0]);
  for (char c : value) {
    ok = ok && (word(c) || c == '.' || c == '_' || c == '/' || c == '-');
  }
  if (!ok) {
    return metad::InvalidFieldError(
        field,
        "must be empty (one limit for the task) or a label key: 1..128 bytes "
        "of [A-Za-z0-9._/-] starting with a letter or digit");
  }
  return absl::OkStatus();
}

// UpdateTaskRequest as a store::UpdateTaskInput: the mask's paths (or, for
// an empty mask, the populated updatable fields: AIP-134), each value
// checked. INVALID_ARGUMENT names the bad path (update_mask.paths[i]) or
// value (task.max_attempts).
absl::StatusOr<store::UpdateTaskInput> UpdateInputOf(
    const UpdateTaskRequest& request) {
  const Task& task = request.task();
  RETURN_IF_ERROR(CheckTaskName("task.name", task.name()));
  if (request.etag().size() > 128) {
    return metad::InvalidFieldError("etag", "at most 128 bytes");
  }
  store::UpdateTaskInput input;
  input.name = task.name();
  input.etag = request.etag();
  const auto& paths = request.update_mask().paths();
  if (paths.empty()) {
    input.set_description = !task.description().empty();
    input.set_max_attempts = task.max_attempts() != 0;
    input.set_default_lease_seconds = task.default_lease_seconds() != 0;
    input.set_concurrency_limit = task.concurrency_limit() != 0;
    input.set_concurrency_key_label = !task.concurrency_key_label().empty();
    input.set_expected_duration = task.has_expected_duration();
  }
  for (int i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    const std::string field = absl::StrCat("update_mask.paths[", i, "]");
    if (path == "*") {
      input.set_description = input.set_max_attempts =
          input.set_default_lease_seconds = input.set_concurrency_limit =
              input.set_concurrency_key_label = input.set_expected_duration =
                  true;
    } else if (path == "description") {
      input.set_description = true;
    } else if (path == "max_attempts") {
      input.set_max_attempts = true;
    } else if (path == "default_lease_seconds") {
      input.set_default_lease_seconds = true;
    } else if (path == "concurrency_limit") {
      input.set_concurrency_limit = true;
    } else if (path == "concurrency_key_label") {
      input.set_concurrency_key_label = true;
    } else if (path == "expected_duration") {
      input.set_expected_duration = true;
    } else if (path == "id" || path == "name" || path == "create_time" ||
               path == "update_time" || path == "etag") {
      return metad::InvalidFieldError(
          field, absl::StrCat("\"", path,
                              "\" cannot be changed (updatable: description, "
                              "max_attempts, default_lease_seconds, "
                              "concurrency_limit, concurrency_key_label, "
                              "expected_duration)"));
    } else {
      return metad::InvalidFieldError(
          field, absl::StrCat("no updatable field ",
                              path.size() <= 64 && IsValidUtf8(path)
                                  ? absl::StrCat("\"", path, "\"")
                                  : std::string("of that name"),
                              " (updatable: description, max_attempts, "
                              "default_lease_seconds, concurrency_limit, "
                              "concurrency_key_label, expected_duration, or *)"));
    }
  }
  if (input.set_description) {
    RETURN_IF_ERROR(
        CheckText("task.description", task.description(), 0, kMaxMessageBytes));
    input.description = task.description();
  }
  if (input.set_max_attempts) {
    RETURN_IF_ERROR(CheckMaskedSetting("task.max_attempts", task.max_attempts(),
                                       kMaxTaskAttempts));
    input.max_attempts = task.max_attempts();
  }
  if (input.set_default_lease_seconds) {
    RETURN_IF_ERROR(CheckMaskedSetting("task.default_lease_seconds",
                                       task.default_lease_seconds(),
                                       kMaxLeaseSeconds));
    input.default_lease_seconds = task.default_lease_seconds();
  }
  if (input.set_concurrency_limit) {
    if (task.concurrency_limit() < 0 ||
        task.concurrency_limit() > kMaxConcurrencyLimit) {
      return metad::InvalidFieldError(
          "task.concurrency_limit",
          absl::StrCat("must be 0 (no limit) or 1..", kMaxConcurrencyLimit,
                       " (got ", task.concurrency_limit(), ")"));
    }
    input.concurrency_limit = task.concurrency_limit();
  }
  if (input.set_concurrency_key_label) {
    RETURN_IF_ERROR(CheckConcurrencyKeyLabel("task.concurrency_key_label",
                                             task.concurrency_key_label()));
    input.concurrency_key_label = task.concurrency_key_label();
  }
  // Unset clears it; set must be a valid duration.
  if (input.set_expected_duration && task.has_expected_duration()) {
    RETURN_IF_ERROR(CheckPositiveDuration("task.expected_duration",
                                          task.expected_duration(),
                                          &input.expected_duration_us));
  }
  return input;
}

// "field: must be 0 (<zero>) or 1..max (got n)".
absl::Status CheckSetting(absl::string_view field, int32_t value, int32_t max,
                          absl::string_view zero) {
  if (value < 0 || value > max) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must be 0 (", zero, ") or 1..", max, " (got ",
                            value, ")"));
  }
  return absl::OkStatus();
}

// The `key` oneof of GetTaskRequest and DeleteTaskRequest.
template <typename Request>
absl::StatusOr<store::TaskKey> TaskKeyOf(const Request& request) {
  store::TaskKey key;
  switch (request.key_case()) {
    case Request::kId:
      RETURN_IF_ERROR(CheckId("id", request.id()));
      key.id = request.id();
      return key;
    case Request::kName:
      RETURN_IF_ERROR(CheckTaskName("name", request.name()));
      key.name = request.name();
      return key;
    default:
      return metad::InvalidFieldError("key", "set either id or name");
  }
}

}  // namespace

TaskServiceImpl::TaskServiceImpl(store::Database* db, CallRunner* runner)
    : store_(db), runner_(runner) {}

grpc::ServerUnaryReactor* TaskServiceImpl::RegisterTask(
    grpc::CallbackServerContext* context, const RegisterTaskRequest* request,
    RegisterTaskResponse* response) {
  return runner_->Run(
      context, "RegisterTask", [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckTaskName("name", request->name()));
        RETURN_IF_ERROR(CheckText("description", request->description(), 0,
                                  kMaxMessageBytes));
        RETURN_IF_ERROR(CheckSetting("max_attempts", request->max_attempts(),
                                     kMaxTaskAttempts,
                                     "the default 1, or keep on update"));
        RETURN_IF_ERROR(CheckSetting(
            "default_lease_seconds", request->default_lease_seconds(),
            kMaxLeaseSeconds, "the default 60, or keep on update"));
        RETURN_IF_ERROR(CheckRequestId("request_id", request->request_id()));
        store::RegisterTaskInput input;
        if (request->has_expected_duration()) {
          RETURN_IF_ERROR(CheckPositiveDuration("expected_duration",
                                                request->expected_duration(),
                                                &input.expected_duration_us));
        }
        input.name = request->name();
        input.description = request->description();
        input.max_attempts = request->max_attempts();
        input.default_lease_seconds = request->default_lease_seconds();
        ASSIGN_OR_RETURN(store::RegisterTaskResult result,
                         store_.Register(o, input));
        *response->mutable_task() = std::move(result.task);
        response->set_created(result.created);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::UpdateTask(
    grpc::CallbackServerContext* context, const UpdateTaskRequest* request,
    Task* response) {
  return runner_->Run(
      context, "UpdateTask", [=](const store::TxOptions& o) -> absl::Status {
        ASSIGN_OR_RETURN(store::UpdateTaskInput input, UpdateInputOf(*request));
        ASSIGN_OR_RETURN(*response, store_.Update(o, input));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetTask(
    grpc::CallbackServerContext* context, const GetTaskRequest* request,
    Task* response) {
  return runner_->Run(
      context, "GetTask", [=](const store::TxOptions& o) -> absl::Status {
        ASSIGN_OR_RETURN(store::TaskKey key, TaskKeyOf(*request));
        ASSIGN_OR_RETURN(*response, store_.Get(o, key));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTasks(
    grpc::CallbackServerContext* context, const ListTasksRequest* request,
    ListTasksResponse* response) {
  return runner_->Run(
      context, "ListTasks", [=](const store::TxOptions& o) -> absl::Status {
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        RETURN_IF_ERROR(
            CheckLabel("name_prefix", request->name_prefix(), 0, 128));
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after_id,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        ASSIGN_OR_RETURN(
            store::TaskPage page,
            store_.List(o, request->name_prefix(), after_id, page_size));
        for (Task& task : page.tasks) {
          *response->add_tasks() = std::move(task);
        }
        if (page.has_more) {
          response->set_next_page_token(EncodePageToken(
              response->tasks(response->tasks_size() - 1).id(), fingerprint));
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::DeleteTask(
    grpc::CallbackServerContext* context, const DeleteTaskRequest* request,
    DeleteTaskResponse* response) {
  return runner_->Run(
      context, "DeleteTask", [=](const store::TxOptions& o) -> absl::Status {
        ASSIGN_OR_RETURN(store::TaskKey key, TaskKeyOf(*request));
        ASSIGN_OR_RETURN(*response->mutable_task(), store_.Delete(o, key));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTaskEvents(
    grpc::CallbackServerContext* context,
    const metad::v1::ListTaskEventsRequest* request,
    metad::v1::ListTaskEventsResponse* response) {
  return runner_->Run(
      context, "ListTaskEvents",
      [=](const store::TxOptions& o) -> absl::Status {
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        if (!request->task().empty()) {
          RETURN_IF_ERROR(CheckTaskName("task", request->task()));
        }
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after_id,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        ASSIGN_OR_RETURN(
            std::vector<metad::v1::TaskEvent> events,
            store_.ListEvents(o, request->task(), after_id, page_size + 1));
        const bool more = static_cast<int32_t>(events.size()) > page_size;
        if (more) events.resize(page_size);
        for (metad::v1::TaskEvent& e : events) {
          *response->add_events() = std::move(e);
        }
        if (more) {
          response->set_next_page_token(
              EncodePageToken(response->events().rbegin()->id(), fingerprint));
        }
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
