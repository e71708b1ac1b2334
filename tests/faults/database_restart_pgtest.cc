// Fault: PostgreSQL stopped and restarted under load (its own cluster, which
// the test stops with pg_ctl, alternating -m fast and -m immediate: twice for
// 2 s in the short version, four times for 8 s in the long one).
//
// Checked, per outage:
//   - while the database is down every call fails with UNAVAILABLE, and fast
//     (the worst latency of the failed calls is reported and bounded);
//   - no call ever gets another code (no INTERNAL, no hang to the deadline);
//   - the daemon does not crash, and health answers NOT_SERVING while the
//     database is down (probes every 50 ms, each answered promptly);
//   - within 5 s of the database accepting connections again, calls succeed
//     and health says SERVING, without restarting metad; after that every
//     call succeeds;
//   - every registration that returned OK is in the database at the end.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/faults/worker_fleet.h"
#include "tests/support/daemon_process.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr double kCallDeadline = 5;
// "Fast": far below the call's deadline. Connecting to a stopped server on
// loopback is refused at once; this bounds the daemon's own retry too.
constexpr double kFailFastBound = 1.0;
constexpr double kRecoveryBound = 5.0;

struct CallRecord {
  double start, end;
  grpc::StatusCode code;
  std::string message;
};

struct Probe {
  double start, end;
  int status;  // HealthCheckResponse status, or -1 - grpc code on failure
};

bool Alive(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string pid_field, comm, state;
  if (!(stat >> pid_field >> comm >> state)) return false;
  return state != "Z";
}

