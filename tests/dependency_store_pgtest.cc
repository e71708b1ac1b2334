// DependencyStore against a real PostgreSQL: edges, cycle refusal with its
// path, shortest depths, execution layers, and the ready query checked
// against a C++ reference on a graph of 10,000 tasks and ~50,000 edges, from
// the graph held in memory and from SQL; the held graph follows changes made
// through another daemon.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "store/dependency_store.h"
#include "store/status_page_store.h"
#include "store/task_graph.h"
#include "store/task_store.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

using metad::v1::ExecutionLayer;
using metad::v1::Task;
using metad::v1::TaskAtDepth;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DependencyStoreTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store_ = std::make_unique<DependencyStore>(db());
  }

  void Tasks(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      Sql(std::string("INSERT INTO tasks (name) VALUES ('") + name + "')");
    }
  }

  void Edge(const std::string& parent, const std::string& child) {
    absl::StatusOr<AddDependencyResult> r = store_->Add({}, parent, child);
    ASSERT_TRUE(r.ok()) << parent << " -> " << child << ": " << r.status();
    EXPECT_TRUE(r->created);
  }

  // "name:depth" in response order.
  std::vector<std::string> Walk(const std::string& task, EdgeDirection d,
                                int32_t max_depth = 0) {
    absl::StatusOr<std::vector<TaskAtDepth>> r =
        store_->Walk({}, task, d, max_depth);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    if (!r.ok()) return out;
    for (const TaskAtDepth& t : *r) {
      out.push_back(t.task().name() + ":" + std::to_string(t.depth()));
    }
    return out;
  }

  // Layers as "a b | c | d".
  std::string Plan(const std::vector<std::string>& targets) {
    absl::StatusOr<std::vector<ExecutionLayer>> r =
        store_->ExecutionPlan({}, targets);
    EXPECT_TRUE(r.ok()) << r.status();
    std::string out;
    if (!r.ok()) return out;
    for (const ExecutionLayer& layer : *r) {
      if (!out.empty()) out += " | ";
      for (int i = 0; i < layer.tasks_size(); ++i) {
        out += (i ? " " : "") + layer.tasks(i).name();
      }
    }
    return out;
  }

  std::unique_ptr<DependencyStore> store_;
};

TEST_F(DependencyStoreTest, AddCreatesOnceThenIsANoOp) {
  Tasks({"load_sales", "calculate_profit"});
  absl::StatusOr<AddDependencyResult> first =
      store_->Add({}, "load_sales", "calculate_profit");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->dependency.parent_task(), "load_sales");
  EXPECT_EQ(first->dependency.child_task(), "calculate_profit");
  EXPECT_EQ(first->dependency.parent_task_id(), 1);
  EXPECT_EQ(first->dependency.child_task_id(), 2);
  EXPECT_GT(first->dependency.create_time().seconds(), 0);

  absl::StatusOr<AddDependencyResult> again =
      store_->Add({}, "load_sales", "calculate_profit");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->dependency.create_time().nanos(),
            first->dependency.create_time().nanos());
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "1");
}

TEST_F(DependencyStoreTest, AddRefusesSelfEdgesAndUnknownTasks) {
  Tasks({"a"});
  absl::Status s = store_->Add({}, "a", "a").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("would make task a depend on itself"));

  s = store_->Add({}, "ghost", "a").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("parent_task: no task named \"ghost\""));
  s = store_->Add({}, "a", "ghost").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("child_task: no task named \"ghost\""));
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "0");
}

TEST_F(DependencyStoreTest, AddRefusesCyclesNamingTheShortestOne) {
  Tasks({"a", "b", "c", "d", "e"});
  Edge("a", "b");
  Edge("b", "c");
  absl::Status s = store_->Add({}, "c", "a").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "adding c -> a would close the cycle c -> a -> b -> c");
  s = store_->Add({}, "b", "a").status();
  EXPECT_EQ(s.message(), "adding b -> a would close the cycle b -> a -> b");

  // Two routes from a to e: the message names the shorter.
  Edge("c", "d");
  Edge("d", "e");
  Edge("a", "e");
  s = store_->Add({}, "e", "a").status();
  EXPECT_EQ(s.message(), "adding e -> a would close the cycle e -> a -> e");
  s = store_->Add({}, "d", "b").status();
  EXPECT_EQ(s.message(),
            "adding d -> b would close the cycle d -> b -> c -> d");
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "5");
  // A shortcut in the direction of the flow is no cycle.
  Edge("b", "e");
}

