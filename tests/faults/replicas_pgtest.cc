// Several replicas: three metad processes on one PostgreSQL, started at the
// same moment; 64 worker threads (8 faults_worker processes of 8 threads,
// each process's threads spread over the three replicas) claim and complete
// the files (10,000 in the short version, 100,000 in the long one) while the
// test kills worker processes at random and starts replacements.
//
// Checked at the end:
//   - the migrations ran once (one migration_applied line per migration
//     across the three logs);
//   - every file is SUCCESS and was completed by exactly one run (one
//     COMPLETED or FINISHED SUCCESS event), and each file's event history is
//     consistent (REGISTERED, then CLAIMED/RELEASED pairs, a final CLAIMED
//     then FINISHED/COMPLETED SUCCESS, all by the run that held it);
//   - no run was ended twice (EXPIRED events per run <= 1, one ending event
//     per run), and each replica's lease reaper ends lapsed runs by itself
//     (checked with the other two paused);
//   - every call a worker saw succeed is in the database.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/faults/worker_fleet.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

constexpr int kReplicas = 3;
constexpr int kLeaseSeconds = 5;
constexpr double kReaperInterval = 0.5;

int CountLines(const std::string& log, const std::string& needle) {
  int n = 0;
  for (size_t pos = log.find(needle); pos != std::string::npos;
       pos = log.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// The run_id of every "lease_expired" line of a daemon's log (one line per
// run its reaper ended).
std::vector<int64_t> ReapedRuns(const std::string& log) {
  std::vector<int64_t> runs;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StrContains(line, "\"event\":\"lease_expired\"")) continue;
    size_t pos = line.find("\"run_id\":");
    int64_t run = 0;
    if (pos == absl::string_view::npos ||
        !absl::SimpleAtoi(
            line.substr(pos + 9, line.find_first_of(",}", pos) - (pos + 9)),
            &run)) {
      ADD_FAILURE() << "unreadable lease_expired line: " << line;
      continue;
    }
    runs.push_back(run);
  }
  return runs;
}