TEST(FaultsDatabaseRestart, UnavailableFastThenServedAgainWithoutRestart) {
  // Outages alternate pg_ctl stop -m fast (a clean shutdown) and -m
  // immediate (a crash: PostgreSQL recovers from its WAL at start).
  const int kOutages = ShortOrLong(2, 4);
  const double kDownSeconds = ShortOrLong(2.0, 8.0);
  PgCluster cluster;
  ASSERT_TRUE(cluster.Create({"max_connections=100"}));
  CreateDatabase(cluster.Url("postgres"), "metad");
  const std::string url = cluster.Url("metad");
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(
      url, {"--reaper_interval", "0.5", "--pool_size", "4", "--drain", "3"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
  const pid_t pid = daemon.pid();
  auto channel = daemon.channel();  // channel() is not thread-safe

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<CallRecord> calls;
  std::vector<Probe> probes;
  std::vector<std::string> ok_lines;
  std::atomic<bool> died{false};

  JoiningThreads threads([&stop] { stop = true; });
  for (int t = 0; t < 6; ++t) {
    threads.Add([&, t] {
      auto files = FileService::NewStub(channel);
      for (int n = 0; !stop.load(); ++n) {
        grpc::Status s;
        double start = MonoSeconds();
        std::string name = absl::StrCat("db", t, "-", n, ".csv");
        RegisterFileResponse registered;
        if (n % 2 == 0) {
          RegisterFileRequest req;
          req.mutable_file()->set_source("landing");
          req.mutable_file()->set_file_name(name);
          s = files->RegisterFile(Ctx(kCallDeadline).get(), req, &registered);
        } else {
          ListFilesRequest req;
          req.set_page_size(10);
          ListFilesResponse resp;
          s = files->ListFiles(Ctx(kCallDeadline).get(), req, &resp);
        }
        double end = MonoSeconds();
        std::lock_guard<std::mutex> lock(mu);
        calls.push_back({start, end, s.error_code(), s.error_message()});
        if (s.ok() && n % 2 == 0) {
          ok_lines.push_back(
              absl::StrCat("R ", registered.file().id(), " ", name));
        }
        if (!s.ok()) {
          // Fail fast, retry soon: do not spin.
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
    });
  }
  threads.Add([&] {
    auto health = grpc::health::v1::Health::NewStub(channel);
    while (!stop.load()) {
      double start = MonoSeconds();
      HealthCheckRequest req;
      HealthCheckResponse resp;
      grpc::Status s = health->Check(Ctx(1).get(), req, &resp);
      double end = MonoSeconds();
      {
        std::lock_guard<std::mutex> lock(mu);
        probes.push_back(
            {start, end, s.ok() ? resp.status() : -1 - s.error_code()});
      }
      if (!Alive(pid)) died = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  struct Outage {
    std::string mode;
    // Monotonic times: pg_ctl stop called and returned, pg_ctl start
    // called and returned (accepting connections), end of serving after.
    double stop_begin, down, start_begin, up, serve_end;
  };
  std::vector<Outage> outages;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int i = 0; i < kOutages; ++i) {
    Outage o;
    o.mode = i % 2 == 0 ? "fast" : "immediate";
    o.stop_begin = MonoSeconds();
    ASSERT_TRUE(cluster.Stop(o.mode));
    o.down = MonoSeconds();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(int(kDownSeconds * 1000)));
    o.start_begin = MonoSeconds();
    ASSERT_TRUE(cluster.Start());
    o.up = MonoSeconds();
    outages.push_back(o);
    // Serve for a while before the next outage (or the end).
    std::this_thread::sleep_for(
        std::chrono::milliseconds(int((kRecoveryBound + 1.5) * 1000)));
    outages.back().serve_end = MonoSeconds();
  }
  threads.JoinAll();
  EXPECT_FALSE(died.load()) << daemon.ReadLog();
  ASSERT_TRUE(Alive(pid)) << daemon.ReadLog();

  CallTally all;
  for (const CallRecord& c : calls) all.Record(c.code, c.end - c.start);
  // Only OK and UNAVAILABLE, ever.
  EXPECT_EQ(all.count(grpc::StatusCode::OK) +
                all.count(grpc::StatusCode::UNAVAILABLE),
            all.total())
      << all.Summary();

  double max_failed_latency_down = 0;
  double worst_call_recovery = 0, worst_health_recovery = 0;
  int64_t calls_while_down = 0, failed_after_recovery = 0;
  int64_t calls_after_recovery = 0;
  int64_t probes_while_down = 0, probes_serving_while_down = 0;
  double max_probe_latency = 0;
  for (const Probe& p : probes) {
    max_probe_latency = std::max(max_probe_latency, p.end - p.start);
    EXPECT_GE(p.status, 0) << "a health probe failed: code " << -1 - p.status;
  }
  for (const Outage& o : outages) {
    // Calls made entirely while the database was down.
    for (const CallRecord& c : calls) {
      if (c.start < o.down || c.end > o.start_begin) continue;
      ++calls_while_down;
      EXPECT_EQ(c.code, grpc::StatusCode::UNAVAILABLE) << c.message;
      max_failed_latency_down =
          std::max(max_failed_latency_down, c.end - c.start);
    }
    // The monitor pings every 250 ms: a second after the database went,
    // health must say NOT_SERVING until it is back.
    for (const Probe& p : probes) {
      if (p.start < o.down + 1.0 || p.end > o.start_begin) continue;
      ++probes_while_down;
      if (p.status == HealthCheckResponse::SERVING) ++probes_serving_while_down;
    }
    double first_ok = -1, first_serving = -1;
    for (const CallRecord& c : calls) {
      if (c.start >= o.up && c.code == grpc::StatusCode::OK &&
          (first_ok < 0 || c.end < first_ok)) {
        first_ok = c.end;
      }
    }
    for (const Probe& p : probes) {
      if (p.start >= o.up && p.status == HealthCheckResponse::SERVING &&
          (first_serving < 0 || p.end < first_serving)) {
        first_serving = p.end;
      }
    }
    ASSERT_GE(first_ok, 0) << "no call succeeded after the database returned";
    ASSERT_GE(first_serving, 0) << "health never said SERVING again";
    worst_call_recovery = std::max(worst_call_recovery, first_ok - o.up);
    worst_health_recovery =
        std::max(worst_health_recovery, first_serving - o.up);
    // After the recovery bound, everything is served (until the next
    // outage begins).
    for (const CallRecord& c : calls) {
      if (c.start < o.up + kRecoveryBound || c.end > o.serve_end) continue;
      ++calls_after_recovery;
      if (c.code != grpc::StatusCode::OK) ++failed_after_recovery;
    }
  }
  EXPECT_GT(calls_while_down, 0);
  EXPECT_LE(max_failed_latency_down, kFailFastBound);
  EXPECT_GT(probes_while_down, 0);
  EXPECT_EQ(probes_serving_while_down, 0);
  EXPECT_LE(worst_call_recovery, kRecoveryBound);
  EXPECT_LE(worst_health_recovery, kRecoveryBound);
  EXPECT_GT(calls_after_recovery, 0);
  EXPECT_EQ(failed_after_recovery, 0);

  // Nothing acknowledged was lost across the outages.
  const std::string dir = ScratchDir("dbrestart");
  {
    std::ofstream out(dir + "/load.ok");
    for (const auto& l : ok_lines) out << l << "\n";
  }
  OkLogReport ok = CheckOkLogs(url, {dir + "/load.ok"});
  EXPECT_EQ(ok.missing, 0) << absl::StrJoin(ok.examples, "\n");

  Figures("database_restart")
      .Add("outages", int64_t{kOutages})
      .Add("down_seconds_each", kDownSeconds)
      .Add("calls", all.total())
      .Add("calls_ok", all.count(grpc::StatusCode::OK))
      .Add("calls_unavailable", all.count(grpc::StatusCode::UNAVAILABLE))
      .Add("calls_other", all.total() - all.count(grpc::StatusCode::OK) -
                              all.count(grpc::StatusCode::UNAVAILABLE))
      .Add("calls_while_down", calls_while_down)
      .Add("max_failed_latency_while_down_s", max_failed_latency_down)
      .Add("health_probes", static_cast<int64_t>(probes.size()))
      .Add("probes_while_down", probes_while_down)
      .Add("probes_serving_while_down", probes_serving_while_down)
      .Add("max_probe_latency_s", max_probe_latency)
      .Add("first_ok_call_after_db_back_s", worst_call_recovery)
      .Add("serving_after_db_back_s", worst_health_recovery)
      .Add("calls_after_recovery", calls_after_recovery)
      .Add("failed_calls_after_recovery", failed_after_recovery)
      .Add("ok_registrations_checked", ok.entries)
      .Add("ok_registrations_missing", ok.missing)
      .Add("daemon_restarts", int64_t{0})
      .Emit();
  std::printf("calls: %s\n", all.Summary().c_str());

  channel.reset();  // an idle client connection would hold the drain open
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon.ReadLog();
}

}  // namespace
}  // namespace metad::testing
