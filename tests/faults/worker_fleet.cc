#include "tests/faults/worker_fleet.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace metad::testing {

WorkerFleet::WorkerFleet(FleetOptions options) : options_(std::move(options)) {}

bool WorkerFleet::SpawnOne(int slot) {
  const int serial = static_cast<int>(logs_.size());
  const std::string tag = absl::StrCat("w", serial);
  const std::string log = absl::StrCat(options_.dir, "/", tag, ".ok");
  auto child = std::make_unique<ChildProcess>();
  bool ok = child->Spawn(
      {SelfDir() + "/faults_worker",
       absl::StrCat("--targets=", absl::StrJoin(options_.targets, ",")),
       absl::StrCat("--threads=", options_.threads),
       absl::StrCat("--task=", options_.task), absl::StrCat("--tag=", tag),
       absl::StrCat("--lease=", options_.lease_seconds),
       absl::StrCat("--claim=", options_.claim),
       absl::StrCat("--work_ms=", options_.work_ms),
       absl::StrCat("--finish_share=", options_.finish_share),
       absl::StrCat("--retries=", options_.retries),
       // Spread each process's threads over every target.
       absl::StrCat("--offset=", serial * options_.threads),
       absl::StrCat("--ok_log=", log)},
      absl::StrCat(options_.dir, "/", tag, ".stderr"),
      // StopAll may SIGTERM a replacement a few milliseconds after it was
      // spawned, before its main has run: blocked, the signal waits for the
      // worker's sigwait instead of killing it.
      {SIGTERM});
  if (!ok) return false;
  logs_.push_back(log);
  slots_[slot] = Slot{std::move(child), tag, MonoSeconds()};
  return true;
}

bool WorkerFleet::Start() {
  slots_.resize(options_.processes);
  for (int i = 0; i < options_.processes; ++i) {
    if (!SpawnOne(i)) return false;
  }
  return true;
}

bool WorkerFleet::KillOneAndReplace(std::mt19937& rng) {
  int slot = std::uniform_int_distribution<int>(0, options_.processes - 1)(rng);
  slots_[slot].child->Kill(SIGKILL);
  slots_[slot].child->Wait(10);
  ++kills_;
  return SpawnOne(slot);
}

std::vector<std::string> WorkerFleet::StopAll(double timeout_seconds) {
  const double stopped_at = MonoSeconds();
  for (Slot& slot : slots_) slot.child->Kill(SIGTERM);
  std::vector<std::string> unclean;
  for (Slot& slot : slots_) {
    const pid_t pid = slot.child->pid();
    std::string what;
    if (pid <= 0) {
      what = "had no process left to stop";
    } else {
      const int status = slot.child->Wait(timeout_seconds);
      if (status == -1) {
        slot.child->Kill(SIGKILL);
        what = absl::StrCat("did not exit within ", timeout_seconds,
                            " s (SIGKILLed)");
      } else if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        what = absl::StrCat("was killed by signal ", sig, " (", strsignal(sig),
                            ")", WCOREDUMP(status) ? ", core dumped" : "");
      } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        what = absl::StrCat("exited with code ", WEXITSTATUS(status));
      } else {
        continue;  // exited 0
      }
    }
    unclean.push_back(absl::StrFormat(
        "%s (pid %d, SIGTERMed %.3f s after its spawn) %s; stderr in %s/%s"
        ".stderr",
        slot.tag, pid, stopped_at - slot.spawned_at, what, options_.dir,
        slot.tag));
  }
  return unclean;
}

