// Fault: a primary whose synchronous standby is gone (issue 14). With
// synchronous_standby_names naming a standby that never connects, every
// commit waits for it, and PostgreSQL turns statement_timeout off at
// commit, so only metad's own watch bounds the wait by the call's deadline:
//   - a write (RegisterFile: a transaction; StartRun: an autocommit
//     statement, both through group commit) with a 2 s deadline answers
//     UNAVAILABLE, not OK, well before a generous bound;
//   - the change did commit on the primary (it is visible once the wait
//     ends): the outcome was unknown to metad, so OK and an error would
//     both have been wrong;
//   - once the standby setting is gone, the daemon serves again on the same
//     pool, and the retry with the same request_id replays the file;
//   - a session terminated during the wait answers UNAVAILABLE too;
//   - without a synchronous standby, the same calls answer OK;
//   - health: "metad.v1.writes" turns NOT_SERVING (metad_writes_durable 0,
//     the reason on the status page) while reads stay SERVING, and back.
// The cluster is the suite's own: the setting applies to a whole cluster.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

// Far above the 2 s deadlines: a slow machine passes, a wait that nothing
// bounds (it lasts until the standby setting is removed) fails.
constexpr auto kBound = std::chrono::seconds(20);

class FaultsSyncStandby : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new PgCluster();
    ASSERT_TRUE(cluster_->Create({"max_connections=40"}));
    CreateDatabase(cluster_->Url("postgres"), "metad");
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    url_ = cluster_->Url("metad");
    ASSERT_TRUE(daemon_.Spawn(url_, {"--pool_size", "4", "--drain", "2"}));
    ASSERT_TRUE(daemon_.WaitServing()) << daemon_.ReadLog();
    files_ = FileService::NewStub(daemon_.channel());
    runs_ = TaskLogService::NewStub(daemon_.channel());
    auto tasks = TaskService::NewStub(daemon_.channel());
    RegisterTaskRequest req;
    req.set_name("ingest");
    req.set_max_attempts(100);
    RegisterTaskResponse resp;
    grpc::Status s = tasks->RegisterTask(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS)
        << s.error_message();
  }

  void TearDown() override {
    SetSyncStandby(false);
    files_.reset();
    runs_.reset();
    int status = daemon_.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << daemon_.ReadLog();
  }

  // Names a synchronous standby that never connects (or none), and waits
  // until a new session sees it.
  static void SetSyncStandby(bool on) {
    const std::string admin = cluster_->Url("postgres");
    QueryRows(admin, on ? "ALTER SYSTEM SET synchronous_standby_names = "
                          "'nonexistent'"
                        : "ALTER SYSTEM RESET synchronous_standby_names");
    QueryRows(admin, "SELECT pg_reload_conf()");
    const std::string want = on ? "nonexistent" : "";
    for (int i = 0; i < 200; ++i) {
      Rows rows = QueryRows(admin, "SHOW synchronous_standby_names");
      if (!rows.empty() && rows[0][0] == want) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "synchronous_standby_names did not become '" << want
                  << "'";
  }

  grpc::Status RegisterFile(const std::string& name, double deadline,
                            RegisterFileResponse* resp) {
    RegisterFileRequest req;
    req.mutable_file()->set_source("landing");
    req.mutable_file()->set_file_name(name);
    req.set_request_id("req-" + name);
    return files_->RegisterFile(Ctx(deadline).get(), req, resp);
  }

  grpc::Status StartRun(const std::string& batch, double deadline) {
    StartRunRequest req;
    req.set_task("ingest");
    req.set_batch_id(batch);
    req.set_lease_seconds(600);
    StartRunResponse resp;
    return runs_->StartRun(Ctx(deadline).get(), req, &resp);
  }

  // Runs `call` and waits for it at most kBound. A call still waiting then
  // is released (the standby setting removed) so the test can end.
  grpc::Status Bounded(std::function<grpc::Status()> call) {
    auto answer = std::async(std::launch::async, std::move(call));
    if (answer.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the call outlived its deadline by far: the commit "
                       "waited for the standby";
      SetSyncStandby(false);
    }
    return answer.get();
  }

  int64_t Count(const std::string& sql) { return QueryInt(url_, sql); }

  static PgCluster* cluster_;
  std::string url_;
  DaemonProcess daemon_;
  std::unique_ptr<FileService::Stub> files_;
  std::unique_ptr<TaskLogService::Stub> runs_;
};

PgCluster* FaultsSyncStandby::cluster_ = nullptr;

