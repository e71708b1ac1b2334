// Paging of ListDependencies and the graph reads (AIP-158) through a real
// gRPC channel, on a random graph: small pages joined give exactly the
// unpaged answer, a token only works with the request it was issued for,
// sizes above the maximum are coerced and negative ones refused. The ready
// page is also checked in the store, on the in-memory and the SQL path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/services/dependency_service.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "store/dependency_store.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::testing::HasSubstr;
using namespace metad::v1;  // NOLINT: request and response types

constexpr int kTasks = 300;

std::string TaskName(int i) { return absl::StrCat("t", i); }

class DependencyPagingTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<metad::testing::TestServer>(db());
    server_->Add<DependencyServiceImpl>();
    server_->Start();
    deps_ = DependencyService::NewStub(server_->channel());
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(60));
    return ctx;
  }

  // kTasks tasks t0..t299 (ids ascending with the number), each child with
  // 0..4 random parents of lower number (so acyclic), and SUCCESS runs in
  // batch "b" for a random half of the tasks. Written in SQL: the graph is
  // the input here, AddDependency is tested elsewhere.
  void RandomGraph(uint32_t seed) {
    std::mt19937 rng(seed);
    Sql(
        absl::StrCat("INSERT INTO tasks (name, max_attempts) SELECT 't' || g, "
                     "2 FROM generate_series(0, ",
                     kTasks - 1, ") g ORDER BY g"));
    std::vector<std::string> edges;
    for (int child = 1; child < kTasks; ++child) {
      const int parents = rng() % 5;
      std::vector<int> seen;
      for (int k = 0; k < parents; ++k) {
        int parent = rng() % child;
        if (std::find(seen.begin(), seen.end(), parent) != seen.end()) continue;
        seen.push_back(parent);
        edges.push_back(absl::StrCat("('t", parent, "', 't", child, "')"));
      }
    }
    Sql("INSERT INTO task_dependencies (parent_id, child_id) "
        "SELECT p.id, c.id FROM (VALUES " +
        absl::StrJoin(edges, ",") +
        ") e(p, c) JOIN tasks p ON p.name = e.p JOIN tasks c ON c.name = e.c");
    std::vector<std::string> succeeded;
    for (int i = 0; i < kTasks; ++i) {
      if (rng() % 2 == 0) succeeded.push_back(absl::StrCat("'t", i, "'"));
    }
    Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, end_time) SELECT id, 'b', 'SUCCESS', 1, 60, now() "
        "FROM tasks WHERE name IN (" +
        absl::StrJoin(succeeded, ",") + ")");
  }

  // Calls `call` with `request` page after page (page_size `page_size`,
  // 0 for one unpaged call) and returns every page; fails the test on an
  // error.
  template <typename Request, typename Response, typename Call>
  std::vector<Response> Pages(Request request, int32_t page_size, Call call) {
    request.set_page_size(page_size);
    std::vector<Response> pages;
    for (int n = 0; n <= 10 * kTasks; ++n) {
      Response page;
      grpc::Status s = call(request, &page);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      pages.push_back(page);
      if (page.next_page_token().empty()) break;
      request.set_page_token(page.next_page_token());
    }
    return pages;
  }

  std::unique_ptr<metad::testing::TestServer> server_;
  std::unique_ptr<DependencyService::Stub> deps_;
};

// What an unpaged caller reads, in one string, from a list of pages: the
// repeated items of each page, each item once, in order.
template <typename Response>
std::string Items(const std::vector<Response>& pages) {
  Response whole;
  for (const Response& page : pages) whole.MergeFrom(page);
  whole.clear_next_page_token();
  return whole.ShortDebugString();
}

// Plans join the layer split over two pages.
std::string PlanItems(const std::vector<GetExecutionPlanResponse>& pages) {
  GetExecutionPlanResponse whole;
  for (const GetExecutionPlanResponse& page : pages) {
    for (const ExecutionLayer& layer : page.layers()) {
      const int n = whole.layers_size();
      if (n > 0 && whole.layers(n - 1).index() == layer.index()) {
        whole.mutable_layers(n - 1)->mutable_tasks()->MergeFrom(layer.tasks());
      } else {
        EXPECT_EQ(layer.index(), n);
        *whole.add_layers() = layer;
      }
    }
  }
  return whole.ShortDebugString();
}

