// Deadlines and freshness (DeadlineService, Task.expected_duration): a
// missed deadline or a stale source is recorded exactly once however many
// checkers race, while the run is still PROCESSING; a task that succeeded
// in time records nothing; a stale source re-arms with its next file;
// GetBatch shows each task's deadline and whether it is late; bad values
// are refused naming the field. Times are moved into the past with SQL
// instead of waiting.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "daemon/background/deadline_checker.h"
#include "daemon/http/metrics.h"
#include "daemon/services/deadline_service.h"
#include "daemon/services/task_service.h"
#include "metad/v1/deadlines.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "store/status_page_store.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

namespace v1 = ::metad::v1;

class DeadlinesTest : public RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    // PgTest empties the tables it knows; these are ours.
    Sql("TRUNCATE alerts, batch_deadlines, source_freshness RESTART IDENTITY");
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Add<daemon::TaskServiceImpl>();
    server_->Add<daemon::DeadlineServiceImpl>();
    server_->Start();
    runs_ = v1::TaskLogService::NewStub(server_->channel());
    tasks_ = v1::TaskService::NewStub(server_->channel());
    deadlines_ = v1::DeadlineService::NewStub(server_->channel());
  }

  void TearDown() override {
    runs_.reset();
    tasks_.reset();
    deadlines_.reset();
    server_.reset();
  }

  // Registers `name` expected to succeed `seconds` after its batch starts
  // (0: no expectation).
  grpc::Status Register(const std::string& name, int64_t seconds,
                        int32_t nanos = 0, v1::Task* out = nullptr) {
    v1::RegisterTaskRequest request;
    request.set_name(name);
    if (seconds != 0 || nanos != 0) {
      request.mutable_expected_duration()->set_seconds(seconds);
      request.mutable_expected_duration()->set_nanos(nanos);
    }
    v1::RegisterTaskResponse response;
    grpc::ClientContext context;
    grpc::Status status = tasks_->RegisterTask(&context, request, &response);
    if (out != nullptr) *out = response.task();
    return status;
  }

  int64_t MustStart(const std::string& task, const std::string& batch) {
    v1::StartRunRequest request;
    request.set_task(task);
    request.set_batch_id(batch);
    v1::StartRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = runs_->StartRun(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  void MustFinish(int64_t run_id) {
    v1::FinishRunRequest request;
    request.set_run_id(run_id);
    request.set_status(v1::RUN_STATUS_SUCCESS);
    v1::FinishRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = runs_->FinishRun(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  // Moves every run of the batch `seconds` into the past (start and end).
  void Backdate(const std::string& batch, int seconds) {
    Sql(absl::StrCat("UPDATE task_log SET start_time = start_time - ", seconds,
                     " * interval '1 second', end_time = end_time - ", seconds,
                     " * interval '1 second' WHERE batch_id = '", batch, "'"));
  }

  grpc::Status SetDeadline(const std::string& batch, const std::string& task,
                           const google::protobuf::Timestamp* deadline,
                           bool clear = false,
                           v1::SetBatchDeadlineResponse* out = nullptr) {
    v1::SetBatchDeadlineRequest request;
    request.set_batch_id(batch);
    request.set_task(task);
    if (deadline != nullptr) *request.mutable_deadline() = *deadline;
    request.set_clear(clear);
    v1::SetBatchDeadlineResponse response;
    grpc::ClientContext context;
    return deadlines_->SetBatchDeadline(&context, request,
                                        out ? out : &response);
  }

  grpc::Status SetFreshness(const std::string& source, int64_t seconds,
                            int32_t nanos = 0,
                            v1::SourceFreshness* out = nullptr) {
    v1::SetSourceFreshnessRequest request;
    request.set_source(source);
    if (seconds != 0 || nanos != 0) {
      request.mutable_max_age()->set_seconds(seconds);
      request.mutable_max_age()->set_nanos(nanos);
    }
    v1::SourceFreshness response;
    grpc::ClientContext context;
    return deadlines_->SetSourceFreshness(&context, request,
                                          out ? out : &response);
  }

  v1::Batch GetBatch(const std::string& batch) {
    v1::GetBatchRequest request;
    request.set_batch_id(batch);
    v1::Batch response;
    grpc::ClientContext context;
    grpc::Status status = runs_->GetBatch(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<v1::Alert> Alerts(const std::string& kind = "") {
    v1::ListAlertsRequest request;
    request.set_kind(kind);
    v1::ListAlertsResponse response;
    grpc::ClientContext context;
    grpc::Status status = deadlines_->ListAlerts(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.alerts().begin(), response.alerts().end()};
  }

  store::AlertCounts Check() {
    daemon::DeadlineChecker checker(db(), absl::Hours(1), nullptr);
    return checker.CheckOnce();
  }

  static google::protobuf::Timestamp SecondsFromNow(int64_t s) {
    google::protobuf::Timestamp ts;
    ts.set_seconds(absl::ToUnixSeconds(absl::Now()) + s);
    return ts;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::TaskLogService::Stub> runs_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::unique_ptr<v1::DeadlineService::Stub> deadlines_;
};

void ExpectInvalid(const grpc::Status& status, const std::string& field) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_EQ(status.error_message().rfind(field + ": ", 0), 0u)
      << status.error_message();
}

TEST_F(DeadlinesTest, MissedWhileProcessingRecordedOnceByRacingCheckers) {
  ASSERT_TRUE(Register("load", 3600).ok());
  constexpr int kBatches = 20;
  std::vector<int64_t> run_ids;
  for (int i = 0; i < kBatches; ++i) {
    const std::string batch = absl::StrCat("b", i);
    run_ids.push_back(MustStart("load", batch));
    Backdate(batch, 7200);  // started two hours ago, due one hour ago
  }

  // Two checkers (as in two replicas), each on four threads, all at once.
  daemon::DeadlineChecker a(db(), absl::Hours(1), nullptr);
  daemon::DeadlineChecker b(db(), absl::Hours(1), nullptr);
  std::atomic<int64_t> recorded{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < 5; ++k) {
        recorded += (t % 2 == 0 ? a : b).CheckOnce().deadline_missed;
      }
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(recorded.load(), kBatches);
  EXPECT_EQ(Count("SELECT count(*) FROM alerts"), kBatches);
  EXPECT_EQ(Count("SELECT count(DISTINCT batch_id) FROM alerts WHERE kind = "
                  "'DEADLINE_MISSED' AND task = 'load'"),
            kBatches);
  // Fired while the runs are still running.
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE status = 'PROCESSING'"),
            kBatches);
  std::vector<v1::Alert> alerts = Alerts("DEADLINE_MISSED");
  ASSERT_EQ(alerts.size(), static_cast<size_t>(kBatches));
  EXPECT_EQ(alerts[0].message(),
            absl::StrCat("run ", run_ids[0], " was PROCESSING at the check"));
  EXPECT_EQ(Check().deadline_missed, 0);
}

TEST_F(DeadlinesTest, SucceededInTimeRecordsNothingLateSuccessDoes) {
  ASSERT_TRUE(Register("load", 3600).ok());
  MustFinish(MustStart("load", "in_time"));
  Backdate("in_time", 7200);  // ended well before its deadline
  MustFinish(MustStart("load", "late"));
  Backdate("late", 7200);
  Sql("UPDATE task_log SET end_time = start_time + interval '90 minutes' "
      "WHERE batch_id = 'late'");

  EXPECT_EQ(Check().deadline_missed, 1);
  std::vector<v1::Alert> alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].batch_id(), "late");
  EXPECT_EQ(alerts[0].kind(), "DEADLINE_MISSED");
  EXPECT_NE(alerts[0].message().find("SUCCESS"), std::string::npos);

  EXPECT_FALSE(GetBatch("in_time").tasks(0).late());
  EXPECT_TRUE(GetBatch("late").tasks(0).late());
}

TEST_F(DeadlinesTest, NotDueYetRecordsNothing) {
  ASSERT_TRUE(Register("load", 3600).ok());
  MustStart("load", "b");
  Backdate("b", 1800);
  EXPECT_EQ(Check().deadline_missed, 0);
  v1::Batch batch = GetBatch("b");
  ASSERT_EQ(batch.tasks_size(), 1);
  EXPECT_TRUE(batch.tasks(0).has_deadline());
  EXPECT_EQ(batch.tasks(0).deadline().seconds(),
            batch.first_start_time().seconds() + 3600);
  EXPECT_FALSE(batch.tasks(0).late());
}

TEST_F(DeadlinesTest, ChildThatNeverStartedMissesItsDeadline) {
  ASSERT_TRUE(Register("extract", 0).ok());
  ASSERT_TRUE(Register("report", 600).ok());
  AddEdge("extract", "report");
  MustStart("extract", "b");  // still running: report never started
  Backdate("b", 1200);
  EXPECT_EQ(Check().deadline_missed, 1);
  std::vector<v1::Alert> alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].task(), "report");
  EXPECT_EQ(alerts[0].message(), "no run by the deadline");
}