TEST_F(DependencyStoreTest, RemoveDeletesTheEdgeOrSaysNotFound) {
  Tasks({"a", "b"});
  Edge("a", "b");
  absl::StatusOr<metad::v1::Dependency> removed = store_->Remove({}, "a", "b");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->parent_task(), "a");
  EXPECT_EQ(removed->child_task(), "b");
  EXPECT_GT(removed->create_time().seconds(), 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "0");

  absl::Status s = store_->Remove({}, "a", "b").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("dependency a -> b: not found"));
  s = store_->Remove({}, "a", "nope").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("child_task: no task named \"nope\""));
  // Removing lets the reverse edge in.
  Edge("b", "a");
}

TEST_F(DependencyStoreTest, ListIsDirectAndOrderedByTheOtherTasksId) {
  Tasks({"a", "b", "c", "d", "x"});
  Edge("x", "d");
  Edge("x", "b");
  Edge("c", "x");
  Edge("a", "x");
  Edge("a", "c");  // not an edge of x
  auto names = [&](EdgeDirection dir) {
    absl::StatusOr<std::vector<metad::v1::Dependency>> r =
        store_->List({}, "x", dir);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    for (const auto& d : *r) {
      out.push_back(d.parent_task() + "->" + d.child_task());
    }
    return out;
  };
  EXPECT_THAT(names(EdgeDirection::kParents), ElementsAre("a->x", "c->x"));
  EXPECT_THAT(names(EdgeDirection::kChildren), ElementsAre("x->b", "x->d"));
  EXPECT_EQ(store_->List({}, "y", EdgeDirection::kParents).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DependencyStoreTest, WalkGivesShortestDepthsAndHonoursTheLimit) {
  // a -> b -> c -> d, a -> d, d -> e; f unrelated.
  Tasks({"a", "b", "c", "d", "e", "f"});
  Edge("a", "b");
  Edge("b", "c");
  Edge("c", "d");
  Edge("a", "d");
  Edge("d", "e");
  EXPECT_THAT(Walk("a", EdgeDirection::kChildren),
              ElementsAre("b:1", "d:1", "c:2", "e:2"));
  EXPECT_THAT(Walk("a", EdgeDirection::kChildren, 1),
              ElementsAre("b:1", "d:1"));
  EXPECT_THAT(Walk("e", EdgeDirection::kParents),
              ElementsAre("d:1", "a:2", "c:2", "b:3"));
  EXPECT_THAT(Walk("e", EdgeDirection::kParents, 2),
              ElementsAre("d:1", "a:2", "c:2"));
  EXPECT_TRUE(Walk("f", EdgeDirection::kParents).empty());
  EXPECT_TRUE(Walk("a", EdgeDirection::kParents).empty());
  EXPECT_EQ(store_->Walk({}, "zz", EdgeDirection::kChildren, 0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DependencyStoreTest, PlanLayersADiamond) {
  // a -> b, a -> c, b -> d, c -> d; e alone; f -> a is upstream of all.
  Tasks({"a", "b", "c", "d", "e", "f"});
  Edge("a", "b");
  Edge("a", "c");
  Edge("b", "d");
  Edge("c", "d");
  EXPECT_EQ(Plan({"d"}), "a | b c | d");
  EXPECT_EQ(Plan({"d", "e"}), "a e | b c | d");
  EXPECT_EQ(Plan({"b"}), "a | b");
  EXPECT_EQ(Plan({"a"}), "a");
  Edge("f", "a");
  EXPECT_EQ(Plan({"d"}), "f | a | b c | d");
  // A task's layer follows its deepest parent: a -> d as well changes
  // nothing, b -> c moves c (and d) down.
  Edge("a", "d");
  Edge("b", "c");
  EXPECT_EQ(Plan({"d"}), "f | a | b | c | d");
  EXPECT_EQ(Plan({"c", "b"}), "f | a | b | c");

  absl::Status s = store_->ExecutionPlan({}, {"d", "nope"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("targets: no task named \"nope\""));
}

// ---- A big graph: the set-based queries against C++ references ----

class BigGraphTest : public DependencyStoreTest {
 protected:
  static constexpr int kTasks = 10000;

  void SetUp() override {
    DependencyStoreTest::SetUp();
    // Random edges from lower to higher ids (so acyclic), some tasks with
    // up to 3 attempts, and runs of every kind in batch "big".
    Sql("INSERT INTO tasks (name, max_attempts) SELECT 'n' || g, 1 + g % 3 "
        "FROM generate_series(1, 10000) g");
    Sql("SELECT setseed(0.42); "
        "INSERT INTO task_dependencies (parent_id, child_id) "
        "SELECT least(a, b), greatest(a, b) FROM ("
        "  SELECT 1 + floor(random() * 10000)::bigint AS a,"
        "         1 + floor(random() * 10000)::bigint AS b"
        "  FROM generate_series(1, 52000)) x "
        "WHERE a <> b ON CONFLICT DO NOTHING");
    // Parents succeed more often than not, so some children are ready.
    Sql("SELECT setseed(0.7); "
        "INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, lease_expire_time, end_time) "
        "SELECT id, 'big', s, 1, 60, "
        "  CASE WHEN s = 'PROCESSING' THEN now() + interval '1 hour' END, "
        "  CASE WHEN s = 'PROCESSING' THEN NULL ELSE now() END "
        "FROM (SELECT id, CASE WHEN r < 0.8 THEN 'SUCCESS' "
        "  WHEN r < 0.9 THEN 'ERROR' ELSE 'PROCESSING' END AS s "
        "  FROM (SELECT id, random() AS r FROM tasks) x "
        "  WHERE id % 2 = 0 OR id < 9000) y");
    Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, lease_expire_time, end_time) "
        "SELECT id, 'big', 'ERROR', 2, 60, NULL, now() FROM tasks "
        "WHERE id % 7 = 0 AND id NOT IN (SELECT task_id FROM task_log "
        "WHERE status = 'SUCCESS')");
    Sql("ANALYZE");

    pqxx::connection conn(url());
    pqxx::work tx(conn);
    for (const auto& row :
         tx.exec("SELECT parent_id, child_id FROM task_dependencies")) {
      int64_t p = row[0].as<int64_t>(), c = row[1].as<int64_t>();
      parents_[c].push_back(p);
      children_[p].push_back(c);
    }
    for (const auto& row : tx.exec("SELECT id, max_attempts FROM tasks")) {
      max_attempts_[row[0].as<int64_t>()] = row[1].as<int>();
    }
    for (const auto& row :
         tx.exec("SELECT task_id, status FROM task_log WHERE batch_id='big'")) {
      runs_[row[0].as<int64_t>()].push_back(row[1].as<std::string>());
    }
    edges_ = std::stoll(Sql("SELECT count(*) FROM task_dependencies"));
  }

  bool Succeeded(int64_t id) {
    const auto& r = runs_[id];
    return std::find(r.begin(), r.end(), "SUCCESS") != r.end();
  }

  bool Ready(int64_t id) {
    int errors = 0;
    for (const std::string& s : runs_[id]) {
      if (s == "SUCCESS" || s == "PROCESSING") return false;
      ++errors;
    }
    if (errors >= max_attempts_[id]) return false;
    for (int64_t p : parents_[id]) {
      if (!Succeeded(p)) return false;
    }
    return true;
  }

  std::map<int64_t, int> Bfs(int64_t start,
                             std::map<int64_t, std::vector<int64_t>>& adj) {
    std::map<int64_t, int> depth{{start, 0}};
    std::deque<int64_t> queue{start};
    while (!queue.empty()) {
      int64_t n = queue.front();
      queue.pop_front();
      for (int64_t m : adj[n]) {
        if (depth.emplace(m, depth[n] + 1).second) queue.push_back(m);
      }
    }
    depth.erase(start);
    return depth;
  }

  // The checks, run on one graph (building it takes most of the time).
  void ReadyTasksMatchesTheReference();
  void WalksMatchBreadthFirstReferences();
  void PlanPutsEveryTaskAfterItsParents();
  void CycleCheckNamesAShortestRealPath();

  std::map<int64_t, std::vector<int64_t>> parents_, children_;
  std::map<int64_t, int> max_attempts_;
  std::map<int64_t, std::vector<std::string>> runs_;
  int64_t edges_ = 0;
};

void BigGraphTest::ReadyTasksMatchesTheReference() {
  ASSERT_GT(edges_, 45000);
  std::vector<int64_t> expected;
  for (int64_t id = 1; id <= kTasks; ++id) {
    if (Ready(id)) expected.push_back(id);
  }
  ASSERT_FALSE(expected.empty());
  std::vector<std::string> targets{"n9990", "n5001", "n120"};
  std::set<int64_t> closure;
  for (int64_t t : {9990, 5001, 120}) {
    closure.insert(t);
    for (const auto& [id, d] : Bfs(t, parents_)) closure.insert(id);
  }
  std::vector<int64_t> expected_targets;
  for (int64_t id : expected) {
    if (closure.count(id)) expected_targets.push_back(id);
  }

  // The same answers from the graph held in memory (the default), from SQL
  // (the cache off) and from SQL because the graph is over the limit.
  DependencyStore sql_only(db(), {.ready_graph_max_tasks = 0});
  DependencyStore over_limit(db(), {.ready_graph_max_tasks = kTasks - 1});
  for (DependencyStore* store : {store_.get(), &sql_only, &over_limit}) {
    SCOPED_TRACE(store == store_.get() ? "graph"
                 : store == &sql_only  ? "sql"
                                       : "over limit");
    absl::StatusOr<std::vector<Task>> all = store->ReadyTasks({}, "big", {});
    ASSERT_TRUE(all.ok()) << all.status();
    std::vector<int64_t> got;
    for (const Task& t : *all) got.push_back(t.id());
    EXPECT_EQ(got, expected);

    // With targets: only the targets' upstream closure.
    absl::StatusOr<std::vector<Task>> some =
        store->ReadyTasks({}, "big", targets);
    ASSERT_TRUE(some.ok()) << some.status();
    got.clear();
    for (const Task& t : *some) got.push_back(t.id());
    EXPECT_EQ(got, expected_targets);

    // Another batch: nothing ran there, so the tasks without parents are
    // ready.
    absl::StatusOr<std::vector<Task>> fresh = store->ReadyTasks({}, "new", {});
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    ASSERT_FALSE(fresh->empty());
    for (const Task& t : *fresh) EXPECT_TRUE(parents_[t.id()].empty());
  }
  // Only the default store held the graph, and read it once.
  EXPECT_EQ(store_->graph_loads(), 1);
  EXPECT_EQ(sql_only.graph_loads(), 0);
  EXPECT_EQ(over_limit.graph_loads(), 1);  // counted, found too big
}

void BigGraphTest::WalksMatchBreadthFirstReferences() {
  for (int64_t start : {1, 5000, 9999}) {
    std::string name = "n" + std::to_string(start);
    for (auto [dir, adj] :
         {std::make_pair(EdgeDirection::kParents, &parents_),
          std::make_pair(EdgeDirection::kChildren, &children_)}) {
      std::map<int64_t, int> expected = Bfs(start, *adj);
      absl::StatusOr<std::vector<TaskAtDepth>> r =
          store_->Walk({}, name, dir, 0);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->size(), expected.size()) << name;
      std::pair<int, int64_t> last{0, 0};
      for (const TaskAtDepth& t : *r) {
        EXPECT_EQ(t.depth(), expected[t.task().id()]) << t.task().name();
        std::pair<int, int64_t> key{t.depth(), t.task().id()};
        EXPECT_LT(last, key);
        last = key;
      }
      absl::StatusOr<std::vector<TaskAtDepth>> limited =
          store_->Walk({}, name, dir, 2);
      ASSERT_TRUE(limited.ok());
      size_t within = 0;
      for (const auto& [id, d] : expected) within += d <= 2;
      EXPECT_EQ(limited->size(), within);
    }
  }
}

void BigGraphTest::PlanPutsEveryTaskAfterItsParents() {
  absl::StatusOr<std::vector<ExecutionLayer>> plan =
      store_->ExecutionPlan({}, {"n9999", "n7000"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::map<int64_t, int> layer;
  for (size_t i = 0; i < plan->size(); ++i) {
    for (const Task& t : (*plan)[i].tasks()) layer[t.id()] = i;
  }
  std::set<int64_t> closure{9999, 7000};
  for (int64_t t : {9999, 7000}) {
    for (const auto& [id, d] : Bfs(t, parents_)) closure.insert(id);
  }
  EXPECT_EQ(layer.size(), closure.size());
  for (const auto& [id, l] : layer) {
    int highest = -1;
    for (int64_t p : parents_[id]) highest = std::max(highest, layer.at(p));
    EXPECT_EQ(l, highest + 1) << id;
  }
}

void BigGraphTest::CycleCheckNamesAShortestRealPath() {
  // The task farthest (by id) below n1; adding it -> n1 closes a cycle.
  std::map<int64_t, int> down = Bfs(1, children_);
  ASSERT_FALSE(down.empty());
  const int64_t far = down.rbegin()->first;
  const std::string far_name = "n" + std::to_string(far);
  absl::Status s = store_->Add({}, far_name, "n1").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  const std::string lead =
      "adding " + far_name + " -> n1 would close the cycle ";
  ASSERT_EQ(std::string(s.message()).rfind(lead, 0), 0u) << s.message();
  std::vector<int64_t> path;
  for (absl::string_view part :
       absl::StrSplit(s.message().substr(lead.size()), " -> ")) {
    path.push_back(std::stoll(std::string(part.substr(1))));
  }
  // far -> n1 -> ... -> far: the new edge plus a shortest path back.
  ASSERT_EQ(path.size(), static_cast<size_t>(down[far]) + 2);
  EXPECT_EQ(path.front(), far);
  EXPECT_EQ(path[1], 1);
  EXPECT_EQ(path.back(), far);
  for (size_t i = 1; i + 1 < path.size(); ++i) {
    const auto& kids = children_[path[i]];
    EXPECT_NE(std::find(kids.begin(), kids.end(), path[i + 1]), kids.end())
        << path[i] << " -> " << path[i + 1] << " is no edge";
  }
}

// One test, so that the graph is built once.
TEST_F(BigGraphTest, QueriesMatchReferences) {
  {
    SCOPED_TRACE("ReadyTasksMatchesTheReference");
    ReadyTasksMatchesTheReference();
  }
  {
    SCOPED_TRACE("WalksMatchBreadthFirstReferences");
    WalksMatchBreadthFirstReferences();
  }
  {
    SCOPED_TRACE("PlanPutsEveryTaskAfterItsParents");
    PlanPutsEveryTaskAfterItsParents();
  }
  {
    SCOPED_TRACE("CycleCheckNamesAShortestRealPath");
    CycleCheckNamesAShortestRealPath();
  }
}

// ---- The task graph held in memory for ReadyTasks ----

// Two daemons on one database: `writer_` changes the graph, store_ answers
// from its copy. Every change must show in store_'s very next answer.
// The ready rule has one definition in SQL (metad_may_start, used by
// GetReadyTasks' SQL path and the status page) and one in C++ (the graph
// held in memory). On random graphs with runs of every kind, live and
// lapsed leases and superseded runs (RerunTasks) included, all three answer
// the same, and what a reference written here from the rule says.
TEST_F(DependencyStoreTest, GraphInMemoryAgreesWithSqlOnRandomGraphs) {
  DependencyStore sql_only(db(), {.ready_graph_max_tasks = 0});
  StatusPageStore status_page(db());
  std::mt19937 rng(20261202);
  auto uniform = [&rng](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  int compared = 0, ready_seen = 0;
  for (int round = 0; round < 25; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    Sql("TRUNCATE tasks, task_dependencies, task_log, run_events CASCADE");
    const int tasks = uniform(1, 40);
    // One statement per round (each Sql() is a connection of its own).
    std::string sql;
    std::vector<int> max_attempts;
    for (int i = 0; i < tasks; ++i) {
      max_attempts.push_back(uniform(1, 3));
      absl::StrAppend(&sql, "INSERT INTO tasks (name, max_attempts) VALUES ('r",
                      round, "_", i, "', ", max_attempts.back(), ");");
    }
    Sql(sql);
    sql.clear();
    std::vector<int64_t> ids;
    for (int i = 0; i < tasks; ++i) {
      ids.push_back(std::stoll(Sql(absl::StrCat(
          "SELECT id FROM tasks WHERE name = 'r", round, "_", i, "'"))));
    }
    // Edges from earlier to later tasks only, so the graph stays acyclic.
    const int density = uniform(0, 4);
    std::vector<std::vector<int>> parents(tasks);
    for (int c = 1; c < tasks; ++c) {
      for (int p = 0; p < c; ++p) {
        if (uniform(0, 9) < density) {
          parents[c].push_back(p);
          absl::StrAppend(&sql, "INSERT INTO task_dependencies VALUES (",
                          ids[p], ", ", ids[c], ");");
        }
      }
    }
    // The reference's view of each batch: per task, a live SUCCESS, a live
    // PROCESSING run, spent attempts.
    struct TaskRuns {
      bool succeeded = false, live = false;
      int spent = 0;
    };
    std::map<std::string, std::vector<TaskRuns>> reference;
    // Per task and batch: maybe runs an earlier RerunTasks superseded (of
    // either outcome; they count for nothing), some ERROR runs, then maybe
    // one more run that is a SUCCESS, live, or PROCESSING with a lapsed
    // lease.
    for (const char* batch : {"b1", "b2"}) {
      std::vector<TaskRuns>& state = reference[batch];
      state.resize(tasks);
      for (int i = 0; i < tasks; ++i) {
        const int64_t id = ids[i];
        int attempt = 0;
        for (int e = uniform(0, 2); e > 0; --e) {
          absl::StrAppend(&sql,
                          "INSERT INTO task_log (task_id, batch_id, status, "
                          "attempt, lease_seconds, end_time, superseded) "
                          "VALUES (",
                          id, ", '", batch, "', '",
                          uniform(0, 1) ? "SUCCESS" : "ERROR", "', ", ++attempt,
                          ", 60, now(), true);");
        }
        for (int e = uniform(0, 3); e > 0; --e) {
          ++state[i].spent;
          absl::StrAppend(&sql,
                          "INSERT INTO task_log (task_id, batch_id, status, "
                          "attempt, lease_seconds, end_time) VALUES (",
                          id, ", '", batch, "', 'ERROR', ", ++attempt,
                          ", 60, now());");
        }
        const char* lease[] = {nullptr, "now() + interval '1 hour'",
                               "now() - interval '1 second'"};
        switch (uniform(0, 4)) {
          case 1:
            state[i].succeeded = true;
            absl::StrAppend(&sql,
                            "INSERT INTO task_log (task_id, batch_id, "
                            "status, attempt, lease_seconds, end_time) "
                            "VALUES (",
                            id, ", '", batch, "', 'SUCCESS', ", ++attempt,
                            ", 60, now());");
            break;
          case 2:
          case 3: {
            const int which = uniform(1, 2);
            if (which == 1) {
              state[i].live = true;
            } else {
              ++state[i].spent;  // lapsed: the ERROR run it is about to be
            }
            absl::StrAppend(&sql,
                            "INSERT INTO task_log (task_id, batch_id, "
                            "status, attempt, lease_seconds, "
                            "lease_expire_time) VALUES (",
                            id, ", '", batch, "', 'PROCESSING', ", ++attempt,
                            ", 60, ", lease[which], ");");
            break;
          }
          default:
            break;
        }
      }
    }
    if (!sql.empty()) Sql(sql);
    for (const char* batch : {"b1", "b2", "never_ran"}) {
      absl::StatusOr<std::vector<Task>> graph =
          store_->ReadyTasks({}, batch, {});
      absl::StatusOr<std::vector<Task>> sql =
          sql_only.ReadyTasks({}, batch, {});
      absl::StatusOr<StatusBatchGraph> page =
          status_page.BatchGraph({}, batch, StatusBatchLimits{});
      ASSERT_TRUE(graph.ok() && sql.ok() && page.ok())
          << graph.status() << sql.status() << page.status();
      std::vector<int64_t> from_graph, from_sql, from_page;
      for (const Task& t : *graph) from_graph.push_back(t.id());
      for (const Task& t : *sql) from_sql.push_back(t.id());
      for (const StatusTask& t : page->tasks) {
        if (t.ready) from_page.push_back(t.id);
      }
      EXPECT_EQ(from_graph, from_sql) << batch;
      EXPECT_EQ(from_page, from_sql) << batch;
      std::vector<TaskRuns>& state = reference[batch];
      state.resize(tasks);  // never_ran: no runs
      std::vector<int64_t> expected;
      for (int i = 0; i < tasks; ++i) {
        bool ready = !state[i].succeeded && !state[i].live &&
                     state[i].spent < max_attempts[i];
        for (int p : parents[i]) ready = ready && state[p].succeeded;
        if (ready) expected.push_back(ids[i]);
      }
      EXPECT_EQ(from_sql, expected) << batch;
      // A random target: its upstream closure only, both ways.
      std::vector<std::string> target{
          absl::StrCat("r", round, "_", uniform(0, tasks - 1))};
      graph = store_->ReadyTasks({}, batch, target);
      sql = sql_only.ReadyTasks({}, batch, target);
      ASSERT_TRUE(graph.ok() && sql.ok()) << graph.status() << sql.status();
      std::vector<int64_t> g2, s2;
      for (const Task& t : *graph) g2.push_back(t.id());
      for (const Task& t : *sql) s2.push_back(t.id());
      EXPECT_EQ(g2, s2) << batch << " " << target[0];
      ++compared;
      ready_seen += static_cast<int>(from_sql.size());
    }
  }
  // The rounds reached both answers: some tasks ready, some not.
  EXPECT_EQ(compared, 75);
  EXPECT_GT(ready_seen, 20);
}

class ReadyGraphTest : public DependencyStoreTest {
 protected:
  void SetUp() override {
    DependencyStoreTest::SetUp();
    writer_ = std::make_unique<DependencyStore>(db());
    tasks_ = std::make_unique<TaskStore>(db());
  }

  std::vector<std::string> Ready(const std::string& batch,
                                 const std::vector<std::string>& targets = {}) {
    absl::StatusOr<std::vector<Task>> r =
        store_->ReadyTasks({}, batch, targets);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    if (r.ok()) {
      for (const Task& t : *r) out.push_back(t.name());
    }
    return out;
  }

  void Register(const std::string& name, int32_t max_attempts = 0) {
    RegisterTaskInput input;
    input.name = name;
    input.max_attempts = max_attempts;
    ASSERT_TRUE(tasks_->Register({}, input).ok());
  }

  // A finished run (SUCCESS or ERROR) of `task` in `batch`.
  void Finished(const std::string& task, const std::string& batch,
                const std::string& status) {
    Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, end_time) SELECT id, '" +
        batch + "', '" + status + "', 1, 60, now() FROM tasks WHERE name = '" +
        task + "'");
  }

  std::unique_ptr<DependencyStore> writer_;
  std::unique_ptr<TaskStore> tasks_;
};

TEST_F(ReadyGraphTest, AnotherDaemonsGraphChangesShowInTheNextAnswer) {
  Register("a");
  Register("b");
  EXPECT_THAT(Ready("x"), ElementsAre("a", "b"));
  EXPECT_EQ(store_->graph_loads(), 1);

  // Runs change the answer without a new read of the graph.
  Finished("a", "x", "SUCCESS");
  EXPECT_THAT(Ready("x"), ElementsAre("b"));
  EXPECT_EQ(store_->graph_loads(), 1);

  // An edge added elsewhere: b now waits for c, which has not run.
  Register("c");
  ASSERT_TRUE(writer_->Add({}, "c", "b").ok());
  EXPECT_THAT(Ready("x"), ElementsAre("c"));
  EXPECT_EQ(store_->graph_loads(), 2);
  // ... and removed again.
  ASSERT_TRUE(writer_->Remove({}, "c", "b").ok());
  EXPECT_THAT(Ready("x"), ElementsAre("b", "c"));

  // A changed max_attempts: one ERROR no longer uses up b.
  Finished("b", "x", "ERROR");
  EXPECT_THAT(Ready("x"), ElementsAre("c"));
  Register("b", 2);
  EXPECT_THAT(Ready("x"), ElementsAre("b", "c"));

  // Edges emptied by hand (TRUNCATE has its own trigger).
  ASSERT_TRUE(writer_->Add({}, "c", "b").ok());
  EXPECT_THAT(Ready("x"), ElementsAre("c"));
  Sql("TRUNCATE task_dependencies");
  EXPECT_THAT(Ready("x"), ElementsAre("b", "c"));

  // A task deleted elsewhere is gone; a target registered elsewhere is
  // found, not NOT_FOUND from the old copy.
  Sql("DELETE FROM tasks WHERE name = 'c'");
  EXPECT_THAT(Ready("x"), ElementsAre("b"));
  Register("d");
  EXPECT_THAT(Ready("x", {"d"}), ElementsAre("d"));
  absl::Status unknown = store_->ReadyTasks({}, "x", {"d", "nope"}).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("targets: no task named \"nope\""));

  // Registering again with the same settings changes nothing, so the copy
  // stays valid.
  const int64_t loads = store_->graph_loads();
  Register("d");
  EXPECT_THAT(Ready("x"), ElementsAre("b", "d"));
  EXPECT_EQ(store_->graph_loads(), loads);
}

TEST_F(ReadyGraphTest, LeasesLapseWithoutAGraphChange) {
  Register("t", 2);
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time) SELECT id, 'x', 'PROCESSING', 1, 1, "
      "now() + interval '400 milliseconds' FROM tasks");
  EXPECT_TRUE(Ready("x").empty());
  // Polls until the lease lapses (the answer is computed with the
  // database's clock); the lapsed run counts as one of two attempts.
  std::vector<std::string> ready;
  for (int i = 0; i < 100 && ready.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ready = Ready("x");
  }
  EXPECT_THAT(ready, ElementsAre("t"));
  EXPECT_EQ(store_->graph_loads(), 1);
}

