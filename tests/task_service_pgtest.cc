// TaskService through a real gRPC channel: every validation rule and refusal
// of RegisterTask, GetTask, ListTasks and DeleteTask.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "daemon/services/task_service.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::testing::HasSubstr;
using namespace metad::v1;  // NOLINT: request and response types

class TaskServiceTest : public metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<metad::testing::TestServer>(db());
    server_->Add<TaskServiceImpl>();
    server_->Start();
    stub_ = TaskService::NewStub(server_->channel());
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(20));
    return ctx;
  }

  grpc::Status Register(const RegisterTaskRequest& request,
                        RegisterTaskResponse* response = nullptr) {
    RegisterTaskResponse ignored;
    return stub_->RegisterTask(Ctx().get(), request,
                               response ? response : &ignored);
  }

  Task MustRegister(const std::string& name,
                    const std::string& description = "",
                    int32_t max_attempts = 0, int32_t lease = 0) {
    RegisterTaskRequest request;
    request.set_name(name);
    request.set_description(description);
    request.set_max_attempts(max_attempts);
    request.set_default_lease_seconds(lease);
    RegisterTaskResponse response;
    grpc::Status s = Register(request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.task();
  }

  grpc::Status Get(const GetTaskRequest& request, Task* task) {
    return stub_->GetTask(Ctx().get(), request, task);
  }

  grpc::Status List(const ListTasksRequest& request,
                    ListTasksResponse* response) {
    return stub_->ListTasks(Ctx().get(), request, response);
  }

  grpc::Status Delete(const DeleteTaskRequest& request,
                      DeleteTaskResponse* response = nullptr) {
    DeleteTaskResponse ignored;
    return stub_->DeleteTask(Ctx().get(), request,
                             response ? response : &ignored);
  }

  std::unique_ptr<metad::testing::TestServer> server_;
  std::unique_ptr<TaskService::Stub> stub_;
};

// ---- RegisterTask ----

TEST_F(TaskServiceTest, RegisterCreatesThenUpdates) {
  RegisterTaskRequest request;
  request.set_name("load_sales");
  request.set_description("loads the monthly CSV");
  request.set_request_id("r-1");
  RegisterTaskResponse created;
  ASSERT_TRUE(Register(request, &created).ok());
  EXPECT_TRUE(created.created());
  EXPECT_EQ(created.task().max_attempts(), 1);
  EXPECT_EQ(created.task().default_lease_seconds(), 60);
  EXPECT_EQ(created.task().description(), "loads the monthly CSV");

  request.set_max_attempts(3);
  request.set_description("v2");
  RegisterTaskResponse updated;
  ASSERT_TRUE(Register(request, &updated).ok());
  EXPECT_FALSE(updated.created());
  EXPECT_EQ(updated.task().id(), created.task().id());
  EXPECT_EQ(updated.task().max_attempts(), 3);
  EXPECT_EQ(updated.task().default_lease_seconds(), 60);
  EXPECT_EQ(updated.task().description(), "v2");
}

TEST_F(TaskServiceTest, RegisterZeroKeepsStoredSettings) {
  MustRegister("t", "d", 7, 300);
  Task kept = MustRegister("t", "d2");
  EXPECT_EQ(kept.max_attempts(), 7);
  EXPECT_EQ(kept.default_lease_seconds(), 300);
  EXPECT_EQ(kept.description(), "d2");
}

TEST_F(TaskServiceTest, RegisterAcceptsTheLimits) {
  Task t =
      MustRegister(std::string(128, 'x'), std::string(4096, 'd'), 1000, 86400);
  EXPECT_EQ(t.max_attempts(), 1000);
  EXPECT_EQ(t.default_lease_seconds(), 86400);
  EXPECT_EQ(MustRegister("a.b:c-d_1").name(), "a.b:c-d_1");
}

