// Fault: kill -9 of the daemon in the middle of a write load, several times in
// a row (3 in the short version, 10 in the long one), restarting it each time.
//
// Load: registrant threads (RegisterFile, and RegisterFiles of new names mixed
// with names registered before) and worker threads (StartRun, ClaimFiles,
// CompleteFile, Heartbeat, FinishRun; every fourth run is abandoned on
// purpose, as a worker that died would; a worker whose call fails while the
// daemon is down abandons its run too). Every call that returned OK is
// recorded client-side and checked by SQL at the end:
//   - every OK'd registration, start, claim, completion and finish is in the
//     database (nothing acknowledged was lost);
//   - no file registered twice (one row and one REGISTERED event per name,
//     a repeated registration returned the same id with created=false, and
//     a registration retried after a failed attempt found the record the
//     attempt may have committed instead of creating a second one);
//   - no file held by two runs (each file's audit trail is a consistent
//     story) and none left PROCESSING;
//   - every abandoned run was ended by lease expiry, within lease + one
//     reaper interval (+ slack) of its lease lapsing, or of a daemon serving
//     again when none was up at that moment.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

constexpr int kLeaseSeconds = 3;
constexpr double kReaperInterval = 0.5;

// The channel of whichever daemon is up now.
class ChannelHolder {
 public:
  void Set(std::shared_ptr<grpc::Channel> channel) {
    std::lock_guard<std::mutex> lock(mu_);
    channel_ = std::move(channel);
  }
  std::shared_ptr<grpc::Channel> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return channel_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
};