TEST_F(DeadlinesTest, BatchDeadlineWinsAndMovingItReArms) {
  ASSERT_TRUE(Register("load", 86400).ok());
  // Set before the batch has any run.
  google::protobuf::Timestamp soon = SecondsFromNow(3600);
  v1::SetBatchDeadlineResponse response;
  ASSERT_TRUE(SetDeadline("b", "load", &soon, false, &response).ok());
  EXPECT_EQ(response.deadline().seconds(), soon.seconds());
  MustStart("load", "b");
  EXPECT_EQ(GetBatch("b").tasks(0).deadline().seconds(), soon.seconds());
  EXPECT_EQ(Check().deadline_missed, 0);

  google::protobuf::Timestamp past = SecondsFromNow(-60);
  ASSERT_TRUE(SetDeadline("b", "load", &past).ok());
  EXPECT_TRUE(GetBatch("b").tasks(0).late());
  EXPECT_EQ(Check().deadline_missed, 1);
  EXPECT_EQ(Check().deadline_missed, 0);
  google::protobuf::Timestamp earlier = SecondsFromNow(-30);
  ASSERT_TRUE(SetDeadline("b", "load", &earlier).ok());
  EXPECT_EQ(Check().deadline_missed, 1);  // a new deadline, a new miss

  // Cleared: the task's expected_duration applies again (a day: not late).
  ASSERT_TRUE(SetDeadline("b", "load", nullptr, true, &response).ok());
  EXPECT_GT(response.deadline().seconds(), soon.seconds());
  EXPECT_FALSE(GetBatch("b").tasks(0).late());
}

