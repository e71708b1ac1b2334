// The seed's scenario through the built metad binary: a file registered
// once, load_sales -> calculate_profit, a batch run, lease expiry by the
// daemon itself, refusal of a newer schema, and a clean SIGTERM drain.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return c;
}

class E2eTest : public ::testing::Test {
 protected:
  void StartDaemon(const std::vector<std::string>& flags = {}) {
    url_ = CreateEmptyDatabase("e2e");
    ASSERT_TRUE(daemon_.Spawn(url_, flags));
    ASSERT_TRUE(daemon_.WaitServing()) << daemon_.ReadLog();
    files_ = FileService::NewStub(daemon_.channel());
    tasks_ = TaskService::NewStub(daemon_.channel());
    runs_ = TaskLogService::NewStub(daemon_.channel());
    deps_ = DependencyService::NewStub(daemon_.channel());
  }

  void StopCleanly() {
    // Idle client connections would hold the drain open until its deadline.
    files_.reset();
    tasks_.reset();
    runs_.reset();
    deps_.reset();
    int status = daemon_.Stop(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status)) << daemon_.ReadLog();
    EXPECT_EQ(WEXITSTATUS(status), 0) << daemon_.ReadLog();
  }

  v1::Run StartRun(const std::string& task, const std::string& batch,
                   int lease_seconds, grpc::Status* status) {
    StartRunRequest req;
    req.set_task(task);
    req.set_batch_id(batch);
    req.set_worker_id("e2e-worker");
    req.set_lease_seconds(lease_seconds);
    StartRunResponse resp;
    *status = runs_->StartRun(Ctx().get(), req, &resp);
    return resp.run();
  }

  std::string url_;
  DaemonProcess daemon_;
  std::unique_ptr<FileService::Stub> files_;
  std::unique_ptr<TaskService::Stub> tasks_;
  std::unique_ptr<TaskLogService::Stub> runs_;
  std::unique_ptr<DependencyService::Stub> deps_;
};

