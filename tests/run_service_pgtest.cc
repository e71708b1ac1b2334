// TaskLogService through a real gRPC channel: every rule of StartRun,
// Heartbeat and FinishRun, each refusal, and the reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::metad::v1::RUN_STATUS_ERROR;
using ::metad::v1::RUN_STATUS_PROCESSING;
using ::metad::v1::RUN_STATUS_SUCCESS;
using ::metad::v1::RUN_STATUS_UNSPECIFIED;
using ::testing::HasSubstr;

// --- StartRun -------------------------------------------------------------

TEST_F(RunServiceTest, StartRunCreatesProcessingRunWithDefaultLease) {
  int64_t task_id = CreateTask("load_sales", 1, 90);
  metad::v1::StartRunResponse response;
  ASSERT_TRUE(Start("load_sales", "b1", &response).ok());
  const metad::v1::Run& run = response.run();
  EXPECT_TRUE(response.created());
  EXPECT_GT(run.id(), 0);
  EXPECT_EQ(run.task_id(), task_id);
  EXPECT_EQ(run.task_name(), "load_sales");
  EXPECT_EQ(run.batch_id(), "b1");
  EXPECT_EQ(run.status(), RUN_STATUS_PROCESSING);
  EXPECT_EQ(run.attempt(), 1);
  EXPECT_EQ(run.worker_id(), "host:1");
  EXPECT_EQ(run.lease_expire_time().seconds() - run.start_time().seconds(), 90);
  EXPECT_FALSE(run.has_end_time());
  EXPECT_EQ(Sql(absl::StrCat("SELECT lease_seconds FROM task_log WHERE id = ",
                             run.id())),
            "90");
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(kind || ':' || "
                             "coalesce(from_status, '-') || '>' || to_status, "
                             "',') FROM run_events WHERE run_id = ",
                             run.id())),
            "STARTED:->PROCESSING");
}

TEST_F(RunServiceTest, StartRunUsesRequestedLease) {
  CreateTask("t");
  metad::v1::StartRunResponse response;
  ASSERT_TRUE(Start("t", "b1", &response, "", 3600).ok());
  EXPECT_EQ(response.run().lease_expire_time().seconds() -
                response.run().start_time().seconds(),
            3600);
}

TEST_F(RunServiceTest, StartRunUnknownTaskIsNotFound) {
  metad::v1::StartRunResponse response;
  grpc::Status status = Start("nope", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nope"));
}

TEST_F(RunServiceTest, StartRunValidatesEveryField) {
  CreateTask("t");
  struct Case {
    metad::v1::StartRunRequest request;
    std::string field;
  };
  auto base = [] {
    metad::v1::StartRunRequest r;
    r.set_task("t");
    r.set_batch_id("b1");
    return r;
  };
  std::vector<Case> cases;
  cases.push_back({base(), "task"});
  cases.back().request.set_task("");
  cases.push_back({base(), "task"});
  cases.back().request.set_task("bad name");
  cases.push_back({base(), "batch_id"});
  cases.back().request.set_batch_id("");
  cases.push_back({base(), "batch_id"});
  cases.back().request.set_batch_id("b\n1");
  cases.push_back({base(), "batch_id"});
  cases.back().request.set_batch_id(std::string(129, 'b'));
  cases.push_back({base(), "worker_id"});
  cases.back().request.set_worker_id(std::string(257, 'w'));
  cases.push_back({base(), "lease_seconds"});
  cases.back().request.set_lease_seconds(-1);
  cases.push_back({base(), "lease_seconds"});
  cases.back().request.set_lease_seconds(86401);
  cases.push_back({base(), "request_id"});
  cases.back().request.set_request_id(std::string(129, 'r'));
  for (const Case& c : cases) {
    metad::v1::StartRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->StartRun(&context, c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field + ":"));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 0);
  // The limits themselves are accepted.
  metad::v1::StartRunRequest ok = base();
  ok.set_worker_id(std::string(256, 'w'));
  ok.set_lease_seconds(86400);
  ok.set_request_id(std::string(128, 'r'));
  metad::v1::StartRunResponse response;
  grpc::ClientContext context;
  EXPECT_TRUE(stub_->StartRun(&context, ok, &response).ok());
}

