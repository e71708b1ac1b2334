// DependencyService through a real gRPC channel: every validation rule and
// refusal, the seed's load_sales -> calculate_profit batch, and concurrent
// AddDependency calls racing to close cycles.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon/services/dependency_service.h"
#include "daemon/services/task_service.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace metad::v1;  // NOLINT: request and response types

class DependencyServiceTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<metad::testing::TestServer>(db());
    server_->Add<TaskServiceImpl>();
    server_->Add<DependencyServiceImpl>();
    server_->Start();
    tasks_ = TaskService::NewStub(server_->channel());
    deps_ = DependencyService::NewStub(server_->channel());
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(30));
    return ctx;
  }

  void Register(const std::string& name, int32_t max_attempts = 0) {
    RegisterTaskRequest request;
    request.set_name(name);
    request.set_max_attempts(max_attempts);
    RegisterTaskResponse response;
    grpc::Status s = tasks_->RegisterTask(Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status Add(const std::string& parent, const std::string& child,
                   AddDependencyResponse* response = nullptr) {
    AddDependencyRequest request;
    request.set_parent_task(parent);
    request.set_child_task(child);
    AddDependencyResponse ignored;
    return deps_->AddDependency(Ctx().get(), request,
                                response ? response : &ignored);
  }

  void MustAdd(const std::string& parent, const std::string& child) {
    grpc::Status s = Add(parent, child);
    ASSERT_TRUE(s.ok()) << parent << " -> " << child << ": "
                        << s.error_message();
  }

  grpc::Status Remove(const std::string& parent, const std::string& child) {
    RemoveDependencyRequest request;
    request.set_parent_task(parent);
    request.set_child_task(child);
    RemoveDependencyResponse response;
    return deps_->RemoveDependency(Ctx().get(), request, &response);
  }

  // A finished or running run of `task` in `batch`, written with raw SQL
  // (runs belong to TaskLogService). "LAPSED" is PROCESSING with a lease in
  // the past.
  void Run(const std::string& task, const std::string& batch,
           const std::string& kind) {
    std::string status = kind == "LAPSED" ? "PROCESSING" : kind;
    std::string lease = kind == "PROCESSING" ? "now() + interval '1 minute'"
                        : kind == "LAPSED"   ? "now() - interval '1 second'"
                                             : "NULL";
    std::string end = status == "PROCESSING" ? "NULL" : "now()";
    Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, lease_expire_time, end_time) "
        "SELECT id, '" +
        batch + "', '" + status + "', 1, 60, " + lease + ", " + end +
        " FROM tasks WHERE name = '" + task + "'");
  }

  grpc::Status ReadyStatus(const std::string& batch,
                           const std::vector<std::string>& targets,
                           std::vector<std::string>* names) {
    GetReadyTasksRequest request;
    request.set_batch_id(batch);
    for (const std::string& t : targets) request.add_targets(t);
    GetReadyTasksResponse response;
    grpc::Status s = deps_->GetReadyTasks(Ctx().get(), request, &response);
    for (const Task& t : response.tasks()) names->push_back(t.name());
    return s;
  }

  std::vector<std::string> Ready(const std::string& batch,
                                 const std::vector<std::string>& targets = {}) {
    std::vector<std::string> names;
    grpc::Status s = ReadyStatus(batch, targets, &names);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return names;
  }

  // Layers as "a b | c".
  grpc::Status Plan(const std::vector<std::string>& targets, std::string* out) {
    GetExecutionPlanRequest request;
    for (const std::string& t : targets) request.add_targets(t);
    GetExecutionPlanResponse response;
    grpc::Status s = deps_->GetExecutionPlan(Ctx().get(), request, &response);
    out->clear();
    for (const ExecutionLayer& layer : response.layers()) {
      if (!out->empty()) *out += " | ";
      for (int i = 0; i < layer.tasks_size(); ++i) {
        *out += (i ? " " : "") + layer.tasks(i).name();
      }
    }
    return s;
  }

  // GetUpstream or GetDownstream as "name:depth" in response order.
  template <typename Request, typename Response>
  std::vector<std::string> Depths(
      grpc::Status (DependencyService::Stub::*rpc)(grpc::ClientContext*,
                                                   const Request&, Response*),
      const std::string& task, int32_t max_depth) {
    Request request;
    request.set_task(task);
    request.set_max_depth(max_depth);
    Response response;
    grpc::Status s = (deps_.get()->*rpc)(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const TaskAtDepth& t : response.tasks()) {
      out.push_back(t.task().name() + ":" + std::to_string(t.depth()));
    }
    return out;
  }

  // Number of tasks that reach themselves: 0 for an acyclic graph.
  int CyclicTasks() {
    return std::stoi(Sql(R"sql(
      WITH RECURSIVE walk(start, id) AS (
        SELECT parent_id, child_id FROM task_dependencies
        UNION
        SELECT w.start, d.child_id
        FROM walk w JOIN task_dependencies d ON d.parent_id = w.id)
      SELECT count(DISTINCT start) FROM walk WHERE start = id)sql"));
  }

  std::unique_ptr<metad::testing::TestServer> server_;
  std::unique_ptr<TaskService::Stub> tasks_;
  std::unique_ptr<DependencyService::Stub> deps_;
};

