// TaskStore against a real PostgreSQL: register/update semantics, lookups,
// literal prefixes, keyset pages, delete refusals, concurrent registration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "store/proto_time.h"
#include "store/task_store.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

using metad::v1::Task;
using ::testing::HasSubstr;

class TaskStoreTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store_ = std::make_unique<TaskStore>(db());
  }

  RegisterTaskResult Register(const std::string& name,
                              const std::string& description = "",
                              int32_t max_attempts = 0,
                              int32_t lease_seconds = 0) {
    RegisterTaskInput input{name, description, max_attempts, lease_seconds};
    absl::StatusOr<RegisterTaskResult> r = store_->Register({}, input);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RegisterTaskResult();
  }

  std::unique_ptr<TaskStore> store_;
};

TEST_F(TaskStoreTest, RegisterCreatesWithDefaults) {
  RegisterTaskResult r = Register("load_sales", "loads CSV");
  EXPECT_TRUE(r.created);
  EXPECT_GT(r.task.id(), 0);
  EXPECT_EQ(r.task.name(), "load_sales");
  EXPECT_EQ(r.task.description(), "loads CSV");
  EXPECT_EQ(r.task.max_attempts(), 1);
  EXPECT_EQ(r.task.default_lease_seconds(), 60);
  EXPECT_GT(r.task.create_time().seconds(), 0);
  EXPECT_EQ(r.task.create_time().seconds(), r.task.update_time().seconds());
}

TEST_F(TaskStoreTest, RegisterAgainUpdatesOnlyWhatWasSet) {
  RegisterTaskResult first = Register("t", "old", 3, 120);
  // 0 keeps the stored settings; the description is always replaced.
  RegisterTaskResult second = Register("t", "new");
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.task.id(), first.task.id());
  EXPECT_EQ(second.task.description(), "new");
  EXPECT_EQ(second.task.max_attempts(), 3);
  EXPECT_EQ(second.task.default_lease_seconds(), 120);

  RegisterTaskResult third = Register("t", "new", 5, 0);
  EXPECT_EQ(third.task.max_attempts(), 5);
  EXPECT_EQ(third.task.default_lease_seconds(), 120);
  RegisterTaskResult fourth = Register("t", "", 0, 30);
  EXPECT_EQ(fourth.task.description(), "");
  EXPECT_EQ(fourth.task.max_attempts(), 5);
  EXPECT_EQ(fourth.task.default_lease_seconds(), 30);
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "1");
}

TEST_F(TaskStoreTest, UpdateTimeMovesOnlyOnChange) {
  RegisterTaskResult first = Register("t", "d", 2, 10);
  Sql("UPDATE tasks SET update_time = now() - interval '1 hour'");
  int64_t stale = std::stoll(Sql("SELECT metad_us(update_time) FROM tasks"));

  RegisterTaskResult same = Register("t", "d", 2, 10);
  EXPECT_FALSE(same.created);
  EXPECT_EQ(TimestampToMicros(same.task.update_time()), stale);
  RegisterTaskResult keep = Register("t", "d", 0, 0);
  EXPECT_EQ(TimestampToMicros(keep.task.update_time()), stale);

  RegisterTaskResult changed = Register("t", "d", 3, 10);
  EXPECT_GT(TimestampToMicros(changed.task.update_time()), stale);
  EXPECT_EQ(TimestampToMicros(changed.task.create_time()),
            TimestampToMicros(first.task.create_time()));
}

TEST_F(TaskStoreTest, ConcurrentRegistrationCreatesOnce) {
  constexpr int kThreads = 16;
  std::atomic<int> created{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<RegisterTaskResult> r = store_->Register(
          {}, RegisterTaskInput{"shared", "by " + std::to_string(i), 0, 0});
      if (!r.ok()) {
        ++failed;
      } else if (r->created) {
        ++created;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "1");
}

TEST_F(TaskStoreTest, GetByIdAndName) {
  RegisterTaskResult r = Register("calc");
  absl::StatusOr<Task> by_id = store_->Get({}, TaskKey{r.task.id(), ""});
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->name(), "calc");
  absl::StatusOr<Task> by_name = store_->Get({}, TaskKey{0, "calc"});
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->id(), r.task.id());

  absl::StatusOr<Task> missing = store_->Get({}, TaskKey{0, "nope"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"nope\""));
  missing = store_->Get({}, TaskKey{r.task.id() + 100, ""});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TaskStoreTest, ListTakesThePrefixLiterally) {
  for (const char* name : {"a_b", "axb", "a%c", "abc", "b_a"}) Register(name);
  auto names = [&](const std::string& prefix) {
    std::vector<std::string> out;
    absl::StatusOr<TaskPage> page = store_->List({}, prefix, 0, 100);
    EXPECT_TRUE(page.ok()) << page.status();
    for (const Task& t : page->tasks) out.push_back(t.name());
    return out;
  };
  EXPECT_THAT(names("a_"), ::testing::ElementsAre("a_b"));
  EXPECT_THAT(names("a%"), ::testing::ElementsAre("a%c"));
  EXPECT_THAT(names("a"), ::testing::ElementsAre("a_b", "axb", "a%c", "abc"));
  EXPECT_EQ(names("").size(), 5u);
  EXPECT_TRUE(names("z").empty());
}

