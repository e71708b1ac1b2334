// `metactl deps graph`: the dot text for a graph, with and without a batch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clients/cpp/dot.h"

namespace metad::metactl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Task T(int64_t id, const std::string& name) {
  v1::Task t;
  t.set_id(id);
  t.set_name(name);
  return t;
}

v1::Dependency E(const v1::Task& parent, const v1::Task& child) {
  v1::Dependency d;
  d.set_parent_task_id(parent.id());
  d.set_parent_task(parent.name());
  d.set_child_task_id(child.id());
  d.set_child_task(child.name());
  return d;
}

void AddState(v1::Batch* b, const v1::Task& t, v1::RunStatus status,
              int attempts) {
  v1::BatchTask* bt = b->add_tasks();
  bt->set_task_id(t.id());
  bt->set_task_name(t.name());
  bt->set_status(status);
  bt->set_attempts(attempts);
}

TEST(RenderDot, WholeGraphWithoutBatch) {
  v1::Task load = T(1, "load_sales"), calc = T(2, "calculate_profit"),
           lone = T(3, "lonely");
  GraphInput g;
  g.tasks = {load, calc, lone};
  g.edges = {E(load, calc)};
  EXPECT_EQ(RenderDot(g),
            "digraph metad {\n"
            "  rankdir=LR;\n"
            "  node [shape=box, style=\"rounded,filled\", "
            "fontname=\"Helvetica\", fillcolor=\"#dddddd\"];\n"
            "  t1 [label=\"load_sales\"];\n"
            "  t2 [label=\"calculate_profit\"];\n"
            "  t3 [label=\"lonely\"];\n"
            "  t1 -> t2;\n"
            "}\n");
}

TEST(RenderDot, ColoursEachTaskByItsStateInTheBatch) {
  v1::Task ok = T(1, "ok"), bad = T(2, "bad"), busy = T(3, "busy"),
           ready = T(4, "ready"), waiting = T(5, "waiting"),
           retry = T(6, "retry");
  GraphInput g;
  g.tasks = {ok, bad, busy, ready, waiting, retry};
  g.edges = {E(ok, ready), E(bad, waiting), E(busy, waiting)};
  g.has_batch = true;
  g.batch.set_batch_id("2024-03");
  AddState(&g.batch, ok, v1::RUN_STATUS_SUCCESS, 1);
  AddState(&g.batch, bad, v1::RUN_STATUS_ERROR, 3);
  AddState(&g.batch, busy, v1::RUN_STATUS_PROCESSING, 1);
  AddState(&g.batch, retry, v1::RUN_STATUS_ERROR, 1);
  g.ready = {ready, retry};
  std::string dot = RenderDot(g);
  EXPECT_THAT(dot, HasSubstr("label=\"batch 2024-03\""));
  EXPECT_THAT(dot, HasSubstr("t1 [label=\"ok\\nSUCCESS (1 attempt)\", "
                             "fillcolor=\"#8fd19e\"]"));
  EXPECT_THAT(dot, HasSubstr("t2 [label=\"bad\\nERROR (3 attempts)\", "
                             "fillcolor=\"#f4a09c\"]"));
  EXPECT_THAT(dot, HasSubstr("t3 [label=\"busy\\nPROCESSING (1 attempt)\", "
                             "fillcolor=\"#fce38a\"]"));
  EXPECT_THAT(dot, HasSubstr("t4 [label=\"ready\\nready\", "
                             "fillcolor=\"#a9cdf5\"]"));
  EXPECT_THAT(dot, HasSubstr("t5 [label=\"waiting\\nwaiting\", "
                             "fillcolor=\"#dddddd\"]"));
  // ERROR wins over ready, and the label says it may be retried.
  EXPECT_THAT(dot, HasSubstr("t6 [label=\"retry\\nERROR (1 attempt), "
                             "ready\", fillcolor=\"#f4a09c\"]"));
  EXPECT_THAT(dot, HasSubstr("t1 -> t4;\n  t2 -> t5;\n  t3 -> t5;\n"));
}

TEST(RenderDot, BatchWithoutRunsColoursOnlyReadyTasks) {
  v1::Task a = T(1, "a"), b = T(2, "b");
  GraphInput g;
  g.tasks = {a, b};
  g.edges = {E(a, b)};
  g.has_batch = true;
  g.batch.set_batch_id("empty");
  g.ready = {a};
  std::string dot = RenderDot(g);
  EXPECT_THAT(dot,
              HasSubstr("t1 [label=\"a\\nready\", fillcolor=\"#a9cdf5\"]"));
  EXPECT_THAT(dot,
              HasSubstr("t2 [label=\"b\\nwaiting\", fillcolor=\"#dddddd\"]"));
}

TEST(RenderDot, EdgesToUnlistedTasksStillGetNodesAndDuplicatesCollapse) {
  v1::Task a = T(1, "a"), b = T(7, "b");
  GraphInput g;
  g.tasks = {a};
  g.edges = {E(a, b), E(a, b)};
  std::string dot = RenderDot(g);
  EXPECT_THAT(dot, HasSubstr("t7 [label=\"b\"];"));
  EXPECT_EQ(dot.find("t1 -> t7;"), dot.rfind("t1 -> t7;"));
}

TEST(RenderDot, EmptyGraphIsStillValid) {
  std::string dot = RenderDot(GraphInput{});
  EXPECT_THAT(dot, HasSubstr("digraph metad {"));
  EXPECT_THAT(dot, Not(HasSubstr("->")));
  EXPECT_EQ(dot.back(), '\n');
}

TEST(DotQuote, EscapesQuotesBackslashesAndNewlines) {
  EXPECT_EQ(DotQuote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
}

}  // namespace
}  // namespace metad::metactl