void ExpectStatus(const grpc::Status& s, grpc::StatusCode code,
                  const std::string& message) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(message));
}

// ---- AddDependency / RemoveDependency ----

TEST_F(DependencyServiceTest, AddReturnsTheEdgeAndIsIdempotent) {
  Register("load_sales");
  Register("calculate_profit");
  AddDependencyResponse first;
  ASSERT_TRUE(Add("load_sales", "calculate_profit", &first).ok());
  EXPECT_TRUE(first.created());
  EXPECT_EQ(first.dependency().parent_task(), "load_sales");
  EXPECT_EQ(first.dependency().child_task(), "calculate_profit");
  EXPECT_EQ(first.dependency().parent_task_id(), 1);
  EXPECT_EQ(first.dependency().child_task_id(), 2);
  EXPECT_TRUE(first.dependency().has_create_time());

  AddDependencyResponse again;
  AddDependencyRequest with_id;
  with_id.set_parent_task("load_sales");
  with_id.set_child_task("calculate_profit");
  with_id.set_request_id("retry-1");
  ASSERT_TRUE(deps_->AddDependency(Ctx().get(), with_id, &again).ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.dependency().create_time().seconds(),
            first.dependency().create_time().seconds());
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "1");
}

TEST_F(DependencyServiceTest, AddRefusals) {
  Register("a");
  Register("b");
  Register("c");
  ExpectStatus(Add("", "a"), grpc::StatusCode::INVALID_ARGUMENT,
               "parent_task: must be 1..128");
  ExpectStatus(Add("a", "b c"), grpc::StatusCode::INVALID_ARGUMENT,
               "child_task: may contain only");
  AddDependencyRequest long_id;
  long_id.set_parent_task("a");
  long_id.set_child_task("b");
  long_id.set_request_id(std::string(200, 'x'));
  AddDependencyResponse ignored;
  ExpectStatus(deps_->AddDependency(Ctx().get(), long_id, &ignored),
               grpc::StatusCode::INVALID_ARGUMENT, "request_id:");

  ExpectStatus(Add("ghost", "a"), grpc::StatusCode::NOT_FOUND,
               "parent_task: no task named \"ghost\"");
  ExpectStatus(Add("a", "ghost"), grpc::StatusCode::NOT_FOUND,
               "child_task: no task named \"ghost\"");
  ExpectStatus(Add("a", "a"), grpc::StatusCode::FAILED_PRECONDITION,
               "adding a -> a would make task a depend on itself");

  MustAdd("a", "b");
  MustAdd("b", "c");
  grpc::Status s = Add("c", "a");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "adding c -> a would close the cycle c -> a -> b -> c");
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"), "2");
}

TEST_F(DependencyServiceTest, RemoveAndItsRefusals) {
  Register("a");
  Register("b");
  MustAdd("a", "b");
  ExpectStatus(Remove("b", "a"), grpc::StatusCode::NOT_FOUND,
               "dependency b -> a: not found");
  ExpectStatus(Remove("a", "zz"), grpc::StatusCode::NOT_FOUND,
               "child_task: no task named \"zz\"");
  ExpectStatus(Remove("a", ""), grpc::StatusCode::INVALID_ARGUMENT,
               "child_task:");
  ExpectStatus(Remove("%", "a"), grpc::StatusCode::INVALID_ARGUMENT,
               "parent_task:");
  EXPECT_TRUE(Remove("a", "b").ok());
  ExpectStatus(Remove("a", "b"), grpc::StatusCode::NOT_FOUND,
               "dependency a -> b: not found");
  // With the edge gone, the reverse edge is no cycle.
  MustAdd("b", "a");
}

