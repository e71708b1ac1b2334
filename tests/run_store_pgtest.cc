// store::RunStore directly: lease expiry as the reaper uses it, the unique
// indexes as the last line of defence, and races between transitions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "store/run_store.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::metad::v1::RUN_STATUS_ERROR;
using ::metad::v1::RUN_STATUS_SUCCESS;
using ::testing::HasSubstr;

class RunStoreTest : public RunTest {
 protected:
  store::RunStore store_{nullptr};
  void SetUp() override {
    RunTest::SetUp();
    store_ = store::RunStore(db());
  }

  int64_t MustStart(const std::string& task, const std::string& batch) {
    store::StartRunInput in;
    in.task = task;
    in.batch_id = batch;
    absl::StatusOr<store::StartRunResult> r = store_.StartRun({}, in);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->run.id() : 0;
  }

  // Waits until some backend of the test database waits for a lock.
  void AwaitLockWaiter() {
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up &&
           Count("SELECT count(*) FROM pg_stat_activity WHERE "
                 "wait_event_type = 'Lock' AND datname = "
                 "current_database()") == 0) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
};

TEST_F(RunStoreTest, ExpireRunEndsOnlyLapsedProcessingRuns) {
  CreateTask("t", 1, 60);
  int64_t live = MustStart("t", "b1");
  int64_t done = MustStart("t", "b2");
  ASSERT_TRUE(store_.FinishRun({}, {done, RUN_STATUS_SUCCESS, "", {}, false}).ok());
  int64_t lost = MustStart("t", "b3");
  AddFile("a", "PROCESSING", lost);
  AddFile("b", "PROCESSING", lost);
  LapseLease(lost);

  auto live_result = store_.ExpireRun({}, live);
  ASSERT_TRUE(live_result.ok());
  EXPECT_FALSE(live_result->has_value());
  auto done_result = store_.ExpireRun({}, done);
  ASSERT_TRUE(done_result.ok());
  EXPECT_FALSE(done_result->has_value());
  auto unknown = store_.ExpireRun({}, 999999);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());

  auto expired = store_.ExpireRun({}, lost);
  ASSERT_TRUE(expired.ok()) << expired.status();
  ASSERT_TRUE(expired->has_value());
  EXPECT_EQ((*expired)->run_id, lost);
  EXPECT_EQ((*expired)->task_name, "t");
  EXPECT_EQ((*expired)->batch_id, "b3");
  EXPECT_EQ((*expired)->files_released, 2);
  auto again = store_.ExpireRun({}, lost);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());  // a run is ended once
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'EXPIRED'"), 1);
  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", live)),
            "PROCESSING");
}

TEST_F(RunStoreTest, FindLapsedRunsOldestLeaseFirst) {
  CreateTask("t");
  int64_t a = MustStart("t", "a");
  int64_t b = MustStart("t", "b");
  int64_t c = MustStart("t", "c");
  MustStart("t", "live");
  Sql(
      absl::StrCat("UPDATE task_log SET lease_expire_time = now() - interval "
                   "'1 second' WHERE id = ",
                   a));
  Sql(
      absl::StrCat("UPDATE task_log SET lease_expire_time = now() - interval "
                   "'3 seconds' WHERE id = ",
                   b));
  Sql(
      absl::StrCat("UPDATE task_log SET lease_expire_time = now() - interval "
                   "'2 seconds' WHERE id = ",
                   c));
  auto ids = store_.FindLapsedRuns({}, 10);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{b, c, a}));
  ids = store_.FindLapsedRuns({}, 2);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{b, c}));
}