TEST_F(ReadyGraphTest, ConcurrentCallersShareOneRead) {
  for (int i = 0; i < 200; ++i) Register("t" + std::to_string(i));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<std::vector<Task>> r = store_->ReadyTasks({}, "x", {});
      if (!r.ok() || r->size() != 200) ++wrong;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(store_->graph_loads(), 1);
}

TEST_F(ReadyGraphTest, AGraphGrownPastTheLimitIsAnsweredBySqlAndNotReread) {
  DependencyStore small(db(), {.ready_graph_max_tasks = 3});
  auto ready = [&] {
    absl::StatusOr<std::vector<Task>> r = small.ReadyTasks({}, "x", {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->size() : 0;
  };
  for (const char* n : {"a", "b", "c"}) Register(n);
  EXPECT_EQ(ready(), 3u);
  EXPECT_EQ(small.graph_loads(), 1);
  Register("d");  // now over the limit
  EXPECT_EQ(ready(), 4u);
  EXPECT_EQ(small.graph_loads(), 2);  // counted once, found too big
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ready(), 4u);
  EXPECT_EQ(small.graph_loads(), 2);  // and not counted again for a while
}

TEST_F(ReadyGraphTest, ADatabaseBackInTimeIsNotMistakenForTheHeldGraph) {
  Register("p");
  Register("c");
  EXPECT_THAT(Ready("x"), ElementsAre("p", "c"));
  const std::string version = Sql("SELECT version FROM task_graph_version");
  // As after a restore of an older dump: an edge the held graph lacks, and
  // the same version count as the held graph (written here with triggers
  // off, as a restore may do, then the count put back).
  Sql("SET LOCAL session_replication_role = replica; "
      "INSERT INTO task_dependencies (parent_id, child_id) SELECT p.id, c.id "
      "FROM tasks p, tasks c WHERE p.name = 'p' AND c.name = 'c'; "
      "UPDATE task_graph_version SET version = " +
      version + ", token = gen_random_uuid()");
  ASSERT_EQ(Sql("SELECT version FROM task_graph_version"), version);
  ASSERT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "1");
  EXPECT_THAT(Ready("x"), ElementsAre("p"));
}

