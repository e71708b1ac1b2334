// faults_worker: a worker process for the fault-injection suites, meant to be
// killed with SIGKILL at any moment.
//
//   faults_worker --targets=127.0.0.1:P1,127.0.0.1:P2 --threads=8 --task=ingest
//                 --tag=w3 --lease=2 --claim=10 --work_ms=5 --offset=0
//                 --ok_log=PATH [--retries=20]
//
// Thread t talks to targets[(offset + t) % count] and loops: StartRun (batch
// and request_id "<tag>-<thread>-<n>", so a retried start is the same run),
// claim up to --claim files, "work" on each, CompleteFile it, heartbeat when a
// third of the lease has passed, and FinishRun SUCCESS. Every other run leaves
// the last --finish_share percent (default 50) of its files to FinishRun
// (FINISHED instead of COMPLETED).
// A refused call (lost lease) abandons the run, as a crashed worker would.
//
// Every call that returned OK is appended to --ok_log before the next call,
// one line each, so the suite can check that the database has it:
//   S <run>                 StartRun
//   K <run> <file>          ClaimFiles, per file
//   C <run> <file>          CompleteFile SUCCESS
//   F <run> <files_finished> FinishRun SUCCESS
//   G <run> <file>          a file FinishRun set to SUCCESS
// SIGTERM: each thread ends its current run properly and the process exits 0.
// Main takes SIGTERM with sigwait, blocked from the first line (the fleet
// spawns workers with it blocked already, see WorkerFleet::SpawnOne): a
// SIGTERM that comes while the process is still starting waits instead of
// killing it with the default action.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"

namespace {

using namespace metad::v1;  // NOLINT: a small test program

std::atomic<bool> g_stop{false};
int g_log_fd = -1;

void LogOk(const std::string& line) {
  std::string l = line + "\n";
  // O_APPEND: one write per line keeps lines whole across threads.
  if (write(g_log_fd, l.data(), l.size()) < 0) std::perror("ok_log");
}

struct Options {
  std::vector<std::string> targets;
  int threads = 8;
  std::string task = "ingest";
  std::string tag = "w";
  int lease = 2;
  int claim = 10;
  int work_ms = 5;
  int offset = 0;  // thread t talks to targets[(offset + t) % size]
  // Percent of an odd-numbered run's files left to FinishRun.
  int finish_share = 50;
  // Tries of each call after StartRun before the run is abandoned (50 ms
  // apart): the failover suite rides out a switch of primary with more.
  int retries = 20;
};

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 5) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() +
                  std::chrono::seconds(seconds));
  return c;
}

bool Transient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         s.error_code() == grpc::StatusCode::ABORTED;
}