TEST_F(RunServiceTest, EightThreadsRacingStartRunExactlyOneWins) {
  CreateTask("load_sales");
  constexpr int kThreads = 8;
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      metad::v1::StartRunResponse response;
      grpc::Status status = Start("load_sales", "b1", &response);
      if (status.ok()) {
        ++ok;
      } else if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        ++refused;
      } else {
        ++other;
        ADD_FAILURE() << status.error_code() << " " << status.error_message();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), kThreads - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'STARTED'"), 1);
}

TEST_F(RunServiceTest, RunningTaskIsRefusedNamingTheRun) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  metad::v1::StartRunResponse response;
  grpc::Status status = Start("t", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("run ", run_id, " of it is PROCESSING")));
  // Another batch is independent.
  EXPECT_TRUE(Start("t", "b2", &response).ok());
}

TEST_F(RunServiceTest, SameRequestIdReturnsSameRunEvenAfterItEnded) {
  CreateTask("t");
  metad::v1::StartRunResponse first, again, after_end;
  ASSERT_TRUE(Start("t", "b1", &first, "req-1").ok());
  EXPECT_TRUE(first.created());
  ASSERT_TRUE(Start("t", "b1", &again, "req-1").ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.run().id(), first.run().id());
  EXPECT_EQ(again.run().request_id(), "req-1");
  ASSERT_TRUE(Finish(first.run().id(), RUN_STATUS_SUCCESS).ok());
  ASSERT_TRUE(Start("t", "b1", &after_end, "req-1").ok());
  EXPECT_FALSE(after_end.created());
  EXPECT_EQ(after_end.run().id(), first.run().id());
  EXPECT_EQ(after_end.run().status(), RUN_STATUS_SUCCESS);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
}

TEST_F(RunServiceTest, SameRequestIdRetriedConcurrentlyReturnsOneRun) {
  CreateTask("t");
  constexpr int kThreads = 8;
  std::vector<int64_t> ids(kThreads);
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      metad::v1::StartRunResponse response;
      grpc::Status status = Start("t", "b1", &response, "retry-me");
      ASSERT_TRUE(status.ok()) << status.error_message();
      ids[i] = response.run().id();
      if (response.created()) ++created;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
}

