// Concurrency limits held on leases (issue 15), end to end against real
// metad processes: the refusal and its details, slots freed at once by a
// finish, a cancel or a lapsed lease, the limit under a race of 32 callers
// over 3 replicas (checked from the run log), and a killed worker's slot
// freed by the lease reaper.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return c;
}

// The ErrorInfo of a failed call (reason empty when there is none).
google::rpc::ErrorInfo InfoOf(const grpc::Status& status) {
  google::rpc::ErrorInfo info;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return info;
  for (const auto& any : details.details()) {
    if (any.UnpackTo(&info)) return info;
  }
  return info;
}

class ConcurrencyLimit : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = CreateEmptyDatabase("concurrency");
    ASSERT_TRUE(daemon_.Spawn(url_, {"--reaper_interval", "1"}));
    ASSERT_TRUE(daemon_.WaitServing()) << daemon_.ReadLog();
    tasks_ = TaskService::NewStub(daemon_.channel());
    runs_ = TaskLogService::NewStub(daemon_.channel());
  }

  // Registers `name` and sets its limit with UpdateTask.
  void LimitedTask(const std::string& name, int limit,
                   const std::string& key_label = "") {
    RegisterTaskRequest reg;
    reg.set_name(name);
    RegisterTaskResponse reg_resp;
    ASSERT_TRUE(tasks_->RegisterTask(Ctx().get(), reg, &reg_resp).ok());
    UpdateTaskRequest update;
    update.mutable_task()->set_name(name);
    update.mutable_task()->set_concurrency_limit(limit);
    update.mutable_task()->set_concurrency_key_label(key_label);
    update.mutable_update_mask()->add_paths("concurrency_limit");
    update.mutable_update_mask()->add_paths("concurrency_key_label");
    Task updated;
    grpc::Status s = tasks_->UpdateTask(Ctx().get(), update, &updated);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(updated.concurrency_limit(), limit);
    ASSERT_EQ(updated.concurrency_key_label(), key_label);
  }

  grpc::Status Start(const std::string& task, const std::string& batch,
                     v1::Run* run, const std::string& request_id = "",
                     int lease_seconds = 600,
                     const std::map<std::string, std::string>& labels = {}) {
    StartRunRequest req;
    for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
    req.set_task(task);
    req.set_batch_id(batch);
    req.set_worker_id(absl::StrCat("w-", batch));
    req.set_lease_seconds(lease_seconds);
    req.set_request_id(request_id);
    StartRunResponse resp;
    grpc::Status s = runs_->StartRun(Ctx().get(), req, &resp);
    *run = resp.run();
    return s;
  }

  // GetReadyTasks of `daemon` (this test's own by default), for `targets`
  // when given.
  std::vector<std::string> Ready(const std::string& batch,
                                 DaemonProcess* daemon = nullptr,
                                 const std::string& target = "") {
    auto deps = DependencyService::NewStub(
        (daemon == nullptr ? &daemon_ : daemon)->channel());
    GetReadyTasksRequest req;
    req.set_batch_id(batch);
    if (!target.empty()) req.add_targets(target);
    GetReadyTasksResponse resp;
    EXPECT_TRUE(deps->GetReadyTasks(Ctx().get(), req, &resp).ok());
    std::vector<std::string> names;
    for (const Task& t : resp.tasks()) names.push_back(t.name());
    return names;
  }

  std::string Sql(const std::string& sql) { return QueryValue(url_, sql); }

  std::string url_;
  DaemonProcess daemon_;
  std::unique_ptr<TaskService::Stub> tasks_;
  std::unique_ptr<TaskLogService::Stub> runs_;
};