TEST(TaskGraphCache, WaitersGetTheLoadedGraphOrTheirDeadline) {
  TaskGraphCache cache;
  absl::Notification started, release;
  auto graph = std::make_shared<TaskGraph>();
  graph->id = {7, "t"};
  auto any = [](const TaskGraph&) { return true; };
  std::thread loader([&] {
    absl::StatusOr<std::shared_ptr<const TaskGraph>> r =
        cache.GetOrLoad(any, absl::InfiniteFuture(), [&] {
          started.Notify();
          release.WaitForNotification();
          return absl::StatusOr<std::shared_ptr<const TaskGraph>>(graph);
        });
    EXPECT_TRUE(r.ok());
  });
  started.WaitForNotification();
  int loads_here = 0;
  auto load_here = [&] {
    ++loads_here;
    return absl::StatusOr<std::shared_ptr<const TaskGraph>>(graph);
  };
  // A caller with a deadline does not wait past it for someone's load.
  absl::StatusOr<std::shared_ptr<const TaskGraph>> late =
      cache.GetOrLoad(any, absl::Now() + absl::Milliseconds(50), load_here);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  // One without gets the graph the other call read, without reading it.
  std::thread waiter([&] {
    absl::StatusOr<std::shared_ptr<const TaskGraph>> r =
        cache.GetOrLoad(any, absl::InfiniteFuture(), load_here);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->id.version, 7);
  });
  absl::SleepFor(absl::Milliseconds(50));
  release.Notify();
  loader.join();
  waiter.join();
  EXPECT_EQ(loads_here, 0);
  EXPECT_EQ(cache.loads(), 1);
}