TEST_F(RunServiceTest, RequestIdOfAnotherBatchIsAlreadyExists) {
  CreateTask("t");
  CreateTask("u");
  metad::v1::StartRunResponse response;
  ASSERT_TRUE(Start("t", "b1", &response, "req-1").ok());
  int64_t run_id = response.run().id();
  grpc::Status status = Start("t", "b2", &response, "req-1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(
      status.error_message(),
      HasSubstr(absl::StrCat("request_id: already used by run ", run_id)));
  status = Start("u", "b1", &response, "req-1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1);
}

TEST_F(RunServiceTest, SucceededTaskIsNotStartedAgainInTheBatch) {
  CreateTask("t", 5);
  int64_t run_id = MustStart("t", "b1");
  ASSERT_TRUE(Finish(run_id, RUN_STATUS_SUCCESS).ok());
  metad::v1::StartRunResponse response;
  grpc::Status status = Start("t", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("t cannot start in batch b1: it already succeeded "
                         "in this batch (run ",
                         run_id, ")"));
  EXPECT_TRUE(Start("t", "b2", &response).ok());
}

TEST_F(RunServiceTest, ErrorRunsCountAsAttemptsUpToMaxAttempts) {
  CreateTask("t", 2);
  int64_t first = MustStart("t", "b1");
  ASSERT_TRUE(Finish(first, RUN_STATUS_ERROR, "boom").ok());
  metad::v1::StartRunResponse second;
  ASSERT_TRUE(Start("t", "b1", &second).ok());
  EXPECT_EQ(second.run().attempt(), 2);
  ASSERT_TRUE(Finish(second.run().id(), RUN_STATUS_ERROR, "boom").ok());
  metad::v1::StartRunResponse response;
  grpc::Status status = Start("t", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            "t cannot start in batch b1: its 2 ERROR runs used up "
            "max_attempts (2)");
  // Raising max_attempts (as RegisterTask may) allows a third attempt.
  Sql("UPDATE tasks SET max_attempts = 3 WHERE name = 't'");
  ASSERT_TRUE(Start("t", "b1", &response).ok());
  EXPECT_EQ(response.run().attempt(), 3);
}

TEST_F(RunServiceTest, UnmetParentsAreNamed) {
  CreateTask("load_sales");
  CreateTask("calculate_profit");
  AddEdge("load_sales", "calculate_profit");
  metad::v1::StartRunResponse response;
  grpc::Status status = Start("calculate_profit", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            "calculate_profit cannot start in batch b1: waiting for "
            "load_sales (no SUCCESS run in this batch)");
  // A PROCESSING or ERROR parent does not count, nor a SUCCESS elsewhere.
  int64_t in_b2 = MustStart("load_sales", "b2");
  ASSERT_TRUE(Finish(in_b2, RUN_STATUS_SUCCESS).ok());
  int64_t parent = MustStart("load_sales", "b1");
  EXPECT_EQ(Start("calculate_profit", "b1", &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Finish(parent, RUN_STATUS_SUCCESS).ok());
  ASSERT_TRUE(Start("calculate_profit", "b1", &response).ok());
  EXPECT_TRUE(response.created());
}

TEST_F(RunServiceTest, AllUnmetParentsAreNamed) {
  CreateTask("load_a");
  CreateTask("load_b");
  CreateTask("load_c");
  CreateTask("report");
  AddEdge("load_a", "report");
  AddEdge("load_b", "report");
  AddEdge("load_c", "report");
  ASSERT_TRUE(Finish(MustStart("load_b", "b1"), RUN_STATUS_SUCCESS).ok());
  metad::v1::StartRunResponse response;
  grpc::Status status = Start("report", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            "report cannot start in batch b1: waiting for load_a, load_c "
            "(no SUCCESS run in this batch)");
}

TEST_F(RunServiceTest, LapsedRunIsExpiredByStartRunAndCountsAsAttempt) {
  CreateTask("t", 2);
  int64_t stale = MustStart("t", "b1");
  int64_t file = AddFile("f1", "PROCESSING", stale);
  LapseLease(stale);
  metad::v1::StartRunResponse response;
  ASSERT_TRUE(Start("t", "b1", &response).ok());
  EXPECT_EQ(response.run().attempt(), 2);
  EXPECT_EQ(RunState(stale), "ERROR:lease expired:true:true");
  EXPECT_EQ(FileStatus(file), "NEW/null");
  // With max_attempts used up, the expiry still happens but the start is
  // refused.
  LapseLease(response.run().id());
  grpc::Status status = Start("t", "b1", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("used up max_attempts (2)"));
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE status = 'ERROR'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'EXPIRED'"), 2);
}

// --- Heartbeat --------------------------------------------------------------

TEST_F(RunServiceTest, HeartbeatExtendsLeaseWithoutEvent) {
  CreateTask("t", 1, 60);
  int64_t run_id = MustStart("t", "b1");
  Sql(
      absl::StrCat("UPDATE task_log SET lease_expire_time = now() + "
                   "interval '2 seconds' WHERE id = ",
                   run_id));
  metad::v1::HeartbeatResponse response;
  ASSERT_TRUE(Beat(run_id, 0, &response).ok());
  EXPECT_EQ(response.run().status(), RUN_STATUS_PROCESSING);
  EXPECT_TRUE(response.run().has_heartbeat_time());
  EXPECT_EQ(response.run().lease_expire_time().seconds() -
                response.run().heartbeat_time().seconds(),
            60);
  EXPECT_EQ(
      Count(absl::StrCat("SELECT count(*) FROM task_log WHERE id = ", run_id,
                         " AND lease_expire_time > now() + "
                         "interval '50 seconds'")),
      1);
  // An explicit length applies to this extension only.
  ASSERT_TRUE(Beat(run_id, 7200, &response).ok());
  EXPECT_EQ(response.run().lease_expire_time().seconds() -
                response.run().heartbeat_time().seconds(),
            7200);
  EXPECT_EQ(Sql(absl::StrCat("SELECT lease_seconds FROM task_log WHERE id = ",
                             run_id)),
            "60");
  EXPECT_EQ(Count("SELECT count(*) FROM run_events"), 1);  // STARTED only
}

TEST_F(RunServiceTest, HeartbeatRefusals) {
  CreateTask("t");
  EXPECT_EQ(Beat(0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  int64_t run_id = MustStart("t", "b1");
  EXPECT_EQ(Beat(run_id, -1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Beat(run_id, 86401).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status status = Beat(run_id + 100);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("run ", run_id + 100, " not found"));
  ASSERT_TRUE(Finish(run_id, RUN_STATUS_SUCCESS).ok());
  status = Beat(run_id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("run ", run_id, " has ended (SUCCESS)"));
}

TEST_F(RunServiceTest, HeartbeatOnLapsedLeaseExpiresRunAndRefuses) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  int64_t held = AddFile("held", "PROCESSING", run_id);
  LapseLease(run_id);
  grpc::Status status = Beat(run_id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(
      status.error_message(),
      ::testing::MatchesRegex(absl::StrCat(
          "run ", run_id, ": lease expired at [0-9T:.-]+Z; start a new run")));
  // Ended by the refusing call itself, not left for the reaper.
  EXPECT_EQ(RunState(run_id), "ERROR:lease expired:true:true");
  EXPECT_EQ(FileStatus(held), "NEW/null");
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'EXPIRED'"), 1);
  status = Beat(run_id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("run ", run_id, " has ended (ERROR: lease expired)"));
}

// --- FinishRun --------------------------------------------------------------

TEST_F(RunServiceTest, FinishRunSuccessSetsHeldFiles) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  int64_t other_run = MustStart("t", "b2");
  int64_t held1 = AddFile("h1", "PROCESSING", run_id);
  int64_t held2 = AddFile("h2", "PROCESSING", run_id);
  int64_t done_early = AddFile("done", "ERROR", run_id);
  int64_t others = AddFile("o", "PROCESSING", other_run);
  int64_t fresh = AddFile("n", "NEW", 0);
  metad::v1::FinishRunResponse response;
  ASSERT_TRUE(Finish(run_id, RUN_STATUS_SUCCESS, "", &response,
                     {held1, held2, done_early})
                  .ok());
  EXPECT_EQ(response.files_finished(), 2);
  EXPECT_EQ(response.files_released(), 0);
  EXPECT_EQ(response.run().status(), RUN_STATUS_SUCCESS);
  EXPECT_TRUE(response.run().has_end_time());
  EXPECT_FALSE(response.run().has_lease_expire_time());
  EXPECT_EQ(FileStatus(held1), absl::StrCat("SUCCESS/", run_id));
  EXPECT_EQ(FileStatus(held2), absl::StrCat("SUCCESS/", run_id));
  EXPECT_EQ(FileStatus(done_early), absl::StrCat("ERROR/", run_id));
  EXPECT_EQ(FileStatus(others), absl::StrCat("PROCESSING/", other_run));
  EXPECT_EQ(FileStatus(fresh), "NEW/null");
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT string_agg(file_id || ':' || kind || ':' || "
                       "from_status || '>' || to_status || ':' || run_id, ',' "
                       "ORDER BY file_id) FROM file_events")),
      absl::StrCat(held1, ":FINISHED:PROCESSING>SUCCESS:", run_id, ",", held2,
                   ":FINISHED:PROCESSING>SUCCESS:", run_id));
  EXPECT_EQ(Sql(absl::StrCat("SELECT kind || ':' || from_status || '>' || "
                             "to_status FROM run_events WHERE run_id = ",
                             run_id, " ORDER BY id DESC LIMIT 1")),
            "FINISHED:PROCESSING>SUCCESS");
}

TEST_F(RunServiceTest, FinishRunErrorSetsHeldFilesToError) {
  CreateTask("t", 3);
  int64_t run_id = MustStart("t", "b1");
  int64_t held = AddFile("h", "PROCESSING", run_id);
  metad::v1::FinishRunResponse response;
  ASSERT_TRUE(
      Finish(run_id, RUN_STATUS_ERROR, "disk full", &response, {held}).ok());
  EXPECT_EQ(response.files_finished(), 1);
  EXPECT_EQ(response.run().status(), RUN_STATUS_ERROR);
  EXPECT_EQ(response.run().error_message(), "disk full");
  EXPECT_EQ(Sql(absl::StrCat("SELECT status || ':' || error_message FROM "
                             "files WHERE id = ",
                             held)),
            "ERROR:disk full");
  EXPECT_EQ(Sql("SELECT message FROM run_events WHERE kind = 'FINISHED'"),
            "disk full");
}

TEST_F(RunServiceTest, FinishRunRefusals) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  for (auto bad : {RUN_STATUS_UNSPECIFIED, RUN_STATUS_PROCESSING,
                   static_cast<metad::v1::RunStatus>(42)}) {
    grpc::Status status = Finish(run_id, bad);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("status:"));
  }
  EXPECT_EQ(Finish(0, RUN_STATUS_SUCCESS).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      Finish(run_id, RUN_STATUS_ERROR, std::string(4097, 'x')).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Finish(run_id, RUN_STATUS_SUCCESS, "why").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Finish(run_id + 100, RUN_STATUS_SUCCESS).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Finish(run_id, RUN_STATUS_ERROR, std::string(4096, 'x')).ok());
  grpc::Status status = Finish(run_id, RUN_STATUS_SUCCESS);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("run ", run_id, " has ended (ERROR: x")));
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", run_id)),
      "ERROR");
}