TEST_F(DependencyPagingTest, SmallPagesJoinedAreTheUnpagedAnswer) {
  RandomGraph(20261201);
  auto list = [&](const auto& r, auto* out) {
    return deps_->ListDependencies(Ctx().get(), r, out);
  };
  auto up = [&](const auto& r, auto* out) {
    return deps_->GetUpstream(Ctx().get(), r, out);
  };
  auto down = [&](const auto& r, auto* out) {
    return deps_->GetDownstream(Ctx().get(), r, out);
  };
  auto plan = [&](const auto& r, auto* out) {
    return deps_->GetExecutionPlan(Ctx().get(), r, out);
  };
  auto ready = [&](const auto& r, auto* out) {
    return deps_->GetReadyTasks(Ctx().get(), r, out);
  };
  // Pages of 1, 3 and 17 items, checked against one unpaged call.
  for (int32_t size : {1, 3, 17}) {
    SCOPED_TRACE(absl::StrCat("page_size ", size));
    for (int task : {0, 5, 150, 299}) {
      for (Direction d : {DIRECTION_PARENTS, DIRECTION_CHILDREN}) {
        ListDependenciesRequest r;
        r.set_task(TaskName(task));
        r.set_direction(d);
        auto whole = Pages<ListDependenciesRequest, ListDependenciesResponse>(
            r, 0, list);
        ASSERT_EQ(whole.size(), 1u);
        auto pages = Pages<ListDependenciesRequest, ListDependenciesResponse>(
            r, size, list);
        for (const auto& p : pages) EXPECT_LE(p.dependencies_size(), size);
        EXPECT_EQ(Items(pages), Items(whole)) << TaskName(task);
      }
    }
    int walked = 0;
    for (int task : {0, 40, 150, 260, 299}) {
      for (int32_t depth : {0, 2}) {
        GetUpstreamRequest u;
        u.set_task(TaskName(task));
        u.set_max_depth(depth);
        auto whole_up =
            Pages<GetUpstreamRequest, GetUpstreamResponse>(u, 0, up);
        ASSERT_EQ(whole_up.size(), 1u);
        auto pages_up =
            Pages<GetUpstreamRequest, GetUpstreamResponse>(u, size, up);
        for (const auto& p : pages_up) EXPECT_LE(p.tasks_size(), size);
        EXPECT_EQ(Items(pages_up), Items(whole_up));
        GetDownstreamRequest dn;
        dn.set_task(TaskName(task));
        dn.set_max_depth(depth);
        auto whole_down =
            Pages<GetDownstreamRequest, GetDownstreamResponse>(dn, 0, down);
        ASSERT_EQ(whole_down.size(), 1u);
        auto pages_down =
            Pages<GetDownstreamRequest, GetDownstreamResponse>(dn, size, down);
        for (const auto& p : pages_down) EXPECT_LE(p.tasks_size(), size);
        EXPECT_EQ(Items(pages_down), Items(whole_down));
        walked += whole_up[0].tasks_size() + whole_down[0].tasks_size();
      }
    }
    EXPECT_GT(walked, 100);  // the graph is not trivially small
    for (const std::vector<int>& targets :
         std::vector<std::vector<int>>{{299}, {150, 299, 7}, {0}}) {
      GetExecutionPlanRequest r;
      for (int t : targets) r.add_targets(TaskName(t));
      auto whole =
          Pages<GetExecutionPlanRequest, GetExecutionPlanResponse>(r, 0, plan);
      ASSERT_EQ(whole.size(), 1u);
      for (int i = 0; i < whole[0].layers_size(); ++i) {
        EXPECT_EQ(whole[0].layers(i).index(), i);
      }
      auto pages = Pages<GetExecutionPlanRequest, GetExecutionPlanResponse>(
          r, size, plan);
      for (const auto& p : pages) {
        int n = 0;
        for (const auto& l : p.layers()) n += l.tasks_size();
        EXPECT_LE(n, size);
      }
      EXPECT_EQ(PlanItems(pages), PlanItems(whole));
    }
    for (const std::vector<int>& targets :
         std::vector<std::vector<int>>{{}, {299, 200, 150}}) {
      GetReadyTasksRequest r;
      r.set_batch_id("b");
      for (int t : targets) r.add_targets(TaskName(t));
      auto whole =
          Pages<GetReadyTasksRequest, GetReadyTasksResponse>(r, 0, ready);
      ASSERT_EQ(whole.size(), 1u);
      if (targets.empty()) EXPECT_GT(whole[0].tasks_size(), 3);
      auto pages =
          Pages<GetReadyTasksRequest, GetReadyTasksResponse>(r, size, ready);
      for (const auto& p : pages) EXPECT_LE(p.tasks_size(), size);
      EXPECT_EQ(Items(pages), Items(whole));
    }
  }
}