TEST_F(DependencyServiceTest, DeleteTaskOnlyAfterItsEdgesAreRemoved) {
  Register("a");
  Register("b");
  MustAdd("a", "b");
  DeleteTaskRequest request;
  request.set_name("b");
  DeleteTaskResponse response;
  ExpectStatus(tasks_->DeleteTask(Ctx().get(), request, &response),
               grpc::StatusCode::FAILED_PRECONDITION, "1 parent");
  ASSERT_TRUE(Remove("a", "b").ok());
  EXPECT_TRUE(tasks_->DeleteTask(Ctx().get(), request, &response).ok());
  ExpectStatus(Add("a", "b"), grpc::StatusCode::NOT_FOUND,
               "child_task: no task named \"b\"");
}

// ---- ListDependencies / GetUpstream / GetDownstream ----

TEST_F(DependencyServiceTest, ListDirectEdgesByDirection) {
  for (const char* n : {"a", "b", "x", "c", "d"}) Register(n);
  MustAdd("c", "x");
  MustAdd("a", "x");
  MustAdd("x", "d");
  MustAdd("x", "b");
  MustAdd("b", "d");  // not direct for x
  ListDependenciesRequest request;
  request.set_task("x");
  request.set_direction(DIRECTION_PARENTS);
  ListDependenciesResponse parents;
  ASSERT_TRUE(deps_->ListDependencies(Ctx().get(), request, &parents).ok());
  ASSERT_EQ(parents.dependencies_size(), 2);
  EXPECT_EQ(parents.dependencies(0).parent_task(), "a");
  EXPECT_EQ(parents.dependencies(1).parent_task(), "c");
  EXPECT_EQ(parents.dependencies(1).child_task(), "x");

  request.set_direction(DIRECTION_CHILDREN);
  ListDependenciesResponse children;
  ASSERT_TRUE(deps_->ListDependencies(Ctx().get(), request, &children).ok());
  ASSERT_EQ(children.dependencies_size(), 2);
  EXPECT_EQ(children.dependencies(0).child_task(), "b");
  EXPECT_EQ(children.dependencies(1).child_task(), "d");

  ListDependenciesResponse ignored;
  request.set_direction(DIRECTION_UNSPECIFIED);
  ExpectStatus(deps_->ListDependencies(Ctx().get(), request, &ignored),
               grpc::StatusCode::INVALID_ARGUMENT, "direction:");
  request.set_direction(static_cast<Direction>(9));
  ExpectStatus(deps_->ListDependencies(Ctx().get(), request, &ignored),
               grpc::StatusCode::INVALID_ARGUMENT, "direction:");
  request.set_direction(DIRECTION_PARENTS);
  request.set_task("nope");
  ExpectStatus(deps_->ListDependencies(Ctx().get(), request, &ignored),
               grpc::StatusCode::NOT_FOUND, "task: no task named \"nope\"");
  request.set_task("");
  ExpectStatus(deps_->ListDependencies(Ctx().get(), request, &ignored),
               grpc::StatusCode::INVALID_ARGUMENT, "task:");
}

TEST_F(DependencyServiceTest, UpstreamAndDownstreamWithDepthLimits) {
  // A chain a -> b -> c -> d -> e plus a shortcut b -> e.
  for (const char* n : {"a", "b", "c", "d", "e"}) Register(n);
  MustAdd("a", "b");
  MustAdd("b", "c");
  MustAdd("c", "d");
  MustAdd("d", "e");
  MustAdd("b", "e");
  auto up = [&](const std::string& task, int32_t depth) {
    return Depths<GetUpstreamRequest, GetUpstreamResponse>(
        &DependencyService::Stub::GetUpstream, task, depth);
  };
  auto down = [&](const std::string& task, int32_t depth) {
    return Depths<GetDownstreamRequest, GetDownstreamResponse>(
        &DependencyService::Stub::GetDownstream, task, depth);
  };
  EXPECT_THAT(up("e", 0), ElementsAre("b:1", "d:1", "a:2", "c:2"));
  EXPECT_THAT(up("e", 1), ElementsAre("b:1", "d:1"));
  EXPECT_THAT(up("e", 1000), ElementsAre("b:1", "d:1", "a:2", "c:2"));
  EXPECT_THAT(down("a", 0), ElementsAre("b:1", "c:2", "e:2", "d:3"));
  EXPECT_THAT(down("a", 2), ElementsAre("b:1", "c:2", "e:2"));
  EXPECT_THAT(down("a", 1), ElementsAre("b:1"));
  EXPECT_TRUE(down("e", 0).empty());

  GetUpstreamRequest bad;
  bad.set_task("e");
  GetUpstreamResponse ignored;
  for (int32_t depth : {-1, 1001}) {
    bad.set_max_depth(depth);
    ExpectStatus(deps_->GetUpstream(Ctx().get(), bad, &ignored),
                 grpc::StatusCode::INVALID_ARGUMENT,
                 "max_depth: must be 0 (no limit) or 1..1000");
  }
  GetDownstreamRequest bad_down;
  bad_down.set_task("a");
  bad_down.set_max_depth(5000);
  GetDownstreamResponse ignored_down;
  ExpectStatus(deps_->GetDownstream(Ctx().get(), bad_down, &ignored_down),
               grpc::StatusCode::INVALID_ARGUMENT, "max_depth:");
  bad_down.set_max_depth(0);
  bad_down.set_task("missing");
  ExpectStatus(deps_->GetDownstream(Ctx().get(), bad_down, &ignored_down),
               grpc::StatusCode::NOT_FOUND, "no task named \"missing\"");
}

