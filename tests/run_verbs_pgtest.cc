// TaskLogService's operator verbs through a real gRPC channel: CancelRun
// (a cancelled run's later calls are refused with RUN_CANCELLED) and
// RerunTasks (superseded runs no longer count in the batch's rules).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "daemon/services/file_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::metad::v1::RUN_STATUS_ERROR;
using ::metad::v1::RUN_STATUS_PROCESSING;
using ::metad::v1::RUN_STATUS_SUCCESS;
using ::metad::v1::RUN_STATUS_UNSPECIFIED;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The ErrorInfo reason of a refused call ("" when there is none).
std::string Reason(const grpc::Status& s) {
  google::rpc::Status status;
  if (!status.ParseFromString(s.error_details())) return "";
  for (const google::protobuf::Any& any : status.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

class RunVerbsTest : public RunServiceTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Add<daemon::FileServiceImpl>();
    server_->Start();
    stub_ = metad::v1::TaskLogService::NewStub(server_->channel());
    files_ = metad::v1::FileService::NewStub(server_->channel());
  }

  void TearDown() override {
    files_.reset();
    RunServiceTest::TearDown();
  }

  grpc::Status Cancel(int64_t run_id, const std::string& reason,
                      metad::v1::CancelRunResponse* out = nullptr) {
    metad::v1::CancelRunRequest request;
    request.set_run_id(run_id);
    request.set_reason(reason);
    metad::v1::CancelRunResponse response;
    grpc::ClientContext context;
    return stub_->CancelRun(&context, request, out ? out : &response);
  }

  grpc::Status Rerun(const std::string& batch,
                     const std::vector<std::string>& tasks, bool downstream,
                     metad::v1::RerunTasksResponse* out = nullptr,
                     const std::string& reason = "") {
    metad::v1::RerunTasksRequest request;
    request.set_batch_id(batch);
    for (const std::string& t : tasks) request.add_tasks(t);
    request.set_include_downstream(downstream);
    request.set_reason(reason);
    metad::v1::RerunTasksResponse response;
    grpc::ClientContext context;
    return stub_->RerunTasks(&context, request, out ? out : &response);
  }

  metad::v1::Run GetRun(int64_t run_id) {
    metad::v1::GetRunRequest request;
    request.set_run_id(run_id);
    metad::v1::Run run;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->GetRun(&context, request, &run).ok());
    return run;
  }

  // A run of `task` in `batch` that ended as `status`; returns its id.
  int64_t Ended(const std::string& task, const std::string& batch,
                metad::v1::RunStatus status) {
    const int64_t run = MustStart(task, batch);
    EXPECT_TRUE(
        Finish(run, status, status == RUN_STATUS_ERROR ? "boom" : "").ok());
    return run;
  }

  // The refusal reason of StartRun(task, batch), "" when it was accepted
  // (the run then stays PROCESSING).
  std::string StartRefusal(const std::string& task, const std::string& batch) {
    metad::v1::StartRunResponse response;
    grpc::Status s = Start(task, batch, &response);
    return s.ok() ? "" : Reason(s);
  }

  std::string EventKinds(int64_t run_id) {
    return Sql(absl::StrCat(
        "SELECT string_agg(kind || ':' || coalesce(from_status, '-') || '>' "
        "|| to_status, ',' ORDER BY id) FROM run_events WHERE run_id = ",
        run_id));
  }

  metad::v1::Batch GetBatch(const std::string& batch) {
    metad::v1::GetBatchRequest request;
    request.set_batch_id(batch);
    metad::v1::Batch out;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->GetBatch(&context, request, &out).ok());
    return out;
  }

  std::unique_ptr<metad::v1::FileService::Stub> files_;
};

// --- CancelRun --------------------------------------------------------------

