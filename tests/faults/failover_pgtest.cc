// Fault: the primary PostgreSQL dies and a synchronous standby takes over
// (issue 14). Three clusters on loopback: a primary and two standbys made
// with pg_basebackup, synchronous_standby_names = 'ANY 1 (n0, n1, n2)' on all
// three (a primary ignores its own name), so an acknowledged commit is on at
// least one standby. metad serves with one multi-host URL
// (target_session_attrs=read-write) and is never restarted; a worker fleet
// and in-process registrations keep it busy.
//
// One failover: SIGKILL to the primary's every process (-m immediate for
// the one that comes back unfenced); promote the standby
// that received the most WAL (so it has every acknowledged commit); point
// the other at it (primary_conninfo reloaded, no restart); rebuild the dead
// one as a standby of the new primary. Twice in the short version, ten
// times in the long one, which then also
//   - loses both standbys for 8 s: no write may answer OK while no standby
//     can confirm it (UNAVAILABLE or DEADLINE_EXCEEDED), and writes resume
//     once one returns;
//   - brings a killed primary back unfenced (restarted as it was, a primary
//     of the old timeline, ahead of the new primary in the URL's host list):
//     writes must go on, to the new primary only. This fails until metad
//     fences such a node (issue 14): its writes stall there, none is lost.
// Checked: every call acknowledged (the workers' and the registrations') is
// in the final primary; the codes of failed calls are only UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED, CANCELLED; file and run histories are
// consistent; no run expired (leases of 20 s outlast every outage); writes
// resume after each switch (reported: promotion to first OK write, against
// issue 14's target of 2 s; asserted only within a generous bound).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/faults/worker_fleet.h"
#include "tests/support/daemon_process.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

constexpr int kNodes = 3;
constexpr double kCallDeadline = 3;
constexpr int kLeaseSeconds = 20;
constexpr double kReaperInterval = 0.5;
// Writes must resume within this after a promotion (or a standby's return);
// the figures report the time measured, issue 14's target being 2 s.
constexpr double kRecoveryBound = 15;

struct CallRecord {
  double start, end;
  grpc::StatusCode code;
  std::string message;
};

bool AllowedDuringSwitch(grpc::StatusCode code) {
  return code == grpc::StatusCode::OK ||
         code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::ABORTED ||
         code == grpc::StatusCode::CANCELLED;
}

// The WAL a standby has received (flushed) or replayed, in bytes.
int64_t WalPosition(PgCluster& node) {
  return QueryInt(node.Url("postgres"),
                  "SELECT (greatest(pg_last_wal_receive_lsn(), "
                  "pg_last_wal_replay_lsn()) - '0/0'::pg_lsn)::bigint");
}