// ---- GetExecutionPlan ----

TEST_F(DependencyServiceTest, PlanLayersADiamond) {
  for (const char* n : {"extract", "clean", "enrich", "report", "other"}) {
    Register(n);
  }
  MustAdd("extract", "clean");
  MustAdd("extract", "enrich");
  MustAdd("clean", "report");
  MustAdd("enrich", "report");
  std::string plan;
  ASSERT_TRUE(Plan({"report"}, &plan).ok());
  EXPECT_EQ(plan, "extract | clean enrich | report");
  ASSERT_TRUE(Plan({"report", "other", "report"}, &plan).ok());
  EXPECT_EQ(plan, "extract other | clean enrich | report");
  ASSERT_TRUE(Plan({"enrich"}, &plan).ok());
  EXPECT_EQ(plan, "extract | enrich");
}

TEST_F(DependencyServiceTest, PlanRefusals) {
  Register("a");
  std::string plan;
  ExpectStatus(Plan({}, &plan), grpc::StatusCode::INVALID_ARGUMENT,
               "targets: must name 1..1000 tasks (got 0)");
  ExpectStatus(Plan(std::vector<std::string>(1001, "a"), &plan),
               grpc::StatusCode::INVALID_ARGUMENT,
               "targets: must name 1..1000 tasks (got 1001)");
  ExpectStatus(Plan({"a", "a", "b c"}, &plan),
               grpc::StatusCode::INVALID_ARGUMENT, "targets[2]:");
  ExpectStatus(Plan({"a", "zz"}, &plan), grpc::StatusCode::NOT_FOUND,
               "targets: no task named \"zz\"");
  EXPECT_TRUE(Plan(std::vector<std::string>(1000, "a"), &plan).ok());
  EXPECT_EQ(plan, "a");
}

// ---- GetReadyTasks ----

TEST_F(DependencyServiceTest, ReadyFollowsTheSeedScenario) {
  Register("load_sales");
  Register("calculate_profit");
  MustAdd("load_sales", "calculate_profit");
  const std::string batch = "2024-03";

  EXPECT_THAT(Ready(batch), ElementsAre("load_sales"));
  EXPECT_THAT(Ready(batch, {"calculate_profit"}), ElementsAre("load_sales"));

  // A live run blocks the task and does not satisfy its children.
  Run("load_sales", batch, "PROCESSING");
  EXPECT_TRUE(Ready(batch).empty());
  Sql("UPDATE task_log SET status = 'SUCCESS', lease_expire_time = NULL, "
      "end_time = now() WHERE status = 'PROCESSING'");
  EXPECT_THAT(Ready(batch), ElementsAre("calculate_profit"));
  EXPECT_THAT(Ready(batch, {"load_sales"}), ::testing::IsEmpty());

  // ERROR runs consume attempts (max_attempts 1).
  Run("calculate_profit", batch, "ERROR");
  EXPECT_TRUE(Ready(batch).empty());
  Register("calculate_profit", 2);
  EXPECT_THAT(Ready(batch), ElementsAre("calculate_profit"));
  Run("calculate_profit", batch, "ERROR");
  EXPECT_TRUE(Ready(batch).empty());
  Register("calculate_profit", 3);
  Run("calculate_profit", batch, "SUCCESS");
  EXPECT_TRUE(Ready(batch).empty());

  // Batches are independent.
  EXPECT_THAT(Ready("2024-04"), ElementsAre("load_sales"));
}

