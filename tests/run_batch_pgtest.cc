// Group commit of StartRun and FinishRun (store::RunStore::StartRuns and
// FinishRuns, store::GroupCommit) against a real PostgreSQL: a batch answers
// each call as the call alone would have been answered, in the caller's
// order, and concurrent batches over the same (task, batch) pairs neither
// deadlock nor let a rule slip.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "store/group_commit.h"
#include "store/run_store.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::metad::v1::RUN_STATUS_ERROR;
using ::metad::v1::RUN_STATUS_SUCCESS;
using store::FinishRunInput;
using store::FinishRunResult;
using store::StartRunInput;
using store::StartRunResult;

StartRunInput Start(const std::string& task, const std::string& batch,
                    const std::string& request_id = "") {
  StartRunInput in;
  in.task = task;
  in.batch_id = batch;
  in.worker_id = "w";
  in.request_id = request_id;
  return in;
}

FinishRunInput Finish(int64_t run_id,
                      metad::v1::RunStatus status = RUN_STATUS_SUCCESS,
                      const std::string& message = "",
                      std::vector<int64_t> file_ids = {}) {
  FinishRunInput in;
  in.run_id = run_id;
  in.status = status;
  in.error_message = message;
  in.file_ids = std::move(file_ids);
  return in;
}

template <typename T>
std::vector<const T*> Pointers(const std::vector<T>& v) {
  std::vector<const T*> out;
  for (const T& x : v) out.push_back(&x);
  return out;
}

class RunBatchTest : public RunTest {
 protected:
  store::RunStore store_{nullptr};
  void SetUp() override {
    RunTest::SetUp();
    store_ = store::RunStore(db());
  }
};

