// Task events (issue 12, part 4): every change to the registry and the
// graph becomes an event with its actor, listed by ListTaskEvents; and the
// actor of file and run events (the caller's token name or address, the
// run's worker_id for StartRun/FinishRun, "metad" for expiry).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/services/dependency_service.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "daemon/services/task_service.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

class TaskEventsTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::TaskServiceImpl>();
    server_->Add<daemon::DependencyServiceImpl>();
    server_->Add<daemon::FileServiceImpl>();
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Start();
    tasks_ = TaskService::NewStub(server_->channel());
    deps_ = DependencyService::NewStub(server_->channel());
    files_ = FileService::NewStub(server_->channel());
    runs_ = TaskLogService::NewStub(server_->channel());
  }

  void Register(const std::string& name, int max_attempts = 0) {
    RegisterTaskRequest request;
    request.set_name(name);
    request.set_max_attempts(max_attempts);
    RegisterTaskResponse response;
    grpc::ClientContext context;
    grpc::Status s = tasks_->RegisterTask(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status List(const std::string& task, int page_size,
                    const std::string& token, ListTaskEventsResponse* out) {
    ListTaskEventsRequest request;
    request.set_task(task);
    request.set_page_size(page_size);
    request.set_page_token(token);
    grpc::ClientContext context;
    return tasks_->ListTaskEvents(&context, request, out);
  }

  // "kind:detail" of every event, by paging through them.
  std::vector<std::string> Trail(const std::string& task) {
    std::vector<std::string> out;
    std::string token;
    do {
      ListTaskEventsResponse page;
      grpc::Status s = List(task, 2, token, &page);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const TaskEvent& e : page.events()) {
        out.push_back(absl::StrCat(e.task(), ":", e.kind(), ":", e.detail()));
        EXPECT_FALSE(e.actor().empty()) << e.kind();
        EXPECT_TRUE(e.has_event_time());
      }
      token = page.next_page_token();
    } while (!token.empty());
    return out;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<TaskService::Stub> tasks_;
  std::unique_ptr<DependencyService::Stub> deps_;
  std::unique_ptr<FileService::Stub> files_;
  std::unique_ptr<TaskLogService::Stub> runs_;
};

TEST_F(TaskEventsTest, RegistryAndGraphChangesAreEvents) {
  Register("load");
  Register("load");  // nothing changes: no event
  Register("load", 3);
  Register("profit");
  {
    AddDependencyRequest request;
    request.set_parent_task("load");
    request.set_child_task("profit");
    AddDependencyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(deps_->AddDependency(&context, request, &response).ok());
  }
  {
    RemoveDependencyRequest request;
    request.set_parent_task("load");
    request.set_child_task("profit");
    RemoveDependencyResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(deps_->RemoveDependency(&context, request, &response).ok());
  }
  {
    DeleteTaskRequest request;
    request.set_name("profit");
    DeleteTaskResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(tasks_->DeleteTask(&context, request, &response).ok());
  }
  EXPECT_EQ(absl::StrJoin(Trail(""), ","),
            "load:REGISTERED:,load:UPDATED:max_attempts 1 -> 3,"
            "profit:REGISTERED:,profit:DEPENDENCY_ADDED:parent load,"
            "profit:DEPENDENCY_REMOVED:parent load,profit:DELETED:");
  EXPECT_EQ(absl::StrJoin(Trail("load"), ","),
            "load:REGISTERED:,load:UPDATED:max_attempts 1 -> 3");
  // The actor is the caller (no tokens here: its address).
  EXPECT_EQ(Sql("SELECT count(*) FROM task_events WHERE actor LIKE "
                "'ipv4:127.0.0.1:%'"),
            "6");
}

TEST_F(TaskEventsTest, ListTaskEventsRefusesBadInput) {
  ListTaskEventsResponse page;
  EXPECT_EQ(List("no such name!", 0, "", &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(List("", -1, "", &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Above the maximum is coerced to it (AIP-158), not refused.
  EXPECT_TRUE(List("", 1001, "", &page).ok());
  EXPECT_EQ(List("", 0, "garbage", &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  Register("a");
  Register("b");
  ASSERT_TRUE(List("", 1, "", &page).ok());
  ASSERT_FALSE(page.next_page_token().empty());
  // A token is bound to its filter.
  ListTaskEventsResponse other;
  EXPECT_EQ(List("a", 1, page.next_page_token(), &other).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TaskEventsTest, FileAndRunEventsRecordTheirActor) {
  Register("ingest");
  Sql("INSERT INTO files (source, file_name) VALUES ('s', 'a'), ('s', 'b')");
  StartRunRequest start;
  start.set_task("ingest");
  start.set_batch_id("b1");
  start.set_worker_id("host-7:42");
  StartRunResponse started;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(runs_->StartRun(&context, start, &started).ok());
  }
  const int64_t run = started.run().id();
  ClaimFilesRequest claim;
  claim.set_run_id(run);
  claim.set_limit(2);
  ClaimFilesResponse claimed;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(files_->ClaimFiles(&context, claim, &claimed).ok());
  }
  FinishRunRequest finish;
  finish.set_run_id(run);
  finish.set_status(RUN_STATUS_SUCCESS);
  finish.add_file_ids(claimed.files(0).id());
  FinishRunResponse finished;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(runs_->FinishRun(&context, finish, &finished).ok());
  }
  ListFileEventsRequest request;
  ListFileEventsResponse events;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(files_->ListFileEvents(&context, request, &events).ok());
  }
  std::vector<std::string> seen;
  for (const FileEvent& e : events.events()) {
    if (e.kind() == "REGISTERED") continue;  // by SQL here: no actor
    // CLAIMED ran in the caller's transaction: its address. FINISHED and
    // RELEASED came with FinishRun's single statement: the run's worker.
    const bool by_address = e.actor().rfind("ipv4:127.0.0.1:", 0) == 0;
    seen.push_back(absl::StrCat(
        e.kind(), ":", by_address ? "address" : e.actor()));
  }
  EXPECT_EQ(absl::StrJoin(seen, ","),
            "CLAIMED:address,CLAIMED:address,FINISHED:host-7:42,"
            "RELEASED:host-7:42");
  // The daemon's own changes: an expiry is "metad".
  StartRunRequest again = start;
  again.set_batch_id("b2");
  {
    grpc::ClientContext context;
    ASSERT_TRUE(runs_->StartRun(&context, again, &started).ok());
  }
  Sql(absl::StrCat("UPDATE task_log SET lease_expire_time = now() - "
                   "interval '1 second' WHERE id = ", started.run().id()));
  Sql(absl::StrCat("SELECT metad_expire_run(", started.run().id(),
                   ", 'lease expired')"));
  ListRunEventsRequest run_request;
  run_request.set_run_id(started.run().id());
  ListRunEventsResponse run_events;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(
        runs_->ListRunEvents(&context, run_request, &run_events).ok());
  }
  ASSERT_EQ(run_events.events_size(), 2);
  EXPECT_EQ(run_events.events(0).actor(), "host-7:42");  // STARTED
  EXPECT_EQ(run_events.events(1).kind(), "EXPIRED");
  EXPECT_EQ(run_events.events(1).actor(), "metad");
}

}  // namespace
}  // namespace metad::testing
