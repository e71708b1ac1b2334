// Coalesced ClaimFiles (store::ClaimBatcher, FileStore::ClaimMany) against a
// real PostgreSQL: a batch answers each call as a claim of its own would,
// 32 concurrent callers never get one file twice (checked in the database),
// and calls queued behind a busy committer share one transaction.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "store/claim_batcher.h"
#include "tests/file_test_support.h"

namespace metad::store {
namespace {

using ::metad::testing::FileTest;

struct Answer {
  absl::Notification done;
  absl::StatusOr<ClaimResult> result;
};

class ClaimBatcherTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    store_ = std::make_unique<FileStore>(db());
  }

  // `n` NEW files of `source`, one statement.
  void AddFiles(const std::string& source, int n) {
    Sql(
        absl::StrCat("WITH f AS (INSERT INTO files (source, file_name) "
                     "SELECT '",
                     source, "', 'f' || g FROM generate_series(1, ", n,
                     ") g RETURNING id) SELECT count(*) FROM f"));
  }

  std::vector<int64_t> Ids(const ClaimResult& r) {
    std::vector<int64_t> ids;
    for (const auto& f : r.files) ids.push_back(f.id());
    return ids;
  }

  std::unique_ptr<FileStore> store_;
};

TEST_F(ClaimBatcherTest, ClaimManyAnswersEachCallAsAClaimOfItsOwn) {
  AddFiles("a", 10);
  AddFiles("b", 10);
  const int64_t live1 = NewRun(), live2 = NewRun(), from_b = NewRun(),
                ended = NewRun(), lapsed = NewRun(), replay = NewRun(),
                reused = NewRun();
  EndRun(ended, "SUCCESS");
  ExpireLease(lapsed);
  // Earlier claims of `replay` and `reused` with request_id "r".
  auto first = store_->Claim({}, replay, "a", 2, "r");
  ASSERT_TRUE(first.ok()) << first.status();
  auto other = store_->Claim({}, reused, "", 1, "r");
  ASSERT_TRUE(other.ok()) << other.status();

  std::vector<ClaimCall> calls = {
      {live2, "", 4, "x"},  {from_b, "b", 3, ""}, {ended, "", 5, ""},
      {987654, "", 5, ""},  {lapsed, "", 5, ""},  {replay, "a", 2, "r"},
      {reused, "", 2, "r"}, {live1, "", 6, "y"},
  };
  std::vector<const ClaimCall*> ptrs;
  for (const ClaimCall& c : calls) ptrs.push_back(&c);
  auto answers = store_->ClaimMany({}, ptrs);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), calls.size());
  const auto& a = *answers;
  // Fresh claims of any source share a scan: 4 + 6 of the 17 NEW files
  // left after the earlier claims (1 went to `reused`, 2 to `replay`).
  ASSERT_TRUE(a[0].ok()) << a[0].status();
  ASSERT_TRUE(a[7].ok()) << a[7].status();
  EXPECT_EQ(a[0]->files.size(), 4u);
  EXPECT_EQ(a[7]->files.size(), 6u);
  EXPECT_FALSE(a[0]->replayed);
  for (const auto& f : a[0]->files) EXPECT_EQ(f.run_id(), live2);
  for (const auto& f : a[7]->files) EXPECT_EQ(f.run_id(), live1);
  ASSERT_TRUE(a[1].ok()) << a[1].status();
  EXPECT_EQ(a[1]->files.size(), 3u);
  for (const auto& f : a[1]->files) {
    EXPECT_EQ(f.source(), "b");
    EXPECT_EQ(f.status(), metad::v1::FILE_STATUS_PROCESSING);
  }
  EXPECT_EQ(a[2].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a[3].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a[4].status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(a[5].ok()) << a[5].status();
  EXPECT_TRUE(a[5]->replayed);
  EXPECT_EQ(Ids(*a[5]), Ids(*first));
  EXPECT_EQ(a[6].status().code(), absl::StatusCode::kAlreadyExists);

  // The database agrees: each file claimed once, by the run answered, with
  // its CLAIMED event, and each request_id's files recorded for a retry.
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'PROCESSING'"),
            1 + 2 + 4 + 3 + 6);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT file_id FROM file_events "
                  "WHERE kind = 'CLAIMED' GROUP BY file_id "
                  "HAVING count(*) > 1) x"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM files f WHERE f.status = "
                  "'PROCESSING' AND NOT EXISTS (SELECT FROM file_events e "
                  "WHERE e.file_id = f.id AND e.kind = 'CLAIMED' "
                  "AND e.run_id = f.run_id)"),
            0);
  EXPECT_EQ(Sql(absl::StrCat("SELECT file_ids::text FROM claim_requests "
                             "WHERE run_id = ",
                             live1, " AND request_id = 'y'")),
            absl::StrCat("{", absl::StrJoin(Ids(*a[7]), ","), "}"));
  // A retry of a batched call, alone, replays it.
  auto retry = store_->Claim({}, live2, "", 4, "x");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(Ids(*retry), Ids(*a[0]));
}