TEST_F(RunServiceTest, FinishRunOnLapsedLeaseExpiresAndRefuses) {
  CreateTask("t");
  int64_t run_id = MustStart("t", "b1");
  int64_t held = AddFile("h", "PROCESSING", run_id);
  LapseLease(run_id);
  grpc::Status status = Finish(run_id, RUN_STATUS_SUCCESS);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("lease expired at"));
  EXPECT_THAT(status.error_message(), HasSubstr("start a new run"));
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", run_id)),
      "ERROR");
  EXPECT_EQ(FileStatus(held), "NEW/null");  // not SUCCESS: the run was lost
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(kind, ',' ORDER BY id) FROM "
                             "file_events WHERE file_id = ",
                             held)),
            "RELEASED");
}

// --- GetRun, ListRuns -------------------------------------------------------

TEST_F(RunServiceTest, GetRun) {
  CreateTask("t");
  metad::v1::StartRunResponse started;
  ASSERT_TRUE(Start("t", "b1", &started, "rq").ok());
  metad::v1::GetRunRequest request;
  request.set_run_id(started.run().id());
  metad::v1::Run run;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->GetRun(&context, request, &run).ok());
  }
  EXPECT_EQ(run.SerializeAsString(), started.run().SerializeAsString());
  request.set_run_id(started.run().id() + 1);
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->GetRun(&context, request, &run).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  request.set_run_id(-1);
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->GetRun(&context, request, &run).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