// True once `primary` streams to `standbys` standbys.
bool WaitStreaming(PgCluster& primary, int standbys, double timeout) {
  const double give_up = MonoSeconds() + timeout;
  while (MonoSeconds() < give_up) {
    if (QueryInt(primary.Url("postgres"),
                 "SELECT count(*) FROM pg_stat_replication "
                 "WHERE state = 'streaming'") >= standbys) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void Sleep(double seconds) {
  std::this_thread::sleep_for(
      std::chrono::milliseconds(static_cast<int>(seconds * 1000)));
}

// Registrations from 4 threads (a request_id each, so a retry would be
// safe), every call recorded with its times and code.
class RegisterLoad {
 public:
  explicit RegisterLoad(std::shared_ptr<grpc::Channel> channel)
      : threads_([this] { stop_ = true; }) {
    for (int t = 0; t < 4; ++t) {
      threads_.Add([this, t, channel] { Run(t, channel); });
    }
  }
  void Stop() { threads_.JoinAll(); }

  // The end of the first OK write that started at or after `since`; waits
  // for one at most kRecoveryBound + 5 s, then -1.
  double FirstOkAfter(double since) {
    const double give_up = MonoSeconds() + kRecoveryBound + 5;
    while (MonoSeconds() < give_up) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        double first = -1;
        for (const CallRecord& c : calls_) {
          if (c.start >= since && c.code == grpc::StatusCode::OK &&
              (first < 0 || c.end < first)) {
            first = c.end;
          }
        }
        if (first >= 0) return first;
      }
      Sleep(0.05);
    }
    return -1.0;
  }
  std::vector<CallRecord> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // The OK'd registrations as ok-log lines (worker_fleet.h), in `path`.
  std::string WriteOkLog(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    std::ofstream out(path);
    for (const auto& l : ok_lines_) out << l << "\n";
    return path;
  }

 private:
  void Run(int t, std::shared_ptr<grpc::Channel> channel) {
    auto files = FileService::NewStub(channel);
    for (int n = 0; !stop_.load(); ++n) {
      const std::string name = absl::StrCat("load", t, "-", n, ".csv");
      RegisterFileRequest req;
      req.mutable_file()->set_source("landing");
      req.mutable_file()->set_file_name(name);
      req.set_request_id(name);
      RegisterFileResponse resp;
      const double start = MonoSeconds();
      grpc::Status s =
          files->RegisterFile(Ctx(kCallDeadline).get(), req, &resp);
      const double end = MonoSeconds();
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back({start, end, s.error_code(), s.error_message()});
      if (s.ok()) {
        ok_lines_.push_back(absl::StrCat("R ", resp.file().id(), " ", name));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<CallRecord> calls_;
  std::vector<std::string> ok_lines_;
  JoiningThreads threads_;
};

TEST(FaultsFailover, PromoteTheMostAdvancedStandbyUnderLoad) {
  const int kFailovers = ShortOrLong(2, 10);
  const std::vector<std::string> settings = {
      "max_connections=60", "wal_retrieve_retry_interval=200ms",
      "wal_receiver_status_interval=1s"};
  std::unique_ptr<PgCluster> nodes[kNodes];
  for (auto& n : nodes) n = std::make_unique<PgCluster>();
  nodes[0]->set_name("n0");
  ASSERT_TRUE(nodes[0]->Create(settings));
  CreateDatabase(nodes[0]->Url("postgres"), "metad");
  for (int i = 1; i < kNodes; ++i) {
    ASSERT_TRUE(
        nodes[i]->CreateStandby(*nodes[0], absl::StrCat("n", i), settings));
  }
  // Set once the standbys exist (CREATE DATABASE would wait for them), in
  // each node's postgresql.auto.conf, which later base backups copy.
  for (auto& n : nodes) {
    QueryRows(n->Url("postgres"),
              "ALTER SYSTEM SET synchronous_standby_names = "
              "'ANY 1 (n0, n1, n2)'");
    QueryRows(n->Url("postgres"), "SELECT pg_reload_conf()");
  }
  ASSERT_TRUE(WaitStreaming(*nodes[0], 2, 60));
  int primary = 0;
  std::vector<std::string> ports;
  for (auto& n : nodes) ports.push_back(std::to_string(n->port()));
  const std::string url = absl::StrCat(
      "host=127.0.0.1,127.0.0.1,127.0.0.1 port=", absl::StrJoin(ports, ","),
      " user=postgres dbname=metad target_session_attrs=read-write "
      "connect_timeout=2");
  auto primary_url = [&] { return nodes[primary]->Url("metad"); };

  DaemonProcess daemon;
  ASSERT_TRUE(
      daemon.Spawn(url, {"--reaper_interval", absl::StrCat(kReaperInterval),
                         "--pool_size", "8", "--drain", "3"}));
  ASSERT_TRUE(daemon.WaitServing(60)) << daemon.ReadLog();
  auto channel = daemon.channel();  // channel() is not thread-safe
  {
    auto tasks = TaskService::NewStub(channel);
    RegisterTaskRequest req;
    req.set_name("ingest");
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), req, &resp).ok());
    auto files = FileService::NewStub(channel);
    for (int chunk = 0; chunk < 2; ++chunk) {
      RegisterFilesRequest batch;
      for (int i = 0; i < 1000; ++i) {
        FileSpec* spec = batch.add_files();
        spec->set_source("landing");
        spec->set_file_name(absl::StrCat("seed-", chunk, "-", i, ".csv"));
      }
      RegisterFilesResponse registered;
      ASSERT_TRUE(files->RegisterFiles(Ctx(60).get(), batch, &registered).ok());
    }
  }

  FleetOptions options;
  options.targets = {daemon.address()};
  options.processes = 2;
  options.threads = 4;
  options.lease_seconds = kLeaseSeconds;
  options.claim = 10;
  options.work_ms = 5;
  // 50 ms apart: a run is kept through a switch of well over 20 s.
  options.retries = 400;
  options.dir = ScratchDir("failover");
  WorkerFleet fleet(options);
  ASSERT_TRUE(fleet.Start());

  RegisterLoad load(channel);
  auto first_ok_after = [&](double since) { return load.FirstOkAfter(since); };

  struct Switch {
    int killed, promoted;
    double kill, promote, followed, first_ok;
  };
  std::vector<Switch> switches;
  // One failover; the dead primary is rebuilt as a standby unless it is to
  // come back unfenced (then the caller restarts it).
  auto failover = [&](bool rebuild) {
    EXPECT_TRUE(WaitStreaming(*nodes[primary], 2, 60));
    Sleep(1.5);  // load on a healthy cluster first
    Switch sw;
    sw.killed = primary;
    sw.kill = MonoSeconds();
    // A primary that is to come back is stopped with -m immediate (SIGQUIT:
    // no checkpoint, crash recovery at the next start) rather than killed:
    // after a SIGKILL its postmaster could stay a zombie here for a while,
    // and the restart failed (2 runs of 3).
    EXPECT_TRUE(rebuild ? nodes[primary]->Kill9()
                        : nodes[primary]->Stop("immediate"));
    const int a = (primary + 1) % kNodes, b = (primary + 2) % kNodes;
    const int64_t wal_a = WalPosition(*nodes[a]),
                  wal_b = WalPosition(*nodes[b]);
    const int next = wal_a >= wal_b ? a : b, other = next == a ? b : a;
    sw.promoted = next;
    EXPECT_TRUE(nodes[next]->Promote());
    sw.promote = MonoSeconds();
    EXPECT_TRUE(nodes[other]->Follow(*nodes[next]));
    sw.followed = MonoSeconds();
    primary = next;
    sw.first_ok = first_ok_after(sw.promote);
    EXPECT_GE(sw.first_ok, 0) << "no write succeeded after promoting n" << next;
    if (rebuild) {
      EXPECT_TRUE(nodes[sw.killed]->RebuildAsStandby(*nodes[next]));
    }
    switches.push_back(sw);
    return sw;
  };

  Sleep(2);
  for (int i = 0; i < kFailovers; ++i) failover(true);

  // Long version: both standbys lost, then one returns.
  double lost = -1, back = -1, lost_first_ok = -1;
  int64_t writes_while_lost = 0, ok_while_lost = 0;
  std::set<std::string> codes_while_lost;
  if (LongMode()) {
    ASSERT_TRUE(WaitStreaming(*nodes[primary], 2, 60));
    Sleep(1.5);
    lost = MonoSeconds();
    for (int i = 0; i < kNodes; ++i) {
      if (i != primary) {
        EXPECT_TRUE(nodes[i]->Stop("immediate"));
      }
    }
    // Longer than two call deadlines: calls start and end within it.
    Sleep(8);
    back = MonoSeconds();
    EXPECT_TRUE(nodes[(primary + 1) % kNodes]->Start());
    lost_first_ok = first_ok_after(back);
    EXPECT_GE(lost_first_ok, 0)
        << "no write succeeded after a standby came back";
    EXPECT_TRUE(nodes[(primary + 2) % kNodes]->Start());
    for (const CallRecord& c : load.calls()) {
      // Started once the loss was seen, ended before any standby returned.
      if (c.start < lost + 0.5 || c.end > back) continue;
      ++writes_while_lost;
      if (c.code == grpc::StatusCode::OK) ++ok_while_lost;
      codes_while_lost.insert(CodeName(c.code));
    }
  }
  EXPECT_EQ(ok_while_lost, 0) << "a write answered OK with no standby to "
                                 "confirm it";
  if (LongMode()) {
    EXPECT_GT(writes_while_lost, 0);
    for (const std::string& code : codes_while_lost) {
      EXPECT_TRUE(code == "UNAVAILABLE" || code == "DEADLINE_EXCEEDED") << code;
    }
  }

  // Long version: a killed primary restarted unfenced, listed in the URL
  // before the new primary (failovers go on until that is so).
  double old_back = -1, old_first_ok = -1;
  int64_t ok_after_old_back = 0, calls_after_old_back = 0;
  int unfenced = -1;
  if (LongMode()) {
    for (int tries = 0; tries < 6 && unfenced < 0; ++tries) {
      const Switch sw = failover(false);
      if (sw.killed < sw.promoted) {
        unfenced = sw.killed;
      } else {
        EXPECT_TRUE(nodes[sw.killed]->RebuildAsStandby(*nodes[primary]));
      }
    }
    ASSERT_GE(unfenced, 0);
    old_back = MonoSeconds();
    ASSERT_TRUE(nodes[unfenced]->Start());
    // metad's pooled sessions stay on the new primary; end them, so that
    // every connection is opened again through the URL, which lists the old
    // primary first and finds it read-write.
    QueryRows(nodes[primary]->Url("postgres"),
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE datname = 'metad' AND pid <> pg_backend_pid()");
    old_first_ok = first_ok_after(old_back);
    Sleep(kRecoveryBound);
    for (const CallRecord& c : load.calls()) {
      if (c.start < old_back + kRecoveryBound / 2) continue;
      ++calls_after_old_back;
      if (c.code == grpc::StatusCode::OK) ++ok_after_old_back;
    }
    EXPECT_GE(old_first_ok, 0)
        << "no write succeeded with the old primary back (unfenced)";
    EXPECT_GT(ok_after_old_back, 0);
    // Fence it for good: it rejoins as a standby of the new primary.
    EXPECT_TRUE(nodes[unfenced]->Kill9());
    EXPECT_TRUE(nodes[unfenced]->RebuildAsStandby(*nodes[primary]));
  }

  Sleep(2);
  load.Stop();

  // The fleet ends its runs on SIGTERM; none may have expired.
  std::vector<std::string> unclean = fleet.StopAll();
  EXPECT_TRUE(unclean.empty()) << absl::StrJoin(unclean, "\n");
  const std::string final_url = primary_url();
  EXPECT_TRUE(WaitNoProcessingRuns(final_url, kLeaseSeconds + 15));
  HistoryReport histories = CheckFileHistories(final_url);
  EXPECT_EQ(histories.violation_count, 0)
      << absl::StrJoin(histories.violations, "\n");
  EXPECT_EQ(histories.succeeded_twice, 0);
  RunReport runs = CheckRunHistories(final_url);
  EXPECT_EQ(runs.violation_count, 0) << absl::StrJoin(runs.violations, "\n");
  EXPECT_EQ(runs.expired, 0) << "runs expired although their workers lived";
  std::vector<std::string> logs = fleet.ok_logs();
  logs.push_back(load.WriteOkLog(options.dir + "/load.ok"));
  OkLogReport ok = CheckOkLogs(final_url, logs);
  EXPECT_EQ(ok.missing, 0) << absl::StrJoin(ok.examples, "\n");

  CallTally all;
  int64_t disallowed = 0;
  for (const CallRecord& c : load.calls()) {
    all.Record(c.code, c.end - c.start);
    if (!AllowedDuringSwitch(c.code)) {
      ++disallowed;
      ADD_FAILURE() << CodeName(c.code) << ": " << c.message;
    }
  }
  double worst_first_ok = 0, worst_from_kill = 0;
  std::vector<std::string> per_switch;
  for (const Switch& sw : switches) {
    if (sw.first_ok < 0) continue;
    worst_first_ok = std::max(worst_first_ok, sw.first_ok - sw.promote);
    worst_from_kill = std::max(worst_from_kill, sw.first_ok - sw.kill);
    per_switch.push_back(absl::StrFormat("%.3f", sw.first_ok - sw.promote));
  }
  EXPECT_LE(worst_first_ok, kRecoveryBound);

  Figures figures("failover");
  figures.Add("failovers", static_cast<int64_t>(switches.size()))
      .Add("calls", all.total())
      .Add("calls_ok", all.count(grpc::StatusCode::OK))
      .Add("calls_unavailable", all.count(grpc::StatusCode::UNAVAILABLE))
      .Add("calls_deadline_exceeded",
           all.count(grpc::StatusCode::DEADLINE_EXCEEDED))
      .Add("calls_aborted", all.count(grpc::StatusCode::ABORTED))
      .Add("calls_cancelled", all.count(grpc::StatusCode::CANCELLED))
      .Add("calls_other_codes", disallowed)
      .Add("promotion_to_first_ok_write_s_max", worst_first_ok)
      .Add("promotion_to_first_ok_write_s_each", absl::StrJoin(per_switch, " "))
      .Add("kill_to_first_ok_write_s_max", worst_from_kill)
      .Add("runs_expired_by_outage", runs.expired)
      .Add("runs", runs.runs)
      .AddOkLog(ok);
  if (LongMode()) {
    figures.Add("standbys_lost_writes", writes_while_lost)
        .Add("standbys_lost_writes_ok", ok_while_lost)
        .Add("standbys_lost_codes", absl::StrJoin(codes_while_lost, " "))
        .Add("standby_back_to_first_ok_write_s",
             lost_first_ok < 0 ? -1.0 : lost_first_ok - back)
        .Add("unfenced_old_primary", absl::StrCat("n", unfenced))
        .Add("old_primary_back_to_first_ok_write_s",
             old_first_ok < 0 ? -1.0 : old_first_ok - old_back)
        .Add("writes_after_old_primary_back", calls_after_old_back)
        .Add("writes_ok_after_old_primary_back", ok_after_old_back);
  }
  figures.Emit();
  std::printf("calls: %s\n", all.Summary().c_str());

  channel.reset();  // an idle client connection would hold the drain open
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon.ReadLog();
}

// ---- Patroni ---------------------------------------------------------------
// The same load through a real HA manager: tests/faults/patroni_failover.sh
// runs etcd and three Patroni members of deploy/patroni/patroni.yml on
// loopback (each under a supervisor that restarts it after the leader key
// has expired) and runs this test with METAD_PATRONI_PORTS (their
// PostgreSQL ports) and PGPASSWORD set; without them it is skipped. The test
// kills the leader's Patroni and PostgreSQL with SIGKILL; Patroni promotes
// the synchronous standby; metad, on the multi-host URL, follows.

std::vector<int> PatroniPorts() {
  std::vector<int> ports;
  const char* env = std::getenv("METAD_PATRONI_PORTS");
  if (env == nullptr) return ports;
  for (absl::string_view p : absl::StrSplit(env, ',', absl::SkipEmpty())) {
    int port = 0;
    if (absl::SimpleAtoi(p, &port)) ports.push_back(port);
  }
  return ports;
}

std::string PortUrl(int port, const std::string& db) {
  return absl::StrCat("host=127.0.0.1 port=", port,
                      " user=postgres dbname=", db, " connect_timeout=2");
}

// The Patroni process managing `data_dir` (its environment names it, as
// patroni_failover.sh sets it), or -1. Patroni detaches its postmaster, so
// it is not the postmaster's parent.
pid_t PatroniFor(const std::string& data_dir) {
  const std::string want = "PATRONI_POSTGRESQL_DATA_DIR=" + data_dir;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmd(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), {});
    if (cmdline.find("bin/patroni") == std::string::npos) continue;
    std::ifstream env(entry.path() / "environ");
    for (std::string var; std::getline(env, var, '\0');) {
      if (var == want) return std::stoi(name);
    }
  }
  return -1;
}

