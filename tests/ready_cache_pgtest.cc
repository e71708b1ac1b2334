// GetReadyTasks answers held per batch (store/ready_cache.h) against the
// uncached SQL answer, across a random sequence of run starts and finishes,
// lease lapses (with no write after the answer was held) and graph edits,
// made through two daemons' stores ("replicas" A and B, each with its own
// pool and its own held answers): after every step, both replicas' answers
// equal the SQL one in a later snapshot.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/database.h"
#include "store/dependency_store.h"
#include "store/run_store.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

using metad::v1::Task;

class ReadyCacheTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    DatabaseOptions options;
    options.url = url();
    options.pool_size = 4;
    db_b_ = std::make_unique<Database>(options);
  }

  static std::vector<int64_t> Ids(DependencyStore& store,
                                  const std::string& batch,
                                  const std::vector<std::string>& targets) {
    absl::StatusOr<std::vector<Task>> r = store.ReadyTasks({}, batch, targets);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<int64_t> ids;
    if (r.ok()) {
      for (const Task& t : *r) ids.push_back(t.id());
    }
    return ids;
  }

  std::unique_ptr<Database> db_b_;
};

TEST_F(ReadyCacheTest, HeldAnswersEqualSqlAcrossReplicasAndLapses) {
  constexpr int kTasks = 12;
  std::mt19937 rng(20261203);
  auto uniform = [&rng](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  for (int i = 0; i < kTasks; ++i) {
    Sql(absl::StrCat("INSERT INTO tasks (name, max_attempts) VALUES ('t", i,
                     "', ", uniform(1, 3), ")"));
  }
  DependencyStore a(db()), b(db_b_.get());
  DependencyStore sql_only(db(), {.ready_graph_max_tasks = 0});
  RunStore runs_a(db()), runs_b(db_b_.get());
  DependencyStore* replicas[] = {&a, &b};
  RunStore* run_stores[] = {&runs_a, &runs_b};
  const char* batches[] = {"b1", "b2"};
  std::vector<int64_t> live;  // runs started and not finished
  int lapses_that_changed = 0, compared = 0;

  auto compare_all = [&](const std::string& step) {
    for (const char* batch : batches) {
      for (int t = -1; t < kTasks; t += 5) {
        std::vector<std::string> targets;
        if (t >= 0) targets.push_back(absl::StrCat("t", t));
        const std::vector<int64_t> want = Ids(sql_only, batch, targets);
        // Twice from A: the second call is answered from what it holds.
        EXPECT_EQ(Ids(a, batch, targets), want) << step << " " << batch;
        EXPECT_EQ(Ids(a, batch, targets), want) << step << " " << batch;
        EXPECT_EQ(Ids(b, batch, targets), want) << step << " " << batch;
        ++compared;
      }
    }
  };

  for (int step = 0; step < 160; ++step) {
    const int via = uniform(0, 1);
    const std::string batch = batches[uniform(0, 1)];
    std::string what;
    switch (uniform(0, 9)) {
      case 0:
      case 1:
      case 2:
      case 3: {  // a start (refused when the task may not start: fine)
        StartRunInput in;
        in.task = absl::StrCat("t", uniform(0, kTasks - 1));
        in.batch_id = batch;
        in.lease_seconds = 60;
        absl::StatusOr<StartRunResult> r = run_stores[via]->StartRun({}, in);
        if (r.ok()) live.push_back(r->run.id());
        what = absl::StrCat("start ", in.task, " in ", batch);
        break;
      }
      case 4:
      case 5:
      case 6: {  // a finish
        if (live.empty()) continue;
        const size_t k = uniform(0, static_cast<int>(live.size()) - 1);
        FinishRunInput in;
        in.run_id = live[k];
        in.status = uniform(0, 2) ? metad::v1::RUN_STATUS_SUCCESS
                                  : metad::v1::RUN_STATUS_ERROR;
        live.erase(live.begin() + k);
        // A run whose lease lapsed may be refused: the answer still holds.
        (void)run_stores[via]->FinishRun({}, in);
        what = absl::StrCat("finish run ", in.run_id);
        break;
      }
      case 7: {  // a lapse: held answers first, then the lease runs out
        if (live.empty()) continue;
        const int64_t run = live[uniform(0, static_cast<int>(live.size()) - 1)];
        Sql(
            absl::StrCat("UPDATE task_log SET lease_expire_time = now() + "
                         "interval '300 milliseconds' WHERE id = ",
                         run, " AND status = 'PROCESSING'"));
        compare_all(absl::StrCat("step ", step, " before lapse"));
        const std::vector<int64_t> before = Ids(a, "b1", {});
        const std::vector<int64_t> before2 = Ids(a, "b2", {});
        // Waits on the database's clock, which the ready rule uses.
        while (Sql(absl::StrCat("SELECT now() > lease_expire_time FROM "
                                "task_log WHERE id = ",
                                run)) == "f") {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (Ids(sql_only, "b1", {}) != before ||
            Ids(sql_only, "b2", {}) != before2) {
          ++lapses_that_changed;
        }
        what = absl::StrCat("lapse of run ", run);
        break;
      }
      default: {  // a graph edit, through A's or B's store
        const int p = uniform(0, kTasks - 2), c = uniform(p + 1, kTasks - 1);
        DependencyStore* s = replicas[via];
        const std::string parent = absl::StrCat("t", p);
        const std::string child = absl::StrCat("t", c);
        if (uniform(0, 1)) {
          (void)s->Add({}, parent, child);
        } else {
          (void)s->Remove({}, parent, child);
        }
        what = absl::StrCat("edge ", parent, " -> ", child);
        break;
      }
    }
    compare_all(absl::StrCat("step ", step, ": ", what));
  }
  // The sequence reached what it is meant to test.
  EXPECT_GT(compared, 500);
  EXPECT_GT(a.ready_cache_hits(), 300);
  EXPECT_GT(lapses_that_changed, 0);
}

}  // namespace
}  // namespace metad::store
