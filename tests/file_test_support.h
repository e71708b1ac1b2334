// Shared by the file tests: runs made with raw SQL (the run store is not
// used here, so these tests depend on the schema only) and small builders.
#ifndef METAD_TESTS_FILE_TEST_SUPPORT_H_
#define METAD_TESTS_FILE_TEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "metad/v1/files.pb.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {

inline metad::v1::FileSpec Spec(const std::string& source,
                                const std::string& file_name) {
  metad::v1::FileSpec spec;
  spec.set_source(source);
  spec.set_file_name(file_name);
  return spec;
}

class FileTest : public PgTest {
 protected:
  // A PROCESSING run with a 60 s lease, of a task of its own.
  int64_t NewRun() {
    static std::atomic<int> counter{0};
    const std::string n = std::to_string(counter++);
    return std::stoll(Sql(absl::StrCat(
        "WITH t AS (INSERT INTO tasks (name) VALUES ('task_", n,
        "') RETURNING id) "
        "INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, lease_expire_time) "
        "SELECT id, 'batch_",
        n,
        "', 'PROCESSING', 1, 60, "
        "now() + interval '60 seconds' FROM t RETURNING id")));
  }

  // Ends a run as the run store would (status SUCCESS or ERROR).
  void EndRun(int64_t run_id, const std::string& status,
              const std::string& message = "") {
    Sql(absl::StrCat("UPDATE task_log SET status = '", status,
                     "', lease_expire_time = NULL, end_time = now(), "
                     "error_message = '",
                     message, "' WHERE id = ", run_id));
  }

  // Moves the lease into the past, as if the worker had stopped
  // heartbeating, without the reaper having ended the run yet.
  void ExpireLease(int64_t run_id) {
    Sql(
        absl::StrCat("UPDATE task_log SET lease_expire_time = now() - "
                     "interval '1 second' WHERE id = ",
                     run_id));
  }

  int64_t Count(const std::string& sql) { return std::stoll(Sql(sql)); }

  // Sets a file's state directly (setup for transitions).
  void SetFileState(int64_t file_id, const std::string& status,
                    const std::string& run_id_sql = "NULL") {
    Sql(absl::StrCat("UPDATE files SET status = '", status,
                     "', run_id = ", run_id_sql, " WHERE id = ", file_id));
  }
};

}  // namespace metad::testing

#endif  // METAD_TESTS_FILE_TEST_SUPPORT_H_