TEST(FaultsReplicas, ThreeReplicasWorkersKilledAtRandom) {
  const int kFiles = ShortOrLong(10000, 100000);
  const int kMaxKills = ShortOrLong(10, 80);
  const std::string url = CreateEmptyDatabase("faults_replicas");
  DaemonProcess daemons[kReplicas];
  // Spawned back to back, before any is waited for: they race to migrate.
  for (auto& d : daemons) {
    ASSERT_TRUE(
        d.Spawn(url, {"--reaper_interval", absl::StrCat(kReaperInterval),
                      "--pool_size", "8", "--drain", "5"}));
  }
  for (auto& d : daemons) ASSERT_TRUE(d.WaitServing(60)) << d.ReadLog();
  const int64_t migrations =
      QueryInt(url, "SELECT count(*) FROM metad_schema_migrations");
  int applied = 0;
  for (auto& d : daemons)
    applied += CountLines(d.ReadLog(), "migration_applied");
  EXPECT_EQ(applied, migrations);

  {
    auto tasks = TaskService::NewStub(daemons[0].channel());
    RegisterTaskRequest req;
    req.set_name("ingest");
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), req, &resp).ok());
  }
  for (int chunk = 0; chunk * 1000 < kFiles; ++chunk) {
    auto files = FileService::NewStub(daemons[chunk % kReplicas].channel());
    RegisterFilesRequest req;
    for (int i = chunk * 1000; i < std::min(kFiles, (chunk + 1) * 1000); ++i) {
      FileSpec* spec = req.add_files();
      spec->set_source("landing");
      spec->set_file_name(absl::StrCat("part-", i, ".parquet"));
    }
    RegisterFilesResponse resp;
    ASSERT_TRUE(files->RegisterFiles(Ctx(60).get(), req, &resp).ok());
    ASSERT_EQ(resp.created_count(), req.files_size());
  }

  FleetOptions options;
  for (auto& d : daemons) options.targets.push_back(d.address());
  options.processes = 8;
  options.threads = 8;
  options.lease_seconds = kLeaseSeconds;
  options.claim = 25;
  options.work_ms = 1;
  options.finish_share = 80;
  options.dir = ScratchDir("replicas");
  WorkerFleet fleet(options);
  const double started = MonoSeconds();
  ASSERT_TRUE(fleet.Start());

  std::mt19937 rng(11);
  const double give_up = MonoSeconds() + ShortOrLong(300, 3000);
  auto remaining = [&] {
    return QueryInt(url,
                    "SELECT count(*) FROM files WHERE status <> 'SUCCESS'");
  };
  while (remaining() > 0 && MonoSeconds() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(500, 1500)(rng)));
    if (fleet.kills() < kMaxKills) {
      ASSERT_TRUE(fleet.KillOneAndReplace(rng));
    }
  }
  ASSERT_EQ(remaining(), 0) << "files left unprocessed";
  const double elapsed = MonoSeconds() - started;
  FleetOutcome out =
      CheckFleetOutcome(url, &fleet, kFiles, kLeaseSeconds, kReaperInterval);
  // The two rules, also straight from the event tables.
  EXPECT_EQ(QueryInt(url,
                     "SELECT count(*) FROM (SELECT file_id FROM file_events "
                     "WHERE kind IN ('COMPLETED', 'FINISHED') "
                     "AND to_status = 'SUCCESS' GROUP BY file_id "
                     "HAVING count(*) <> 1) x"),
            0);
  EXPECT_EQ(QueryInt(url,
                     "SELECT count(*) FROM (SELECT run_id FROM run_events "
                     "WHERE kind = 'EXPIRED' GROUP BY run_id "
                     "HAVING count(*) > 1) x"),
            0);

  // Which replica's reaper ended which runs (its log has one line per run
  // it ended). No run may appear twice, within a replica or across them, and
  // each must be a run with an EXPIRED event.
  std::set<int64_t> expired_runs;
  for (const auto& row :
       QueryRows(url, "SELECT run_id FROM run_events WHERE kind = 'EXPIRED'")) {
    expired_runs.insert(std::stoll(row[0]));
  }
  std::vector<std::string> per_replica;
  std::map<int64_t, int> reaped_by;  // run -> how many reaper lines
  int reaped_total = 0, replicas_reaping = 0, reaped_twice = 0;
  int reaped_not_expired = 0;
  for (auto& d : daemons) {
    std::vector<int64_t> runs = ReapedRuns(d.ReadLog());
    per_replica.push_back(std::to_string(runs.size()));
    reaped_total += static_cast<int>(runs.size());
    for (int64_t run : runs) {
      if (++reaped_by[run] == 2) ++reaped_twice;
      if (expired_runs.count(run) == 0) ++reaped_not_expired;
    }
  }
  EXPECT_EQ(reaped_twice, 0) << "a run was ended by two reapers (or twice)";
  EXPECT_EQ(reaped_not_expired, 0);
  // A run is ended once: by a reaper (logged) or by its own late call.
  EXPECT_LE(reaped_total, out.runs.expired);
  EXPECT_GT(reaped_total, 0);
  // Which replica's reaper wins a lapsed run is a race (they skip runs another
  // holds), so a busy run may leave one replica with none. Check instead that
  // each replica's reaper works on its own: with the other two paused
  // (SIGSTOP), a run started there with a one-second lease must be ended by
  // that replica.
  auto task_log = [&](DaemonProcess& d) {
    return TaskLogService::NewStub(d.channel());
  };
  for (int i = 0; i < kReplicas; ++i) {
    for (int j = 0; j < kReplicas; ++j) {
      if (j != i) ASSERT_EQ(kill(daemons[j].pid(), SIGSTOP), 0);
    }
    StartRunRequest req;
    req.set_task("ingest");
    req.set_batch_id(absl::StrCat("reaper-check-", i));
    req.set_lease_seconds(1);
    StartRunResponse resp;
    grpc::Status started =
        task_log(daemons[i])->StartRun(Ctx().get(), req, &resp);
    const double deadline = MonoSeconds() + 30;
    while (started.ok() &&
           QueryInt(url, absl::StrCat("SELECT count(*) FROM run_events "
                                      "WHERE kind = 'EXPIRED' AND run_id = ",
                                      resp.run().id())) == 0 &&
           MonoSeconds() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (int j = 0; j < kReplicas; ++j) {
      if (j != i) ASSERT_EQ(kill(daemons[j].pid(), SIGCONT), 0);
    }
    ASSERT_TRUE(started.ok()) << started.error_message();
    std::vector<int64_t> mine = ReapedRuns(daemons[i].ReadLog());
    if (std::find(mine.begin(), mine.end(), resp.run().id()) != mine.end()) {
      ++replicas_reaping;
    } else {
      ADD_FAILURE() << "replica " << i << "'s reaper did not end run "
                    << resp.run().id() << " while the others were paused";
    }
  }
  EXPECT_EQ(replicas_reaping, kReplicas)
      << "runs ended per replica (busy phase): "
      << absl::StrJoin(per_replica, ",");

  Figures("replicas")
      .Add("replicas", int64_t{kReplicas})
      .Add("client_threads", int64_t{options.processes * options.threads})
      .Add("workers_killed", int64_t{fleet.kills()})
      .Add("seconds", elapsed)
      .Add("migrations_applied", int64_t{applied})
      .Add("migrations", migrations)
      .AddAudit(out.files, out.runs, out.expiry)
      .Add("runs_reaped_per_replica", absl::StrJoin(per_replica, ","))
      .Add("runs_reaped_twice", int64_t{reaped_twice})
      .AddOkLog(out.ok)
      .Emit();

  for (auto& d : daemons) {
    int status = d.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << d.ReadLog();
  }
}

}  // namespace
}  // namespace metad::testing