TEST_F(TaskStoreTest, ListPagesByIdWithoutRepeatsOrGaps) {
  for (int i = 0; i < 7; ++i) Register("t" + std::to_string(i));
  std::vector<int64_t> seen;
  int64_t after = 0;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    absl::StatusOr<TaskPage> page = store_->List({}, "", after, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Task& t : page->tasks) seen.push_back(t.id());
    if (!page->has_more) {
      EXPECT_LE(page->tasks.size(), 3u);
      break;
    }
    EXPECT_EQ(page->tasks.size(), 3u);
    after = page->tasks.back().id();
  }
  ASSERT_EQ(seen.size(), 7u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
}

TEST_F(TaskStoreTest, DeleteReturnsTheTaskAsItWas) {
  RegisterTaskResult r = Register("gone", "desc", 4, 99);
  absl::StatusOr<Task> deleted = store_->Delete({}, TaskKey{0, "gone"});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->id(), r.task.id());
  EXPECT_EQ(deleted->description(), "desc");
  EXPECT_EQ(deleted->max_attempts(), 4);
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "0");
  EXPECT_EQ(store_->Delete({}, TaskKey{r.task.id(), ""}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TaskStoreTest, DeleteRefusesTaskWithRuns) {
  RegisterTaskResult r = Register("ran");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time, end_time) VALUES (" +
      std::to_string(r.task.id()) + ", 'b1', 'ERROR', 1, 60, NULL, now())");
  absl::StatusOr<Task> deleted = store_->Delete({}, TaskKey{r.task.id(), ""});
  EXPECT_EQ(deleted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(deleted.status().message(), HasSubstr("has runs"));
  EXPECT_THAT(deleted.status().message(), HasSubstr("\"ran\""));
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "1");
}

TEST_F(TaskStoreTest, DeleteRefusesTaskWithDependenciesEitherWay) {
  Register("p");
  Register("c");
  Sql("INSERT INTO task_dependencies (parent_id, child_id) "
      "SELECT p.id, c.id FROM tasks p, tasks c "
      "WHERE p.name = 'p' AND c.name = 'c'");
  absl::StatusOr<Task> parent = store_->Delete({}, TaskKey{0, "p"});
  EXPECT_EQ(parent.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(parent.status().message(),
              HasSubstr("dependencies (0 parents, 1 child)"));
  absl::StatusOr<Task> child = store_->Delete({}, TaskKey{0, "c"});
  EXPECT_EQ(child.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(child.status().message(),
              HasSubstr("dependencies (1 parent, 0 children)"));
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "2");
}

TEST_F(TaskStoreTest, DeleteNamesEveryReason) {
  RegisterTaskResult r = Register("both");
  Register("other");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time, end_time) VALUES (" +
      std::to_string(r.task.id()) + ", 'b1', 'SUCCESS', 1, 60, NULL, now())");
  Sql("INSERT INTO task_dependencies (parent_id, child_id) "
      "SELECT p.id, c.id FROM tasks p, tasks c "
      "WHERE p.name = 'other' AND c.name = 'both'");
  absl::Status s = store_->Delete({}, TaskKey{0, "both"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has runs"));
  EXPECT_THAT(s.message(), HasSubstr("has dependencies"));
}

TEST_F(TaskStoreTest, ResolveTaskIdsNamesTheFieldAndTheUnknownTask) {
  RegisterTaskResult a = Register("a");
  RegisterTaskResult b = Register("b");
  absl::StatusOr<std::vector<int64_t>> ids;
  absl::Status s = db()->Transact("test", {}, [&](Tx& tx) {
    ids = ResolveTaskIds(tx, "targets", {"b", "a"}, false);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ::testing::ElementsAre(b.task.id(), a.task.id()));
  s = db()->Transact("test", {}, [&](Tx& tx) {
    ids = ResolveTaskIds(tx, "targets", {"a", "zz"}, true);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ids.status().message(),
              HasSubstr("targets: no task named \"zz\""));
}

}  // namespace
}  // namespace metad::store