TEST_F(DependencyServiceTest, ReadyCountsALapsedRunAsASpentAttempt) {
  Register("once");
  Register("twice", 2);
  // A lapsed PROCESSING run no longer blocks (StartRun would end it as
  // expired first) but counts as an attempt.
  Run("once", "b", "LAPSED");
  Run("twice", "b", "LAPSED");
  EXPECT_THAT(Ready("b"), ElementsAre("twice"));
  Run("twice", "b", "ERROR");
  EXPECT_TRUE(Ready("b").empty());
}

TEST_F(DependencyServiceTest, ReadyNeedsEveryParentsSuccessInTheBatch) {
  // p1, p2 -> c -> g; u unrelated.
  for (const char* n : {"p1", "p2", "c", "g", "u"}) Register(n);
  MustAdd("p1", "c");
  MustAdd("p2", "c");
  MustAdd("c", "g");
  EXPECT_THAT(Ready("b"), ElementsAre("p1", "p2", "u"));
  EXPECT_THAT(Ready("b", {"g"}), ElementsAre("p1", "p2"));
  EXPECT_THAT(Ready("b", {"c", "u"}), ElementsAre("p1", "p2", "u"));
  Run("p1", "b", "SUCCESS");
  Run("p2", "other", "SUCCESS");  // another batch does not count
  Run("p2", "b", "ERROR");        // nor does an error
  EXPECT_THAT(Ready("b", {"g"}), ::testing::IsEmpty());
  EXPECT_THAT(Ready("b"), ElementsAre("u"));
  Run("p2", "b", "SUCCESS");
  EXPECT_THAT(Ready("b", {"g"}), ElementsAre("c"));
  Run("c", "b", "SUCCESS");
  EXPECT_THAT(Ready("b", {"g"}), ElementsAre("g"));
  // Targets only look upstream: g's readiness is not reported for c.
  EXPECT_THAT(Ready("b", {"c"}), ::testing::IsEmpty());
}

TEST_F(DependencyServiceTest, ReadyRefusals) {
  Register("a");
  std::vector<std::string> names;
  ExpectStatus(ReadyStatus("", {}, &names), grpc::StatusCode::INVALID_ARGUMENT,
               "batch_id: must be 1..128");
  ExpectStatus(ReadyStatus("bad\nbatch", {}, &names),
               grpc::StatusCode::INVALID_ARGUMENT,
               "batch_id: must not contain control characters");
  ExpectStatus(ReadyStatus("b", std::vector<std::string>(1001, "a"), &names),
               grpc::StatusCode::INVALID_ARGUMENT,
               "targets: must name 0..1000 tasks (got 1001)");
  ExpectStatus(ReadyStatus("b", {"a", ""}, &names),
               grpc::StatusCode::INVALID_ARGUMENT, "targets[1]:");
  ExpectStatus(ReadyStatus("b", {"a", "nope"}, &names),
               grpc::StatusCode::NOT_FOUND, "targets: no task named \"nope\"");
  // A batch id that looks like SQL is just a batch id.
  EXPECT_THAT(Ready("x'; DELETE FROM tasks; --"), ElementsAre("a"));
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "1");
}

// ---- Concurrency ----

