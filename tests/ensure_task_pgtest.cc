// The C++ EnsureTask helper (clients/cpp/ensure_task) against the real
// TaskService: registers a missing task, changes only the settings that
// differ (one UPDATED event naming them), leaves a task that matches alone,
// and, racing other writers, ends with its own settings and nothing lost.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/services/task_service.h"
#include "metad/client/ensure_task.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::testing {
namespace {

using client::EnsureTask;
using client::TaskSettings;

class EnsureTaskTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::TaskServiceImpl>();
    server_->Start();
    client_ = std::make_unique<client::Client>(server_->channel(),
                                               client::ClientOptions());
  }

  std::string Events(const std::string& task) {
    return Sql(absl::StrCat(
        "SELECT string_agg(kind || ':' || detail, ',' ORDER BY id) "
        "FROM task_events WHERE task = '",
        task, "'"));
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(EnsureTaskTest, RegistersThenChangesOnlyWhatDiffers) {
  auto task = EnsureTask(client_.get(), "load", {"loads", 3, 60});
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->max_attempts(), 3);
  const std::string etag = task->etag();

  // The same settings (or zeros: "whatever is stored"): nothing written.
  task = EnsureTask(client_.get(), "load", {"loads", 0, 0});
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->etag(), etag);

  task = EnsureTask(client_.get(), "load", {"loads", 5, 0});
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->max_attempts(), 5);
  EXPECT_EQ(task->default_lease_seconds(), 60);
  EXPECT_NE(task->etag(), etag);
  EXPECT_EQ(Events("load"), "REGISTERED:,UPDATED:max_attempts 3 -> 5");

  // A bad setting is the daemon's INVALID_ARGUMENT, not retried.
  task = EnsureTask(client_.get(), "load", {"loads", 5000, 0});
  EXPECT_EQ(task.status().code(), absl::StatusCode::kInvalidArgument);
}

// The concurrency settings: set with UpdateTask also on the task EnsureTask
// registers (RegisterTask does not take them), unset ones kept, each
// change a task event.
TEST_F(EnsureTaskTest, SetsConcurrencyLimitAndKeyLabel) {
  TaskSettings limited{"loads", 0, 0};
  limited.concurrency_limit = 3;
  auto task = EnsureTask(client_.get(), "load", limited);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->concurrency_limit(), 3);
  EXPECT_EQ(task->concurrency_key_label(), "");
  TaskSettings keyed{"loads", 0, 0};
  keyed.concurrency_key_label = "warehouse";
  task = EnsureTask(client_.get(), "load", keyed);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->concurrency_limit(), 3);
  EXPECT_EQ(task->concurrency_key_label(), "warehouse");
  const std::string etag = task->etag();
  task = EnsureTask(client_.get(), "load", {"loads", 0, 0});
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->etag(), etag);  // unset: kept, nothing written
  EXPECT_EQ(Events("load"),
            "REGISTERED:,UPDATED:concurrency_limit 0 -> 3,"
            "UPDATED:concurrency_key_label \"\" -> \"warehouse\"");
}

// Eight ensurers that each want their own max_attempts, five times each:
// every call ends with the value it wanted (its update was based on what it
// read, or it read again), the settings nobody asked to change stay. Each
// lost race is another ensurer's win (at most 35), so 100 attempts suffice.
TEST_F(EnsureTaskTest, RacingWritersLoseNothing) {
  ASSERT_TRUE(EnsureTask(client_.get(), "race", {"d", 1, 60}).ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      client::Client c(server_->channel(), client::ClientOptions());
      for (int round = 0; round < 5; ++round) {
        // Each wants description "d" and its own max_attempts.
        auto t = EnsureTask(&c, "race", {"d", i + 2, 0}, 100);
        if (!t.ok() || t->max_attempts() != i + 2 || t->description() != "d" ||
            t->default_lease_seconds() != 60) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Sql("SELECT default_lease_seconds FROM tasks WHERE name = 'race'"),
            "60");
}

}  // namespace
}  // namespace metad::testing