// The port of the member that accepts writes, or -1 (none, or two).
int FindPrimary(const std::vector<int>& ports, int except = -1) {
  int found = -1;
  for (int port : ports) {
    if (port == except) continue;
    try {
      if (QueryInt(PortUrl(port, "postgres"),
                   "SELECT CASE WHEN pg_is_in_recovery() THEN 0 ELSE 1 END") ==
          1) {
        if (found >= 0) return -1;
        found = port;
      }
    } catch (const std::exception&) {
      // Down or starting: not the primary.
    }
  }
  return found;
}

// True once the same primary has streamed to every other member, one of
// them synchronous, for 5 s in a row (a member Patroni restarted after a
// crash streams for a moment before Patroni rewinds it); the primary's
// port in *primary.
bool WaitPatroniHealthy(const std::vector<int>& ports, int* primary,
                        double timeout) {
  constexpr double kStable = 5;
  const double give_up = MonoSeconds() + timeout;
  double healthy_since = -1;
  int healthy_primary = -1;
  while (MonoSeconds() < give_up) {
    *primary = FindPrimary(ports);
    bool healthy = false;
    try {
      healthy = *primary >= 0 &&
                QueryInt(PortUrl(*primary, "postgres"),
                         absl::StrCat("SELECT count(*) FILTER (WHERE "
                                      "sync_state = 'sync') * 100 + count(*) "
                                      "FROM pg_stat_replication WHERE state "
                                      "= 'streaming'")) >=
                    100 + static_cast<int64_t>(ports.size()) - 1;
    } catch (const std::exception&) {
    }
    if (!healthy || *primary != healthy_primary) {
      healthy_since = healthy ? MonoSeconds() : -1;
      healthy_primary = healthy ? *primary : -1;
    } else if (MonoSeconds() - healthy_since >= kStable) {
      return true;
    }
    Sleep(0.2);
  }
  return false;
}