// The in-memory and the SQL path of ReadyTasks give the same pages.
TEST_F(DependencyPagingTest, ReadyPagesAgreeOnBothPaths) {
  RandomGraph(7);
  store::DependencyStore in_memory(db());
  store::DependencyStore sql_only(db(), {.ready_graph_max_tasks = 0});
  for (const std::vector<std::string>& targets :
       std::vector<std::vector<std::string>>{{}, {"t299", "t120"}}) {
    absl::StatusOr<std::vector<Task>> whole =
        sql_only.ReadyTasks({}, "b", targets);
    ASSERT_TRUE(whole.ok()) << whole.status();
    ASSERT_GE(whole->size(), 2u);
    for (store::DependencyStore* s : {&in_memory, &sql_only}) {
      std::vector<int64_t> ids;
      int64_t after = 0;
      for (int n = 0; n <= kTasks; ++n) {
        absl::StatusOr<std::vector<Task>> page =
            s->ReadyTasks({}, "b", targets, after, 1);
        ASSERT_TRUE(page.ok()) << page.status();
        ASSERT_LE(page->size(), 1u);
        if (page->empty()) break;
        for (const Task& t : *page) ids.push_back(t.id());
        after = page->back().id();
      }
      std::vector<int64_t> want;
      for (const Task& t : *whole) want.push_back(t.id());
      EXPECT_EQ(ids, want) << (s == &sql_only ? "sql" : "in memory");
    }
  }
}

TEST_F(DependencyPagingTest, TokenOnlyWorksWithItsRequest) {
  RandomGraph(99);
  auto expect_bad_token = [](const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("page_token:"));
  };
  {
    ListDependenciesRequest r;
    r.set_task("t0");
    r.set_direction(DIRECTION_CHILDREN);
    r.set_page_size(1);
    ListDependenciesResponse first;
    ASSERT_TRUE(deps_->ListDependencies(Ctx().get(), r, &first).ok());
    ASSERT_FALSE(first.next_page_token().empty());
    r.set_page_token(first.next_page_token());
    ListDependenciesResponse out;
    // The same request with another page size goes on.
    r.set_page_size(5);
    EXPECT_TRUE(deps_->ListDependencies(Ctx().get(), r, &out).ok());
    r.set_direction(DIRECTION_PARENTS);
    expect_bad_token(deps_->ListDependencies(Ctx().get(), r, &out));
    r.set_direction(DIRECTION_CHILDREN);
    r.set_task("t1");
    expect_bad_token(deps_->ListDependencies(Ctx().get(), r, &out));
  }
  {
    GetDownstreamRequest r;
    r.set_task("t0");
    r.set_page_size(1);
    GetDownstreamResponse first;
    ASSERT_TRUE(deps_->GetDownstream(Ctx().get(), r, &first).ok());
    ASSERT_FALSE(first.next_page_token().empty());
    r.set_page_token(first.next_page_token());
    r.set_max_depth(3);
    GetDownstreamResponse out;
    expect_bad_token(deps_->GetDownstream(Ctx().get(), r, &out));
    // A downstream token does not page upstream.
    GetUpstreamRequest u;
    u.set_task("t0");
    u.set_page_token(first.next_page_token());
    GetUpstreamResponse up;
    expect_bad_token(deps_->GetUpstream(Ctx().get(), u, &up));
  }
  {
    GetExecutionPlanRequest r;
    r.add_targets("t299");
    r.add_targets("t298");
    r.set_page_size(1);
    GetExecutionPlanResponse first;
    ASSERT_TRUE(deps_->GetExecutionPlan(Ctx().get(), r, &first).ok());
    ASSERT_FALSE(first.next_page_token().empty());
    r.set_page_token(first.next_page_token());
    r.add_targets("t297");
    GetExecutionPlanResponse out;
    expect_bad_token(deps_->GetExecutionPlan(Ctx().get(), r, &out));
  }
  {
    GetReadyTasksRequest r;
    r.set_batch_id("b");
    r.set_page_size(1);
    GetReadyTasksResponse first;
    ASSERT_TRUE(deps_->GetReadyTasks(Ctx().get(), r, &first).ok());
    ASSERT_FALSE(first.next_page_token().empty());
    r.set_page_token(first.next_page_token());
    r.set_batch_id("other");
    GetReadyTasksResponse out;
    expect_bad_token(deps_->GetReadyTasks(Ctx().get(), r, &out));
  }
}