TEST_F(RunVerbsTest, CancelEndsLiveRunAndReleasesItsFiles) {
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  const int64_t held1 = AddFile("a.csv", "PROCESSING", run);
  const int64_t held2 = AddFile("b.csv", "PROCESSING", run);
  const int64_t done = AddFile("c.csv", "SUCCESS", run);
  metad::v1::CancelRunResponse response;
  ASSERT_TRUE(Cancel(run, "disk full", &response).ok());
  EXPECT_FALSE(response.replayed());
  EXPECT_EQ(response.files_released(), 2);
  EXPECT_EQ(response.run().id(), run);
  EXPECT_EQ(response.run().status(), RUN_STATUS_ERROR);
  EXPECT_EQ(response.run().error_message(), "cancelled: disk full");
  EXPECT_TRUE(response.run().cancelled());
  EXPECT_FALSE(response.run().superseded());
  EXPECT_TRUE(response.run().has_end_time());
  EXPECT_FALSE(response.run().has_lease_expire_time());
  EXPECT_EQ(RunState(run), "ERROR:cancelled: disk full:true:true");
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT cancelled FROM task_log WHERE id = ", run)),
      "t");
  EXPECT_EQ(FileStatus(held1), "NEW/null");
  EXPECT_EQ(FileStatus(held2), "NEW/null");
  EXPECT_EQ(FileStatus(done), absl::StrCat("SUCCESS/", run));
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT string_agg(file_id || ':' || kind || ':' || "
                       "from_status || '>' || to_status || ':' || message, ',' "
                       "ORDER BY file_id) FROM file_events WHERE run_id = ",
                       run)),
      absl::StrCat(held1, ":RELEASED:PROCESSING>NEW:run cancelled,", held2,
                   ":RELEASED:PROCESSING>NEW:run cancelled"));
  EXPECT_EQ(EventKinds(run), "STARTED:->PROCESSING,CANCELLED:PROCESSING>ERROR");
  EXPECT_EQ(Sql(absl::StrCat("SELECT message FROM run_events WHERE kind = "
                             "'CANCELLED' AND run_id = ",
                             run)),
            "cancelled: disk full");
  // Reads show the flag too.
  EXPECT_TRUE(GetRun(run).cancelled());
  metad::v1::ListRunsRequest list;
  metad::v1::ListRunsResponse runs;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListRuns(&context, list, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_TRUE(runs.runs(0).cancelled());
}

TEST_F(RunVerbsTest, CancelWithoutReasonSaysCancelled) {
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  metad::v1::CancelRunResponse response;
  ASSERT_TRUE(Cancel(run, "", &response).ok());
  EXPECT_EQ(response.run().error_message(), "cancelled");
  EXPECT_EQ(response.files_released(), 0);
}

TEST_F(RunVerbsTest, CancelTwiceIsReplayedAndChangesNothing) {
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  AddFile("a.csv", "PROCESSING", run);
  ASSERT_TRUE(Cancel(run, "first").ok());
  const std::string state = RunState(run);
  const int64_t events = Count("SELECT count(*) FROM run_events");
  const int64_t file_events = Count("SELECT count(*) FROM file_events");
  metad::v1::CancelRunResponse response;
  ASSERT_TRUE(Cancel(run, "second", &response).ok());
  EXPECT_TRUE(response.replayed());
  EXPECT_EQ(response.files_released(), 1);  // the first cancel's
  EXPECT_EQ(response.run().error_message(), "cancelled: first");
  EXPECT_TRUE(response.run().cancelled());
  EXPECT_EQ(RunState(run), state);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events"), events);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), file_events);
}

TEST_F(RunVerbsTest, CancelOfRunEndedOtherwiseIsRunEnded) {
  CreateTask("t", 3);
  const int64_t failed = Ended("t", "b1", RUN_STATUS_ERROR);
  const int64_t succeeded = Ended("t", "b1", RUN_STATUS_SUCCESS);
  for (int64_t run : {failed, succeeded}) {
    const std::string state = RunState(run);
    grpc::Status s = Cancel(run, "too late");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(Reason(s), "RUN_ENDED");
    EXPECT_THAT(s.error_message(), HasSubstr("has ended"));
    EXPECT_EQ(RunState(run), state);
    EXPECT_FALSE(GetRun(run).cancelled());
  }
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = 'CANCELLED'"),
            0);
}