TEST_F(DeadlinesTest, StaleSourceFiresOnceAndReArmsAfterANewFile) {
  v1::SourceFreshness state;
  ASSERT_TRUE(SetFreshness("feed", 60, 0, &state).ok());
  EXPECT_EQ(state.max_age().seconds(), 60);
  EXPECT_FALSE(state.stale());
  EXPECT_EQ(Check().stale, 0);  // just declared: counts from now

  Sql("UPDATE source_freshness SET declared_time = now() - interval '1 day'");
  Sql("INSERT INTO files (source, file_name, create_time) VALUES "
      "('feed', 'a', now() - interval '2 minutes')");
  EXPECT_EQ(Check().stale, 1);
  EXPECT_EQ(Check().stale, 0);  // the same gap: once
  std::vector<v1::Alert> alerts = Alerts("STALE");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].source(), "feed");

  // A new file re-arms: fresh now, stale again once it is old.
  Sql("INSERT INTO files (source, file_name) VALUES ('feed', 'b')");
  EXPECT_EQ(Check().stale, 0);
  Sql("UPDATE files SET create_time = now() - interval '90 seconds' "
      "WHERE file_name = 'b'");
  EXPECT_EQ(Check().stale, 1);
  EXPECT_EQ(Check().stale, 0);
  EXPECT_EQ(Alerts("STALE").size(), 2u);
  EXPECT_EQ(Alerts("DEADLINE_MISSED").size(), 0u);

  // Removed: no more checks.
  ASSERT_TRUE(SetFreshness("feed", 0).ok());
  Sql("UPDATE files SET create_time = now() - interval '1 hour'");
  EXPECT_EQ(Check().stale, 0);
}