TEST_F(ConcurrencyLimit, RefusalNamesKeyLimitAndHolders) {
  LimitedTask("load", 2);
  v1::Run a, b, c;
  ASSERT_TRUE(Start("load", "b1", &a).ok());
  ASSERT_TRUE(Start("load", "b2", &b, "req-b").ok());
  grpc::Status refused = Start("load", "b3", &c);
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  const std::string holders = absl::StrCat(
      "run ", a.id(), " (worker w-b1), run ", b.id(), " (worker w-b2)");
  EXPECT_NE(refused.error_message().find(holders), std::string::npos)
      << refused.error_message();
  google::rpc::ErrorInfo info = InfoOf(refused);
  EXPECT_EQ(info.reason(), "CONCURRENCY_LIMIT");
  EXPECT_EQ(info.metadata().at("task"), "load");
  EXPECT_EQ(info.metadata().at("key"), "");
  EXPECT_EQ(info.metadata().at("limit"), "2");
  EXPECT_EQ(info.metadata().at("holders"), holders);
  EXPECT_EQ(info.metadata().at("holder_run_ids"),
            absl::StrCat(a.id(), ",", b.id()));
  // A retry of a request_id that got its run still gets it, limit full.
  v1::Run again;
  ASSERT_TRUE(Start("load", "b2", &again, "req-b").ok());
  EXPECT_EQ(again.id(), b.id());
  // The task is not offered while its limit is full, in any batch: from
  // the task graph held in memory (this daemon) and from SQL (a daemon
  // that holds no graph), with and without targets.
  EXPECT_EQ(Ready("b3"), std::vector<std::string>{});
  EXPECT_EQ(Ready("b3", nullptr, "load"), std::vector<std::string>{});
  DaemonProcess sql_only;
  ASSERT_TRUE(sql_only.Spawn(url_, {"--ready_graph_max_tasks", "0"}));
  ASSERT_TRUE(sql_only.WaitServing()) << sql_only.ReadLog();
  EXPECT_EQ(Ready("b3", &sql_only), std::vector<std::string>{});
  EXPECT_EQ(Ready("b3", &sql_only, "load"), std::vector<std::string>{});
  FinishRunRequest finish;
  finish.set_run_id(a.id());
  finish.set_status(RUN_STATUS_SUCCESS);
  FinishRunResponse finished;
  ASSERT_TRUE(runs_->FinishRun(Ctx().get(), finish, &finished).ok());
  const std::vector<std::string> load = {"load"};
  EXPECT_EQ(Ready("b3"), load);
  EXPECT_EQ(Ready("b3", nullptr, "load"), load);
  EXPECT_EQ(Ready("b3", &sql_only), load);
  EXPECT_EQ(Ready("b3", &sql_only, "load"), load);
  // No run was written for the refused start.
  EXPECT_EQ(Sql("SELECT count(*) FROM task_log WHERE batch_id = 'b3'"), "0");
}