TEST_F(DependencyPagingTest, SizesAboveTheMaximumAreCoercedNegativeRefused) {
  // 10001 tasks, every one ready in a fresh batch and a child of "hub".
  Sql("INSERT INTO tasks (name) SELECT 'c' || g FROM generate_series(1, "
      "10001) g ORDER BY g");
  Sql("INSERT INTO tasks (name) VALUES ('hub')");
  Sql("INSERT INTO task_dependencies (parent_id, child_id) SELECT h.id, c.id "
      "FROM tasks h, tasks c WHERE h.name = 'hub' AND c.name LIKE 'c%'");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, end_time) SELECT id, 'b', 'SUCCESS', 1, 60, now() "
      "FROM tasks WHERE name = 'hub'");
  for (int32_t size : {0, 10001, 2147483647}) {
    SCOPED_TRACE(absl::StrCat("page_size ", size));
    ListDependenciesRequest list;
    list.set_task("hub");
    list.set_direction(DIRECTION_CHILDREN);
    list.set_page_size(size);
    ListDependenciesResponse edges;
    grpc::Status s = deps_->ListDependencies(Ctx().get(), list, &edges);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(edges.dependencies_size(), 10000);
    ASSERT_FALSE(edges.next_page_token().empty());
    list.set_page_token(edges.next_page_token());
    ASSERT_TRUE(deps_->ListDependencies(Ctx().get(), list, &edges).ok());
    EXPECT_EQ(edges.dependencies_size(), 1);
    EXPECT_TRUE(edges.next_page_token().empty());

    GetReadyTasksRequest ready;
    ready.set_batch_id("b");
    ready.set_page_size(size);
    GetReadyTasksResponse tasks;
    s = deps_->GetReadyTasks(Ctx().get(), ready, &tasks);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(tasks.tasks_size(), 10000);
    EXPECT_FALSE(tasks.next_page_token().empty());

    GetDownstreamRequest down;
    down.set_task("hub");
    down.set_page_size(size);
    GetDownstreamResponse walked;
    s = deps_->GetDownstream(Ctx().get(), down, &walked);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(walked.tasks_size(), 10000);
    EXPECT_FALSE(walked.next_page_token().empty());

    GetExecutionPlanRequest plan;
    plan.add_targets("c1");
    plan.set_page_size(size);
    GetExecutionPlanResponse layers;
    s = deps_->GetExecutionPlan(Ctx().get(), plan, &layers);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(layers.layers_size(), 2);
    EXPECT_TRUE(layers.next_page_token().empty());
  }
  auto expect_negative_refused = [](const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("page_size:"));
  };
  ListDependenciesRequest list;
  list.set_task("hub");
  list.set_direction(DIRECTION_CHILDREN);
  list.set_page_size(-1);
  ListDependenciesResponse edges;
  expect_negative_refused(deps_->ListDependencies(Ctx().get(), list, &edges));
  GetUpstreamRequest up;
  up.set_task("c1");
  up.set_page_size(-1);
  GetUpstreamResponse walked;
  expect_negative_refused(deps_->GetUpstream(Ctx().get(), up, &walked));
  GetDownstreamRequest down;
  down.set_task("hub");
  down.set_page_size(-2147483647);
  GetDownstreamResponse down_walked;
  expect_negative_refused(
      deps_->GetDownstream(Ctx().get(), down, &down_walked));
  GetExecutionPlanRequest plan;
  plan.add_targets("c1");
  plan.set_page_size(-1);
  GetExecutionPlanResponse layers;
  expect_negative_refused(deps_->GetExecutionPlan(Ctx().get(), plan, &layers));
  GetReadyTasksRequest ready;
  ready.set_batch_id("b");
  ready.set_page_size(-1);
  GetReadyTasksResponse tasks;
  expect_negative_refused(deps_->GetReadyTasks(Ctx().get(), ready, &tasks));
}

}  // namespace
}  // namespace metad::daemon