TEST_F(DeadlinesTest, AlertsReachTheMetricAndTheStatusPage) {
  daemon::Metrics metrics("test");
  daemon::DeadlineChecker checker(
      db(), absl::Hours(1), [&metrics](const store::AlertCounts& c) {
        metrics.RecordAlerts("DEADLINE_MISSED", c.deadline_missed);
        metrics.RecordAlerts("STALE", c.stale);
      });
  ASSERT_TRUE(Register("load", 60).ok());
  MustStart("load", "b");
  Backdate("b", 120);
  ASSERT_TRUE(SetFreshness("feed", 60).ok());
  Sql("UPDATE source_freshness SET declared_time = now() - interval '1 hour'");
  checker.CheckOnce();
  checker.CheckOnce();

  const std::string text = metrics.Render();
  EXPECT_NE(text.find("metad_alerts_total{kind=\"DEADLINE_MISSED\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("metad_alerts_total{kind=\"STALE\"} 1"),
            std::string::npos);

  store::StatusPageStore status_store(db());
  absl::StatusOr<store::StatusOverview> overview =
      status_store.Overview(store::TxOptions(), store::StatusOverviewLimits());
  ASSERT_TRUE(overview.ok()) << overview.status();
  ASSERT_EQ(overview->alerts.size(), 2u);
  EXPECT_EQ(overview->alerts[0].kind, "STALE");  // newest first
  EXPECT_EQ(overview->alerts[0].source, "feed");
  EXPECT_EQ(overview->alerts[1].kind, "DEADLINE_MISSED");
  EXPECT_EQ(overview->alerts[1].task, "load");
  EXPECT_EQ(overview->alerts[1].batch_id, "b");
}

TEST_F(DeadlinesTest, ExpectedDurationThroughRegisterAndUpdateTask) {
  v1::Task task;
  ASSERT_TRUE(Register("load", 0, 0, &task).ok());
  EXPECT_FALSE(task.has_expected_duration());
  ASSERT_TRUE(Register("load", 90, 0, &task).ok());
  EXPECT_EQ(task.expected_duration().seconds(), 90);
  ASSERT_TRUE(Register("load", 0, 0, &task).ok());  // unset keeps it
  EXPECT_EQ(task.expected_duration().seconds(), 90);

  v1::UpdateTaskRequest update;
  update.mutable_task()->set_name("load");
  update.mutable_task()->mutable_expected_duration()->set_seconds(120);
  update.mutable_update_mask()->add_paths("expected_duration");
  update.set_etag(task.etag());
  v1::Task updated;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(tasks_->UpdateTask(&context, update, &updated).ok());
  }
  EXPECT_EQ(updated.expected_duration().seconds(), 120);
  EXPECT_NE(updated.etag(), task.etag());
  // The old etag is refused.
  {
    grpc::ClientContext context;
    EXPECT_EQ(tasks_->UpdateTask(&context, update, &updated).error_code(),
              grpc::StatusCode::ABORTED);
  }
  // Unset in the mask clears it.
  update.mutable_task()->clear_expected_duration();
  update.clear_etag();
  {
    grpc::ClientContext context;
    ASSERT_TRUE(tasks_->UpdateTask(&context, update, &updated).ok());
  }
  EXPECT_FALSE(updated.has_expected_duration());
  EXPECT_EQ(Sql("SELECT expected_duration IS NULL FROM tasks"), "t");
}

TEST_F(DeadlinesTest, RefusalsNameTheField) {
  ExpectInvalid(Register("t", -5), "expected_duration");
  ExpectInvalid(Register("t", 0, 500), "expected_duration");  // < 1 us
  ExpectInvalid(Register("t", 1, 1), "expected_duration");    // not whole us
  ExpectInvalid(Register("t", int64_t{400} * 86400), "expected_duration");
  ASSERT_TRUE(Register("t", 60).ok());

  v1::UpdateTaskRequest update;
  update.mutable_task()->set_name("t");
  update.mutable_task()->mutable_expected_duration()->set_seconds(-1);
  update.mutable_update_mask()->add_paths("expected_duration");
  v1::Task updated;
  grpc::ClientContext context;
  ExpectInvalid(tasks_->UpdateTask(&context, update, &updated),
                "task.expected_duration");

  google::protobuf::Timestamp ts = SecondsFromNow(60);
  ExpectInvalid(SetDeadline("b", "t", nullptr), "deadline");
  ExpectInvalid(SetDeadline("b", "t", &ts, true), "deadline");
  ExpectInvalid(SetDeadline("", "t", &ts), "batch_id");
  ExpectInvalid(SetDeadline("b", "", &ts), "task");
  google::protobuf::Timestamp before_1970;
  before_1970.set_seconds(-10);
  ExpectInvalid(SetDeadline("b", "t", &before_1970), "deadline");
  EXPECT_EQ(SetDeadline("b", "nope", &ts).error_code(),
            grpc::StatusCode::NOT_FOUND);

  ExpectInvalid(SetFreshness("", 60), "source");
  ExpectInvalid(SetFreshness("s", 0, 500000000), "max_age");  // under 1 s
  ExpectInvalid(SetFreshness("s", -60), "max_age");

  v1::ListAlertsRequest list;
  list.set_kind("LATE");
  v1::ListAlertsResponse listed;
  grpc::ClientContext c2;
  ExpectInvalid(deadlines_->ListAlerts(&c2, list, &listed), "kind");
  list.set_kind("");
  list.set_page_size(-1);
  grpc::ClientContext c3;
  ExpectInvalid(deadlines_->ListAlerts(&c3, list, &listed), "page_size");
  EXPECT_EQ(Count("SELECT count(*) FROM batch_deadlines"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM source_freshness"), 0);
}

}  // namespace
}  // namespace metad::testing