TEST_F(TaskServiceTest, RegisterRefusesMalformedInput) {
  struct Case {
    const char* what;
    RegisterTaskRequest request;
    const char* message;
  };
  auto make = [](const std::string& name) {
    RegisterTaskRequest r;
    r.set_name(name);
    return r;
  };
  std::vector<Case> cases;
  cases.push_back({"empty name", make(""), "name: must be 1..128"});
  cases.push_back(
      {"long name", make(std::string(129, 'a')), "name: must be 1..128"});
  cases.push_back({"space", make("load sales"), "name: may contain only"});
  cases.push_back(
      {"sql", make("x'; DROP TABLE tasks;--"), "name: may contain only"});
  cases.push_back({"utf8", make("caf\xc3\xa9"), "name: may contain only"});
  Case c{"long description", make("t"), "description: must be at most 4096"};
  c.request.set_description(std::string(4097, 'd'));
  cases.push_back(c);
  c = {"NUL in description", make("t"), "description: must not contain NUL"};
  c.request.set_description(std::string("a\0b", 3));
  cases.push_back(c);
  c = {"negative attempts", make("t"), "max_attempts: must be 0"};
  c.request.set_max_attempts(-1);
  cases.push_back(c);
  c = {"too many attempts", make("t"), "max_attempts: must be 0"};
  c.request.set_max_attempts(1001);
  cases.push_back(c);
  c = {"negative lease", make("t"), "default_lease_seconds: must be 0"};
  c.request.set_default_lease_seconds(-5);
  cases.push_back(c);
  c = {"long lease", make("t"), "default_lease_seconds: must be 0"};
  c.request.set_default_lease_seconds(86401);
  cases.push_back(c);
  c = {"long request id", make("t"), "request_id: must be at most 128"};
  c.request.set_request_id(std::string(129, 'r'));
  cases.push_back(c);
  for (const Case& k : cases) {
    grpc::Status s = Register(k.request);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << k.what;
    EXPECT_THAT(s.error_message(), HasSubstr(k.message)) << k.what;
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "0");
}

// ---- GetTask ----

TEST_F(TaskServiceTest, GetByIdOrName) {
  Task t = MustRegister("calculate_profit", "sums");
  GetTaskRequest by_id;
  by_id.set_id(t.id());
  Task got;
  ASSERT_TRUE(Get(by_id, &got).ok());
  EXPECT_EQ(got.name(), "calculate_profit");
  EXPECT_EQ(got.description(), "sums");
  EXPECT_EQ(got.create_time().seconds(), t.create_time().seconds());

  GetTaskRequest by_name;
  by_name.set_name("calculate_profit");
  Task got2;
  ASSERT_TRUE(Get(by_name, &got2).ok());
  EXPECT_EQ(got2.id(), t.id());
}

TEST_F(TaskServiceTest, GetRefusals) {
  Task ignored;
  grpc::Status s = Get(GetTaskRequest(), &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("key: set either id or name"));

  GetTaskRequest request;
  request.set_id(-3);
  s = Get(request, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("id: must be a positive id"));

  request.set_name("bad name");
  s = Get(request, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("name:"));

  request.set_name("unknown");
  s = Get(request, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("task \"unknown\": not found"));

  request.set_id(12345);
  s = Get(request, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("task 12345: not found"));
}

// ---- ListTasks ----

TEST_F(TaskServiceTest, ListPagesThroughEverythingOnce) {
  std::set<int64_t> registered;
  for (int i = 0; i < 11; ++i) {
    registered.insert(MustRegister("task" + std::to_string(i)).id());
  }
  std::vector<int64_t> seen;
  ListTasksRequest request;
  request.set_page_size(4);
  int pages = 0;
  for (;;) {
    ListTasksResponse response;
    ASSERT_TRUE(List(request, &response).ok());
    ++pages;
    for (const Task& t : response.tasks()) seen.push_back(t.id());
    if (response.next_page_token().empty()) break;
    ASSERT_LT(pages, 10);
    // A task inserted mid-listing with a higher id shows up on a later page.
    if (pages == 1) registered.insert(MustRegister("late").id());
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()), registered);
  EXPECT_EQ(seen.size(), registered.size());
}