// What the load saw succeed, in the ok-log format of worker_fleet.h.
class OkLog {
 public:
  void Add(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(std::move(line));
  }
  void Write(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    std::ofstream out(path);
    for (const auto& l : lines_) out << l << "\n";
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

struct Load {
  ChannelHolder channel;
  OkLog ok;
  CallTally tally;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> dedupe_checked{0};
  std::atomic<int64_t> dedupe_violations{0};
  // Retried registrations of a name whose first attempt failed: created
  // now, or found (the failed attempt had committed).
  std::atomic<int64_t> retries_created{0};
  std::atomic<int64_t> retries_found{0};
  std::atomic<int64_t> abandoned_on_purpose{0};
  std::atomic<int64_t> abandoned_by_fault{0};
  std::mutex mu;
  std::vector<std::string> errors;  // unexpected codes, the first few

  void Note(const char* method, const grpc::Status& s, double seconds) {
    tally.Record(s.error_code(), seconds);
    // While the daemon is being killed and restarted a call may fail with
    // UNAVAILABLE (no daemon, or the connection broke) or, when the daemon
    // died with it in flight, CANCELLED/DEADLINE_EXCEEDED; never anything
    // that says the request itself was wrong or the server broken.
    switch (s.error_code()) {
      case grpc::StatusCode::OK:
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::CANCELLED:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return;
      default:
        break;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (errors.size() < 10) {
      errors.push_back(absl::StrCat(method, ": ", CodeName(s.error_code()), " ",
                                    s.error_message()));
    }
  }
};

template <typename Call>
grpc::Status Timed(Load* load, const char* method, Call call) {
  double start = MonoSeconds();
  grpc::Status s = call();
  load->Note(method, s, MonoSeconds() - start);
  return s;
}

void Registrant(Load* load, int t) {
  std::mt19937 rng(t);
  std::vector<std::pair<std::string, int64_t>> mine;  // OK'd (name, id)
  std::string pending;  // a name whose RegisterFile failed
  for (int n = 0; !load->stop.load(); ++n) {
    auto files = FileService::NewStub(load->channel.Get());
    if (n % 5 == 4 && pending.empty()) {
      // New names plus some this thread registered before (a repeat must
      // return the stored record unchanged).
      RegisterFilesRequest req;
      req.set_request_id(absl::StrCat("batch-", t, "-", n));
      std::vector<int64_t> expected;  // 0 for a new name
      for (int i = 0; i < 20; ++i) {
        FileSpec* spec = req.add_files();
        spec->set_source("landing");
        spec->set_file_name(absl::StrCat("r", t, "-", n, "-", i, ".csv"));
        expected.push_back(0);
      }
      for (int i = 0; i < 5 && !mine.empty(); ++i) {
        const auto& old = mine[rng() % mine.size()];
        FileSpec* spec = req.add_files();
        spec->set_source("landing");
        spec->set_file_name(old.first);
        expected.push_back(old.second);
      }
      RegisterFilesResponse resp;
      grpc::Status s = Timed(load, "RegisterFiles", [&] {
        return files->RegisterFiles(Ctx(2).get(), req, &resp);
      });
      if (!s.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      for (int i = 0; i < resp.results_size(); ++i) {
        const auto& r = resp.results(i);
        const std::string& name = req.files(i).file_name();
        if (expected[i] != 0) {
          ++load->dedupe_checked;
          if (r.created() || r.file().id() != expected[i]) {
            ++load->dedupe_violations;
          }
          continue;
        }
        // Names are never reused after a failed call, so a new name that
        // is not created would be a registration out of nowhere.
        if (!r.created()) {
          std::lock_guard<std::mutex> lock(load->mu);
          load->errors.push_back(absl::StrCat(name, ": new but created=false"));
        }
        load->ok.Add(absl::StrCat("R ", r.file().id(), " ", name));
        mine.emplace_back(name, r.file().id());
      }
    } else {
      // A registration that failed is retried with the same name, as a
      // pipeline would: if the first attempt committed before the daemon
      // died, the retry must find that record (created=false), never a
      // second one.
      const bool retry = !pending.empty();
      RegisterFileRequest req;
      req.mutable_file()->set_source("landing");
      req.mutable_file()->set_file_name(
          retry ? pending : absl::StrCat("r", t, "-", n, ".csv"));
      RegisterFileResponse resp;
      grpc::Status s = Timed(load, "RegisterFile", [&] {
        return files->RegisterFile(Ctx(2).get(), req, &resp);
      });
      if (!s.ok()) {
        pending = req.file().file_name();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      pending.clear();
      if (retry) {
        ++(resp.created() ? load->retries_created : load->retries_found);
      } else if (!resp.created()) {
        std::lock_guard<std::mutex> lock(load->mu);
        load->errors.push_back(
            absl::StrCat(req.file().file_name(), ": new but created=false"));
      }
      load->ok.Add(
          absl::StrCat("R ", resp.file().id(), " ", req.file().file_name()));
      mine.emplace_back(req.file().file_name(), resp.file().id());
    }
  }
}

void Worker(Load* load, int t) {
  for (int n = 0; !load->stop.load(); ++n) {
    const std::string batch = absl::StrCat("k", t, "-", n);
    StartRunRequest start;
    start.set_task("ingest");
    start.set_batch_id(batch);
    start.set_worker_id(absl::StrCat("worker-", t));
    start.set_lease_seconds(kLeaseSeconds);
    start.set_request_id(batch);
    StartRunResponse started;
    grpc::Status s;
    // The same request_id: a start that committed before a crash is found
    // again instead of starting a second run.
    for (int attempt = 0; attempt < 200 && !load->stop.load(); ++attempt) {
      auto runs = TaskLogService::NewStub(load->channel.Get());
      s = Timed(load, "StartRun",
                [&] { return runs->StartRun(Ctx(2).get(), start, &started); });
      if (s.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!s.ok()) continue;
    const int64_t run = started.run().id();
    load->ok.Add(absl::StrCat("S ", run));
    auto channel = load->channel.Get();
    auto runs = TaskLogService::NewStub(channel);
    auto files = FileService::NewStub(channel);
    auto abandon_by_fault = [&] { ++load->abandoned_by_fault; };

    ClaimFilesRequest claim;
    claim.set_run_id(run);
    claim.set_limit(5);
    ClaimFilesResponse claimed;
    s = Timed(load, "ClaimFiles",
              [&] { return files->ClaimFiles(Ctx(2).get(), claim, &claimed); });
    if (!s.ok()) {
      abandon_by_fault();
      continue;
    }
    for (const File& f : claimed.files()) {
      load->ok.Add(absl::StrCat("K ", run, " ", f.id()));
    }
    if (n % 4 == 3) {
      // This worker "dies" holding its files: only lease expiry can free
      // them.
      ++load->abandoned_on_purpose;
      load->ok.Add(absl::StrCat("A ", run));
      continue;
    }
    HeartbeatRequest beat;
    beat.set_run_id(run);
    HeartbeatResponse beaten;
    s = Timed(load, "Heartbeat",
              [&] { return runs->Heartbeat(Ctx(2).get(), beat, &beaten); });
    if (!s.ok()) {
      abandon_by_fault();
      continue;
    }
    bool lost = false;
    std::vector<int64_t> left;
    for (int i = 0; i < claimed.files_size(); ++i) {
      const int64_t file = claimed.files(i).id();
      if (n % 2 == 1 && i >= claimed.files_size() / 2) {
        left.push_back(file);  // FinishRun sets these
        continue;
      }
      CompleteFileRequest complete;
      complete.set_file_id(file);
      complete.set_run_id(run);
      complete.set_status(FILE_STATUS_SUCCESS);
      CompleteFileResponse completed;
      s = Timed(load, "CompleteFile", [&] {
        return files->CompleteFile(Ctx(2).get(), complete, &completed);
      });
      if (!s.ok()) {
        lost = true;
        break;
      }
      load->ok.Add(absl::StrCat("C ", run, " ", file));
    }
    if (lost) {
      abandon_by_fault();
      continue;
    }
    FinishRunRequest finish;
    finish.set_run_id(run);
    finish.set_status(RUN_STATUS_SUCCESS);
    // Names every file it received: the completed ones and those left.
    for (const File& f : claimed.files()) finish.add_file_ids(f.id());
    FinishRunResponse finished;
    s = Timed(load, "FinishRun",
              [&] { return runs->FinishRun(Ctx(2).get(), finish, &finished); });
    if (!s.ok()) {
      abandon_by_fault();
      continue;
    }
    load->ok.Add(absl::StrCat("F ", run, " ", finished.files_finished()));
    if (finished.files_finished() == static_cast<int>(left.size())) {
      for (int64_t file : left)
        load->ok.Add(absl::StrCat("G ", run, " ", file));
    } else {
      std::lock_guard<std::mutex> lock(load->mu);
      load->errors.push_back(absl::StrCat("run ", run, " finished ",
                                          finished.files_finished(),
                                          " files, held ", left.size()));
    }
  }
}

TEST(FaultsDaemonKill, Kill9UnderWriteLoadLosesNothing) {
  const int kKills = ShortOrLong(3, 10);
  const std::string url = CreateEmptyDatabase("faults_kill");
  const std::vector<std::string> flags = {
      "--reaper_interval", absl::StrCat(kReaperInterval),
      "--pool_size",       "8",
      "--drain",           "2"};
  auto daemon = std::make_unique<DaemonProcess>();
  ASSERT_TRUE(daemon->Spawn(url, flags));
  ASSERT_TRUE(daemon->WaitServing()) << daemon->ReadLog();
  {
    auto tasks = TaskService::NewStub(daemon->channel());
    RegisterTaskRequest req;
    req.set_name("ingest");
    req.set_max_attempts(1000);
    RegisterTaskResponse resp;
    ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), req, &resp).ok());
  }
  Load load;
  load.channel.Set(daemon->channel());
  JoiningThreads threads([&load] { load.stop = true; });
  for (int t = 0; t < 4; ++t) threads.Add([&load, t] { Registrant(&load, t); });
  for (int t = 0; t < 8; ++t) threads.Add([&load, t] { Worker(&load, t); });

  std::mt19937 rng(42);
  std::vector<std::pair<int64_t, int64_t>> down_windows;
  double max_restart_seconds = 0;
  int64_t ok_before_each_kill_min = -1;
  for (int k = 0; k < kKills; ++k) {
    int64_t ok_before = load.tally.count(grpc::StatusCode::OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(1000, 2000)(rng)));
    int64_t ok_during = load.tally.count(grpc::StatusCode::OK) - ok_before;
    if (ok_before_each_kill_min < 0 || ok_during < ok_before_each_kill_min) {
      ok_before_each_kill_min = ok_during;
    }
    const int64_t down = WallMicros();
    const double t0 = MonoSeconds();
    int status = daemon->Stop(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    const double t1 = MonoSeconds();
    daemon = std::make_unique<DaemonProcess>();
    ASSERT_TRUE(daemon->Spawn(url, flags));
    const double t2 = MonoSeconds();
    ASSERT_TRUE(daemon->WaitServing()) << daemon->ReadLog();
    std::printf(
        "kill %d: killed in %.3f s, spawned in %.3f s, serving after "
        "%.3f s more\n",
        k + 1, t1 - t0, t2 - t1, MonoSeconds() - t2);
    load.channel.Set(daemon->channel());
    down_windows.emplace_back(down, WallMicros());
    max_restart_seconds = std::max(max_restart_seconds, MonoSeconds() - t0);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  threads.JoinAll();
  // Calls went through between every two kills: the load was real.
  EXPECT_GT(ok_before_each_kill_min, 0);
  {
    std::lock_guard<std::mutex> lock(load.mu);
    EXPECT_TRUE(load.errors.empty()) << absl::StrJoin(load.errors, "\n");
  }

  // Abandoned runs end by lease expiry: wait for the reaper (bounded).
  EXPECT_TRUE(WaitNoProcessingRuns(url, kLeaseSeconds + 15))
      << "runs still PROCESSING long after their leases lapsed";

  const std::string dir = ScratchDir("kill");
  load.ok.Write(dir + "/load.ok");
  OkLogReport ok = CheckOkLogs(url, {dir + "/load.ok"});
  EXPECT_EQ(ok.missing, 0) << absl::StrJoin(ok.examples, "\n");
  EXPECT_EQ(load.dedupe_violations.load(), 0);
  EXPECT_EQ(QueryInt(url,
                     "SELECT count(*) FROM (SELECT 1 FROM files "
                     "GROUP BY source, file_name HAVING count(*) > 1) d"),
            0);
  HistoryReport files = CheckFileHistories(url);
  EXPECT_EQ(files.violation_count, 0) << absl::StrJoin(files.violations, "\n");
  EXPECT_EQ(QueryInt(url,
                     "SELECT count(*) FROM files "
                     "WHERE status = 'PROCESSING'"),
            0);
  RunReport runs = CheckRunHistories(url);
  EXPECT_EQ(runs.violation_count, 0) << absl::StrJoin(runs.violations, "\n");
  EXPECT_EQ(runs.processing, 0);
  EXPECT_EQ(runs.expired_twice, 0);
  EXPECT_GE(runs.expired, load.abandoned_on_purpose.load());
  ExpiryReport expiry = MeasureExpiryDelays(url, down_windows);
  EXPECT_LE(expiry.max_delay_seconds, kReaperInterval + kExpirySlackSeconds)
      << "lease " << kLeaseSeconds << " s, reaper interval " << kReaperInterval
      << " s";

  Figures("daemon_kill9")
      .Add("kills", int64_t{kKills})
      .Add("calls", load.tally.total())
      .Add("calls_ok", load.tally.count(grpc::StatusCode::OK))
      .Add("calls_unavailable", load.tally.count(grpc::StatusCode::UNAVAILABLE))
      .Add("calls_other_failed",
           load.tally.total() - load.tally.count(grpc::StatusCode::OK) -
               load.tally.count(grpc::StatusCode::UNAVAILABLE))
      .AddOkLog(ok)
      .Add("dedupe_repeats_checked", load.dedupe_checked.load())
      .Add("dedupe_violations", load.dedupe_violations.load())
      .Add("registrations_retried_created", load.retries_created.load())
      .Add("registrations_retried_found", load.retries_found.load())
      .AddAudit(files, runs, expiry)
      .Add("runs_abandoned_on_purpose", load.abandoned_on_purpose.load())
      .Add("runs_abandoned_by_fault", load.abandoned_by_fault.load())
      .Add("lease_s", int64_t{kLeaseSeconds})
      .Add("reaper_interval_s", kReaperInterval)
      .Add("max_restart_to_serving_s", max_restart_seconds)
      .Emit();
  std::printf("calls: %s\n", load.tally.Summary().c_str());

  load.channel.Set(nullptr);  // idle client connections hold a drain open
  int status = daemon->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << daemon->ReadLog();
}

}  // namespace
}  // namespace metad::testing