OkLogReport CheckOkLogs(const std::string& url,
                        const std::vector<std::string>& logs) {
  // What the database says happened, as (kind, run, file) facts.
  std::set<std::tuple<char, int64_t, int64_t>> facts;
  for (const auto& row : QueryRows(url, "SELECT id FROM task_log")) {
    facts.emplace('S', std::stoll(row[0]), 0);
  }
  for (const auto& row :
       QueryRows(url,
                 "SELECT run_id FROM run_events WHERE kind = 'FINISHED' "
                 "AND to_status = 'SUCCESS'")) {
    facts.emplace('F', std::stoll(row[0]), 0);
  }
  for (const auto& row : QueryRows(
           url,
           "SELECT CASE kind WHEN 'CLAIMED' THEN 'K' WHEN 'COMPLETED' THEN 'C' "
           "ELSE 'G' END, run_id, file_id FROM file_events "
           "WHERE kind = 'CLAIMED' OR (kind IN ('COMPLETED', 'FINISHED') "
           "AND to_status = 'SUCCESS')")) {
    facts.emplace(row[0][0], std::stoll(row[1]), std::stoll(row[2]));
  }
  for (const auto& row :
       QueryRows(url, "SELECT run_id FROM run_events WHERE kind = 'EXPIRED'")) {
    facts.emplace('A', std::stoll(row[0]), 0);
  }
  std::unordered_map<int64_t, std::string> names;
  for (const auto& row : QueryRows(url, "SELECT id, file_name FROM files")) {
    names.emplace(std::stoll(row[0]), row[1]);
  }
  OkLogReport report;
  std::set<int64_t> claim_calls;  // runs with an OK'd claim of some files
  for (const std::string& path : logs) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      char kind = 0;
      int64_t run = 0, file = 0;
      fields >> kind >> run;
      if (kind == 'K' || kind == 'C' || kind == 'G') fields >> file;
      ++report.entries;
      if (kind == 'S' || kind == 'C' || kind == 'F' || kind == 'R') {
        ++report.calls;
      }
      if (kind == 'K') claim_calls.insert(run);
      bool found;
      if (kind == 'R') {  // "R <file id> <file name>"
        std::string name;
        fields >> name;
        auto it = names.find(run);
        found = it != names.end() && it->second == name;
      } else {
        found = facts.count({kind, run, file}) > 0;
      }
      if (!found) {
        ++report.missing;
        if (report.examples.size() < 10) {
          report.examples.push_back(absl::StrCat(path, ": ", line));
        }
      }
    }
  }
  report.calls += static_cast<int64_t>(claim_calls.size());
  return report;
}

FleetOutcome CheckFleetOutcome(const std::string& url, WorkerFleet* fleet,
                               int64_t files, int lease_seconds,
                               double reaper_interval) {
  std::vector<std::string> unclean = fleet->StopAll();
  EXPECT_TRUE(unclean.empty()) << "workers that did not exit 0 on SIGTERM:\n"
                               << absl::StrJoin(unclean, "\n");
  EXPECT_TRUE(WaitNoProcessingRuns(url, lease_seconds + 15))
      << "runs still PROCESSING long after their leases lapsed";
  FleetOutcome out;
  out.files = CheckFileHistories(url);
  EXPECT_EQ(out.files.violation_count, 0)
      << absl::StrJoin(out.files.violations, "\n");
  EXPECT_EQ(out.files.files, files);
  EXPECT_EQ(out.files.succeeded_once, files);
  EXPECT_EQ(out.files.succeeded_twice, 0);
  out.runs = CheckRunHistories(url);
  EXPECT_EQ(out.runs.violation_count, 0)
      << absl::StrJoin(out.runs.violations, "\n");
  EXPECT_EQ(out.runs.processing, 0);
  EXPECT_EQ(out.runs.expired_twice, 0);
  EXPECT_GT(out.runs.expired, 0) << "no kill left a run to expire";
  out.expiry = MeasureExpiryDelays(url);
  EXPECT_LE(out.expiry.max_delay_seconds,
            reaper_interval + kExpirySlackSeconds);
  out.ok = CheckOkLogs(url, fleet->ok_logs());
  EXPECT_EQ(out.ok.missing, 0) << absl::StrJoin(out.ok.examples, "\n");
  return out;
}

}  // namespace metad::testing