TEST_F(FaultsSyncStandby, AnUnconfirmedCommitAnswersUnavailableNotOk) {
  SetSyncStandby(true);
  RegisterFileResponse resp;
  grpc::Status s =
      Bounded([&] { return RegisterFile("unconfirmed.csv", 3, &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("synchronous standby"), std::string::npos)
      << s.error_message();
  s = Bounded([&] { return StartRun("unconfirmed", 3); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  // Both committed locally: the outcome was unknown, not a failure.
  EXPECT_EQ(Count("SELECT count(*) FROM files "
                  "WHERE file_name = 'unconfirmed.csv'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log "
                  "WHERE batch_id = 'unconfirmed'"),
            1);

  // The same pool serves again, and the retry replays the file.
  SetSyncStandby(false);
  s = RegisterFile("unconfirmed.csv", 10, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(resp.created());
  EXPECT_TRUE(StartRun("after", 10).ok());
}

TEST_F(FaultsSyncStandby, ASessionTerminatedDuringTheWaitAnswersUnavailable) {
  SetSyncStandby(true);
  RegisterFileResponse resp;
  auto answer = std::async(std::launch::async, [&] {
    return RegisterFile("terminated.csv", 60, &resp);
  });
  // The backend waiting for the standby (wait event SyncRep).
  const std::string waiting =
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE wait_event = 'SyncRep'";
  int64_t terminated = 0;
  for (int i = 0; i < 400 && terminated == 0; ++i) {
    terminated = QueryInt(cluster_->Url("postgres"), waiting);
    if (terminated == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_EQ(terminated, 1);
  if (answer.wait_for(kBound) != std::future_status::ready) {
    ADD_FAILURE() << "the call did not end with its session";
    SetSyncStandby(false);
  }
  grpc::Status s = answer.get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(Count("SELECT count(*) FROM files "
                  "WHERE file_name = 'terminated.csv'"),
            1);
  SetSyncStandby(false);
  EXPECT_TRUE(RegisterFile("terminated.csv", 10, &resp).ok());
}

TEST_F(FaultsSyncStandby, WithoutASynchronousStandbyWritesAnswerOk) {
  RegisterFileResponse resp;
  grpc::Status s = RegisterFile("plain.csv", 2, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.created());
  s = StartRun("plain", 2);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// The monitor probes writes every second; these bound a slow machine.
using Health = grpc::health::v1::HealthCheckResponse;

Health::ServingStatus HealthOf(DaemonProcess& d, const std::string& name) {
  auto stub = grpc::health::v1::Health::NewStub(d.channel());
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(name);
  Health resp;
  grpc::Status s = stub->Check(Ctx(5).get(), req, &resp);
  return s.ok() ? resp.status() : Health::UNKNOWN;
}

// Polls until the health of `name` is `want`; false after `seconds`.
bool WaitHealth(DaemonProcess& d, const std::string& name,
                Health::ServingStatus want, double seconds = 60) {
  for (double waited = 0; waited < seconds; waited += 0.1) {
    if (HealthOf(d, name) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_F(FaultsSyncStandby, HealthSaysWritesNotServingWhileNoStandbyConfirms) {
  const int port = FreePort();
  DaemonProcess d;
  ASSERT_TRUE(
      d.Spawn(url_, {"--pool_size", "4", "--drain", "2", "--metrics_listen",
                     absl::StrCat("127.0.0.1:", port)}));
  ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
  EXPECT_TRUE(WaitHealth(d, "metad.v1.writes", Health::SERVING));

  SetSyncStandby(true);
  ASSERT_TRUE(WaitHealth(d, "metad.v1.writes", Health::NOT_SERVING))
      << d.ReadLog();
  // Reads go on: the database answers them.
  EXPECT_EQ(HealthOf(d, ""), Health::SERVING);
  EXPECT_EQ(HealthOf(d, "metad.v1.FileService"), Health::SERVING);
  auto tasks = TaskService::NewStub(d.channel());
  GetTaskRequest get;
  get.set_name("ingest");
  Task task;
  grpc::Status s = tasks->GetTask(Ctx(10).get(), get, &task);
  EXPECT_TRUE(s.ok()) << s.error_message();
  HttpResult metrics = HttpGet(port, "/metrics");
  EXPECT_TRUE(absl::StrContains(
      metrics.body,
      "metad_writes_durable{reason=\"sync_standby_unconfirmed\"} 0"))
      << metrics.body;
  HttpResult page = HttpGet(port, "/status/api/overview");
  EXPECT_TRUE(absl::StrContains(page.body,
                                "\"writes\":{\"durable\":false,"
                                "\"reason\":\"sync_standby_unconfirmed\""))
      << page.body;

  SetSyncStandby(false);
  EXPECT_TRUE(WaitHealth(d, "metad.v1.writes", Health::SERVING)) << d.ReadLog();
  metrics = HttpGet(port, "/metrics");
  EXPECT_TRUE(
      absl::StrContains(metrics.body, "metad_writes_durable{reason=\"ok\"} 1"))
      << metrics.body;
  EXPECT_FALSE(absl::StrContains(metrics.body, "sync_standby_unconfirmed"));
  int status = d.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << d.ReadLog();
}

}  // namespace
}  // namespace metad::testing