// Runs fn(i) on `n` threads released together.
template <typename Fn>
void Race(int n, Fn fn) {
  std::atomic<int> waiting{n};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      --waiting;
      while (waiting.load() > 0) std::this_thread::yield();
      fn(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST_F(DependencyServiceTest, OppositeEdgesRacingNeverBothWin) {
  constexpr int kRounds = 15;
  constexpr int kThreads = 8;
  for (int round = 0; round < kRounds; ++round) {
    const std::string a = "a" + std::to_string(round);
    const std::string b = "b" + std::to_string(round);
    Register(a);
    Register(b);
    std::atomic<int> ok{0}, created{0}, refused{0}, other{0};
    Race(kThreads, [&](int i) {
      AddDependencyResponse response;
      grpc::Status s = i % 2 ? Add(a, b, &response) : Add(b, a, &response);
      if (s.ok()) {
        ++ok;
        created += response.created();
      } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
                 s.error_message().find("would close the cycle") !=
                     std::string::npos) {
        ++refused;
      } else {
        ++other;
        ADD_FAILURE() << s.error_code() << " " << s.error_message();
      }
    });
    // One direction won: its callers all succeeded (one created it), and
    // every caller of the other direction was refused.
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(ok.load(), kThreads / 2);
    EXPECT_EQ(refused.load(), kThreads / 2);
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"),
            std::to_string(kRounds));
  EXPECT_EQ(CyclicTasks(), 0);
}

TEST_F(DependencyServiceTest, RingRacingLeavesExactlyOneEdgeOut) {
  constexpr int kRing = 16;
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    auto name = [&](int i) {
      return "r" + std::to_string(round) + "_" + std::to_string(i % kRing);
    };
    for (int i = 0; i < kRing; ++i) Register(name(i));
    std::atomic<int> ok{0}, refused{0};
    Race(kRing, [&](int i) {
      grpc::Status s = Add(name(i), name(i + 1));
      if (s.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
        EXPECT_THAT(s.error_message(), HasSubstr("would close the cycle"));
        ++refused;
      }
    });
    // Any 15 edges of a 16-ring are a path; the 16th closes it.
    EXPECT_EQ(ok.load(), kRing - 1);
    EXPECT_EQ(refused.load(), 1);
  }
  EXPECT_EQ(CyclicTasks(), 0);
}

TEST_F(DependencyServiceTest, RandomEdgesRacingKeepTheGraphAcyclic) {
  constexpr int kTasks = 10;
  constexpr int kThreads = 16;
  constexpr int kCallsPerThread = 12;
  for (int i = 0; i < kTasks; ++i) Register("t" + std::to_string(i));
  std::atomic<int> added{0}, refused{0};
  Race(kThreads, [&](int thread) {
    std::mt19937 rng(1234 + thread);
    std::uniform_int_distribution<int> pick(0, kTasks - 1);
    for (int k = 0; k < kCallsPerThread; ++k) {
      int p = pick(rng), c = pick(rng);
      if (p == c) continue;
      AddDependencyResponse response;
      grpc::Status s =
          Add("t" + std::to_string(p), "t" + std::to_string(c), &response);
      if (s.ok()) {
        added += response.created();
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
            << s.error_message();
        ++refused;
      }
    }
  });
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM task_dependencies"),
            std::to_string(added.load()));
  EXPECT_EQ(CyclicTasks(), 0);
}

TEST_F(DependencyServiceTest, RemoveRacingAddOfTheReverseEdge) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const std::string a = "ra" + std::to_string(round);
    const std::string b = "rb" + std::to_string(round);
    const std::string c = "rc" + std::to_string(round);
    Register(a);
    Register(b);
    Register(c);
    MustAdd(a, b);
    MustAdd(b, c);
    grpc::Status removed, added;
    Race(2, [&](int i) {
      if (i == 0) {
        removed = Remove(a, b);
      } else {
        added = Add(c, a);
      }
    });
    EXPECT_TRUE(removed.ok()) << removed.error_message();
    // Either the removal came first, or the cycle named is the one that
    // existed when the addition looked.
    if (!added.ok()) {
      EXPECT_EQ(added.error_message(),
                "adding " + c + " -> " + a + " would close the cycle " + c +
                    " -> " + a + " -> " + b + " -> " + c);
    }
  }
  EXPECT_EQ(CyclicTasks(), 0);
}

TEST_F(DependencyServiceTest, DeleteTaskRacingAddDependencyIsConsistent) {
  constexpr int kRounds = 20;
  Register("hub");
  for (int round = 0; round < kRounds; ++round) {
    const std::string leaf = "leaf" + std::to_string(round);
    Register(leaf);
    grpc::Status add, del;
    Race(2, [&](int i) {
      if (i == 0) {
        add = Add("hub", leaf);
      } else {
        DeleteTaskRequest request;
        request.set_name(leaf);
        DeleteTaskResponse response;
        del = tasks_->DeleteTask(Ctx().get(), request, &response);
      }
    });
    // Exactly one wins, and the loser says why.
    if (add.ok()) {
      ExpectStatus(del, grpc::StatusCode::FAILED_PRECONDITION,
                   "has dependencies");
    } else {
      EXPECT_TRUE(del.ok()) << del.error_message();
      ExpectStatus(add, grpc::StatusCode::NOT_FOUND, "no task named");
    }
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"),
            std::to_string(
                1 + std::stoi(Sql("SELECT count(*) FROM task_dependencies"))));
}

}  // namespace
}  // namespace metad::daemon