class ListRunsTest : public RunServiceTest {
 protected:
  // All pages of `request`; fails the test on an error.
  std::vector<int64_t> ListAll(metad::v1::ListRunsRequest request,
                               int* pages = nullptr) {
    std::vector<int64_t> ids;
    int n = 0;
    do {
      metad::v1::ListRunsResponse response;
      grpc::ClientContext context;
      grpc::Status status = stub_->ListRuns(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const auto& run : response.runs()) ids.push_back(run.id());
      request.set_page_token(response.next_page_token());
      ++n;
    } while (!request.page_token().empty() && n < 100);
    if (pages) *pages = n;
    return ids;
  }

  grpc::Status List(const metad::v1::ListRunsRequest& request,
                    metad::v1::ListRunsResponse* response) {
    grpc::ClientContext context;
    return stub_->ListRuns(&context, request, response);
  }
};

TEST_F(ListRunsTest, PagesCoverEveryRunOnceInIdOrder) {
  CreateTask("t");
  std::vector<int64_t> want;
  for (int i = 0; i < 25; ++i)
    want.push_back(MustStart("t", absl::StrCat("b", i)));
  metad::v1::ListRunsRequest request;
  request.set_page_size(10);
  int pages = 0;
  EXPECT_EQ(ListAll(request, &pages), want);
  EXPECT_EQ(pages, 3);
  request.set_page_size(25);
  EXPECT_EQ(ListAll(request, &pages), want);
  EXPECT_EQ(pages, 1);       // no token when the page is the last
  request.set_page_size(0);  // default 100
  EXPECT_EQ(ListAll(request, &pages), want);
}

