// StatusPageStore's bounds, which the HTTP tests cannot reach cheaply: a task
// limit marks the graph truncated and keeps only edges between shown tasks,
// and a task whose latest run is older than the batch's run window still
// gets it.
#include <gtest/gtest.h>

#include "store/status_page_store.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

class StatusStoreTest : public PgTest {};

TEST_F(StatusStoreTest, TaskLimitTruncatesTheGraph) {
  Sql("INSERT INTO tasks (name) VALUES ('a'), ('b'), ('c')");
  Sql("INSERT INTO task_dependencies (parent_id, child_id) "
      "SELECT p.id, c.id FROM tasks p, tasks c "
      "WHERE (p.name, c.name) IN (('a', 'b'), ('b', 'c'))");
  store::StatusPageStore status_store(db());
  store::StatusBatchLimits limits;
  limits.tasks = 2;
  auto g = status_store.BatchGraph({}, "x", limits);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->truncated);
  ASSERT_EQ(g->tasks.size(), 2u);
  EXPECT_EQ(g->tasks[0].name, "a");
  EXPECT_EQ(g->tasks[1].name, "b");
  ASSERT_EQ(g->edges.size(), 1u);  // b -> c is left out with c
  EXPECT_EQ(g->edges[0].first, g->tasks[0].id);
  EXPECT_EQ(g->edges[0].second, g->tasks[1].id);
  EXPECT_TRUE(g->tasks[0].ready);
  EXPECT_FALSE(g->tasks[1].ready);

  limits.tasks = 3;
  g = status_store.BatchGraph({}, "x", limits);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->truncated);
  EXPECT_EQ(g->edges.size(), 2u);
}

TEST_F(StatusStoreTest, LatestRunOutsideTheRunWindowIsStillShown) {
  Sql("INSERT INTO tasks (name, max_attempts) VALUES ('a', 5), ('b', 1)");
  // a: ERROR then PROCESSING; b: one ERROR, the newest run of the batch.
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, end_time, error_message) "
      "SELECT id, 'x', 'ERROR', 1, 60, now(), 'first' FROM tasks "
      "WHERE name = 'a'");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time) "
      "SELECT id, 'x', 'PROCESSING', 2, 60, now() + interval '1 minute' "
      "FROM tasks WHERE name = 'a'");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, end_time, error_message) "
      "SELECT id, 'x', 'ERROR', 1, 60, now(), 'b failed' FROM tasks "
      "WHERE name = 'b'");
  store::StatusPageStore status_store(db());
  store::StatusBatchLimits limits;
  limits.runs = 1;
  auto g = status_store.BatchGraph({}, "x", limits);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->runs.size(), 1u);
  EXPECT_EQ(g->runs[0].error_message, "b failed");
  ASSERT_EQ(g->tasks.size(), 2u);
  ASSERT_TRUE(g->tasks[0].latest.has_value());
  EXPECT_EQ(g->tasks[0].latest->status, "PROCESSING");
  EXPECT_EQ(g->tasks[0].latest->attempt, 2);
  EXPECT_EQ(g->tasks[0].attempts, 2);
  EXPECT_FALSE(g->tasks[0].ready);  // a live run
  ASSERT_TRUE(g->tasks[1].latest.has_value());
  EXPECT_EQ(g->tasks[1].latest->status, "ERROR");
  EXPECT_FALSE(g->tasks[1].ready);  // no attempts left

  auto o = status_store.Overview({}, store::StatusOverviewLimits());
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->batches.size(), 1u);
  EXPECT_EQ(o->batches[0].processing_tasks, 1);
  EXPECT_EQ(o->batches[0].error_tasks, 1);
  EXPECT_EQ(o->batches[0].runs, 3);
  EXPECT_EQ(o->runs_by_status.at("ERROR"), 2);
  EXPECT_GT(o->oldest_processing_run_seconds, -1);
}

}  // namespace
}  // namespace metad::testing
