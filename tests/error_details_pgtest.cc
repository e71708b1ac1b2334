// Error details over a real gRPC channel: refusals carry a google.rpc.Status
// in grpc-status-details-bin (ErrorInfo with a stable reason, and
// PreconditionFailure, BadRequest or ResourceInfo where they help), with the
// same code and human-readable message as the grpc::Status itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/error_details.h"
#include "daemon/rpc/grpc_status.h"
#include "daemon/services/dependency_service.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "daemon/services/task_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using namespace metad::v1;  // NOLINT: request and response types

// What a client decodes from a failed call's grpc-status-details-bin.
struct Details {
  google::rpc::Status status;
  google::rpc::ErrorInfo error_info;
  google::rpc::PreconditionFailure precondition_failure;
  google::rpc::BadRequest bad_request;
  google::rpc::ResourceInfo resource_info;
  int count = 0;
  std::map<std::string, std::string> Metadata() const {
    return {error_info.metadata().begin(), error_info.metadata().end()};
  }
};

Details Decode(const grpc::Status& s) {
  Details d;
  EXPECT_FALSE(s.error_details().empty())
      << "no details: " << s.error_message();
  EXPECT_TRUE(d.status.ParseFromString(s.error_details()));
  EXPECT_EQ(d.status.code(), static_cast<int>(s.error_code()));
  EXPECT_EQ(d.status.message(), s.error_message());
  for (const google::protobuf::Any& any : d.status.details()) {
    ++d.count;
    if (any.Is<google::rpc::ErrorInfo>()) {
      any.UnpackTo(&d.error_info);
    } else if (any.Is<google::rpc::PreconditionFailure>()) {
      any.UnpackTo(&d.precondition_failure);
    } else if (any.Is<google::rpc::BadRequest>()) {
      any.UnpackTo(&d.bad_request);
    } else if (any.Is<google::rpc::ResourceInfo>()) {
      any.UnpackTo(&d.resource_info);
    } else {
      ADD_FAILURE() << "unexpected detail " << any.type_url();
    }
  }
  return d;
}

class ErrorDetailsTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<metad::testing::TestServer>(db());
    server_->Add<TaskServiceImpl>();
    server_->Add<DependencyServiceImpl>();
    server_->Add<TaskLogServiceImpl>();
    server_->Add<FileServiceImpl>();
    server_->Start();
    tasks_ = TaskService::NewStub(server_->channel());
    deps_ = DependencyService::NewStub(server_->channel());
    runs_ = TaskLogService::NewStub(server_->channel());
    files_ = FileService::NewStub(server_->channel());
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(30));
    return ctx;
  }

  void Register(const std::string& name) {
    RegisterTaskRequest request;
    request.set_name(name);
    RegisterTaskResponse response;
    grpc::Status s = tasks_->RegisterTask(Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status AddEdge(const std::string& parent, const std::string& child) {
    AddDependencyRequest request;
    request.set_parent_task(parent);
    request.set_child_task(child);
    AddDependencyResponse response;
    return deps_->AddDependency(Ctx().get(), request, &response);
  }

  grpc::Status Start(const std::string& task, const std::string& batch,
                     StartRunResponse* response,
                     const std::string& request_id = "") {
    StartRunRequest request;
    request.set_task(task);
    request.set_batch_id(batch);
    request.set_request_id(request_id);
    return runs_->StartRun(Ctx().get(), request, response);
  }

  grpc::Status Finish(int64_t run_id, RunStatus status = RUN_STATUS_SUCCESS) {
    FinishRunRequest request;
    request.set_run_id(run_id);
    request.set_status(status);
    if (status == RUN_STATUS_ERROR) request.set_error_message("late");
    FinishRunResponse response;
    return runs_->FinishRun(Ctx().get(), request, &response);
  }

  std::unique_ptr<metad::testing::TestServer> server_;
  std::unique_ptr<TaskService::Stub> tasks_;
  std::unique_ptr<DependencyService::Stub> deps_;
  std::unique_ptr<TaskLogService::Stub> runs_;
  std::unique_ptr<FileService::Stub> files_;
};

TEST_F(ErrorDetailsTest, UnmetParentsAreOneViolationEach) {
  for (const char* name : {"load_a", "load_b", "load_c", "report"}) {
    Register(name);
  }
  for (const char* parent : {"load_a", "load_b", "load_c"}) {
    ASSERT_TRUE(AddEdge(parent, "report").ok());
  }
  StartRunResponse started;
  ASSERT_TRUE(Start("load_b", "b1", &started).ok());
  ASSERT_TRUE(Finish(started.run().id()).ok());

  StartRunResponse response;
  grpc::Status s = Start("report", "b1", &response);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "report cannot start in batch b1: waiting for load_a, load_c "
            "(no SUCCESS run in this batch)");
  Details d = Decode(s);
  EXPECT_EQ(d.count, 2);
  EXPECT_EQ(d.error_info.reason(), "PARENTS_NOT_SUCCEEDED");
  EXPECT_EQ(d.error_info.domain(), "metad.dev");
  EXPECT_THAT(d.Metadata(), UnorderedElementsAre(
                                Pair("task", "report"), Pair("batch_id", "b1"),
                                Pair("parents", "load_a,load_c")));
  ASSERT_EQ(d.precondition_failure.violations_size(), 2);
  const auto& v0 = d.precondition_failure.violations(0);
  EXPECT_EQ(v0.type(), "DEPENDENCY");
  EXPECT_EQ(v0.subject(), "load_a");
  EXPECT_EQ(v0.description(), "load_a has no SUCCESS run in batch b1");
  EXPECT_EQ(d.precondition_failure.violations(1).subject(), "load_c");
}