TEST_F(RunBatchTest, EachStartIsAnsweredAsIfAlone) {
  CreateTask("a");
  CreateTask("b");
  CreateTask("c");
  AddEdge("a", "b");
  // Not in lock order on purpose: answers must come back to their callers.
  std::vector<StartRunInput> ins = {
      Start("nope", "x"),     // 0: no such task
      Start("c", "z", "r1"),  // 1: r1 is taken by (c, y), which runs first
      Start("a", "x"),        // 2: created
      Start("a", "x"),        // 3: 2's run is PROCESSING
      Start("b", "x"),        // 4: its parent a has no SUCCESS
      Start("c", "y", "r1"),  // 5: created
      Start("c", "y", "r1"),  // 6: 5's run again, created=false
  };
  auto answers = store_.StartRuns({}, Pointers(ins));
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), ins.size());
  auto code = [&](size_t i) { return (*answers)[i].status().code(); };
  EXPECT_EQ(code(0), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(1), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE((*answers)[2].ok()) << (*answers)[2].status();
  EXPECT_TRUE((*answers)[2]->created);
  EXPECT_EQ((*answers)[2]->run.task_name(), "a");
  EXPECT_EQ(code(3), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE((*answers)[3].status().message().find(
                absl::StrCat("run ", (*answers)[2]->run.id())),
            std::string::npos)
      << (*answers)[3].status();
  EXPECT_EQ(code(4), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE((*answers)[4].status().message().find("waiting for a"),
            std::string::npos)
      << (*answers)[4].status();
  ASSERT_TRUE((*answers)[5].ok()) << (*answers)[5].status();
  EXPECT_TRUE((*answers)[5]->created);
  EXPECT_EQ((*answers)[5]->run.batch_id(), "y");
  ASSERT_TRUE((*answers)[6].ok()) << (*answers)[6].status();
  EXPECT_FALSE((*answers)[6]->created);
  EXPECT_EQ((*answers)[6]->run.id(), (*answers)[5]->run.id());
  // Two runs, each with its STARTED event, and nothing else.
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'STARTED'"), 2);

  // The same calls alone get the same codes.
  for (size_t i : {0, 1, 3, 4}) {
    EXPECT_EQ(store_.StartRun({}, ins[i]).status().code(), code(i)) << i;
  }
}

TEST_F(RunBatchTest, EachFinishIsAnsweredAsIfAlone) {
  CreateTask("t");
  auto start = [&](const std::string& batch) {
    auto r = store_.StartRun({}, Start("t", batch));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->run.id() : 0;
  };
  const int64_t live = start("1"), lapsed = start("2"), done = start("3");
  const int64_t other = start("4");
  const int64_t file = AddFile("f", "PROCESSING", live);
  const int64_t named = AddFile("g", "PROCESSING", other);
  const int64_t unnamed = AddFile("h", "PROCESSING", other);
  LapseLease(lapsed);
  ASSERT_TRUE(store_.FinishRun({}, Finish(done)).ok());

  std::vector<FinishRunInput> ins = {
      Finish(999999),                                    // 0: no such run
      Finish(lapsed),                                    // 1: lease lapsed
      Finish(live, RUN_STATUS_ERROR, "boom", {file}),    // 2: ends it
      Finish(live),                                      // 3: 2 ended it
      Finish(done, RUN_STATUS_ERROR, "late"),            // 4: ended before
      Finish(done),                                      // 5: a retry
      Finish(other, RUN_STATUS_SUCCESS, "", {named}),    // 6: one released
  };
  auto answers = store_.FinishRuns({}, Pointers(ins));
  ASSERT_TRUE(answers.ok()) << answers.status();
  auto code = [&](size_t i) { return (*answers)[i].status().code(); };
  EXPECT_EQ(code(0), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(1), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE((*answers)[1].status().message().find("lease expired at"),
            std::string::npos)
      << (*answers)[1].status();
  ASSERT_TRUE((*answers)[2].ok()) << (*answers)[2].status();
  EXPECT_EQ((*answers)[2]->files_finished, 1);
  EXPECT_EQ((*answers)[2]->run.error_message(), "boom");
  EXPECT_EQ(code(3), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE((*answers)[3].status().message().find("has ended (ERROR: boom)"),
            std::string::npos)
      << (*answers)[3].status();
  EXPECT_EQ(code(4), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*answers)[5].ok()) << (*answers)[5].status();
  EXPECT_TRUE((*answers)[5]->replayed);
  // Each call's file_ids are its own, though the batch sends them as one
  // array.
  ASSERT_TRUE((*answers)[6].ok()) << (*answers)[6].status();
  EXPECT_EQ((*answers)[6]->files_finished, 1);
  EXPECT_EQ((*answers)[6]->files_released, 1);
  EXPECT_FALSE((*answers)[6]->replayed);
  // The refusal of the lapsed run committed its expiry.
  EXPECT_EQ(RunState(lapsed), "ERROR:lease expired:true:true");
  EXPECT_EQ(RunState(live), "ERROR:boom:true:true");
  EXPECT_EQ(FileStatus(file), absl::StrCat("ERROR/", live));
  EXPECT_EQ(FileStatus(named), absl::StrCat("SUCCESS/", other));
  EXPECT_EQ(FileStatus(unnamed), "NEW/null");
}

// 16 threads start and finish runs of 4 tasks in 8 batches through two
// committers, so batches overlap on the same (task, batch) pairs in both
// directions. Every pair ends with exactly one SUCCESS run, every call gets
// an answer the rules allow, and no batch fails as a whole.
TEST_F(RunBatchTest, ConcurrentBatchesKeepTheRules) {
  for (const char* t : {"t0", "t1", "t2", "t3"}) CreateTask(t, 100);
  store::GroupCommit<StartRunInput, StartRunResult> starts(
      [&](const store::TxOptions& o, const StartRunInput& in) {
        return store_.StartRun(o, in);
      },
      [&](const store::TxOptions& o,
          const std::vector<const StartRunInput*>& ins) {
        return store_.StartRuns(o, ins);
      });
  store::GroupCommit<FinishRunInput, FinishRunResult> finishes(
      [&](const store::TxOptions& o, const FinishRunInput& in) {
        return store_.FinishRun(o, in);
      },
      [&](const store::TxOptions& o,
          const std::vector<const FinishRunInput*>& ins) {
        return store_.FinishRuns(o, ins);
      });
  constexpr int kThreads = 16, kRounds = 40;
  std::atomic<int> unexpected{0}, succeeded{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kRounds; ++i) {
        StartRunInput in = Start(absl::StrCat("t", (th + i) % 4),
                                 absl::StrCat("b", (th * 7 + i) % 8));
        absl::Notification started;
        absl::StatusOr<StartRunResult> s;
        starts.Submit({}, in, [&](absl::StatusOr<StartRunResult> r) {
          s = std::move(r);
          started.Notify();
        });
        started.WaitForNotification();
        if (!s.ok()) {
          // Another thread's run is PROCESSING, or the pair succeeded.
          if (s.status().code() != absl::StatusCode::kFailedPrecondition) {
            ++unexpected;
            ADD_FAILURE() << s.status();
          }
          continue;
        }
        absl::Notification finished;
        absl::StatusOr<FinishRunResult> f;
        // Every other run fails, so its pair can start again.
        FinishRunInput fin =
            i % 2 == 0 ? Finish(s->run.id())
                       : Finish(s->run.id(), RUN_STATUS_ERROR, "again");
        finishes.Submit({}, fin, [&](absl::StatusOr<FinishRunResult> r) {
          f = std::move(r);
          finished.Notify();
        });
        finished.WaitForNotification();
        if (!f.ok()) {
          ++unexpected;
          ADD_FAILURE() << f.status();
        } else if (f->run.status() == metad::v1::RUN_STATUS_SUCCESS) {
          ++succeeded;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(starts.stats().fallbacks + finishes.stats().fallbacks, 0);
  // At most one SUCCESS per pair (the unique index would have refused a
  // second one; the rules must have refused it first), none PROCESSING.
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE status = 'SUCCESS'"),
            succeeded.load());
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT 1 FROM task_log "
                  "WHERE status = 'SUCCESS' GROUP BY task_id, batch_id "
                  "HAVING count(*) > 1) x"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE status = "
                  "'PROCESSING'"),
            0);
  // One STARTED and one FINISHED event per run.
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'STARTED'"),
            Count("SELECT count(*) FROM task_log"));
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'FINISHED'"),
            Count("SELECT count(*) FROM task_log"));
  // The calls did share statements.
  starts.Stop();
  finishes.Stop();
  EXPECT_GT(starts.stats().batched_calls, 0);
  EXPECT_GT(finishes.stats().batched_calls, 0);
}

}  // namespace
}  // namespace metad::testing