TEST_F(TaskServiceTest, ListDefaultPageAndPrefix) {
  for (int i = 0; i < 105; ++i) MustRegister("bulk" + std::to_string(i));
  MustRegister("x_1");
  MustRegister("xa1");
  ListTasksResponse all;
  ASSERT_TRUE(List(ListTasksRequest(), &all).ok());
  EXPECT_EQ(all.tasks_size(), 100);
  EXPECT_FALSE(all.next_page_token().empty());

  ListTasksRequest prefix;
  prefix.set_name_prefix("x_");  // "_" is not a wildcard
  ListTasksResponse some;
  ASSERT_TRUE(List(prefix, &some).ok());
  ASSERT_EQ(some.tasks_size(), 1);
  EXPECT_EQ(some.tasks(0).name(), "x_1");
  EXPECT_TRUE(some.next_page_token().empty());
}

TEST_F(TaskServiceTest, ListRefusals) {
  MustRegister("a1");
  MustRegister("a2");
  ListTasksResponse response;
  ListTasksRequest request;
  // AIP-158: above the maximum counts as the maximum; negative is refused.
  request.set_page_size(1001);
  grpc::Status s = List(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.tasks_size(), 2);
  request.set_page_size(-1);
  s = List(request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size:"));

  request.set_page_size(0);
  request.set_page_token("forged");
  s = List(request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token:"));

  // A token only works with the filters it was issued for.
  ListTasksRequest first;
  first.set_page_size(1);
  first.set_name_prefix("a");
  ListTasksResponse page;
  ASSERT_TRUE(List(first, &page).ok());
  ASSERT_FALSE(page.next_page_token().empty());
  ListTasksRequest other;
  other.set_name_prefix("b");
  other.set_page_token(page.next_page_token());
  s = List(other, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("other filters"));

  ListTasksRequest bad_prefix;
  bad_prefix.set_name_prefix(std::string(129, 'a'));
  s = List(bad_prefix, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("name_prefix:"));
}

// ---- DeleteTask ----

TEST_F(TaskServiceTest, DeleteReturnsTheTaskAndForgetsIt) {
  Task t = MustRegister("old", "desc", 2, 30);
  DeleteTaskRequest request;
  request.set_name("old");
  DeleteTaskResponse response;
  ASSERT_TRUE(Delete(request, &response).ok());
  EXPECT_EQ(response.task().id(), t.id());
  EXPECT_EQ(response.task().description(), "desc");
  EXPECT_EQ(response.task().max_attempts(), 2);

  GetTaskRequest get;
  get.set_id(t.id());
  Task ignored;
  EXPECT_EQ(Get(get, &ignored).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status again = Delete(request);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);

  // By id too.
  Task u = MustRegister("other");
  DeleteTaskRequest by_id;
  by_id.set_id(u.id());
  EXPECT_TRUE(Delete(by_id).ok());
}

TEST_F(TaskServiceTest, DeleteRefusals) {
  grpc::Status s = Delete(DeleteTaskRequest());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("key:"));
  DeleteTaskRequest zero;
  zero.set_id(0);
  EXPECT_EQ(Delete(zero).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  Task ran = MustRegister("ran");
  Task parent = MustRegister("parent");
  Task child = MustRegister("child");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time, end_time) VALUES (" +
      std::to_string(ran.id()) +
      ", 'b', 'PROCESSING', 1, 60, "
      "now() + interval '1 minute', NULL)");
  Sql("INSERT INTO task_dependencies (parent_id, child_id) VALUES (" +
      std::to_string(parent.id()) + ", " + std::to_string(child.id()) + ")");

  DeleteTaskRequest request;
  request.set_name("ran");
  s = Delete(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("has runs"));
  request.set_name("parent");
  s = Delete(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("1 child"));
  request.set_id(child.id());
  s = Delete(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("1 parent"));
  EXPECT_EQ(Sql("SELECT count(*) FROM tasks"), "3");
}

}  // namespace
}  // namespace metad::daemon
