// Fault: a slow database. A separate session holds a lock that an RPC's SQL
// needs, so the statement blocks; the call's gRPC deadline must bound that
// SQL (statement_timeout), not just the client's wait:
//   - the client gets DEADLINE_EXCEEDED within deadline + slack;
//   - the daemon's statement stops waiting by then too (pg_stat_activity
//     shows no backend of metad waiting for the lock), and with one handler
//     thread (--pool_size 1) the daemon answers the next call while the lock
//     is still held;
//   - the call's transaction was rolled back: after the lock is released,
//     nothing it wrote is visible;
//   - a call the client cancels is rolled back as well, even when its SQL
//     completes after the cancellation.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

// Scheduling on a loaded 2-core machine; the daemon sets statement_timeout
// to the time left of the deadline, so its SQL stops no later than that.
constexpr double kSlack = 0.5;

class FaultsDeadline : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = CreateEmptyDatabase("faults_deadline");
    // One handler thread and one connection: a statement that outlived its
    // call would stall every call after it.
    ASSERT_TRUE(daemon_.Spawn(url_, {"--pool_size", "1", "--drain", "2"}));
    ASSERT_TRUE(daemon_.WaitServing()) << daemon_.ReadLog();
    channel_ = daemon_.channel();
    files_ = FileService::NewStub(channel_);
    runs_ = TaskLogService::NewStub(channel_);
    tasks_ = TaskService::NewStub(channel_);
    RegisterTaskRequest req;
    req.set_name("ingest");
    req.set_max_attempts(100);
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks_->RegisterTask(Ctx().get(), req, &resp).ok());
  }

  void TearDown() override {
    files_.reset();
    runs_.reset();
    tasks_.reset();
    channel_.reset();
    int status = daemon_.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << daemon_.ReadLog();
  }

  // Backends of metad (not this test's sessions) waiting for a lock.
  int64_t MetadWaitingForLock() {
    return QueryInt(url_,
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' "
                    "AND pid <> pg_backend_pid() "
                    // The deadline checker's rounds (they wait 200 ms at
                    // most, then try again): not the call under test.
                    "AND query NOT LIKE '%metad_record_%'");
  }

  // Polls until no metad backend waits for a lock; the seconds since
  // `since` (MonoSeconds), or -1 if still waiting after `timeout`.
  double WaitLockWaitersGone(double since, double timeout) {
    double give_up = MonoSeconds() + timeout;
    while (MonoSeconds() < give_up) {
      if (MetadWaitingForLock() == 0) return MonoSeconds() - since;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  // Waits until a metad backend is blocked on a lock (the call's SQL has
  // reached the lock).
  bool WaitBlocked(double timeout = 10) {
    double give_up = MonoSeconds() + timeout;
    while (MonoSeconds() < give_up) {
      if (MetadWaitingForLock() > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  int64_t RegisterOne(const std::string& name) {
    RegisterFileRequest req;
    req.mutable_file()->set_source("landing");
    req.mutable_file()->set_file_name(name);
    RegisterFileResponse resp;
    EXPECT_TRUE(files_->RegisterFile(Ctx().get(), req, &resp).ok());
    return resp.file().id();
  }

  std::string url_;
  DaemonProcess daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<FileService::Stub> files_;
  std::unique_ptr<TaskLogService::Stub> runs_;
  std::unique_ptr<TaskService::Stub> tasks_;
};

// FinishRun updates the run, then its files; one file row is locked by
// another session, so the statement blocks half-way through.
TEST_F(FaultsDeadline, FinishRunBlockedByARowLockIsBoundedAndRolledBack) {
  constexpr double kDeadline = 1.0;
  for (int i = 0; i < 3; ++i) RegisterOne(absl::StrCat("f", i, ".csv"));
  StartRunRequest start;
  start.set_task("ingest");
  start.set_batch_id("b1");
  start.set_lease_seconds(600);
  StartRunResponse started;
  ASSERT_TRUE(runs_->StartRun(Ctx().get(), start, &started).ok());
  const int64_t run = started.run().id();
  ClaimFilesRequest claim;
  claim.set_run_id(run);
  claim.set_limit(10);
  ClaimFilesResponse claimed;
  ASSERT_TRUE(files_->ClaimFiles(Ctx().get(), claim, &claimed).ok());
  ASSERT_EQ(claimed.files_size(), 3);

  pqxx::connection locker(url_);
  pqxx::work lock_tx(locker);
  lock_tx.exec(absl::StrCat(
      "SELECT 1 FROM files WHERE id = ", claimed.files(1).id(), " FOR UPDATE"));

  FinishRunRequest finish;
  finish.set_run_id(run);
  finish.set_status(RUN_STATUS_SUCCESS);
  for (const File& f : claimed.files()) finish.add_file_ids(f.id());
  FinishRunResponse finished;
  const double start_time = MonoSeconds();
  grpc::Status s = runs_->FinishRun(Ctx(kDeadline).get(), finish, &finished);
  const double client_latency = MonoSeconds() - start_time;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  EXPECT_LE(client_latency, kDeadline + kSlack);
  // The daemon's statement gave up by the deadline as well.
  const double server_sql = WaitLockWaitersGone(start_time, 10);
  EXPECT_GE(server_sql, 0) << "metad's statement still waits for the lock";
  EXPECT_LE(server_sql, kDeadline + kSlack);
  // Its only connection and thread are free again: a call answers while the
  // lock is still held.
  GetRunRequest get;
  get.set_run_id(run);
  v1::Run got;
  const double get_start = MonoSeconds();
  ASSERT_TRUE(runs_->GetRun(Ctx(2).get(), get, &got).ok());
  const double get_latency = MonoSeconds() - get_start;
  EXPECT_EQ(got.status(), RUN_STATUS_PROCESSING);

  lock_tx.commit();
  // Nothing of the cancelled FinishRun is visible: run and files unchanged,
  // no FINISHED events.
  EXPECT_EQ(QueryRows(url_, absl::StrCat("SELECT status FROM task_log "
                                         "WHERE id = ",
                                         run))[0][0],
            "PROCESSING");
  EXPECT_EQ(QueryInt(url_, absl::StrCat("SELECT count(*) FROM files WHERE "
                                        "status = 'PROCESSING' AND run_id = ",
                                        run)),
            3);
  EXPECT_EQ(QueryInt(url_,
                     "SELECT count(*) FROM file_events "
                     "WHERE kind = 'FINISHED'"),
            0);
  EXPECT_EQ(QueryInt(url_,
                     "SELECT count(*) FROM run_events "
                     "WHERE kind = 'FINISHED'"),
            0);
  // And the call succeeds once the database is fast again.
  ASSERT_TRUE(runs_->FinishRun(Ctx().get(), finish, &finished).ok());
  EXPECT_EQ(finished.files_finished(), 3);

  Figures("deadline_row_lock")
      .Add("rpc", std::string("FinishRun"))
      .Add("deadline_s", kDeadline)
      .Add("client_latency_s", client_latency)
      .Add("server_sql_s", server_sql)
      .Add("next_call_while_locked_s", get_latency)
      .Add("rows_leaked", int64_t{0})
      .Emit();
}

// RegisterFiles inserts its names in order; another session's uncommitted
// insert of the second name blocks it after the first was inserted.
TEST_F(FaultsDeadline, RegisterFilesBlockedByAnUncommittedInsertRollsBack) {
  constexpr double kDeadline = 0.8;
  pqxx::connection locker(url_);
  pqxx::work lock_tx(locker);
  lock_tx.exec(
      "INSERT INTO files (source, file_name) VALUES ('landing', 'b.csv')");

  RegisterFilesRequest req;
  for (const char* name : {"a.csv", "b.csv"}) {
    FileSpec* spec = req.add_files();
    spec->set_source("landing");
    spec->set_file_name(name);
  }
  RegisterFilesResponse resp;
  const double start_time = MonoSeconds();
  grpc::Status s = files_->RegisterFiles(Ctx(kDeadline).get(), req, &resp);
  const double client_latency = MonoSeconds() - start_time;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  EXPECT_LE(client_latency, kDeadline + kSlack);
  const double server_sql = WaitLockWaitersGone(start_time, 10);
  EXPECT_GE(server_sql, 0);
  EXPECT_LE(server_sql, kDeadline + kSlack);

  lock_tx.abort();
  // a.csv was inserted by the timed-out call before it blocked: rolled back.
  EXPECT_EQ(QueryInt(url_, "SELECT count(*) FROM files"), 0);
  EXPECT_EQ(QueryInt(url_, "SELECT count(*) FROM file_events"), 0);
  ASSERT_TRUE(files_->RegisterFiles(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.created_count(), 2);

  Figures("deadline_uncommitted_insert")
      .Add("rpc", std::string("RegisterFiles"))
      .Add("deadline_s", kDeadline)
      .Add("client_latency_s", client_latency)
      .Add("server_sql_s", server_sql)
      .Add("rows_leaked", int64_t{0})
      .Emit();
}

// The client cancels while the call's SQL is blocked; the lock holder then
// commits, the statement completes, and the daemon must still roll back.
TEST_F(FaultsDeadline, CancelledCallIsRolledBack) {
  pqxx::connection locker(url_);
  pqxx::work lock_tx(locker);
  lock_tx.exec(
      "INSERT INTO files (source, file_name) VALUES ('landing', 'd.csv')");

  RegisterFilesRequest req;
  for (const char* name : {"c.csv", "d.csv"}) {
    FileSpec* spec = req.add_files();
    spec->set_source("landing");
    spec->set_file_name(name);
  }
  RegisterFilesResponse resp;
  auto ctx = Ctx(30);
  grpc::Status s;
  JoiningThreads call([&ctx] { ctx->TryCancel(); });
  call.Add([&] { s = files_->RegisterFiles(ctx.get(), req, &resp); });
  ASSERT_TRUE(WaitBlocked());
  call.JoinAll();  // cancels, then waits for the call's answer
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  // Let the blocked statement finish: d.csv now exists, c.csv was inserted
  // by the cancelled call.
  lock_tx.commit();
  EXPECT_GE(WaitLockWaitersGone(MonoSeconds(), 10), 0);
  // The handler finishes (and logs) the cancelled call after its
  // transaction ended; wait for that line rather than sleeping.
  double give_up = MonoSeconds() + 10;
  while (daemon_.ReadLog().find("\"code\":\"CANCELLED\"") ==
             std::string::npos &&
         MonoSeconds() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(daemon_.ReadLog().find("\"code\":\"CANCELLED\""), std::string::npos)
      << daemon_.ReadLog();
  EXPECT_EQ(QueryInt(url_,
                     "SELECT count(*) FROM files "
                     "WHERE file_name = 'c.csv'"),
            0);
  EXPECT_EQ(QueryInt(url_, "SELECT count(*) FROM file_events"), 0);

  Figures("deadline_cancelled_call")
      .Add("rpc", std::string("RegisterFiles"))
      .Add("rows_leaked",
           QueryInt(url_,
                    "SELECT count(*) FROM files WHERE file_name = 'c.csv'"))
      .Emit();
}

// Deadlines of several lengths against a table lock: the statement always
// stops by the deadline.
TEST_F(FaultsDeadline, TableLockSeveralDeadlines) {
  const int kRounds = ShortOrLong(1, 5);
  const int64_t id = RegisterOne("x.csv");
  double worst_over = -1e9;
  int calls = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (double deadline : {0.2, 0.5, 1.0, 2.0}) {
      pqxx::connection locker(url_);
      pqxx::work lock_tx(locker);
      lock_tx.exec("LOCK TABLE files IN ACCESS EXCLUSIVE MODE");
      GetFileRequest get;
      get.set_id(id);
      File file;
      const double start_time = MonoSeconds();
      grpc::Status s = files_->GetFile(Ctx(deadline).get(), get, &file);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << "deadline " << deadline << ": " << s.error_message();
      const double server_sql = WaitLockWaitersGone(start_time, 10);
      EXPECT_GE(server_sql, 0);
      EXPECT_LE(server_sql, deadline + kSlack) << "deadline " << deadline;
      worst_over = std::max(worst_over, server_sql - deadline);
      lock_tx.abort();
      ++calls;
    }
  }
  File file;
  GetFileRequest get;
  get.set_id(id);
  EXPECT_TRUE(files_->GetFile(Ctx().get(), get, &file).ok());
  Figures("deadline_table_lock")
      .Add("calls", int64_t{calls})
      .Add("deadlines_s", std::string("0.2,0.5,1,2"))
      .Add("worst_sql_past_deadline_s", worst_over)
      .Emit();
}

}  // namespace
}  // namespace metad::testing