TEST(TaskGraph, ParsesBigintArrays) {
  EXPECT_THAT(*ParseIntArray("{}"), ::testing::IsEmpty());
  EXPECT_THAT(*ParseIntArray("{7}"), ElementsAre(7));
  EXPECT_THAT(*ParseIntArray("{1,-2,9223372036854775807}"),
              ElementsAre(1, -2, 9223372036854775807));
  for (const char* bad : {"", "{", "1,2", "{1,,2}", "{NULL}", "{1,2"}) {
    EXPECT_EQ(ParseIntArray(bad).status().code(), absl::StatusCode::kInternal)
        << bad;
  }
}

TEST(TaskGraph, ClosureAndReadyRule) {
  // ids 10 (root), 20 (root), 30 <- 10, 20; 40 <- 30.
  TaskGraph g;
  for (int64_t id : {10, 20, 30, 40}) {
    Task& t = g.tasks.emplace_back();
    t.set_id(id);
    t.set_name("t" + std::to_string(id));
    t.set_max_attempts(id == 20 ? 2 : 1);
  }
  ASSERT_TRUE(g.Build({{30, 10}, {30, 20}, {40, 30}}).ok());
  EXPECT_FALSE(g.Build({{30, 99}}).ok());
  ASSERT_TRUE(g.Build({{30, 10}, {30, 20}, {40, 30}}).ok());
  EXPECT_THAT(g.UpstreamClosure({g.IndexOfName("t40")}),
              ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(g.UpstreamClosure({1, 1}), ElementsAre(1));
  EXPECT_EQ(g.IndexOfName("nope"), -1);

  BatchRunSummary runs;
  EXPECT_THAT(ReadyIndexes(g, runs, nullptr), ElementsAre(0, 1));
  runs.succeeded = {10};
  runs.spent = {20};  // one of t20's two attempts
  EXPECT_THAT(ReadyIndexes(g, runs, nullptr), ElementsAre(1));
  runs.live = {20};
  EXPECT_THAT(ReadyIndexes(g, runs, nullptr), ::testing::IsEmpty());
  runs.live.clear();
  runs.spent = {20, 20};  // both
  EXPECT_THAT(ReadyIndexes(g, runs, nullptr), ::testing::IsEmpty());
  runs.succeeded = {10, 20};
  EXPECT_THAT(ReadyIndexes(g, runs, nullptr), ElementsAre(2));
  std::vector<int32_t> only_40{3};
  EXPECT_THAT(ReadyIndexes(g, runs, &only_40), ::testing::IsEmpty());
  // Runs of a task the graph does not hold are ignored.
  runs.succeeded.push_back(99);
  EXPECT_THAT(ReadyIndexes(g, runs, nullptr), ElementsAre(2));
}

}  // namespace
}  // namespace metad::store
