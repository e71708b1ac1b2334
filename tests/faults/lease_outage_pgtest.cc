// Fault: PostgreSQL stopped for longer than a lease (issue 14). A worker
// keeps heartbeating its run through the outage (every call fails); when
// the database is back, the lease clock (store/lease_clock.h) owes the run
// the outage:
//   - the run is not expired, and its heartbeats keep it again (no
//     FAILED_PRECONDITION ever);
//   - a run whose worker is really gone (no heartbeat) is still expired,
//     after its lease's remainder;
//   - the catch-up is logged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/support/daemon_process.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

constexpr int kLeaseSeconds = 2;

int64_t StartRun(TaskLogService::Stub& runs, const std::string& batch) {
  StartRunRequest req;
  req.set_task("t");
  req.set_batch_id(batch);
  req.set_lease_seconds(kLeaseSeconds);
  StartRunResponse resp;
  grpc::Status s = runs.StartRun(Ctx(10).get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.run().id();
}

std::string RunStatusOf(const std::string& url, int64_t run) {
  Rows rows = QueryRows(url, absl::StrCat("SELECT status || ':' || "
                                          "coalesce(error_message, '') FROM "
                                          "task_log WHERE id = ",
                                          run));
  return rows.empty() ? "" : rows[0][0];
}

TEST(FaultsLeaseOutage, RunsHeartbeatingThroughAnOutageAreNotExpired) {
  PgCluster cluster;
  ASSERT_TRUE(cluster.Create({"max_connections=40"}));
  CreateDatabase(cluster.Url("postgres"), "metad");
  const std::string url = cluster.Url("metad");
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(
      url, {"--reaper_interval", "0.5", "--pool_size", "4", "--drain", "2"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
  auto tasks = TaskService::NewStub(daemon.channel());
  auto runs = TaskLogService::NewStub(daemon.channel());
  {
    RegisterTaskRequest req;
    req.set_name("t");
    RegisterTaskResponse resp;
    grpc::Status s = tasks->RegisterTask(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // The reaper has ticked the clock.
  for (int i = 0; i < 600 && QueryInt(url,
                                      "SELECT count(*) FROM "
                                      "metad_reaper_clock") == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int64_t alive = StartRun(*runs, "alive");
  const int64_t dead = StartRun(*runs, "dead");

  CallTally beats;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> ok_after_outage{0};
  std::atomic<bool> outage_over{false};
  JoiningThreads worker([&] { stop = true; });
  worker.Add([&] {
    while (!stop) {
      HeartbeatRequest req;
      req.set_run_id(alive);
      HeartbeatResponse resp;
      const double t = MonoSeconds();
      grpc::Status s = runs->Heartbeat(Ctx(1).get(), req, &resp);
      beats.Record(s.error_code(), MonoSeconds() - t);
      if (s.ok() && outage_over) ++ok_after_outage;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });

  // The outage: longer than the lease and than the clock's stale_after
  // (3 s for a 0.5 s reaper).
  ASSERT_TRUE(cluster.Stop("immediate"));
  std::this_thread::sleep_for(std::chrono::seconds(4 * kLeaseSeconds));
  ASSERT_TRUE(cluster.Start());
  outage_over = true;
  // Heartbeats keep the run for a few of its leases after the return.
  for (int i = 0; i < 1200 && ok_after_outage < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(ok_after_outage.load(), 10) << beats.Summary();
  // The dead run is expired after the remainder of its lease.
  for (int i = 0; i < 1200 && RunStatusOf(url, dead) == "PROCESSING:"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  worker.JoinAll();

  EXPECT_EQ(RunStatusOf(url, alive), "PROCESSING:");
  EXPECT_EQ(RunStatusOf(url, dead), "ERROR:lease expired");
  EXPECT_EQ(beats.count(grpc::StatusCode::FAILED_PRECONDITION), 0)
      << beats.Summary();
  const std::string log = daemon.ReadLog();
  EXPECT_NE(log.find("lease_clock_caught_up"), std::string::npos) << log;
  Figures("lease_outage")
      .Add("lease_seconds", static_cast<int64_t>(kLeaseSeconds))
      .Add("outage_seconds", static_cast<int64_t>(4 * kLeaseSeconds))
      .Add("heartbeat_codes", beats.Summary())
      .Add("runs_expired_by_outage",
           QueryInt(url, absl::StrCat("SELECT count(*) FROM task_log WHERE "
                                      "status = 'ERROR' AND id = ",
                                      alive)))
      .Emit();
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
}

}  // namespace
}  // namespace metad::testing