TEST_F(ListRunsTest, RunsInsertedBetweenPagesAreNotSkippedOrRepeated) {
  CreateTask("t");
  std::vector<int64_t> want;
  for (int i = 0; i < 5; ++i)
    want.push_back(MustStart("t", absl::StrCat("b", i)));
  metad::v1::ListRunsRequest request;
  request.set_page_size(3);
  metad::v1::ListRunsResponse first;
  ASSERT_TRUE(List(request, &first).ok());
  want.push_back(MustStart("t", "late"));
  request.set_page_token(first.next_page_token());
  std::vector<int64_t> got;
  for (const auto& run : first.runs()) got.push_back(run.id());
  for (int64_t id : ListAll(request)) got.push_back(id);
  EXPECT_EQ(got, want);
}

TEST_F(ListRunsTest, Filters) {
  CreateTask("load");
  CreateTask("calc", 3);
  int64_t l1 = MustStart("load", "b1");
  int64_t l2 = MustStart("load", "b2");
  int64_t c1 = MustStart("calc", "b1");
  ASSERT_TRUE(Finish(l1, RUN_STATUS_SUCCESS).ok());
  ASSERT_TRUE(Finish(c1, RUN_STATUS_ERROR, "x").ok());
  int64_t c2 = MustStart("calc", "b1");
  Sql(
      absl::StrCat("UPDATE task_log SET start_time = '2024-03-01T00:00:00Z' "
                   "WHERE id = ",
                   l1));
  Sql(
      absl::StrCat("UPDATE task_log SET start_time = '2024-03-02T00:00:00Z' "
                   "WHERE id = ",
                   l2));
  Sql(
      absl::StrCat("UPDATE task_log SET start_time = '2024-03-03T00:00:00Z' "
                   "WHERE id = ",
                   c1));
  Sql(
      absl::StrCat("UPDATE task_log SET start_time = '2024-03-04T00:00:00Z' "
                   "WHERE id = ",
                   c2));
  using Ids = std::vector<int64_t>;
  metad::v1::ListRunsRequest r;
  r.set_task("load");
  EXPECT_EQ(ListAll(r), (Ids{l1, l2}));
  r.Clear();
  r.set_batch_id("b1");
  EXPECT_EQ(ListAll(r), (Ids{l1, c1, c2}));
  r.set_status(RUN_STATUS_ERROR);
  EXPECT_EQ(ListAll(r), (Ids{c1}));
  r.Clear();
  r.set_status(RUN_STATUS_PROCESSING);
  EXPECT_EQ(ListAll(r), (Ids{l2, c2}));
  r.Clear();
  r.set_task("nosuchtask");
  EXPECT_EQ(ListAll(r), Ids{});
  // started_after inclusive, started_before exclusive.
  r.Clear();
  r.mutable_started_after()->set_seconds(1709337600);   // 2024-03-02
  r.mutable_started_before()->set_seconds(1709510400);  // 2024-03-04
  EXPECT_EQ(ListAll(r), (Ids{l2, c1}));
  r.clear_started_before();
  EXPECT_EQ(ListAll(r), (Ids{l2, c1, c2}));
  r.set_task("calc");
  r.set_page_size(1);
  EXPECT_EQ(ListAll(r), (Ids{c1, c2}));
}