TEST_F(RunVerbsTest, CancelOfUnknownOrBadRunIsRefused) {
  grpc::Status s = Cancel(999, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("999"));
  s = Cancel(0, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("run_id:"));
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  s = Cancel(run, std::string(4097, 'r'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("reason:"));
  EXPECT_EQ(RunState(run).substr(0, 11), "PROCESSING:");
}

TEST_F(RunVerbsTest, CancelOfLapsedButUnreapedRunCancelsIt) {
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  LapseLease(run);
  metad::v1::CancelRunResponse response;
  ASSERT_TRUE(Cancel(run, "stuck", &response).ok());
  EXPECT_TRUE(response.run().cancelled());
  EXPECT_EQ(EventKinds(run), "STARTED:->PROCESSING,CANCELLED:PROCESSING>ERROR");
}

TEST_F(RunVerbsTest, CancelledRunIsRefusedWithRunCancelledEverywhere) {
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  const int64_t file = AddFile("a.csv", "PROCESSING", run);
  AddFile("b.csv", "NEW", 0);
  ASSERT_TRUE(Cancel(run, "operator").ok());

  grpc::Status s = Beat(run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "RUN_CANCELLED");
  EXPECT_THAT(s.error_message(), HasSubstr("cancelled: operator"));

  for (auto status : {RUN_STATUS_SUCCESS, RUN_STATUS_ERROR}) {
    s = Finish(run, status, status == RUN_STATUS_ERROR ? "late" : "");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(Reason(s), "RUN_CANCELLED") << s.error_message();
  }

  metad::v1::ClaimFilesRequest claim;
  claim.set_run_id(run);
  claim.set_limit(10);
  metad::v1::ClaimFilesResponse claimed;
  {
    grpc::ClientContext context;
    s = files_->ClaimFiles(&context, claim, &claimed);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "RUN_CANCELLED") << s.error_message();

  metad::v1::CompleteFileRequest complete;
  complete.set_file_id(file);
  complete.set_run_id(run);
  complete.set_status(metad::v1::FILE_STATUS_SUCCESS);
  metad::v1::CompleteFileResponse completed;
  {
    grpc::ClientContext context;
    s = files_->CompleteFile(&context, complete, &completed);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "RUN_CANCELLED") << s.error_message();

  // Nothing moved: both files are NEW, the run is as cancelled.
  EXPECT_EQ(FileStatus(file), "NEW/null");
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'NEW'"), 2);
  EXPECT_EQ(RunState(run), "ERROR:cancelled: operator:true:true");

  // A run that ended otherwise is still RUN_ENDED.
  const int64_t other = Ended("t", "b2", RUN_STATUS_SUCCESS);
  s = Beat(other);
  EXPECT_EQ(Reason(s), "RUN_ENDED");
  s = Finish(other, RUN_STATUS_ERROR, "x");
  EXPECT_EQ(Reason(s), "RUN_ENDED");
}

TEST_F(RunVerbsTest, CancelledRunCountsAsAnErrorAttempt) {
  CreateTask("once", 1);
  ASSERT_TRUE(Cancel(MustStart("once", "b1"), "").ok());
  EXPECT_EQ(StartRefusal("once", "b1"), "ATTEMPTS_EXHAUSTED");
  CreateTask("twice", 2);
  ASSERT_TRUE(Cancel(MustStart("twice", "b1"), "").ok());
  metad::v1::StartRunResponse response;
  ASSERT_TRUE(Start("twice", "b1", &response).ok());
  EXPECT_EQ(response.run().attempt(), 2);
}

// --- RerunTasks -------------------------------------------------------------

TEST_F(RunVerbsTest, RerunMakesASucceededTaskStartableAgain) {
  CreateTask("t", 1);
  const int64_t first = Ended("t", "b1", RUN_STATUS_SUCCESS);
  EXPECT_EQ(StartRefusal("t", "b1"), "ALREADY_SUCCEEDED");
  metad::v1::RerunTasksResponse response;
  ASSERT_TRUE(Rerun("b1", {"t"}, false, &response, "bad input").ok());
  EXPECT_THAT(response.tasks(), ElementsAre("t"));
  EXPECT_EQ(response.runs_superseded(), 1);

  // The earlier run stays in the log, superseded, with an event.
  const metad::v1::Run old = GetRun(first);
  EXPECT_EQ(old.status(), RUN_STATUS_SUCCESS);
  EXPECT_TRUE(old.superseded());
  EXPECT_FALSE(old.cancelled());
  EXPECT_EQ(EventKinds(first),
            "STARTED:->PROCESSING,FINISHED:PROCESSING>SUCCESS,"
            "SUPERSEDED:SUCCESS>SUCCESS");
  EXPECT_EQ(Sql("SELECT task || ':' || kind || ':' || batch_id || ':' || "
                "detail FROM task_events WHERE kind = 'REOPENED'"),
            "t:REOPENED:b1:bad input");
  // The batch's state forgets it until the task runs again.
  metad::v1::Batch batch = GetBatch("b1");
  ASSERT_EQ(batch.tasks_size(), 1);
  EXPECT_EQ(batch.tasks(0).status(), RUN_STATUS_UNSPECIFIED);
  EXPECT_EQ(batch.tasks(0).attempts(), 0);
  EXPECT_EQ(batch.tasks(0).latest_run_id(), 0);
  EXPECT_EQ(batch.success_runs(), 0);

  // Startable again; the attempt number keeps counting.
  metad::v1::StartRunResponse started;
  ASSERT_TRUE(Start("t", "b1", &started).ok());
  EXPECT_EQ(started.run().attempt(), 2);
  EXPECT_FALSE(started.run().superseded());
  ASSERT_TRUE(Finish(started.run().id(), RUN_STATUS_SUCCESS).ok());
  EXPECT_EQ(StartRefusal("t", "b1"), "ALREADY_SUCCEEDED");
  batch = GetBatch("b1");
  EXPECT_EQ(batch.tasks(0).status(), RUN_STATUS_SUCCESS);
  EXPECT_EQ(batch.tasks(0).attempts(), 1);
  EXPECT_EQ(batch.tasks(0).latest_run_id(), started.run().id());

  // Both runs are listed, the first superseded.
  metad::v1::ListRunsRequest list;
  list.set_batch_id("b1");
  metad::v1::ListRunsResponse runs;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListRuns(&context, list, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 2);
  EXPECT_TRUE(runs.runs(0).superseded());
  EXPECT_FALSE(runs.runs(1).superseded());
}

TEST_F(RunVerbsTest, RerunGivesExhaustedTaskFreshAttempts) {
  CreateTask("t", 2);
  Ended("t", "b1", RUN_STATUS_ERROR);
  Ended("t", "b1", RUN_STATUS_ERROR);
  EXPECT_EQ(StartRefusal("t", "b1"), "ATTEMPTS_EXHAUSTED");
  metad::v1::RerunTasksResponse response;
  ASSERT_TRUE(Rerun("b1", {"t"}, false, &response).ok());
  EXPECT_EQ(response.runs_superseded(), 2);
  // Two fresh attempts, numbered 3 and 4; then exhausted again.
  const int64_t third = Ended("t", "b1", RUN_STATUS_ERROR);
  EXPECT_EQ(GetRun(third).attempt(), 3);
  const int64_t fourth = Ended("t", "b1", RUN_STATUS_ERROR);
  EXPECT_EQ(GetRun(fourth).attempt(), 4);
  EXPECT_EQ(StartRefusal("t", "b1"), "ATTEMPTS_EXHAUSTED");
}

TEST_F(RunVerbsTest, RerunWithDownstreamMakesChildrenWaitAgain) {
  CreateTask("a");
  CreateTask("b");
  CreateTask("c");
  CreateTask("other");
  AddEdge("a", "b");
  AddEdge("b", "c");
  for (const char* t : {"a", "b", "c", "other"}) {
    Ended(t, "b1", RUN_STATUS_SUCCESS);
  }
  Ended("a", "b2", RUN_STATUS_SUCCESS);
  metad::v1::RerunTasksResponse response;
  ASSERT_TRUE(Rerun("b1", {"a"}, true, &response).ok());
  EXPECT_THAT(response.tasks(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(response.runs_superseded(), 3);
  EXPECT_EQ(Sql("SELECT string_agg(task, ',' ORDER BY id) FROM task_events "
                "WHERE kind = 'REOPENED' AND batch_id = 'b1'"),
            "a,b,c");
  // Only a is ready; b waits for a, c for b; "other" and batch b2 untouched.
  EXPECT_EQ(Sql("SELECT string_agg(t.name, ',' ORDER BY t.id) FROM "
                "metad_batch_readiness('b1') r JOIN tasks t ON t.id = "
                "r.task_id WHERE r.ready"),
            "a");
  EXPECT_EQ(StartRefusal("b", "b1"), "PARENTS_NOT_SUCCEEDED");
  EXPECT_EQ(StartRefusal("other", "b1"), "ALREADY_SUCCEEDED");
  EXPECT_EQ(StartRefusal("a", "b2"), "ALREADY_SUCCEEDED");
  // The rerun of a succeeds: b may start again, c still waits.
  Ended("a", "b1", RUN_STATUS_SUCCESS);
  EXPECT_EQ(StartRefusal("c", "b1"), "PARENTS_NOT_SUCCEEDED");
  Ended("b", "b1", RUN_STATUS_SUCCESS);
  Ended("c", "b1", RUN_STATUS_SUCCESS);
  EXPECT_EQ(StartRefusal("c", "b1"), "ALREADY_SUCCEEDED");
}

TEST_F(RunVerbsTest, RerunWithoutDownstreamLeavesChildrenDone) {
  CreateTask("a");
  CreateTask("b");
  AddEdge("a", "b");
  Ended("a", "b1", RUN_STATUS_SUCCESS);
  Ended("b", "b1", RUN_STATUS_SUCCESS);
  metad::v1::RerunTasksResponse response;
  ASSERT_TRUE(Rerun("b1", {"a"}, false, &response).ok());
  EXPECT_THAT(response.tasks(), ElementsAre("a"));
  EXPECT_EQ(response.runs_superseded(), 1);
  EXPECT_EQ(StartRefusal("b", "b1"), "ALREADY_SUCCEEDED");
}

TEST_F(RunVerbsTest, RerunWithAProcessingRunIsRefusedAndChangesNothing) {
  CreateTask("a", 3);
  CreateTask("b");
  AddEdge("a", "b");
  Ended("a", "b1", RUN_STATUS_ERROR);
  Ended("a", "b1", RUN_STATUS_SUCCESS);
  const int64_t live = MustStart("b", "b1");
  const int64_t events = Count("SELECT count(*) FROM run_events");
  // b itself, or b as a's descendant.
  for (bool downstream : {false, true}) {
    metad::v1::RerunTasksResponse response;
    grpc::Status s = Rerun("b1",
                           downstream ? std::vector<std::string>{"a"}
                                      : std::vector<std::string>{"a", "b"},
                           downstream, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(Reason(s), "RUN_IN_PROGRESS");
    EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("run ", live)));
    EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE superseded"), 0);
    EXPECT_EQ(Count("SELECT count(*) FROM task_events WHERE kind = 'REOPENED'"), 0);
    EXPECT_EQ(Count("SELECT count(*) FROM run_events"), events);
  }
  // A lapsed run does not refuse: it is ended as expired, then superseded.
  LapseLease(live);
  metad::v1::RerunTasksResponse response;
  ASSERT_TRUE(Rerun("b1", {"b"}, false, &response).ok());
  EXPECT_EQ(response.runs_superseded(), 1);
  EXPECT_EQ(EventKinds(live),
            "STARTED:->PROCESSING,EXPIRED:PROCESSING>ERROR,"
            "SUPERSEDED:ERROR>ERROR");
}

TEST_F(RunVerbsTest, RerunRefusesUnknownTasksAndBadInput) {
  CreateTask("t");
  Ended("t", "b1", RUN_STATUS_SUCCESS);
  grpc::Status s = Rerun("b1", {"t", "nope"}, false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nope"));
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE superseded"), 0);
  struct Case {
    std::string batch;
    std::vector<std::string> tasks;
    std::string field;
  };
  std::vector<Case> cases = {
      {"", {"t"}, "batch_id"},
      {std::string(129, 'b'), {"t"}, "batch_id"},
      {"b1", {}, "tasks"},
      {"b1", std::vector<std::string>(101, "t"), "tasks"},
      {"b1", {"t", "bad name"}, "tasks[1]"},
  };
  for (const Case& c : cases) {
    s = Rerun(c.batch, c.tasks, false);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field + ":"));
  }
  metad::v1::RerunTasksRequest request;
  request.set_batch_id("b1");
  request.add_tasks("t");
  request.set_reason(std::string(4097, 'r'));
  metad::v1::RerunTasksResponse response;
  grpc::ClientContext context;
  s = stub_->RerunTasks(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("reason:"));
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE superseded"), 0);
  // 100 names (repeats included) are accepted.
  EXPECT_TRUE(Rerun("b1", std::vector<std::string>(100, "t"), false).ok());
}

TEST_F(RunVerbsTest, RerunTwiceSupersedesOnlyNewRuns) {
  CreateTask("t");
  const int64_t cancelled = MustStart("t", "b1");
  ASSERT_TRUE(Cancel(cancelled, "").ok());
  metad::v1::RerunTasksResponse response;
  ASSERT_TRUE(Rerun("b1", {"t"}, false, &response).ok());
  EXPECT_EQ(response.runs_superseded(), 1);
  const metad::v1::Run run = GetRun(cancelled);
  EXPECT_TRUE(run.cancelled());
  EXPECT_TRUE(run.superseded());
  // Nothing new to supersede: the task is still reported, 0 runs.
  ASSERT_TRUE(Rerun("b1", {"t"}, false, &response).ok());
  EXPECT_THAT(response.tasks(), ElementsAre("t"));
  EXPECT_EQ(response.runs_superseded(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM run_events WHERE kind = "
                  "'SUPERSEDED'"),
            1);
  // A StartRun replayed by request_id answers the flags of its run.
  metad::v1::StartRunResponse first, again;
  ASSERT_TRUE(Start("t", "b1", &first, "req-1").ok());
  ASSERT_TRUE(Cancel(first.run().id(), "").ok());
  ASSERT_TRUE(Start("t", "b1", &again, "req-1").ok());
  EXPECT_FALSE(again.created());
  EXPECT_TRUE(again.run().cancelled());
}

// Workers starting and finishing runs while operators rerun the task, all
// at once: each call is answered by a rule (never an error of the race),
// and the log stays sound: attempts numbered once each, no PROCESSING run
// superseded, one SUPERSEDED event per superseded run, at most one live
// SUCCESS.
TEST_F(RunVerbsTest, RerunRacingStartAndFinishKeepsTheLogSound) {
  CreateTask("t", 1000);
  std::atomic<int> unexpected{0}, reruns{0}, runs{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w) {
    threads.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        metad::v1::StartRunResponse started;
        grpc::Status s = Start("t", "b1", &started);
        if (!s.ok()) {
          if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
            ++unexpected;
            ADD_FAILURE() << s.error_code() << " " << s.error_message();
          }
          continue;
        }
        ++runs;
        s = Finish(started.run().id(),
                   i % 2 ? RUN_STATUS_SUCCESS : RUN_STATUS_ERROR,
                   i % 2 ? "" : "x");
        if (!s.ok()) {
          ++unexpected;
          ADD_FAILURE() << s.error_code() << " " << s.error_message();
        }
      }
    });
  }
  for (int o = 0; o < 2; ++o) {
    threads.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        grpc::Status s = Rerun("b1", {"t"}, false);
        if (s.ok()) {
          ++reruns;
        } else if (Reason(s) != "RUN_IN_PROGRESS") {
          ++unexpected;
          ADD_FAILURE() << s.error_code() << " " << s.error_message();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(runs.load(), 0);
  EXPECT_GT(reruns.load(), 0);
  EXPECT_EQ(Count("SELECT count(*) - count(DISTINCT attempt) FROM task_log"),
            0);
  EXPECT_EQ(Count("SELECT max(attempt) - count(*) FROM task_log"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE superseded AND "
                  "status = 'PROCESSING'"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log WHERE superseded"),
            Count("SELECT count(*) FROM run_events WHERE kind = "
                  "'SUPERSEDED'"));
  EXPECT_LE(Count("SELECT count(*) FROM task_log WHERE status = 'SUCCESS' "
                  "AND NOT superseded"),
            1);
}

// RunEvent.actor comes from run_events.actor (written by later steps; set
// here by hand).
TEST_F(RunVerbsTest, RunEventsCarryTheirActor) {
  CreateTask("t");
  const int64_t run = MustStart("t", "b1");
  Sql(absl::StrCat("UPDATE run_events SET actor = 'ops' WHERE run_id = ", run));
  metad::v1::ListRunEventsRequest request;
  request.set_run_id(run);
  metad::v1::ListRunEventsResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListRunEvents(&context, request, &response).ok());
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.events(0).actor(), "ops");
}

}  // namespace
}  // namespace metad::testing
