// Shared by the fault-injection suites (tests/faults/*_pgtest.cc): dedicated
// PostgreSQL clusters that a test may stop and start, child processes,
// queries returning many rows, consistency checks of the audit trail, and the
// figures each scenario reports.
//
// The suites run against real processes on loopback only: the built metad
// (tests/support/daemon_process.h), PostgreSQL (the shared test cluster in
// METAD_TEST_PG, or a dedicated one from PgCluster) and faults_worker.
#ifndef METAD_TESTS_FAULTS_FAULT_SUPPORT_H_
#define METAD_TESTS_FAULTS_FAULT_SUPPORT_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace metad::testing {

// True when METAD_FAULTS_LONG=1 (scripts/faults.sh --long): the suites
// inject more faults and move more data.
bool LongMode();

// Picks the short or the long figure.
template <typename T>
T ShortOrLong(T short_value, T long_value) {
  return LongMode() ? long_value : short_value;
}

// Seconds on a monotonic clock since the first call (for latencies).
double MonoSeconds();
// Microseconds since the Unix epoch on the wall clock, comparable with the
// database's now() (same machine) via metad_us().
int64_t WallMicros();

// A deadline `seconds` from now, for a ClientContext.
std::unique_ptr<grpc::ClientContext> Ctx(double seconds = 10);

// Threads that are joined when the group goes out of scope, also when an
// ASSERT returns early (a joinable std::thread would abort the binary and
// leak the daemons and clusters it started): `stop` is called first, to
// make them finish.
class JoiningThreads {
 public:
  explicit JoiningThreads(std::function<void()> stop)
      : stop_(std::move(stop)) {}
  ~JoiningThreads() { JoinAll(); }
  JoiningThreads(const JoiningThreads&) = delete;
  JoiningThreads& operator=(const JoiningThreads&) = delete;

  template <typename F>
  void Add(F&& body) {
    threads_.emplace_back(std::forward<F>(body));
  }
  // Calls stop, then joins every thread.
  void JoinAll() {
    if (stop_) stop_();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  std::function<void()> stop_;
  std::vector<std::thread> threads_;
};

// A PostgreSQL 15 cluster of its own, listening on 127.0.0.1 only, that a
// test may stop (as an outage) and start again on the same port and data.
// As root, the cluster runs as the `postgres` system user (initdb refuses
// root). Stopped and deleted by the destructor.
class PgCluster {
 public:
  PgCluster() = default;
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // initdb into a fresh directory under METAD_FAULTS_WORKDIR (or /tmp) and
  // start with `settings` ("max_connections=10", ...) added to the defaults
  // (fsync off, synchronous_commit on: see Create). False (with the reason
  // on stderr) on failure.
  bool Create(const std::vector<std::string>& settings = {});
  // A streaming standby of `primary` (pg_basebackup -R over loopback into
  // a fresh directory), started on a port of its own with `settings`.
  bool CreateStandbyOf(const PgCluster& primary,
                       const std::vector<std::string>& settings = {});
  // pg_ctl promote -w: the standby becomes a primary on a new timeline.
  bool Promote();
  // pg_ctl start -w on the same port; true once it accepts connections.
  bool Start();
  // pg_ctl stop -m `mode` ("fast" or "immediate"), waiting until it is down.
  bool Stop(const std::string& mode = "fast");

  // libpq key=value strings for a database (TCP on 127.0.0.1).
  std::string Url(const std::string& dbname) const;
  int port() const { return port_; }

 private:
  bool PgCtl(const std::vector<std::string>& args);

  std::string dir_;
  std::string options_;  // the -o argument of pg_ctl start
  int port_ = 0;
  bool running_ = false;
};

// Creates database `name` on the cluster reachable through `admin_url` (a
// URL whose dbname is an existing database such as postgres).
void CreateDatabase(const std::string& admin_url, const std::string& name);

// Every row of `sql` as text (NULL as ""). For setup and checks only.
using Rows = std::vector<std::vector<std::string>>;
Rows QueryRows(const std::string& url, const std::string& sql);
int64_t QueryInt(const std::string& url, const std::string& sql);

// A child process (posix_spawn) with stdout and stderr to `log_path`.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;