TEST_F(ListRunsTest, BadRequestsAreInvalidArgument) {
  CreateTask("t");
  for (int i = 0; i < 3; ++i) MustStart("t", absl::StrCat("b", i));
  metad::v1::ListRunsRequest request;
  request.set_page_size(1);
  metad::v1::ListRunsResponse response;
  ASSERT_TRUE(List(request, &response).ok());
  ASSERT_FALSE(response.next_page_token().empty());

  std::vector<std::pair<metad::v1::ListRunsRequest, std::string>> cases;
  auto add = [&](auto edit, const std::string& field) {
    metad::v1::ListRunsRequest r;
    edit(r);
    cases.emplace_back(r, field);
  };
  add([](auto& r) { r.set_page_size(-1); }, "page_size");
  add([](auto& r) { r.set_page_token("garbage"); }, "page_token");
  add(
      [&](auto& r) {  // a token issued for other filters
        r.set_page_token(response.next_page_token());
        r.set_batch_id("b1");
      },
      "page_token");
  add([](auto& r) { r.set_task("no spaces"); }, "task");
  add([](auto& r) { r.set_batch_id(std::string(129, 'b')); }, "batch_id");
  add([](auto& r) { r.set_status(static_cast<metad::v1::RunStatus>(9)); },
      "status");
  add([](auto& r) { r.mutable_started_after()->set_nanos(-1); },
      "started_after");
  add([](auto& r) { r.mutable_started_before()->set_seconds(1LL << 40); },
      "started_before");
  for (const auto& [req, field] : cases) {
    metad::v1::ListRunsResponse out;
    grpc::Status status = List(req, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(status.error_message(), HasSubstr(field + ":"));
  }
}

// --- GetBatch ---------------------------------------------------------------

TEST_F(RunServiceTest, GetBatchSummarisesTasks) {
  int64_t load = CreateTask("load", 2);
  int64_t calc = CreateTask("calc", 2);
  int64_t report = CreateTask("report", 1);
  int64_t l1 = MustStart("load", "b1");
  ASSERT_TRUE(Finish(l1, RUN_STATUS_ERROR, "flaky").ok());
  int64_t l2 = MustStart("load", "b1");
  ASSERT_TRUE(Finish(l2, RUN_STATUS_SUCCESS).ok());
  int64_t c1 = MustStart("calc", "b1");
  int64_t r1 = MustStart("report", "b1");
  ASSERT_TRUE(Finish(r1, RUN_STATUS_ERROR, "bad input").ok());
  MustStart("load", "other");  // another batch is not counted
  Sql(
      absl::StrCat("UPDATE task_log SET start_time = '2024-03-01T00:00:00Z' "
                   "WHERE id = ",
                   l1));
  Sql(
      absl::StrCat("UPDATE task_log SET end_time = '2099-01-01T00:00:00Z' "
                   "WHERE id = ",
                   r1));

  metad::v1::GetBatchRequest request;
  request.set_batch_id("b1");
  metad::v1::Batch batch;
  {
    grpc::ClientContext context;
    grpc::Status status = stub_->GetBatch(&context, request, &batch);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(batch.batch_id(), "b1");
  ASSERT_EQ(batch.tasks_size(), 3);
  EXPECT_EQ(batch.tasks(0).task_id(), load);
  EXPECT_EQ(batch.tasks(0).task_name(), "load");
  EXPECT_EQ(batch.tasks(0).status(), RUN_STATUS_SUCCESS);
  EXPECT_EQ(batch.tasks(0).attempts(), 2);
  EXPECT_EQ(batch.tasks(0).latest_run_id(), l2);
  EXPECT_EQ(batch.tasks(0).latest_error_message(), "");
  EXPECT_EQ(batch.tasks(1).task_id(), calc);
  EXPECT_EQ(batch.tasks(1).status(), RUN_STATUS_PROCESSING);
  EXPECT_EQ(batch.tasks(1).attempts(), 1);
  EXPECT_EQ(batch.tasks(1).latest_run_id(), c1);
  EXPECT_EQ(batch.tasks(2).task_id(), report);
  EXPECT_EQ(batch.tasks(2).status(), RUN_STATUS_ERROR);
  EXPECT_EQ(batch.tasks(2).latest_error_message(), "bad input");
  EXPECT_EQ(batch.processing_runs(), 1);
  EXPECT_EQ(batch.success_runs(), 1);
  EXPECT_EQ(batch.error_runs(), 2);
  EXPECT_EQ(batch.first_start_time().seconds(), 1709251200);  // 2024-03-01
  EXPECT_EQ(batch.last_end_time().seconds(), 4070908800);     // 2099-01-01

  request.set_batch_id("nothing-here");
  {
    grpc::ClientContext context;
    grpc::Status status = stub_->GetBatch(&context, request, &batch);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(), HasSubstr("nothing-here"));
  }
  request.set_batch_id("");
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->GetBatch(&context, request, &batch).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(RunServiceTest, GetBatchWithoutEndedRunsHasNoLastEndTime) {
  CreateTask("t");
  MustStart("t", "b1");
  metad::v1::GetBatchRequest request;
  request.set_batch_id("b1");
  metad::v1::Batch batch;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->GetBatch(&context, request, &batch).ok());
  EXPECT_FALSE(batch.has_last_end_time());
  EXPECT_TRUE(batch.has_first_start_time());
}

// --- ListRunEvents ----------------------------------------------------------

TEST_F(RunServiceTest, ListRunEventsByRunAndBatchWithPaging) {
  CreateTask("t", 3);
  int64_t a = MustStart("t", "b1");
  ASSERT_TRUE(Finish(a, RUN_STATUS_ERROR, "e1").ok());
  int64_t b = MustStart("t", "b1");
  LapseLease(b);
  EXPECT_FALSE(Beat(b).ok());
  int64_t c = MustStart("t", "b2");

  auto list = [&](int64_t run_id, const std::string& batch, int page_size) {
    std::vector<std::string> out;
    metad::v1::ListRunEventsRequest request;
    request.set_run_id(run_id);
    request.set_batch_id(batch);
    request.set_page_size(page_size);
    for (int n = 0; n < 100; ++n) {
      metad::v1::ListRunEventsResponse response;
      grpc::ClientContext context;
      grpc::Status status = stub_->ListRunEvents(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      for (const auto& e : response.events()) {
        out.push_back(absl::StrCat(e.run_id(), ":", e.kind(), ":",
                                   e.from_status(), ">", e.to_status(), ":",
                                   e.message()));
        EXPECT_TRUE(e.has_event_time());
      }
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return out;
  };
  using Strings = std::vector<std::string>;
  EXPECT_EQ(list(a, "", 0), (Strings{absl::StrCat(a, ":STARTED:0>1:"),
                                     absl::StrCat(a, ":FINISHED:1>3:e1")}));
  Strings batch1 = {absl::StrCat(a, ":STARTED:0>1:"),
                    absl::StrCat(a, ":FINISHED:1>3:e1"),
                    absl::StrCat(b, ":STARTED:0>1:"),
                    absl::StrCat(b, ":EXPIRED:1>3:lease expired")};
  EXPECT_EQ(list(0, "b1", 1), batch1);
  EXPECT_EQ(list(0, "b1", 3), batch1);
  EXPECT_EQ(list(0, "", 2).size(), 5u);
  EXPECT_EQ(list(c, "b1", 0), Strings{});  // both filters apply

  metad::v1::ListRunEventsRequest bad;
  bad.set_run_id(-5);
  metad::v1::ListRunEventsResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub_->ListRunEvents(&context, bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("run_id:"));
}

}  // namespace
}  // namespace metad::testing
