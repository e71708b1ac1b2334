// UpdateTask through a real gRPC channel (AIP-134 with an etag, AIP-154):
// only the masked fields change, bad paths are refused by name, a stale etag
// is ABORTED ETAG_MISMATCH and changes nothing, of concurrent updaters with
// one etag exactly one wins, and each change is an UPDATED task event.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/services/task_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::testing::HasSubstr;
using namespace metad::v1;  // NOLINT: request and response types

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  return ctx;
}

// The ErrorInfo of a failed call (empty reason when it has none).
google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& s) {
  google::rpc::Status status;
  google::rpc::ErrorInfo info;
  if (!status.ParseFromString(s.error_details())) return info;
  for (const google::protobuf::Any& any : status.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) any.UnpackTo(&info);
  }
  return info;
}

// The field of a failed call's BadRequest (empty when it has none).
std::string BadFieldOf(const grpc::Status& s) {
  google::rpc::Status status;
  if (!status.ParseFromString(s.error_details())) return "";
  for (const google::protobuf::Any& any : status.details()) {
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&bad) && bad.field_violations_size() > 0) {
      return bad.field_violations(0).field();
    }
  }
  return "";
}

class TaskUpdateTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<metad::testing::TestServer>(db());
    server_->Add<TaskServiceImpl>();
    server_->Start();
    stub_ = TaskService::NewStub(server_->channel());
  }

  Task MustRegister(const std::string& name, const std::string& description,
                    int32_t max_attempts, int32_t lease) {
    RegisterTaskRequest request;
    request.set_name(name);
    request.set_description(description);
    request.set_max_attempts(max_attempts);
    request.set_default_lease_seconds(lease);
    RegisterTaskResponse response;
    grpc::Status s = stub_->RegisterTask(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.task();
  }

  Task MustGet(const std::string& name) {
    GetTaskRequest request;
    request.set_name(name);
    Task task;
    grpc::Status s = stub_->GetTask(Ctx().get(), request, &task);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return task;
  }

  // UpdateTask of `task` (by name) with these mask paths and etag.
  grpc::Status Update(const Task& task, const std::vector<std::string>& paths,
                      const std::string& etag, Task* out = nullptr) {
    UpdateTaskRequest request;
    *request.mutable_task() = task;
    for (const std::string& p : paths)
      request.mutable_update_mask()->add_paths(p);
    request.set_etag(etag);
    Task ignored;
    return stub_->UpdateTask(Ctx().get(), request, out ? out : &ignored);
  }

  // "kind:detail" of the task's events, in order.
  std::vector<std::string> Events(const std::string& task) {
    ListTaskEventsRequest request;
    request.set_task(task);
    request.set_page_size(1000);
    ListTaskEventsResponse response;
    grpc::Status s = stub_->ListTaskEvents(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const TaskEvent& e : response.events()) {
      out.push_back(e.kind() + ":" + e.detail());
    }
    return out;
  }

  std::unique_ptr<metad::testing::TestServer> server_;
  std::unique_ptr<TaskService::Stub> stub_;
};

TEST_F(TaskUpdateTest, OnlyMaskedFieldsChange) {
  Task before = MustRegister("load", "loads", 3, 60);
  EXPECT_FALSE(before.etag().empty());
  Task change = before;
  change.set_description("ignored: not in the mask");
  change.set_max_attempts(5);
  change.set_default_lease_seconds(999);  // not in the mask either
  Task after;
  ASSERT_TRUE(Update(change, {"max_attempts"}, before.etag(), &after).ok());
  EXPECT_EQ(after.max_attempts(), 5);
  EXPECT_EQ(after.description(), "loads");
  EXPECT_EQ(after.default_lease_seconds(), 60);
  EXPECT_EQ(after.id(), before.id());
  EXPECT_NE(after.etag(), before.etag());
  EXPECT_EQ(MustGet("load").DebugString(), after.DebugString());

  // "*" replaces all three; "" clears the description.
  change.set_description("");
  change.set_default_lease_seconds(30);
  ASSERT_TRUE(Update(change, {"*"}, after.etag(), &after).ok());
  EXPECT_EQ(after.description(), "");
  EXPECT_EQ(after.max_attempts(), 5);
  EXPECT_EQ(after.default_lease_seconds(), 30);
}

// An empty mask means the populated updatable fields (AIP-134).
TEST_F(TaskUpdateTest, EmptyMaskMeansPopulatedFields) {
  MustRegister("load", "loads", 3, 60);
  Task change;
  change.set_name("load");
  change.set_default_lease_seconds(120);
  Task after;
  ASSERT_TRUE(Update(change, {}, "", &after).ok());
  EXPECT_EQ(after.description(), "loads");
  EXPECT_EQ(after.max_attempts(), 3);
  EXPECT_EQ(after.default_lease_seconds(), 120);
}

TEST_F(TaskUpdateTest, BadPathsAndValuesAreRefusedByName) {
  Task task = MustRegister("load", "loads", 3, 60);
  for (const char* path : {"name", "id", "etag", "create_time", "update_time",
                           "no_such_field", "description.x"}) {
    SCOPED_TRACE(path);
    grpc::Status s = Update(task, {"description", path}, "");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr(path));
    EXPECT_EQ(BadFieldOf(s), "update_mask.paths[1]");
  }
  Task bad = task;
  bad.set_max_attempts(0);  // masked: 0 is not "keep" here
  grpc::Status s = Update(bad, {"max_attempts"}, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFieldOf(s), "task.max_attempts");
  bad = task;
  bad.set_default_lease_seconds(86401);
  EXPECT_EQ(BadFieldOf(Update(bad, {"default_lease_seconds"}, "")),
            "task.default_lease_seconds");
  bad = task;
  bad.set_description(std::string(4097, 'x'));
  EXPECT_EQ(BadFieldOf(Update(bad, {"description"}, "")), "task.description");
  bad = task;
  bad.set_name("bad name!");
  EXPECT_EQ(BadFieldOf(Update(bad, {"description"}, "")), "task.name");
  EXPECT_EQ(MustGet("load").DebugString(), task.DebugString());
}