void Sleep(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Retries a call while it fails transiently (the daemon restarting), at most
// `attempts` times. ClaimFiles (with a request_id), CompleteFile and
// FinishRun are safe to retry: a repeat of one that took effect is answered
// as the first was (replayed), never applied twice.
template <typename Call>
grpc::Status WithRetries(int attempts, Call call) {
  grpc::Status s;
  for (int i = 0; i < attempts; ++i) {
    s = call();
    if (!Transient(s) || g_stop.load()) return s;
    Sleep(50);
  }
  return s;
}

void Work(const Options& o, int index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  const std::string& target = o.targets[(o.offset + index) % o.targets.size()];
  auto channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args);
  auto runs = TaskLogService::NewStub(channel);
  auto files = FileService::NewStub(channel);
  for (int n = 0; !g_stop.load(); ++n) {
    const std::string batch = absl::StrCat(o.tag, "-", index, "-", n);
    StartRunRequest start;
    start.set_task(o.task);
    start.set_batch_id(batch);
    start.set_worker_id(absl::StrCat(o.tag, "/", index));
    start.set_lease_seconds(o.lease);
    start.set_request_id(batch);
    StartRunResponse started;
    grpc::Status s = WithRetries(
        1000, [&] { return runs->StartRun(Ctx().get(), start, &started); });
    if (!s.ok()) {
      if (!g_stop.load()) {
        std::fprintf(stderr, "StartRun %s: %d %s\n", batch.c_str(),
                     s.error_code(), s.error_message().c_str());
        Sleep(200);
      }
      continue;
    }
    const int64_t run = started.run().id();
    LogOk(absl::StrCat("S ", run));
    auto last_beat = std::chrono::steady_clock::now();

    ClaimFilesRequest claim;
    claim.set_run_id(run);
    claim.set_limit(o.claim);
    claim.set_request_id(absl::StrCat(batch, "/claim"));
    ClaimFilesResponse claimed;
    s = WithRetries(o.retries, [&] {
      return files->ClaimFiles(Ctx().get(), claim, &claimed);
    });
    if (!s.ok()) continue;  // lease lost: abandon the run
    for (const File& f : claimed.files()) {
      LogOk(absl::StrCat("K ", run, " ", f.id()));
    }
    bool lost = false;
    std::vector<int64_t> left;
    const int n_files = claimed.files_size();
    for (int i = 0; i < n_files && !lost; ++i) {
      const int64_t file = claimed.files(i).id();
      if (n % 2 == 1 && i >= n_files - n_files * o.finish_share / 100) {
        left.push_back(file);
        continue;
      }
      if (o.work_ms > 0) Sleep(o.work_ms);
      if (std::chrono::steady_clock::now() - last_beat >
          std::chrono::milliseconds(o.lease * 1000 / 3)) {
        HeartbeatRequest beat;
        beat.set_run_id(run);
        HeartbeatResponse beaten;
        s = WithRetries(
            20, [&] { return runs->Heartbeat(Ctx().get(), beat, &beaten); });
        if (!s.ok()) {
          lost = true;
          break;
        }
        last_beat = std::chrono::steady_clock::now();
      }
      CompleteFileRequest complete;
      complete.set_file_id(file);
      complete.set_run_id(run);
      complete.set_status(FILE_STATUS_SUCCESS);
      CompleteFileResponse completed;
      s = WithRetries(o.retries, [&] {
        return files->CompleteFile(Ctx().get(), complete, &completed);
      });
      if (s.ok()) {
        LogOk(absl::StrCat("C ", run, " ", file));
      } else {
        lost = true;
      }
    }
    if (lost) continue;
    FinishRunRequest finish;
    finish.set_run_id(run);
    finish.set_status(RUN_STATUS_SUCCESS);
    // Every file this worker saw: the ones it completed and those it left
    // to FinishRun.
    for (const File& f : claimed.files()) finish.add_file_ids(f.id());
    FinishRunResponse finished;
    s = WithRetries(o.retries, [&] {
      return runs->FinishRun(Ctx().get(), finish, &finished);
    });
    if (!s.ok()) continue;
    LogOk(absl::StrCat("F ", run, " ", finished.files_finished()));
    if (finished.files_finished() == static_cast<int>(left.size())) {
      for (int64_t file : left) LogOk(absl::StrCat("G ", run, " ", file));
    }
    if (n_files == 0) Sleep(100);  // nothing to do yet: files may come back
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts, so that every thread inherits the mask and
  // only the sigwait below takes SIGTERM.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  Options o;
  std::string ok_log = "/dev/null";
  for (int i = 1; i < argc; ++i) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    const std::string& k = kv.first;
    const std::string& v = kv.second;
    if (k == "--targets") {
      o.targets = absl::StrSplit(v, ',', absl::SkipEmpty());
    } else if (k == "--threads") {
      o.threads = std::stoi(v);
    } else if (k == "--task") {
      o.task = v;
    } else if (k == "--tag") {
      o.tag = v;
    } else if (k == "--retries") {
      o.retries = std::stoi(v);
    } else if (k == "--lease") {
      o.lease = std::stoi(v);
    } else if (k == "--claim") {
      o.claim = std::stoi(v);
    } else if (k == "--work_ms") {
      o.work_ms = std::stoi(v);
    } else if (k == "--finish_share") {
      o.finish_share = std::stoi(v);
    } else if (k == "--offset") {
      o.offset = std::stoi(v);
    } else if (k == "--ok_log") {
      ok_log = v;
    } else {
      std::fprintf(stderr, "faults_worker: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (o.targets.empty()) {
    std::fprintf(stderr, "faults_worker: --targets is required\n");
    return 2;
  }
  g_log_fd = open(ok_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (g_log_fd < 0) {
    std::perror(ok_log.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) threads.emplace_back(Work, o, t);
  int received = 0;
  sigwait(&term, &received);
  g_stop.store(true);
  for (auto& t : threads) t.join();
  close(g_log_fd);
  return 0;
}
