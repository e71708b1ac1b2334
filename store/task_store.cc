#include "store/task_store.h"

#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "store/proto_time.h"
#include "store/queries/task.sql.h"

namespace metad::store {
namespace {

using metad::v1::Task;

// How a task is named in messages: by name when known, else by id.
// ResourceInfo.resource_name of the task: its name, or its id as given.
std::string ResourceName(const TaskKey& key) {
  return key.id > 0 ? absl::StrCat(key.id) : key.name;
}

std::string Describe(const TaskKey& key) {
  return key.id > 0 ? absl::StrCat("task ", key.id)
                    : absl::StrCat("task \"", key.name, "\"");
}

}  // namespace

TaskColumns::TaskColumns(const pqxx::result& r)
    : id(r.column_number("id")),
      name(r.column_number("name")),
      description(r.column_number("description")),
      max_attempts(r.column_number("max_attempts")),
      default_lease_seconds(r.column_number("default_lease_seconds")),
      create_us(r.column_number("create_us")),
      update_us(r.column_number("update_us")),
      etag(r.column_number("etag")),
      concurrency_limit(r.column_number("concurrency_limit")),
      concurrency_key_label(r.column_number("concurrency_key_label")),
      expected_duration_us(r.column_number("expected_duration_us")) {}

void ReadTaskRow(const pqxx::row& row, const TaskColumns& c, Task* task) {
  task->set_id(row[c.id].as<int64_t>());
  task->set_name(row[c.name].as<std::string>());
  task->set_description(row[c.description].as<std::string>());
  task->set_max_attempts(row[c.max_attempts].as<int32_t>());
  task->set_default_lease_seconds(row[c.default_lease_seconds].as<int32_t>());
  ReadTime(row[c.create_us], task->mutable_create_time());
  ReadTime(row[c.update_us], task->mutable_update_time());
  task->set_etag(row[c.etag].as<std::string>());
  task->set_concurrency_limit(row[c.concurrency_limit].as<int32_t>());
  task->set_concurrency_key_label(
      row[c.concurrency_key_label].as<std::string>());
  if (!row[c.expected_duration_us].is_null()) {
    const int64_t us = row[c.expected_duration_us].as<int64_t>();
    task->mutable_expected_duration()->set_seconds(us / 1000000);
    task->mutable_expected_duration()->set_nanos(
        static_cast<int32_t>(us % 1000000) * 1000);
  }
}

absl::Status UnknownTaskError(const std::string& field,
                              const std::string& name) {
  return NotFoundResourceError(
      resource::kTask, name,
      absl::StrCat(field, ": no task named \"", name,
                   "\" (register it with RegisterTask first)"));
}

absl::StatusOr<std::vector<int64_t>> ResolveTaskIds(
    Tx& tx, const std::string& field, const std::vector<std::string>& names,
    bool key_share_lock) {
  pqxx::result rows =
      Exec(tx, key_share_lock ? sql::kTaskResolveKeyShare : sql::kTaskResolve,
           TextArrayLiteral(names));
  std::unordered_map<std::string, int64_t> ids;
  for (const pqxx::row& row : rows) {
    ids.emplace(row["name"].as<std::string>(), row["id"].as<int64_t>());
  }
  std::vector<int64_t> out;
  out.reserve(names.size());
  for (const std::string& name : names) {
    auto it = ids.find(name);
    if (it == ids.end()) {
      return UnknownTaskError(field, name);
    }
    out.push_back(it->second);
  }
  return out;
}

// ---- Register ----

absl::StatusOr<RegisterTaskResult> TaskStore::Register(
    const TxOptions& options, const RegisterTaskInput& input) {
  RegisterTaskResult result;
  absl::Status status =
      db_->Transact("task.register", options, [&](Tx& tx) -> absl::Status {
        result = RegisterTaskResult();
        pqxx::result rows =
            Exec(tx, sql::kTaskRegister, input.name, input.description,
                 input.max_attempts, input.default_lease_seconds,
                 kDefaultMaxAttempts, kDefaultLeaseSeconds,
                 input.expected_duration_us);
        if (!rows.empty()) {
          ReadTaskRow(rows[0], TaskColumns(rows), &result.task);
          result.created = rows[0]["created"].as<bool>();
          return absl::OkStatus();
        }
        // Unchanged existing task (locked by the ON CONFLICT above).
        rows = Exec(tx, sql::kTaskGetByName, input.name);
        if (rows.empty()) {
          return absl::InternalError("registered task vanished");
        }
        ReadTaskRow(rows[0], TaskColumns(rows), &result.task);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

// ---- Update ----

absl::StatusOr<Task> TaskStore::Update(const TxOptions& options,
                                       const UpdateTaskInput& input) {
  Task task;
  absl::Status status =
      db_->Transact("task.update", options, [&](Tx& tx) -> absl::Status {
        task.Clear();
        // Locked: a concurrent update waits here, then reads the row it left
        // (READ COMMITTED re-reads a locked row), so it compares the new etag.
        pqxx::result rows = Exec(tx, sql::kTaskLockByName, input.name);
        if (rows.empty()) {
          return NotFoundResourceError(
              resource::kTask, input.name,
              absl::StrCat("task \"", input.name, "\": not found"));
        }
        ReadTaskRow(rows[0], TaskColumns(rows), &task);
        if (!input.etag.empty() && input.etag != task.etag()) {
          return WithErrorInfo(
              absl::AbortedError(absl::StrCat(
                  "task \"", input.name, "\" changed since it was read (etag ",
                  input.etag, ", now ", task.etag(),
                  "): read it again and decide again")),
              reason::kEtagMismatch,
              {{"task", input.name},
               {"etag", input.etag},
               {"current_etag", task.etag()}});
        }
        const std::string description =
            input.set_description ? input.description : task.description();
        const int32_t max_attempts =
            input.set_max_attempts ? input.max_attempts : task.max_attempts();
        const int32_t lease = input.set_default_lease_seconds
                                  ? input.default_lease_seconds
                                  : task.default_lease_seconds();
        const int32_t limit = input.set_concurrency_limit
                                  ? input.concurrency_limit
                                  : task.concurrency_limit();
        const std::string key_label = input.set_concurrency_key_label
                                          ? input.concurrency_key_label
                                          : task.concurrency_key_label();
        const int64_t stored_us = task.expected_duration().seconds() * 1000000 +
                                  task.expected_duration().nanos() / 1000;
        const int64_t expected_us = input.set_expected_duration
                                        ? input.expected_duration_us
                                        : stored_us;
        if (description == task.description() &&
            max_attempts == task.max_attempts() &&
            lease == task.default_lease_seconds() &&
            limit == task.concurrency_limit() &&
            key_label == task.concurrency_key_label() &&
            expected_us == stored_us) {
          return absl::OkStatus();  // nothing to change: no write
        }
        rows = Exec(tx, sql::kTaskUpdate, task.id(), description, max_attempts,
                    lease, limit, key_label, expected_us);
        task.Clear();
        ReadTaskRow(rows[0], TaskColumns(rows), &task);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return task;
}

// ---- Get / List ----

absl::StatusOr<Task> TaskStore::Get(const TxOptions& options,
                                    const TaskKey& key) {
  Task task;
  absl::Status status =
      db_->Transact("task.get", options, [&](Tx& tx) -> absl::Status {
        pqxx::result rows = key.id > 0
                                ? Exec(tx, sql::kTaskGetById, key.id)
                                : Exec(tx, sql::kTaskGetByName, key.name);
        if (rows.empty()) {
          return NotFoundResourceError(
              resource::kTask, ResourceName(key),
              absl::StrCat(Describe(key), ": not found"));
        }
        ReadTaskRow(rows[0], TaskColumns(rows), &task);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return task;
}

absl::StatusOr<TaskPage> TaskStore::List(const TxOptions& options,
                                         const std::string& name_prefix,
                                         int64_t after_id, int32_t limit) {
  TaskPage page;
  absl::Status status =
      db_->Transact("task.list", options, [&](Tx& tx) -> absl::Status {
        page = TaskPage();
        pqxx::result rows = Exec(tx, sql::kTaskList, after_id, name_prefix,
                                 static_cast<int64_t>(limit) + 1);
        const TaskColumns columns(rows);
        for (const pqxx::row& row : rows) {
          if (static_cast<int32_t>(page.tasks.size()) == limit) {
            page.has_more = true;
            break;
          }
          ReadTaskRow(row, columns, &page.tasks.emplace_back());
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return page;
}

// ---- Delete ----

absl::StatusOr<Task> TaskStore::Delete(const TxOptions& options,
                                       const TaskKey& key) {
  Task task;
  absl::Status status =
      db_->Transact("task.delete", options, [&](Tx& tx) -> absl::Status {
        task.Clear();
        pqxx::result rows = key.id > 0
                                ? Exec(tx, sql::kTaskLockById, key.id)
                                : Exec(tx, sql::kTaskLockByName, key.name);
        if (rows.empty()) {
          return NotFoundResourceError(
              resource::kTask, ResourceName(key),
              absl::StrCat(Describe(key), ": not found"));
        }
        ReadTaskRow(rows[0], TaskColumns(rows), &task);
        pqxx::row usage = Exec(tx, sql::kTaskUsage, task.id())[0];
        std::vector<std::string> reasons;
        if (usage["has_runs"].as<bool>()) {
          reasons.push_back(
              "it has runs in the task log, which keeps its history");
        }
        int64_t parents = usage["parents"].as<int64_t>();
        int64_t children = usage["children"].as<int64_t>();
        if (parents + children > 0) {
          reasons.push_back(
              absl::StrCat("it has dependencies (", parents,
                           parents == 1 ? " parent, " : " parents, ", children,
                           children == 1 ? " child" : " children",
                           "); remove them with RemoveDependency first"));
        }
        if (!reasons.empty()) {
          return WithErrorInfo(
              absl::FailedPreconditionError(absl::StrCat(
                  "task \"", task.name(), "\" (id ", task.id(),
                  ") cannot be deleted: ", absl::StrJoin(reasons, "; and "))),
              reason::kTaskInUse,
              {{"task", task.name()},
               {"has_runs", usage["has_runs"].as<bool>() ? "true" : "false"},
               {"parents", absl::StrCat(parents)},
               {"children", absl::StrCat(children)}});
        }
        Exec(tx, sql::kTaskDelete, task.id());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return task;
}

absl::StatusOr<std::vector<metad::v1::TaskEvent>> TaskStore::ListEvents(
    const TxOptions& options, const std::string& task, int64_t after_id,
    int32_t limit) {
  std::vector<metad::v1::TaskEvent> events;
  RETURN_IF_ERROR(
      db_->Transact("task.events", options, [&](Tx& tx) -> absl::Status {
        events.clear();
        pqxx::result r =
            task.empty()
                ? Exec(tx, sql::kTaskEventsAll, after_id, limit)
                : Exec(tx, sql::kTaskEventsOfTask, task, after_id, limit);
        for (const auto& row : r) {
          metad::v1::TaskEvent& e = events.emplace_back();
          e.set_id(row["id"].as<int64_t>());
          e.set_task(row["task"].c_str());
          e.set_kind(row["kind"].c_str());
          e.set_detail(row["detail"].c_str());
          e.set_batch_id(row["batch_id"].c_str());
          e.set_actor(row["actor"].c_str());
          ReadTime(row["event_us"], e.mutable_event_time());
        }
        return absl::OkStatus();
      }));
  return events;
}

}  // namespace metad::store
