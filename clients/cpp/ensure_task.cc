#include "metad/client/ensure_task.h"

#include <algorithm>

namespace metad::client {
namespace {

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t us = absl::ToInt64Microseconds(d);
  out->set_seconds(us / 1000000);
  out->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

// The fields of `task` that differ from `want`, set in *update; false when
// none does.
bool Differences(const v1::Task& task, const TaskSettings& want,
                 v1::UpdateTaskRequest* update) {
  v1::Task* next = update->mutable_task();
  next->set_name(task.name());
  auto* paths = update->mutable_update_mask()->mutable_paths();
  if (task.description() != want.description) {
    next->set_description(want.description);
    paths->Add("description");
  }
  if (want.max_attempts != 0 && task.max_attempts() != want.max_attempts) {
    next->set_max_attempts(want.max_attempts);
    paths->Add("max_attempts");
  }
  if (want.default_lease_seconds != 0 &&
      task.default_lease_seconds() != want.default_lease_seconds) {
    next->set_default_lease_seconds(want.default_lease_seconds);
    paths->Add("default_lease_seconds");
  }
  if (want.concurrency_limit &&
      task.concurrency_limit() != *want.concurrency_limit) {
    next->set_concurrency_limit(*want.concurrency_limit);
    paths->Add("concurrency_limit");
  }
  if (want.concurrency_key_label &&
      task.concurrency_key_label() != *want.concurrency_key_label) {
    next->set_concurrency_key_label(*want.concurrency_key_label);
    paths->Add("concurrency_key_label");
  }
  if (want.expected_duration > absl::ZeroDuration()) {
    google::protobuf::Duration d;
    SetDuration(want.expected_duration, &d);
    if (task.expected_duration().seconds() != d.seconds() ||
        task.expected_duration().nanos() != d.nanos()) {
      *next->mutable_expected_duration() = d;
      paths->Add("expected_duration");
    }
  }
  update->set_etag(task.etag());
  return !paths->empty();
}

}  // namespace

absl::StatusOr<v1::Task> EnsureTask(Client* client, const std::string& name,
                                    const TaskSettings& settings,
                                    int attempts) {
  grpc::Status last;
  for (int i = 0; i < std::max(attempts, 1); ++i) {
    v1::GetTaskRequest get;
    get.set_name(name);
    v1::Task task;
    grpc::Status status = client->GetTask(get, &task);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      v1::RegisterTaskRequest reg;
      reg.set_name(name);
      reg.set_description(settings.description);
      reg.set_max_attempts(settings.max_attempts);
      reg.set_default_lease_seconds(settings.default_lease_seconds);
      if (settings.expected_duration > absl::ZeroDuration()) {
        SetDuration(settings.expected_duration,
                    reg.mutable_expected_duration());
      }
      v1::RegisterTaskResponse registered;
      status = client->RegisterTask(reg, &registered);
      if (!status.ok()) return ToAbsl(status);
      // Registered by someone else in between: RegisterTask may just have
      // replaced their settings; compare again from a fresh read.
      if (!registered.created()) continue;
      // RegisterTask does not take the concurrency settings: compare.
      task = registered.task();
    } else if (!status.ok()) {
      return ToAbsl(status);
    }
    v1::UpdateTaskRequest update;
    if (!Differences(task, settings, &update)) return task;
    v1::Task updated;
    status = client->UpdateTask(update, &updated);
    if (status.ok()) return updated;
    if (status.error_code() != grpc::StatusCode::ABORTED) {
      return ToAbsl(status);
    }
    last = status;  // changed since the read: read and decide again
  }
  return ToAbsl(last);
}

}  // namespace metad::client
