// A fleet of faults_worker processes that a test kills at random and
// replaces, and the check that every call they saw succeed is in the
// database.
#ifndef METAD_TESTS_FAULTS_WORKER_FLEET_H_
#define METAD_TESTS_FAULTS_WORKER_FLEET_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/faults/fault_support.h"

namespace metad::testing {

struct FleetOptions {
  std::vector<std::string> targets;  // metad addresses
  int processes = 4;
  int threads = 4;  // per process
  std::string task = "ingest";
  int lease_seconds = 2;
  int claim = 10;
  int work_ms = 5;
  int finish_share = 50;  // see faults_worker.cc
  int retries = 20;       // likewise
  std::string dir;        // for ok logs and worker stderr
};

class WorkerFleet {
 public:
  explicit WorkerFleet(FleetOptions options);

  // Spawns options.processes workers.
  bool Start();
  // SIGKILLs one running worker chosen by `rng` and spawns a replacement.
  bool KillOneAndReplace(std::mt19937& rng);
  // SIGTERMs every worker and waits; one line for each that did not exit 0,
  // saying what happened to it (exit code, signal, or no exit in time).
  std::vector<std::string> StopAll(double timeout_seconds = 60);

  int kills() const { return kills_; }
  int spawned() const { return static_cast<int>(logs_.size()); }
  // Every ok log, of killed and live workers alike.
  const std::vector<std::string>& ok_logs() const { return logs_; }

 private:
  struct Slot {
    std::unique_ptr<ChildProcess> child;
    std::string tag;
    double spawned_at = 0;  // MonoSeconds()
  };

  bool SpawnOne(int slot);

  FleetOptions options_;
  std::vector<Slot> slots_;
  std::vector<std::string> logs_;
  int kills_ = 0;
};

// Checks the workers' ok logs (lines as documented in faults_worker.cc) against
// the audit trail: each OK'd StartRun's run exists, each OK'd claim has its
// CLAIMED event, each OK'd CompleteFile its COMPLETED SUCCESS event, each OK'd
// FinishRun its FINISHED SUCCESS run event and each file it finished a FINISHED
// SUCCESS event, all by that run. Two more kinds of line come from in-process
// load generators:
//   R <file> <name>   RegisterFile(s): the file exists with that id and name
//   A <run>           a run its worker abandoned: ended by an EXPIRED event
OkLogReport CheckOkLogs(const std::string& url,
                        const std::vector<std::string>& logs);

// The end of every fleet suite, as GoogleTest expectations: SIGTERM the
// workers (each exits 0), wait for the runs of killed ones to expire, then
// check `files` files, each SUCCESS exactly once with a consistent history;
// every run ended once and none PROCESSING; some runs expired, each within
// `reaper_interval` + kExpirySlackSeconds of its lease lapsing; nothing the
// workers saw succeed is missing. Returns the reports for the figures.
struct FleetOutcome {
  HistoryReport files;
  RunReport runs;
  ExpiryReport expiry;
  OkLogReport ok;
};
FleetOutcome CheckFleetOutcome(const std::string& url, WorkerFleet* fleet,
                               int64_t files, int lease_seconds,
                               double reaper_interval);

}  // namespace metad::testing

#endif  // METAD_TESTS_FAULTS_WORKER_FLEET_H_
