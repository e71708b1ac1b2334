// The task registry (table `tasks`): the task types a pipeline knows.
#ifndef METAD_STORE_TASK_STORE_H_
#define METAD_STORE_TASK_STORE_H_

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "metad/v1/tasks.pb.h"
#include "store/database.h"

namespace metad::store {

// The columns of metad_task_row (migrations/functions/15_rows.sql), found by
// name once per result; for the statements of task.sql and dependency.sql
// that return tasks.
struct TaskColumns {
  explicit TaskColumns(const pqxx::result& r);
  pqxx::row_size_type id, name, description, max_attempts,
      default_lease_seconds, create_us, update_us, etag, concurrency_limit,
      concurrency_key_label, expected_duration_us;
};

// Fills *task from a row with TaskColumns.
void ReadTaskRow(const pqxx::row& row, const TaskColumns& columns,
                 metad::v1::Task* task);

// NOT_FOUND for a task name that is not registered, naming `field`.
absl::Status UnknownTaskError(const std::string& field,
                              const std::string& name);

// Resolves task names to ids inside the caller's transaction; ids come back
// in the order of `names`. With `key_share_lock` the rows are locked FOR KEY
// SHARE, so a concurrent DeleteTask waits for the caller's commit (or the
// caller sees the task gone). NOT_FOUND names `field` and the first unknown
// name.
absl::StatusOr<std::vector<int64_t>> ResolveTaskIds(
    Tx& tx, const std::string& field, const std::vector<std::string>& names,
    bool key_share_lock);

// A task named either by id (when positive) or by name.
struct TaskKey {
  int64_t id = 0;
  std::string name;
};

struct RegisterTaskInput {
  std::string name;
  std::string description;
  // 0: the default (1) on creation, the stored value on update.
  int32_t max_attempts = 0;
  // 0: the default (60) on creation, the stored value on update.
  int32_t default_lease_seconds = 0;
  // Microseconds, positive; 0: none on creation, the stored value on update.
  int64_t expected_duration_us = 0;
};

struct RegisterTaskResult {
  metad::v1::Task task;
  bool created = false;
};

// UpdateTask's change: the fields with set_* true take the new values
// (validated by the caller); the others keep the stored ones.
struct UpdateTaskInput {
  std::string name;
  // Non-empty: change only a task whose etag this still is.
  std::string etag;
  bool set_description = false;
  std::string description;
  bool set_max_attempts = false;
  int32_t max_attempts = 0;
  bool set_default_lease_seconds = false;
  int32_t default_lease_seconds = 0;
  bool set_concurrency_limit = false;
  int32_t concurrency_limit = 0;
  bool set_concurrency_key_label = false;
  std::string concurrency_key_label;
  bool set_expected_duration = false;
  int64_t expected_duration_us = 0;  // 0 clears it
};

struct TaskPage {
  std::vector<metad::v1::Task> tasks;  // ordered by id
  bool has_more = false;               // more rows after the last one
};

class TaskStore {
 public:
  static constexpr int32_t kDefaultMaxAttempts = 1;
  static constexpr int32_t kDefaultLeaseSeconds = 60;

  explicit TaskStore(Database* db) : db_(db) {}

  // Creates the task, or updates the existing one of that name: the
  // description is always replaced, max_attempts and default_lease_seconds
  // only when non-zero. update_time moves only when something changed.
  // Race-free (INSERT ... ON CONFLICT). Inputs are validated by the caller;
  // a value the schema rejects is INVALID_ARGUMENT (from the runner).
  absl::StatusOr<RegisterTaskResult> Register(const TxOptions& options,
                                              const RegisterTaskInput& input);

  // Changes the fields `input` sets, in one transaction that locks the row
  // first (so the etag compared is the one replaced). A change to the values
  // already stored writes nothing (etag and update_time stay). NOT_FOUND if
  // no such task; ABORTED with ErrorInfo ETAG_MISMATCH {task, etag,
  // current_etag} when input.etag is set and differs from the stored one.
  absl::StatusOr<metad::v1::Task> Update(const TxOptions& options,
                                         const UpdateTaskInput& input);

  // NOT_FOUND if no such task.
  absl::StatusOr<metad::v1::Task> Get(const TxOptions& options,
                                      const TaskKey& key);

  // Tasks with id > after_id whose name starts with `name_prefix` (taken
  // literally: no wildcards), at most `limit`, ordered by id.
  absl::StatusOr<TaskPage> List(const TxOptions& options,
                                const std::string& name_prefix,
                                int64_t after_id, int32_t limit);

  // Deletes the task and returns it as it was.
  // NOT_FOUND if no such task; FAILED_PRECONDITION when it has runs or
  // dependencies (the message says which). The task row is locked first, so
  // a run or an edge added concurrently either is seen here or fails on its
  // foreign key.
  absl::StatusOr<metad::v1::Task> Delete(const TxOptions& options,
                                         const TaskKey& key);

  // Task events (registry and graph changes, reopenings) with id >
  // after_id, of `task` only unless it is empty, at most `limit`, by id.
  absl::StatusOr<std::vector<metad::v1::TaskEvent>> ListEvents(
      const TxOptions& options, const std::string& task, int64_t after_id,
      int32_t limit);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_TASK_STORE_H_
