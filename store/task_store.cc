#include "store/task_store.h"

#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error_details.h"
#include "store/proto_time.h"

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

constexpr Query kResolve{"task.resolve", R"sql(
SELECT t.id, t.name FROM tasks t WHERE t.name = ANY($1::text[])
)sql"};

constexpr Query kResolveKeyShare{"task.resolve_key_share", R"sql(
SELECT t.id, t.name FROM tasks t WHERE t.name = ANY($1::text[])
FOR KEY SHARE
)sql"};

}  // namespace

void ReadTaskRow(const pqxx::row& row, Task* task) {
  task->set_id(row["id"].as<int64_t>());
  task->set_name(row["name"].as<std::string>());
  task->set_description(row["description"].as<std::string>());
  task->set_max_attempts(row["max_attempts"].as<int32_t>());
  task->set_default_lease_seconds(row["default_lease_seconds"].as<int32_t>());
  ReadTime(row["create_us"], task->mutable_create_time());
  ReadTime(row["update_us"], task->mutable_update_time());
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
  pqxx::result rows = Exec(tx, key_share_lock ? kResolveKeyShare : kResolve,
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

// On conflict, 0 keeps the stored setting; the row is written only when
// something changes, so the usual re-registration at worker start costs no
// update (the row is still locked, and read back below).
constexpr Query kRegister{"task.register", R"sql(
INSERT INTO tasks AS t (name, description, max_attempts, default_lease_seconds)
VALUES ($1, $2, COALESCE(NULLIF($3::integer, 0), $5::integer),
        COALESCE(NULLIF($4::integer, 0), $6::integer))
ON CONFLICT (name) DO UPDATE SET
  description = EXCLUDED.description,
  max_attempts = COALESCE(NULLIF($3::integer, 0), t.max_attempts),
  default_lease_seconds = COALESCE(NULLIF($4::integer, 0),
                                   t.default_lease_seconds),
  update_time = now()
WHERE t.description <> EXCLUDED.description
   OR ($3::integer <> 0 AND t.max_attempts <> $3::integer)
   OR ($4::integer <> 0 AND t.default_lease_seconds <> $4::integer)
RETURNING)sql" METAD_TASK_COLUMNS R"sql(, (t.xmax = 0) AS created
)sql"};

constexpr Query kGetByName{"task.get_by_name",
                           "SELECT" METAD_TASK_COLUMNS
                           "FROM tasks t WHERE t.name = $1"};

absl::StatusOr<RegisterTaskResult> TaskStore::Register(
    const TxOptions& options, const RegisterTaskInput& input) {
  RegisterTaskResult result;
  absl::Status status =
      db_->Transact("task.register", options, [&](Tx& tx) -> absl::Status {
        result = RegisterTaskResult();
        pqxx::result rows =
            Exec(tx, kRegister, input.name, input.description,
                 input.max_attempts, input.default_lease_seconds,
                 kDefaultMaxAttempts, kDefaultLeaseSeconds);
        if (!rows.empty()) {
          ReadTaskRow(rows[0], &result.task);
          result.created = rows[0]["created"].as<bool>();
          return absl::OkStatus();
        }
        // Unchanged existing task (locked by the ON CONFLICT above).
        rows = Exec(tx, kGetByName, input.name);
        if (rows.empty()) {
          return absl::InternalError("registered task vanished");
        }
        ReadTaskRow(rows[0], &result.task);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

// ---- Get / List ----

constexpr Query kGetById{"task.get_by_id", "SELECT" METAD_TASK_COLUMNS
                                           "FROM tasks t WHERE t.id = $1"};

absl::StatusOr<Task> TaskStore::Get(const TxOptions& options,
                                    const TaskKey& key) {
  Task task;
  absl::Status status =
      db_->Transact("task.get", options, [&](Tx& tx) -> absl::Status {
        pqxx::result rows = key.id > 0 ? Exec(tx, kGetById, key.id)
                                       : Exec(tx, kGetByName, key.name);
        if (rows.empty()) {
          return NotFoundResourceError(
              resource::kTask, ResourceName(key),
              absl::StrCat(Describe(key), ": not found"));
        }
        ReadTaskRow(rows[0], &task);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return task;
}

// starts_with takes the prefix literally (LIKE would treat % and _ as
// wildcards); the scan follows the primary key for keyset pagination.
constexpr Query kList{"task.list", "SELECT" METAD_TASK_COLUMNS R"sql(
FROM tasks t
WHERE t.id > $1 AND starts_with(t.name, $2)
ORDER BY t.id
LIMIT $3
)sql"};

absl::StatusOr<TaskPage> TaskStore::List(const TxOptions& options,
                                         const std::string& name_prefix,
                                         int64_t after_id, int32_t limit) {
  TaskPage page;
  absl::Status status =
      db_->Transact("task.list", options, [&](Tx& tx) -> absl::Status {
        page = TaskPage();
        pqxx::result rows = Exec(tx, kList, after_id, name_prefix,
                                 static_cast<int64_t>(limit) + 1);
        for (const pqxx::row& row : rows) {
          if (static_cast<int32_t>(page.tasks.size()) == limit) {
            page.has_more = true;
            break;
          }
          ReadTaskRow(row, &page.tasks.emplace_back());
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return page;
}

// ---- Delete ----

constexpr Query kLockById{"task.lock_by_id", "SELECT" METAD_TASK_COLUMNS
                                             "FROM tasks t WHERE t.id = $1 "
                                             "FOR UPDATE"};
constexpr Query kLockByName{"task.lock_by_name", "SELECT" METAD_TASK_COLUMNS
                                                 "FROM tasks t WHERE "
                                                 "t.name = $1 FOR UPDATE"};

// Runs only need an existence check (a task may have millions); edges are
// counted for the message.
constexpr Query kUsage{"task.usage", R"sql(
SELECT EXISTS (SELECT 1 FROM task_log WHERE task_id = $1) AS has_runs,
       (SELECT count(*) FROM task_dependencies WHERE child_id = $1) AS parents,
       (SELECT count(*) FROM task_dependencies WHERE parent_id = $1) AS children
)sql"};

constexpr Query kDelete{"task.delete", "DELETE FROM tasks WHERE id = $1"};

absl::StatusOr<Task> TaskStore::Delete(const TxOptions& options,
                                       const TaskKey& key) {
  Task task;
  absl::Status status =
      db_->Transact("task.delete", options, [&](Tx& tx) -> absl::Status {
        task.Clear();
        pqxx::result rows = key.id > 0 ? Exec(tx, kLockById, key.id)
                                       : Exec(tx, kLockByName, key.name);
        if (rows.empty()) {
          return NotFoundResourceError(
              resource::kTask, ResourceName(key),
              absl::StrCat(Describe(key), ": not found"));
        }
        ReadTaskRow(rows[0], &task);
        pqxx::row usage = Exec(tx, kUsage, task.id())[0];
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
        Exec(tx, kDelete, task.id());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return task;
}

}  // namespace metad::store