TEST_F(TaskUpdateTest, UnknownTaskIsNotFound) {
  Task task;
  task.set_name("nope");
  task.set_max_attempts(2);
  grpc::Status s = Update(task, {"max_attempts"}, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "NOT_FOUND");
}

TEST_F(TaskUpdateTest, StaleEtagIsAbortedAndChangesNothing) {
  Task read = MustRegister("load", "loads", 3, 60);
  Task other = read;
  other.set_max_attempts(4);
  Task now;
  ASSERT_TRUE(Update(other, {"max_attempts"}, read.etag(), &now).ok());

  Task mine = read;
  mine.set_description("mine");
  grpc::Status s = Update(mine, {"description"}, read.etag());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  google::rpc::ErrorInfo info = ErrorInfoOf(s);
  EXPECT_EQ(info.reason(), "ETAG_MISMATCH");
  EXPECT_EQ(info.domain(), "metad.dev");
  EXPECT_EQ(info.metadata().at("task"), "load");
  EXPECT_EQ(info.metadata().at("etag"), read.etag());
  EXPECT_EQ(info.metadata().at("current_etag"), now.etag());
  EXPECT_EQ(MustGet("load").DebugString(), now.DebugString());

  // An empty etag updates whatever is there.
  ASSERT_TRUE(Update(mine, {"description"}, "", &now).ok());
  EXPECT_EQ(now.description(), "mine");
  EXPECT_EQ(now.max_attempts(), 4);
}

// The etag moves with every change, whoever makes it (RegisterTask,
// UpdateTask, SQL), and not when nothing changes.
TEST_F(TaskUpdateTest, EtagChangesWithEveryChangeOnly) {
  Task t0 = MustRegister("load", "loads", 3, 60);
  Task t1 = MustRegister("load", "loads", 3, 60);  // same: no change
  EXPECT_EQ(t1.etag(), t0.etag());
  Task same;
  ASSERT_TRUE(Update(t0, {"*"}, t0.etag(), &same).ok());  // a no-op
  EXPECT_EQ(same.DebugString(), t0.DebugString());
  Task t2 = MustRegister("load", "loads", 4, 0);
  EXPECT_NE(t2.etag(), t0.etag());
  Sql("UPDATE tasks SET description = 'by hand' WHERE name = 'load'");
  Task t3 = MustGet("load");
  EXPECT_NE(t3.etag(), t2.etag());
  EXPECT_NE(t3.etag(), t0.etag());
  Sql("UPDATE tasks SET description = description WHERE name = 'load'");
  EXPECT_EQ(MustGet("load").etag(), t3.etag());
  // Deleted and registered again: no etag of the old task comes back.
  DeleteTaskRequest del;
  del.set_name("load");
  DeleteTaskResponse deleted;
  ASSERT_TRUE(stub_->DeleteTask(Ctx().get(), del, &deleted).ok());
  Task again = MustRegister("load", "loads", 3, 60);
  for (const Task& old : {t0, t2, t3}) EXPECT_NE(again.etag(), old.etag());
  EXPECT_EQ(Update(again, {"description"}, t0.etag()).error_code(),
            grpc::StatusCode::ABORTED);
}

TEST_F(TaskUpdateTest, ChangesAreUpdatedEvents) {
  Task task = MustRegister("load", "loads", 3, 60);
  Task change = task;
  change.set_max_attempts(5);
  change.set_description("new");
  ASSERT_TRUE(Update(change, {"max_attempts", "description"}, "").ok());
  ASSERT_TRUE(Update(change, {"*"}, "").ok());  // no change: no event
  EXPECT_THAT(
      Events("load"),
      ::testing::ElementsAre(
          "REGISTERED:", "UPDATED:max_attempts 3 -> 5; description changed"));
}

// Many callers read one etag and each sets its own max_attempts: exactly
// one succeeds, the others are ABORTED ETAG_MISMATCH, and the stored value
// is the winner's.
TEST_F(TaskUpdateTest, ConcurrentUpdatersWithOneEtagOneWins) {
  constexpr int kThreads = 16;
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    const std::string name = "race" + std::to_string(round);
    Task read = MustRegister(name, "", 1, 60);
    std::atomic<int> wins{0}, mismatches{0}, others{0};
    std::atomic<int> winner{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        Task change = read;
        change.set_max_attempts(i + 2);
        grpc::Status s = Update(change, {"max_attempts"}, read.etag());
        if (s.ok()) {
          ++wins;
          winner = i + 2;
        } else if (s.error_code() == grpc::StatusCode::ABORTED &&
                   ErrorInfoOf(s).reason() == "ETAG_MISMATCH") {
          ++mismatches;
        } else {
          ++others;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(mismatches.load(), kThreads - 1);
    EXPECT_EQ(others.load(), 0);
    EXPECT_EQ(MustGet(name).max_attempts(), winner.load());
    EXPECT_EQ(Events(name).size(), 2u);  // REGISTERED and one UPDATED
  }
}

}  // namespace
}  // namespace metad::daemon
