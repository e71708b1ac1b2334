#include "bench/pgbench_runner.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace metad::bench {
namespace {

// The number after `key` on the line that starts with it, e.g.
// "tps = 5321.2 (without initial connection time)".
bool NumberAfter(const std::string& line, const std::string& key, double* out) {
  if (!absl::StartsWith(line, key)) return false;
  std::string rest = line.substr(key.size());
  size_t end = rest.find_first_of(" (\n");
  return absl::SimpleAtod(rest.substr(0, end), out);
}

// Per-transaction log lines: client_id transaction_no time script_no
// time_epoch time_us [schedule_lag]. `time` is microseconds (from the
// scheduled start under --rate), or "failed"/"skipped".
void ReadLogs(const std::string& dir, std::vector<int64_t>* micros) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    if (!absl::StartsWith(e->d_name, "pgbench_log")) continue;
    std::ifstream in(absl::StrCat(dir, "/", e->d_name));
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      int64_t us;
      if (f.size() >= 3 && absl::SimpleAtoi(f[2], &us)) micros->push_back(us);
    }
  }
  closedir(d);
}

void RemoveDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d != nullptr) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") {
        unlink(absl::StrCat(dir, "/", name).c_str());
      }
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

}  // namespace

absl::StatusOr<PgbenchResult> RunPgbench(const PgbenchRun& run) {
  char dir_template[] = "/tmp/metad-pgbench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    return absl::InternalError("cannot create a directory for pgbench logs");
  }
  const std::string dir = dir_template;
  const int threads = std::max(1, std::min(run.threads, run.clients));
  std::string command = absl::StrCat(
      run.pgbench, " -n -c ", run.clients, " -j ", threads, " -T ", run.seconds,
      " -f ", run.script, " -l --log-prefix=", dir, "/pgbench_log");
  if (run.rate > 0) absl::StrAppend(&command, " -R ", run.rate);
  absl::StrAppend(&command, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    RemoveDir(dir);
    return absl::InternalError(absl::StrCat("cannot run ", run.pgbench));
  }
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) {
    output.append(buffer, n);
  }
  int rc = pclose(pipe);

  PgbenchResult result;
  std::istringstream lines(output);
  std::string line;
  double value;
  while (std::getline(lines, line)) {
    if (NumberAfter(line,
                    "number of transactions actually processed: ", &value)) {
      result.transactions = static_cast<int64_t>(value);
    } else if (NumberAfter(line, "number of failed transactions: ", &value)) {
      result.failed = static_cast<int64_t>(value);
    } else if (NumberAfter(line, "tps = ", &value)) {
      result.tps = value;
    }
  }
  std::vector<int64_t> micros;
  ReadLogs(dir, &micros);
  RemoveDir(dir);
  result.latency = ComputePercentiles(&micros);
  if (rc != 0 || result.transactions == 0) {
    return absl::InternalError(
        absl::StrCat("pgbench failed (", command, "):\n", output));
  }
  return result;
}

}  // namespace metad::bench