TEST_F(ClaimBatcherTest, TwoCallsOfOneRunAreLeftToRunAlone) {
  AddFiles("a", 5);
  const int64_t run = NewRun();
  ClaimCall c1{run, "", 2, ""}, c2{run, "", 2, ""};
  auto answers = store_->ClaimMany({}, {&c1, &c2});
  EXPECT_EQ(answers.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'NEW'"), 5);
}

TEST_F(ClaimBatcherTest, QueuedCallsShareOneTransaction) {
  AddFiles("a", 100);
  GroupCommitOptions options;
  options.committers = 1;
  ClaimBatcher batcher(store_.get(), options);
  // Hold the committer: its first call's FOR SHARE on the run waits for
  // our FOR UPDATE.
  const int64_t blocker = NewRun();
  pqxx::connection conn(url());
  auto* tx = new pqxx::work(conn);
  tx->exec(absl::StrCat("SELECT 1 FROM task_log WHERE id = ", blocker,
                        " FOR UPDATE"));
  Answer blocked;
  auto submit = [&batcher](ClaimCall call, Answer* answer) {
    batcher.Submit({}, std::move(call), [answer](auto result) {
      answer->result = std::move(result);
      answer->done.Notify();
    });
  };
  submit({blocker, "", 10, ""}, &blocked);
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting; ++i) {
    waiting = Count(
                  "SELECT count(*) FROM pg_stat_activity "
                  "WHERE wait_event_type = 'Lock' "
                  "AND datname = current_database()") > 0;
    if (!waiting) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(waiting) << "the committer never waited for the run's lock";
  constexpr int kCalls = 8;
  std::vector<int64_t> runs;
  std::vector<Answer> answers(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    runs.push_back(NewRun());
    submit({runs[i], "", 10, absl::StrCat("q", i)}, &answers[i]);
  }
  tx->commit();
  delete tx;

  blocked.done.WaitForNotification();
  ASSERT_TRUE(blocked.result.ok()) << blocked.result.status();
  EXPECT_EQ(blocked.result->files.size(), 10u);
  const std::vector<int64_t> first_ids = Ids(*blocked.result);
  std::set<int64_t> seen(first_ids.begin(), first_ids.end());
  for (int i = 0; i < kCalls; ++i) {
    answers[i].done.WaitForNotification();
    ASSERT_TRUE(answers[i].result.ok()) << answers[i].result.status();
    EXPECT_EQ(answers[i].result->files.size(), 10u);
    for (const auto& f : answers[i].result->files) {
      EXPECT_EQ(f.run_id(), runs[i]);
      EXPECT_TRUE(seen.insert(f.id()).second) << "file " << f.id() << " twice";
    }
  }
  batcher.Stop();  // the committer counts a batch after answering it
  GroupCommitStats stats = batcher.stats();
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.batched_calls, kCalls);
  EXPECT_EQ(stats.fallbacks, 0);
}

TEST_F(ClaimBatcherTest, ThirtyTwoCallersNeverGetOneFileTwice) {
  constexpr int kCallers = 32;
  AddFiles("a", 2000);
  AddFiles("b", 1000);
  GroupCommitOptions options;
  options.committers = 2;
  ClaimBatcher batcher(store_.get(), options);
  std::vector<int64_t> runs;
  for (int i = 0; i < kCallers; ++i) runs.push_back(NewRun());
  std::vector<std::vector<int64_t>> got(kCallers);
  std::vector<std::string> errors(kCallers);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kCallers) std::this_thread::yield();
      for (int round = 0;; ++round) {
        Answer answer;
        // Uneven limits; every fourth caller takes source "b" only; every
        // claim with a request_id of its own.
        batcher.Submit({},
                       {runs[t], t % 4 == 0 ? "b" : "", 1 + (t + round) % 37,
                        absl::StrCat("c", round)},
                       [&answer](auto result) {
                         answer.result = std::move(result);
                         answer.done.Notify();
                       });
        answer.done.WaitForNotification();
        if (!answer.result.ok()) {
          errors[t] = answer.result.status().ToString();
          return;
        }
        if (answer.result->files.empty()) return;
        for (const auto& f : answer.result->files) {
          if (f.run_id() != runs[t]) errors[t] = "a file of another run";
          got[t].push_back(f.id());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  size_t total = 0;
  for (int t = 0; t < kCallers; ++t) {
    EXPECT_EQ(errors[t], "") << "caller " << t;
    total += got[t].size();
    all.insert(got[t].begin(), got[t].end());
  }
  EXPECT_EQ(total, all.size()) << "a file went to two callers";
  EXPECT_EQ(all.size(), 3000u);
  // From the database: every file PROCESSING under exactly one run, with
  // exactly one CLAIMED event naming that run, and every claim request's
  // recorded files held by its run.
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status <> 'PROCESSING'"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT file_id FROM file_events "
                  "WHERE kind = 'CLAIMED' GROUP BY file_id "
                  "HAVING count(*) <> 1) x"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM files f JOIN file_events e "
                  "ON e.file_id = f.id AND e.kind = 'CLAIMED' "
                  "WHERE e.run_id <> f.run_id"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM claim_requests c, "
                  "unnest(c.file_ids) u(id) JOIN files f ON f.id = u.id "
                  "WHERE f.run_id <> c.run_id"),
            0);
  EXPECT_EQ(Count("SELECT coalesce(sum(cardinality(file_ids)), 0) "
                  "FROM claim_requests"),
            3000);
  for (int t = 0; t < kCallers; ++t) {
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM files WHERE run_id = ",
                                 runs[t])),
              static_cast<int64_t>(got[t].size()));
  }
}

}  // namespace
}  // namespace metad::store