TEST_F(E2eTest, SeedScenarioThroughTheBinary) {
  StartDaemon();
  for (const char* name : {"load_sales", "calculate_profit"}) {
    RegisterTaskRequest req;
    req.set_name(name);
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks_->RegisterTask(Ctx().get(), req, &resp).ok());
    EXPECT_TRUE(resp.created());
  }
  {
    AddDependencyRequest req;
    req.set_parent_task("load_sales");
    req.set_child_task("calculate_profit");
    AddDependencyResponse resp;
    ASSERT_TRUE(deps_->AddDependency(Ctx().get(), req, &resp).ok());
  }
  int64_t file_id = 0;
  for (bool expect_created : {true, false}) {
    RegisterFileRequest req;
    req.mutable_file()->set_source("sales");
    req.mutable_file()->set_file_name("sales_report_2024-03.csv");
    RegisterFileResponse resp;
    ASSERT_TRUE(files_->RegisterFile(Ctx().get(), req, &resp).ok());
    EXPECT_EQ(resp.created(), expect_created);
    file_id = resp.file().id();
  }

  grpc::Status status;
  StartRun("calculate_profit", "2024-03", 60, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("load_sales"), std::string::npos)
      << status.error_message();

  v1::Run load = StartRun("load_sales", "2024-03", 60, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  {
    ClaimFilesRequest req;
    req.set_run_id(load.id());
    req.set_limit(10);
    ClaimFilesResponse resp;
    ASSERT_TRUE(files_->ClaimFiles(Ctx().get(), req, &resp).ok());
    ASSERT_EQ(resp.files_size(), 1);
    EXPECT_EQ(resp.files(0).id(), file_id);
  }
  {
    FinishRunRequest req;
    req.set_run_id(load.id());
    req.set_status(RUN_STATUS_SUCCESS);
    req.add_file_ids(file_id);  // the file the worker received
    FinishRunResponse resp;
    ASSERT_TRUE(runs_->FinishRun(Ctx().get(), req, &resp).ok());
    EXPECT_EQ(resp.files_finished(), 1);
  }
  {
    GetFileRequest req;
    req.set_id(file_id);
    File file;
    ASSERT_TRUE(files_->GetFile(Ctx().get(), req, &file).ok());
    EXPECT_EQ(file.status(), FILE_STATUS_SUCCESS);
    EXPECT_EQ(file.run_id(), load.id());
  }
  {
    GetReadyTasksRequest req;
    req.set_batch_id("2024-03");
    GetReadyTasksResponse resp;
    ASSERT_TRUE(deps_->GetReadyTasks(Ctx().get(), req, &resp).ok());
    ASSERT_EQ(resp.tasks_size(), 1);
    EXPECT_EQ(resp.tasks(0).name(), "calculate_profit");
  }
  v1::Run profit = StartRun("calculate_profit", "2024-03", 60, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  {
    FinishRunRequest req;
    req.set_run_id(profit.id());
    req.set_status(RUN_STATUS_SUCCESS);
    FinishRunResponse resp;
    ASSERT_TRUE(runs_->FinishRun(Ctx().get(), req, &resp).ok());
  }
  {
    GetBatchRequest req;
    req.set_batch_id("2024-03");
    Batch batch;
    ASSERT_TRUE(runs_->GetBatch(Ctx().get(), req, &batch).ok());
    ASSERT_EQ(batch.tasks_size(), 2);
    for (const BatchTask& t : batch.tasks()) {
      EXPECT_EQ(t.status(), RUN_STATUS_SUCCESS) << t.task_name();
    }
    EXPECT_EQ(batch.success_runs(), 2);
  }
  // A file once processed is never handed out again, and registering it
  // again does not change it.
  v1::Run next = StartRun("load_sales", "2024-04", 60, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  {
    RegisterFileRequest req;
    req.mutable_file()->set_source("sales");
    req.mutable_file()->set_file_name("sales_report_2024-03.csv");
    RegisterFileResponse resp;
    ASSERT_TRUE(files_->RegisterFile(Ctx().get(), req, &resp).ok());
    EXPECT_FALSE(resp.created());
    EXPECT_EQ(resp.file().status(), FILE_STATUS_SUCCESS);
    ClaimFilesRequest claim;
    claim.set_run_id(next.id());
    claim.set_limit(10);
    ClaimFilesResponse claimed;
    ASSERT_TRUE(files_->ClaimFiles(Ctx().get(), claim, &claimed).ok());
    EXPECT_EQ(claimed.files_size(), 0);
  }
  StopCleanly();
}

TEST_F(E2eTest, DaemonEndsRunsWhoseLeaseLapsedAndReleasesTheirFiles) {
  StartDaemon({"--reaper_interval", "0.1"});
  {
    RegisterTaskRequest req;
    req.set_name("load_sales");
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks_->RegisterTask(Ctx().get(), req, &resp).ok());
    RegisterFileRequest f;
    f.mutable_file()->set_source("sales");
    f.mutable_file()->set_file_name("a.csv");
    RegisterFileResponse fr;
    ASSERT_TRUE(files_->RegisterFile(Ctx().get(), f, &fr).ok());
  }
  grpc::Status status;
  v1::Run run = StartRun("load_sales", "b1", 1, &status);  // 1 s lease
  ASSERT_TRUE(status.ok()) << status.error_message();
  ClaimFilesRequest claim;
  claim.set_run_id(run.id());
  claim.set_limit(5);
  ClaimFilesResponse claimed;
  ASSERT_TRUE(files_->ClaimFiles(Ctx().get(), claim, &claimed).ok());
  ASSERT_EQ(claimed.files_size(), 1);

  // The worker "dies": no heartbeat. The daemon must end the run by itself.
  v1::Run now;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    GetRunRequest req;
    req.set_run_id(run.id());
    ASSERT_TRUE(runs_->GetRun(Ctx().get(), req, &now).ok());
  } while (now.status() == RUN_STATUS_PROCESSING &&
           std::chrono::steady_clock::now() < give_up);
  EXPECT_EQ(now.status(), RUN_STATUS_ERROR);
  EXPECT_EQ(now.error_message(), "lease expired");

  GetFileRequest get;
  get.set_id(claimed.files(0).id());
  File file;
  ASSERT_TRUE(files_->GetFile(Ctx().get(), get, &file).ok());
  EXPECT_EQ(file.status(), FILE_STATUS_NEW);

  // The lost worker comes back: every call of its run is refused.
  FinishRunRequest finish;
  finish.set_run_id(run.id());
  finish.set_status(RUN_STATUS_SUCCESS);
  FinishRunResponse finished;
  EXPECT_EQ(runs_->FinishRun(Ctx().get(), finish, &finished).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  HeartbeatRequest beat;
  beat.set_run_id(run.id());
  HeartbeatResponse beaten;
  EXPECT_EQ(runs_->Heartbeat(Ctx().get(), beat, &beaten).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  StopCleanly();
}

TEST_F(E2eTest, RefusesToServeANewerSchema) {
  std::string url = CreateEmptyDatabase("e2e_newer");
  {
    DaemonProcess first;
    ASSERT_TRUE(first.Spawn(url));
    ASSERT_TRUE(first.WaitServing()) << first.ReadLog();
    first.Stop(SIGTERM);
  }
  QueryValue(url,
             "INSERT INTO metad_schema_migrations (version, name, checksum) "
             "VALUES (999, 'from_a_newer_metad', 'x')");
  DaemonProcess second;
  ASSERT_TRUE(second.Spawn(url));
  int status = second.WaitExit(30);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(second.ReadLog().find("newer"), std::string::npos)
      << second.ReadLog();
}

TEST_F(E2eTest, BadFlagsExitWithUsageError) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn("host=/nonexistent", {"--pool_size", "zero"}));
  int status = daemon.WaitExit(30);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(daemon.ReadLog().find("--pool_size"), std::string::npos);
}

}  // namespace
}  // namespace metad::testing
