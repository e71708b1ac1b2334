// Fault: workers killed (SIGKILL) while they hold files. faults_worker
// processes claim and complete files through one metad; the test kills one
// at random every few hundred milliseconds and starts a replacement.
//
// Checked at the end:
//   - every file is SUCCESS and reached SUCCESS exactly once (processed
//     exactly once in the end), and its audit trail is consistent: a killed
//     worker's files went back to NEW (RELEASED by the run that held them)
//     before another run claimed them;
//   - each run of a killed worker was ended once, by lease expiry, within
//     lease + one reaper interval (+ slack);
//   - every call a worker saw succeed (start, claim, complete, finish) is in
//     the database.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/faults/worker_fleet.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

constexpr int kLeaseSeconds = 2;
constexpr double kReaperInterval = 0.5;

void RegisterFiles(FileService::Stub* files, int count, const char* prefix) {
  for (int chunk = 0; chunk * 1000 < count; ++chunk) {
    RegisterFilesRequest req;
    for (int i = chunk * 1000; i < std::min(count, (chunk + 1) * 1000); ++i) {
      FileSpec* spec = req.add_files();
      spec->set_source("landing");
      spec->set_file_name(absl::StrCat(prefix, i, ".parquet"));
    }
    RegisterFilesResponse resp;
    ASSERT_TRUE(files->RegisterFiles(Ctx(60).get(), req, &resp).ok());
  }
}

TEST(FaultsWorkerKill, KilledWorkersFilesComeBackAndAreProcessedOnce) {
  const int kFiles = ShortOrLong(2000, 20000);
  const int kMaxKills = ShortOrLong(8, 40);
  const std::string url = CreateEmptyDatabase("faults_workers");
  DaemonProcess daemon;
  ASSERT_TRUE(
      daemon.Spawn(url, {"--reaper_interval", absl::StrCat(kReaperInterval),
                         "--pool_size", "8", "--drain", "2"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
  {
    auto tasks = TaskService::NewStub(daemon.channel());
    RegisterTaskRequest req;
    req.set_name("ingest");
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), req, &resp).ok());
    auto files = FileService::NewStub(daemon.channel());
    RegisterFiles(files.get(), kFiles, "part-");
  }

  FleetOptions options;
  options.targets = {daemon.address()};
  options.processes = 4;
  options.threads = 4;
  options.lease_seconds = kLeaseSeconds;
  options.claim = 10;
  options.work_ms = 20;
  options.dir = ScratchDir("workers");
  WorkerFleet fleet(options);
  ASSERT_TRUE(fleet.Start());

  std::mt19937 rng(7);
  const double give_up = MonoSeconds() + ShortOrLong(180, 900);
  auto done = [&] {
    return QueryInt(url,
                    "SELECT count(*) FROM files WHERE status = 'SUCCESS'") ==
           kFiles;
  };
  while (!done() && MonoSeconds() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(300, 700)(rng)));
    if (fleet.kills() < kMaxKills) {
      ASSERT_TRUE(fleet.KillOneAndReplace(rng));
    }
  }
  ASSERT_TRUE(done()) << "files left unprocessed";
  FleetOutcome out =
      CheckFleetOutcome(url, &fleet, kFiles, kLeaseSeconds, kReaperInterval);
  EXPECT_GT(out.files.releases, 0) << "no kill caught a worker holding files";

  Figures("worker_kill")
      .Add("worker_processes", int64_t{options.processes})
      .Add("threads_per_worker", int64_t{options.threads})
      .Add("workers_killed", int64_t{fleet.kills()})
      .AddAudit(out.files, out.runs, out.expiry)
      .Add("lease_s", int64_t{kLeaseSeconds})
      .Add("reaper_interval_s", kReaperInterval)
      .AddOkLog(out.ok)
      .Emit();

  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon.ReadLog();
}

// StopAll can SIGTERM a worker a few milliseconds after KillOneAndReplace
// spawned it (the files ran out meanwhile), before the worker's main has run.
// It must still exit 0. Needs no daemon: the workers' calls fail and retry.
TEST(FaultsWorkerKill, WorkersStoppedRightAfterSpawnExitCleanly) {
  const int kRounds = 25;
  std::vector<std::string> unclean;
  for (int round = 0; round < kRounds; ++round) {
    FleetOptions options;
    options.targets = {"127.0.0.1:1"};  // nothing listens there
    options.processes = 4;
    options.threads = 2;
    options.dir = ScratchDir("spawn-stop");
    WorkerFleet fleet(options);
    ASSERT_TRUE(fleet.Start());
    for (std::string& line : fleet.StopAll(10)) {
      unclean.push_back(std::move(line));
    }
  }
  EXPECT_TRUE(unclean.empty())
      << unclean.size() << " of " << kRounds * 4 << " workers:\n"
      << absl::StrJoin(unclean, "\n");
}

}  // namespace
}  // namespace metad::testing
