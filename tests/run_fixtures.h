// Shared setup of the run and lease tests (run_*_pgtest.cc, lease_*_pgtest.cc):
// tasks, dependencies and files are made with raw SQL, so these tests depend
// only on the run store and TaskLogService.
#ifndef METAD_TESTS_RUN_FIXTURES_H_
#define METAD_TESTS_RUN_FIXTURES_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/services/task_log_service.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::testing {

class RunTest : public PgTest {
 protected:
  // Returns the new task's id.
  int64_t CreateTask(const std::string& name, int max_attempts = 1,
                     int default_lease_seconds = 60) {
    return std::stoll(Sql(absl::StrCat(
        "INSERT INTO tasks (name, max_attempts, default_lease_seconds) "
        "VALUES ('",
        name, "', ", max_attempts, ", ", default_lease_seconds,
        ") RETURNING id")));
  }

  void AddEdge(const std::string& parent, const std::string& child) {
    Sql(
        absl::StrCat("INSERT INTO task_dependencies (parent_id, child_id) "
                     "SELECT p.id, c.id FROM tasks p, tasks c WHERE p.name = '",
                     parent, "' AND c.name = '", child, "'"));
  }

  // A file in `status` linked to `run_id` (0: none). Returns its id.
  int64_t AddFile(const std::string& file_name, const std::string& status,
                  int64_t run_id) {
    return std::stoll(Sql(absl::StrCat(
        "INSERT INTO files (source, file_name, status, run_id) VALUES "
        "('test', '",
        file_name, "', '", status, "', ",
        run_id == 0 ? std::string("NULL") : std::to_string(run_id),
        ") RETURNING id")));
  }

  // Moves the run's lease into the past instead of waiting for it.
  void LapseLease(int64_t run_id) {
    Sql(
        absl::StrCat("UPDATE task_log SET lease_expire_time = now() - "
                     "interval '1 second' WHERE id = ",
                     run_id));
  }

  // "status:error_message:<end_time set>:<lease_expire_time cleared>".
  std::string RunState(int64_t run_id) {
    return Sql(absl::StrCat(
        "SELECT status || ':' || error_message || ':' || (end_time IS NOT "
        "NULL) || ':' || (lease_expire_time IS NULL) FROM task_log WHERE id = ",
        run_id));
  }

  int64_t Count(const std::string& sql) { return std::stoll(Sql(sql)); }

  std::string FileStatus(int64_t file_id) {
    return Sql(
        absl::StrCat("SELECT status || '/' || coalesce(run_id::text, "
                     "'null') FROM files WHERE id = ",
                     file_id));
  }
};

// RunTest plus TaskLogService on a real gRPC channel.
class RunServiceTest : public RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Start();
    stub_ = metad::v1::TaskLogService::NewStub(server_->channel());
  }

  void TearDown() override {
    stub_.reset();
    server_.reset();
  }

  grpc::Status Start(const std::string& task, const std::string& batch,
                     metad::v1::StartRunResponse* response,
                     const std::string& request_id = "",
                     int32_t lease_seconds = 0) {
    metad::v1::StartRunRequest request;
    request.set_task(task);
    request.set_batch_id(batch);
    request.set_worker_id("host:1");
    request.set_lease_seconds(lease_seconds);
    request.set_request_id(request_id);
    grpc::ClientContext context;
    return stub_->StartRun(&context, request, response);
  }

  // Starts a run that must be accepted; returns its id.
  int64_t MustStart(const std::string& task, const std::string& batch) {
    metad::v1::StartRunResponse response;
    grpc::Status status = Start(task, batch, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  // file_ids: the files the worker names (see FinishRunRequest).
  grpc::Status Finish(int64_t run_id, metad::v1::RunStatus status,
                      const std::string& message = "",
                      metad::v1::FinishRunResponse* out = nullptr,
                      const std::vector<int64_t>& file_ids = {}) {
    metad::v1::FinishRunRequest request;
    request.set_run_id(run_id);
    request.set_status(status);
    request.set_error_message(message);
    for (int64_t id : file_ids) request.add_file_ids(id);
    metad::v1::FinishRunResponse response;
    grpc::ClientContext context;
    return stub_->FinishRun(&context, request, out ? out : &response);
  }

  grpc::Status Beat(int64_t run_id, int32_t lease_seconds = 0,
                    metad::v1::HeartbeatResponse* out = nullptr) {
    metad::v1::HeartbeatRequest request;
    request.set_run_id(run_id);
    request.set_lease_seconds(lease_seconds);
    metad::v1::HeartbeatResponse response;
    grpc::ClientContext context;
    return stub_->Heartbeat(&context, request, out ? out : &response);
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<metad::v1::TaskLogService::Stub> stub_;
};

}  // namespace metad::testing

#endif  // METAD_TESTS_RUN_FIXTURES_H_