  // argv[0] is looked up on PATH unless it contains a slash. The child starts
  // with `blocked_signals` added to the caller's signal mask (it survives
  // exec), so such a signal sent before the program is ready stays pending.
  bool Spawn(const std::vector<std::string>& argv, const std::string& log_path,
             const std::vector<int>& blocked_signals = {});
  void Kill(int signal);
  // waitpid with a timeout; the status, or -1 on timeout.
  int Wait(double timeout_seconds);
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// The directory of the running test binary (where faults_worker lives).
std::string SelfDir();
// A fresh scratch directory for one test's logs.
std::string ScratchDir(const std::string& label);

// Polls until no run is PROCESSING (the runs of dead workers were ended by
// lease expiry); false after `timeout_seconds`.
bool WaitNoProcessingRuns(const std::string& url, double timeout_seconds);

// Checks the audit trail of every file against the state machine of the
// core issue:
//   REGISTERED (from NULL to NEW) first and once; CLAIMED NEW->PROCESSING by
//   a run R; then COMPLETED or FINISHED (PROCESSING->SUCCESS|ERROR) or
//   RELEASED (PROCESSING->NEW) by that same R; RESET ERROR->NEW; each
//   event's from_status is the previous event's to_status; the last event's
//   to_status is the file's status and a held or finished file's run_id is
//   the run of its last CLAIMED event.
// Also counts, per file, how often it reached SUCCESS.
struct HistoryReport {
  int64_t files = 0;
  int64_t events = 0;
  int64_t claims = 0;
  int64_t releases = 0;
  // Files whose history reached SUCCESS exactly once / more than once.
  int64_t succeeded_once = 0;
  int64_t succeeded_twice = 0;
  std::vector<std::string> violations;  // the first 20
  int64_t violation_count = 0;
};
HistoryReport CheckFileHistories(const std::string& url);

// Checks every run's events: STARTED first and once, at most one ending event
// (FINISHED or EXPIRED), matching the run's status; an EXPIRED run is ERROR
// with a "lease expired" message.
struct RunReport {
  int64_t runs = 0;
  int64_t finished = 0;
  int64_t expired = 0;
  int64_t processing = 0;
  int64_t expired_twice = 0;  // runs with more than one EXPIRED event
  std::vector<std::string> violations;
  int64_t violation_count = 0;
};
RunReport CheckRunHistories(const std::string& url);

// How much later than "lease + one reaper interval" a lapsed run may be
// ended before a suite fails: a sweep takes time itself (one transaction per
// run, in every replica), and the suites share a 2-core machine whose load
// average passed 30 while they were written. The figures report the delay
// actually measured.
constexpr double kExpirySlackSeconds = 2.0;

// How late the expired runs were ended: per run, the time of its EXPIRED
// event minus the moment its lease lapsed (the later of start/heartbeat +
// lease_seconds, which is what the daemon computes), in seconds. Runs whose
// lease lapsed while no daemon was up are measured from `up_again`, the
// wall-clock micros at which a daemon was serving again (pairs of
// [down, up] windows).
struct ExpiryReport {
  int64_t expired_runs = 0;
  double max_delay_seconds = 0;
  double mean_delay_seconds = 0;
};
ExpiryReport MeasureExpiryDelays(
    const std::string& url,
    const std::vector<std::pair<int64_t, int64_t>>& down_windows = {});

// What CheckOkLogs (worker_fleet.h) found.
struct OkLogReport {
  int64_t calls = 0;    // OK'd calls checked (RegisterFiles: once per file)
  int64_t entries = 0;  // lines (a claim counts once per file)
  int64_t missing = 0;  // lines with nothing in the database
  std::vector<std::string> examples;  // the first missing lines
};

// One line of figures per scenario: printed as `FAULTS {json}` and appended
// to $METAD_FAULTS_REPORT (scripts/faults.sh collects them into a table).
class Figures {
 public:
  explicit Figures(std::string scenario);
  Figures& Add(const std::string& key, int64_t value);
  Figures& Add(const std::string& key, double value);
  Figures& Add(const std::string& key, const std::string& value);
  // The figures of the audit-trail checks and of the ok-log check, under the
  // same keys in every scenario.
  Figures& AddAudit(const HistoryReport& files, const RunReport& runs,
                    const ExpiryReport& expiry);
  Figures& AddOkLog(const OkLogReport& ok);
  void Emit();

 private:
  std::string scenario_;
  std::vector<std::pair<std::string, std::string>> fields_;  // key -> json
};

// Counts status codes and keeps the worst latency per code, thread-safe.
class CallTally {
 public:
  void Record(grpc::StatusCode code, double seconds);
  int64_t count(grpc::StatusCode code) const;
  int64_t total() const;
  double max_seconds(grpc::StatusCode code) const;
  // "OK=12 UNAVAILABLE=3" for messages.
  std::string Summary() const;

 private:
  mutable std::mutex mu_;
  std::map<int, std::pair<int64_t, double>> by_code_;
};

std::string CodeName(grpc::StatusCode code);

}  // namespace metad::testing

#endif  // METAD_TESTS_FAULTS_FAULT_SUPPORT_H_