TEST_F(ConcurrencyLimit, SlotFreedAtOnceByFinishCancelAndLapse) {
  LimitedTask("load", 1);
  v1::Run held, other;
  // Finished: the next start gets the slot.
  ASSERT_TRUE(Start("load", "b1", &held).ok());
  EXPECT_EQ(Start("load", "b2", &other).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  FinishRunRequest finish;
  finish.set_run_id(held.id());
  finish.set_status(RUN_STATUS_SUCCESS);
  FinishRunResponse finished;
  ASSERT_TRUE(runs_->FinishRun(Ctx().get(), finish, &finished).ok());
  EXPECT_EQ(Ready("b2"), std::vector<std::string>{"load"});
  ASSERT_TRUE(Start("load", "b2", &held).ok());
  // Cancelled.
  CancelRunRequest cancel;
  cancel.set_run_id(held.id());
  CancelRunResponse cancelled;
  grpc::Status s = runs_->CancelRun(Ctx().get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Start("load", "b3", &held).ok());
  // Lapsed lease, before any reaper (the long interval of this daemon's
  // reaper would not matter: the start does not wait for it).
  EXPECT_EQ(Start("load", "b4", &other).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  Sql(
      absl::StrCat("UPDATE task_log SET lease_expire_time = now() - "
                   "interval '1 second' WHERE id = ",
                   held.id()));
  EXPECT_EQ(Ready("b4"), std::vector<std::string>{"load"});
  s = Start("load", "b4", &other);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

TEST_F(ConcurrencyLimit, UpdateTaskValidatesAndGetTaskReturns) {
  LimitedTask("load", 3, "warehouse");
  GetTaskRequest get;
  get.set_name("load");
  Task task;
  ASSERT_TRUE(tasks_->GetTask(Ctx().get(), get, &task).ok());
  EXPECT_EQ(task.concurrency_limit(), 3);
  EXPECT_EQ(task.concurrency_key_label(), "warehouse");
  UpdateTaskRequest bad;
  bad.mutable_task()->set_name("load");
  bad.mutable_task()->set_concurrency_limit(-1);
  bad.mutable_update_mask()->add_paths("concurrency_limit");
  Task ignored;
  grpc::Status s = tasks_->UpdateTask(Ctx().get(), bad, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("task.concurrency_limit"),
            std::string::npos);
  bad.mutable_task()->set_concurrency_limit(0);
  bad.mutable_task()->set_concurrency_key_label("bad label!");
  bad.mutable_update_mask()->set_paths(0, "concurrency_key_label");
  s = tasks_->UpdateTask(Ctx().get(), bad, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("task.concurrency_key_label"),
            std::string::npos);
}

TEST_F(ConcurrencyLimit, KeyedLimitCountsPerLabelValue) {
  LimitedTask("load", 1, "warehouse");
  v1::Run eu, eu2, us;
  ASSERT_TRUE(Start("load", "b1", &eu, "", 600, {{"warehouse", "eu"}}).ok());
  grpc::Status refused =
      Start("load", "b2", &eu2, "", 600, {{"warehouse", "eu"}, {"x", "1"}});
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  google::rpc::ErrorInfo info = InfoOf(refused);
  EXPECT_EQ(info.reason(), "CONCURRENCY_LIMIT");
  EXPECT_EQ(info.metadata().at("key"), "eu");
  EXPECT_EQ(info.metadata().at("limit"), "1");
  EXPECT_EQ(info.metadata().at("holder_run_ids"), absl::StrCat(eu.id()));
  EXPECT_NE(refused.error_message().find("key \"eu\""), std::string::npos)
      << refused.error_message();
  // Another value has its own slots.
  ASSERT_TRUE(Start("load", "b2", &us, "", 600, {{"warehouse", "us"}}).ok());
  // A keyed limit never makes the task unready: StartRun decides.
  EXPECT_EQ(Ready("b3"), std::vector<std::string>{"load"});
  // A run without the key label is refused, naming it.
  grpc::Status missing = Start("load", "b3", &eu2, "", 600, {{"x", "1"}});
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(missing.error_message().find("\"warehouse\""), std::string::npos)
      << missing.error_message();
  EXPECT_EQ(Sql("SELECT string_agg(concurrency_key, ',' ORDER BY id) "
                "FROM task_log"),
            "eu,us");
}

// The largest number of runs of `task` whose live intervals overlap, from
// the run log: a run holds its slot from start_time until it ended
// (end_time) or its lease lapsed (lease_expire_time), whichever came first.
int MaxOverlap(const std::string& url, const std::string& task) {
  const std::string rows = QueryValue(
      url, absl::StrCat("SELECT string_agg(metad_us(l.start_time) || ':' || "
                        "metad_us(least(coalesce(l.end_time, 'infinity'), "
                        "coalesce(l.lease_expire_time, 'infinity'))), ',') "
                        "FROM task_log l JOIN tasks t ON t.id = l.task_id "
                        "WHERE t.name = '",
                        task, "'"));
  std::vector<std::pair<int64_t, int>> edges;
  for (absl::string_view interval : absl::StrSplit(rows, ',')) {
    std::vector<std::string> ends = absl::StrSplit(interval, ':');
    int64_t from = 0, to = 0;
    if (ends.size() != 2 || !absl::SimpleAtoi(ends[0], &from) ||
        !absl::SimpleAtoi(ends[1], &to)) {
      ADD_FAILURE() << "bad interval " << interval;
      continue;
    }
    edges.push_back({from, +1});
    edges.push_back({to, -1});  // ends sort before starts at the same time
  }
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second < b.second;
  });
  int live = 0, max = 0;
  for (const auto& e : edges) max = std::max(max, live += e.second);
  return max;
}

TEST(ConcurrencyLimitRace, ThirtyTwoCallersThreeReplicasNeverMoreThanThree) {
  constexpr int kDaemons = 3;
  constexpr int kThreads = 32;
  constexpr int kRounds = 8;
  constexpr int kLimit = 3;
  const std::string url = CreateEmptyDatabase("concurrency_race");
  DaemonProcess daemons[kDaemons];
  for (auto& d : daemons) ASSERT_TRUE(d.Spawn(url, {"--pool_size", "6"}));
  for (auto& d : daemons) ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
  auto tasks = TaskService::NewStub(daemons[0].channel());
  RegisterTaskRequest reg;
  reg.set_name("load");
  RegisterTaskResponse reg_resp;
  ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), reg, &reg_resp).ok());
  UpdateTaskRequest update;
  update.mutable_task()->set_name("load");
  update.mutable_task()->set_concurrency_limit(kLimit);
  update.mutable_update_mask()->add_paths("concurrency_limit");
  Task updated;
  ASSERT_TRUE(tasks->UpdateTask(Ctx().get(), update, &updated).ok());

  std::atomic<int> started{0}, refused{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto runs = TaskLogService::NewStub(daemons[t % kDaemons].channel());
      for (int round = 0; round < kRounds; ++round) {
        StartRunRequest start;
        start.set_task("load");
        start.set_batch_id(absl::StrCat("t", t, "-r", round));
        start.set_worker_id(absl::StrCat("worker-", t));
        start.set_lease_seconds(600);
        StartRunResponse resp;
        grpc::Status s = runs->StartRun(Ctx().get(), start, &resp);
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
            InfoOf(s).reason() == "CONCURRENCY_LIMIT") {
          ++refused;
          continue;
        }
        if (!s.ok()) {
          ++failures;
          continue;
        }
        ++started;
        // Hold the slot for a moment, so that starts overlap holders.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        FinishRunRequest finish;
        finish.set_run_id(resp.run().id());
        finish.set_status(round % 2 ? RUN_STATUS_SUCCESS : RUN_STATUS_ERROR);
        FinishRunResponse finished;
        if (!runs->FinishRun(Ctx().get(), finish, &finished).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(started.load(), kLimit);  // the race was run, not all refused
  EXPECT_GT(refused.load(), 0);       // and the limit was reached
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM task_log"),
            std::to_string(started.load()));
  const int overlap = MaxOverlap(url, "load");
  EXPECT_LE(overlap, kLimit);
  EXPECT_GE(overlap, 2);  // the callers did overlap
}

// A worker that dies leaves its run PROCESSING: the slot comes back when
// its lease lapses, and the reaper ends the run within one interval after.
TEST_F(ConcurrencyLimit, KilledWorkerFreesItsSlotWithinLeaseAndReaper) {
  LimitedTask("load", 1);
  v1::Run dead, next;
  ASSERT_TRUE(Start("load", "b1", &dead, "", /*lease_seconds=*/2).ok());
  EXPECT_EQ(Start("load", "b2", &next).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // No heartbeat comes: poll (generous bound) until the reaper ended it.
  bool reaped = false;
  for (int i = 0; i < 600 && !reaped; ++i) {
    reaped = Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ",
                              dead.id())) == "ERROR";
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(reaped) << daemon_.ReadLog();
  grpc::Status s = Start("load", "b2", &next);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace metad::testing