TEST_F(ErrorDetailsTest, CycleCarriesItsPath) {
  for (const char* name : {"a", "b", "c"}) Register(name);
  ASSERT_TRUE(AddEdge("a", "b").ok());
  ASSERT_TRUE(AddEdge("b", "c").ok());
  grpc::Status s = AddEdge("c", "a");
  ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "adding c -> a would close the cycle c -> a -> b -> c");
  Details d = Decode(s);
  EXPECT_EQ(d.error_info.reason(), "DEPENDENCY_CYCLE");
  EXPECT_THAT(d.Metadata(), UnorderedElementsAre(Pair("parent_task", "c"),
                                                 Pair("child_task", "a"),
                                                 Pair("cycle", "c,a,b,c")));
  ASSERT_EQ(d.precondition_failure.violations_size(), 1);
  EXPECT_EQ(d.precondition_failure.violations(0).type(), "CYCLE");
  EXPECT_EQ(d.precondition_failure.violations(0).subject(), "c -> a");

  // A self-edge is the shortest cycle.
  Details self = Decode(AddEdge("a", "a"));
  EXPECT_EQ(self.error_info.reason(), "DEPENDENCY_CYCLE");
  EXPECT_EQ(self.Metadata()["cycle"], "a,a");
}

TEST_F(ErrorDetailsTest, InvalidArgumentNamesTheFieldInBadRequest) {
  RegisterFileRequest request;
  request.mutable_file()->set_source("sales");
  request.mutable_file()->set_file_name("");
  RegisterFileResponse response;
  grpc::Status s = files_->RegisterFile(Ctx().get(), request, &response);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "file.file_name: must be 1..1024 bytes (got 0)");
  Details d = Decode(s);
  ASSERT_EQ(d.bad_request.field_violations_size(), 1);
  EXPECT_EQ(d.bad_request.field_violations(0).field(), "file.file_name");
  EXPECT_EQ(d.bad_request.field_violations(0).description(),
            "must be 1..1024 bytes (got 0)");
  EXPECT_EQ(d.error_info.reason(), "INVALID_ARGUMENT");

  // A nested item of a batch is named by its index.
  RegisterFilesRequest many;
  many.add_files()->set_source("sales");
  many.mutable_files(0)->set_file_name("ok.csv");
  many.add_files()->set_source("sales");
  many.mutable_files(1)->set_file_name("bad.csv");
  many.mutable_files(1)->set_size_bytes(-1);
  RegisterFilesResponse many_response;
  Details nested =
      Decode(files_->RegisterFiles(Ctx().get(), many, &many_response));
  ASSERT_EQ(nested.bad_request.field_violations_size(), 1);
  EXPECT_EQ(nested.bad_request.field_violations(0).field(),
            "files[1].size_bytes");

  // Checks shared by every service (validation.cc, page tokens) too.
  ListTasksRequest list;
  list.set_page_token("garbage");
  ListTasksResponse list_response;
  Details token = Decode(tasks_->ListTasks(Ctx().get(), list, &list_response));
  EXPECT_EQ(token.bad_request.field_violations(0).field(), "page_token");
}