TEST_F(RunStoreTest, UnknownStatusForFinishRunIsInvalidArgument) {
  CreateTask("t");
  int64_t run = MustStart("t", "b1");
  EXPECT_EQ(store_.FinishRun({}, {run, metad::v1::RUN_STATUS_PROCESSING, "", {}, false})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// A PROCESSING run inserted by a writer that skips the advisory lock (still
// uncommitted while StartRun checks) is caught by the unique index: StartRun
// answers FAILED_PRECONDITION, not INTERNAL.
TEST_F(RunStoreTest, UniqueIndexCatchesRunOutsideTheLock) {
  int64_t task = CreateTask("t");
  pqxx::connection conn(url());
  pqxx::work raw(conn);
  pqxx::result r = raw.exec(absl::StrCat(
      "INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time) VALUES (",
      task,
      ", 'b1', 'PROCESSING', 1, 60, now() + interval '1 hour') RETURNING id"));
  int64_t sneaked = r[0][0].as<int64_t>();
  absl::StatusOr<store::StartRunResult> result;
  std::thread starter([&] {
    store::StartRunInput in;
    in.task = "t";
    in.batch_id = "b1";
    result = store_.StartRun({}, in);
  });
  AwaitLockWaiter();  // StartRun's INSERT waits for the raw transaction
  raw.commit();
  starter.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(),
              HasSubstr(absl::StrCat("run ", sneaked, " of it is PROCESSING")));
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
}

TEST_F(RunStoreTest, UniqueIndexCatchesRequestIdRaceAcrossBatches) {
  int64_t task = CreateTask("t");
  pqxx::connection conn(url());
  pqxx::work raw(conn);
  raw.exec(absl::StrCat(
      "INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time, request_id) VALUES (",
      task, ", 'b2', 'PROCESSING', 1, 60, now() + interval '1 hour', 'rq')"));
  absl::StatusOr<store::StartRunResult> result;
  std::thread starter([&] {
    store::StartRunInput in;
    in.task = "t";
    in.batch_id = "b1";
    in.request_id = "rq";
    result = store_.StartRun({}, in);
  });
  AwaitLockWaiter();
  raw.commit();
  starter.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(result.status().message(), HasSubstr("request_id: already used"));
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
}

TEST_F(RunStoreTest, SameRequestIdRacingAcrossBatchesCreatesOneRun) {
  CreateTask("t");
  constexpr int kThreads = 8;
  std::atomic<int> created{0}, already{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      store::StartRunInput in;
      in.task = "t";
      in.batch_id = absl::StrCat("b", i);
      in.request_id = "shared";
      auto r = store_.StartRun({}, in);
      if (r.ok()) {
        EXPECT_TRUE(r->created);
        ++created;
      } else {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists)
            << r.status();
        ++already;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(already.load(), kThreads - 1);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
}

// Finish, heartbeat and expiry racing on the same runs: each run ends once.
// Half the runs are live (FinishRun wins, expiry finds nothing), half lapsed
// (everyone refuses or expires, exactly one EXPIRED event).
TEST_F(RunStoreTest, RacingTransitionsEndEachRunOnce) {
  CreateTask("t");
  constexpr int kRuns = 40;
  std::vector<int64_t> runs;
  for (int i = 0; i < kRuns; ++i) {
    runs.push_back(MustStart("t", absl::StrCat("b", i)));
  }
  Sql("INSERT INTO files (source, file_name, status, run_id) "
      "SELECT 'test', 'f' || id, 'PROCESSING', id FROM task_log");
  Sql("UPDATE task_log SET lease_expire_time = now() - interval '1 second' "
      "WHERE id % 2 = 0");
  std::atomic<int> finished{0}, expired{0}, unexpected{0};
  std::vector<std::thread> threads;
  for (int actor = 0; actor < 6; ++actor) {
    threads.emplace_back([&, actor] {
      for (int64_t run : runs) {
        absl::Status s;
        switch (actor % 3) {
          case 0: {
            // settle_all_held: the test's files were never claimed.
            auto r = store_.FinishRun({}, {run, RUN_STATUS_SUCCESS, "", {}, true});
            // The other finisher's call is answered as a retry (replayed).
            if (r.ok() && !r->replayed) ++finished;
            s = r.status();
            break;
          }
          case 1:
            s = store_.Heartbeat({}, run, 0).status();
            break;
          default: {
            auto r = store_.ExpireRun({}, run);
            if (r.ok() && r->has_value()) ++expired;
            s = r.status();
          }
        }
        if (!s.ok() && s.code() != absl::StatusCode::kFailedPrecondition) {
          ++unexpected;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(finished.load(), kRuns / 2);
  EXPECT_LE(expired.load(), kRuns / 2);  // refusals may have expired the rest
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT run_id FROM run_events WHERE "
                  "kind IN ('FINISHED', 'EXPIRED') GROUP BY run_id HAVING "
                  "count(*) = 1) x"),
            kRuns);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'EXPIRED'"),
            kRuns / 2);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'SUCCESS'"),
            kRuns / 2);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'NEW'"),
            kRuns / 2);
}

TEST_F(RunStoreTest, GetBatchOfUnknownBatchIsNotFound) {
  EXPECT_EQ(store_.GetBatch({}, "none").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace metad::testing