// The timeline of the primary at `port` (its current WAL file's first 8 hex
// digits, as store/queries/database.sql reads it), or -1.
int64_t PrimaryTimeline(int port) {
  try {
    return QueryInt(PortUrl(port, "postgres"),
                    "SELECT ('x' || substr(pg_walfile_name("
                    "pg_current_wal_lsn()), 1, 8))::bit(32)::bigint");
  } catch (const std::exception&) {
    return -1;
  }
}

// A moment of MonoSeconds() as wall-clock UTC (HH:MM:SS.mmm), to line the
// test's events up with Patroni's and PostgreSQL's logs.
std::string WallAt(double mono) {
  const double ago = MonoSeconds() - mono;
  const absl::Time t = absl::FromUnixMicros(WallMicros()) - absl::Seconds(ago);
  return absl::FormatTime("%H:%M:%E3S", t, absl::UTCTimeZone());
}

TEST(FaultsFailover, PatroniPromotesAndMetadFollows) {
  const std::vector<int> ports = PatroniPorts();
  if (ports.size() < 3) {
    GTEST_SKIP() << "run by tests/faults/patroni_failover.sh";
  }
  // Alternately: the machine dies (its Patroni, then its PostgreSQL: the
  // leader key must expire, ttl), and only the leader's PostgreSQL dies
  // (its Patroni sees the crash and, master_start_timeout 0, hands over).
  const int kFailovers = ShortOrLong(2, 6);
  const int kPatroniLease = 60;  // outlasts Patroni's ttl and the switch
  int primary = -1;
  ASSERT_TRUE(WaitPatroniHealthy(ports, &primary, 120));
  const std::string url = absl::StrCat(
      "host=127.0.0.1,127.0.0.1,127.0.0.1 port=", absl::StrJoin(ports, ","),
      " user=postgres dbname=metad "
      "target_session_attrs=read-write connect_timeout=2");
  DaemonProcess daemon;
  ASSERT_TRUE(
      daemon.Spawn(url, {"--reaper_interval", absl::StrCat(kReaperInterval),
                         "--pool_size", "8", "--drain", "3"}));
  ASSERT_TRUE(daemon.WaitServing(60)) << daemon.ReadLog();
  auto channel = daemon.channel();
  {
    auto tasks = TaskService::NewStub(channel);
    RegisterTaskRequest req;
    req.set_name("ingest");
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), req, &resp).ok());
    RegisterFilesRequest batch;
    for (int i = 0; i < 1000; ++i) {
      FileSpec* spec = batch.add_files();
      spec->set_source("landing");
      spec->set_file_name(absl::StrCat("seed-", i, ".csv"));
    }
    RegisterFilesResponse registered;
    ASSERT_TRUE(FileService::NewStub(channel)
                    ->RegisterFiles(Ctx(60).get(), batch, &registered)
                    .ok());
  }
  FleetOptions options;
  options.targets = {daemon.address()};
  options.processes = 2;
  options.threads = 4;
  options.lease_seconds = kPatroniLease;
  options.retries = 1200;  // a minute of tries: Patroni takes ttl to switch
  options.dir = ScratchDir("patroni");
  WorkerFleet fleet(options);
  ASSERT_TRUE(fleet.Start());
  RegisterLoad load(channel);

  // Per kind of kill: promotion to first OK write, kill to promotion, kill
  // to first OK write (each failover, in order).
  std::map<std::string, std::vector<std::string>> each, detect, total;
  std::map<std::string, double> worst_promote_to_ok, worst_kill_to_promote,
      worst_kill_to_ok;
  for (int i = 0; i < kFailovers; ++i) {
    const std::string kind = i % 2 == 0 ? "machine" : "postgres";
    ASSERT_TRUE(WaitPatroniHealthy(ports, &primary, 180));
    Sleep(2);
    const std::string data_dir =
        QueryRows(PortUrl(primary, "postgres"), "SHOW data_directory")[0][0];
    const int64_t old_timeline = PrimaryTimeline(primary);
    ASSERT_GT(old_timeline, 0);
    const double killed_at = MonoSeconds();
    if (kind == "machine") {
      // The machine dies: its Patroni first (else it restarts PostgreSQL
      // and keeps the leader key), then PostgreSQL.
      const pid_t patroni = PatroniFor(data_dir);
      ASSERT_GT(patroni, 0) << "no Patroni process for " << data_dir;
      ASSERT_EQ(kill(patroni, SIGKILL), 0);
    }
    ASSERT_TRUE(KillPostgres(data_dir));
    // Promoted: a primary on a later timeline (Patroni restarts a crashed
    // leader as a standby and promotes whichever member it picks).
    int promoted = -1;
    while (promoted < 0 && MonoSeconds() < killed_at + 90) {
      promoted = FindPrimary(ports);
      if (promoted >= 0 && PrimaryTimeline(promoted) <= old_timeline) {
        promoted = -1;
      }
      if (promoted < 0) Sleep(0.05);
    }
    ASSERT_GE(promoted, 0) << "Patroni promoted no member";
    const double promote = MonoSeconds();
    const double first_ok = load.FirstOkAfter(promote);
    ASSERT_GE(first_ok, 0) << "no write succeeded after Patroni promoted "
                           << promoted;
    std::printf(
        "failover %d (%s): killed %s (port %d) at %s, port %d primary on a "
        "later timeline at %s, first OK write at %s: kill to promotion "
        "%.3f s, promotion to first OK write %.3f s\n",
        i + 1, kind.c_str(), data_dir.c_str(), primary,
        WallAt(killed_at).c_str(), promoted, WallAt(promote).c_str(),
        WallAt(first_ok).c_str(), promote - killed_at, first_ok - promote);
    std::fflush(stdout);
    worst_promote_to_ok[kind] =
        std::max(worst_promote_to_ok[kind], first_ok - promote);
    worst_kill_to_promote[kind] =
        std::max(worst_kill_to_promote[kind], promote - killed_at);
    worst_kill_to_ok[kind] =
        std::max(worst_kill_to_ok[kind], first_ok - killed_at);
    each[kind].push_back(absl::StrFormat("%.3f", first_ok - promote));
    detect[kind].push_back(absl::StrFormat("%.3f", promote - killed_at));
    total[kind].push_back(absl::StrFormat("%.3f", first_ok - killed_at));
    primary = promoted;
  }
  // The killed member rejoins (pg_rewind) before the checks.
  ASSERT_TRUE(WaitPatroniHealthy(ports, &primary, 180));
  Sleep(2);
  load.Stop();
  std::vector<std::string> unclean = fleet.StopAll();
  EXPECT_TRUE(unclean.empty()) << absl::StrJoin(unclean, "\n");
  const std::string final_url = PortUrl(primary, "metad");
  EXPECT_TRUE(WaitNoProcessingRuns(final_url, kPatroniLease + 15));
  HistoryReport histories = CheckFileHistories(final_url);
  EXPECT_EQ(histories.violation_count, 0)
      << absl::StrJoin(histories.violations, "\n");
  RunReport runs = CheckRunHistories(final_url);
  EXPECT_EQ(runs.violation_count, 0) << absl::StrJoin(runs.violations, "\n");
  EXPECT_EQ(runs.expired, 0);
  std::vector<std::string> logs = fleet.ok_logs();
  logs.push_back(load.WriteOkLog(options.dir + "/load.ok"));
  OkLogReport ok = CheckOkLogs(final_url, logs);
  EXPECT_EQ(ok.missing, 0) << absl::StrJoin(ok.examples, "\n");
  CallTally all;
  int64_t disallowed = 0;
  for (const CallRecord& c : load.calls()) {
    all.Record(c.code, c.end - c.start);
    if (!AllowedDuringSwitch(c.code)) {
      ++disallowed;
      ADD_FAILURE() << CodeName(c.code) << ": " << c.message;
    }
  }
  Figures figures("patroni_failover");
  figures.Add("failovers", int64_t{kFailovers})
      .Add("calls", all.total())
      .Add("calls_ok", all.count(grpc::StatusCode::OK))
      .Add("calls_unavailable", all.count(grpc::StatusCode::UNAVAILABLE))
      .Add("calls_deadline_exceeded",
           all.count(grpc::StatusCode::DEADLINE_EXCEEDED))
      .Add("calls_other_codes", disallowed);
  for (const auto& [kind, values] : each) {
    figures
        .Add(kind + "_kill_to_promotion_s_each",
             absl::StrJoin(detect[kind], " "))
        .Add(kind + "_promotion_to_first_ok_write_s_each",
             absl::StrJoin(values, " "))
        .Add(kind + "_kill_to_first_ok_write_s_each",
             absl::StrJoin(total[kind], " "))
        .Add(kind + "_kill_to_promotion_s_max", worst_kill_to_promote[kind])
        .Add(kind + "_promotion_to_first_ok_write_s_max",
             worst_promote_to_ok[kind])
        .Add(kind + "_kill_to_first_ok_write_s_max", worst_kill_to_ok[kind]);
  }
  figures.Add("runs_expired_by_outage", runs.expired)
      .Add("runs", runs.runs)
      .Add("metad_restarts", int64_t{0})
      .AddOkLog(ok)
      .Emit();
  std::printf("calls: %s\n", all.Summary().c_str());
  channel.reset();
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon.ReadLog();
}

}  // namespace
}  // namespace metad::testing