TEST_F(ErrorDetailsTest, NotFoundNamesTheResource) {
  StartRunResponse response;
  grpc::Status s = Start("nope", "b1", &response);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  Details d = Decode(s);
  EXPECT_EQ(d.resource_info.resource_type(), "metad.v1.Task");
  EXPECT_EQ(d.resource_info.resource_name(), "nope");
  EXPECT_EQ(d.error_info.reason(), "NOT_FOUND");

  GetRunRequest get;
  get.set_run_id(424242);
  metad::v1::Run run;
  Details missing_run = Decode(runs_->GetRun(Ctx().get(), get, &run));
  EXPECT_EQ(missing_run.resource_info.resource_type(), "metad.v1.Run");
  EXPECT_EQ(missing_run.resource_info.resource_name(), "424242");
}

TEST_F(ErrorDetailsTest, ReusedRequestIdNamesTheRunItStarted) {
  Register("load_sales");
  StartRunResponse first;
  ASSERT_TRUE(Start("load_sales", "b1", &first, "req-1").ok());
  StartRunResponse response;
  grpc::Status s = Start("load_sales", "b2", &response, "req-1");
  ASSERT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  Details d = Decode(s);
  EXPECT_EQ(d.error_info.reason(), "REQUEST_ID_REUSED");
  EXPECT_EQ(d.Metadata()["run_id"], std::to_string(first.run().id()));
  EXPECT_EQ(d.resource_info.resource_type(), "metad.v1.Run");
  EXPECT_EQ(d.resource_info.resource_name(), std::to_string(first.run().id()));
}

TEST_F(ErrorDetailsTest, StartRefusalsHaveStableReasons) {
  Register("load_sales");
  StartRunResponse run;
  ASSERT_TRUE(Start("load_sales", "b1", &run).ok());
  StartRunResponse response;
  Details busy = Decode(Start("load_sales", "b1", &response));
  EXPECT_EQ(busy.error_info.reason(), "RUN_IN_PROGRESS");
  EXPECT_EQ(busy.Metadata()["run_id"], std::to_string(run.run().id()));

  ASSERT_TRUE(Finish(run.run().id()).ok());
  Details done = Decode(Start("load_sales", "b1", &response));
  EXPECT_EQ(done.error_info.reason(), "ALREADY_SUCCEEDED");

  // Finishing again otherwise (the same call again would be a retry,
  // answered OK): the run has ended.
  Details ended = Decode(Finish(run.run().id(), RUN_STATUS_ERROR));
  EXPECT_EQ(ended.error_info.reason(), "RUN_ENDED");
  EXPECT_THAT(
      ended.Metadata(),
      UnorderedElementsAre(Pair("run_id", std::to_string(run.run().id())),
                           Pair("status", "SUCCESS")));
}

TEST(StatusConvertTest, PlainStatusHasNoDetails) {
  grpc::Status s = ToGrpcStatus(absl::AbortedError("retry"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(s.error_message(), "retry");
  EXPECT_TRUE(s.error_details().empty());
  // Payloads that are not google.rpc details stay inside the daemon.
  absl::Status other = absl::AbortedError("retry");
  other.SetPayload("example.com/private", absl::Cord("x"));
  EXPECT_TRUE(ToGrpcStatus(other).error_details().empty());
}

TEST(StatusConvertTest, DetailsAreLeftOutWhenTheTrailersWouldBeTooLarge) {
  absl::Status small = metad::WithErrorInfo(
      absl::FailedPreconditionError("run 1 has ended"), "RUN_ENDED");
  EXPECT_FALSE(ToGrpcStatus(small).error_details().empty());
  // A message quoting a 4 KiB error_message: repeated in the details it
  // would pass a client's 8 KiB metadata limit; the message alone does not.
  absl::Status large = metad::WithErrorInfo(
      absl::FailedPreconditionError(std::string(4200, 'x')), "RUN_ENDED");
  grpc::Status s = ToGrpcStatus(large);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), std::string(4200, 'x'));
  EXPECT_TRUE(s.error_details().empty());
}

}  // namespace
}  // namespace metad::daemon
