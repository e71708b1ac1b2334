#include "daemon/http/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace metad::daemon {
namespace {

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "btime <seconds>" of /proc/stat.
std::optional<double> BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) {
      double seconds = 0;
      if (absl::SimpleAtod(line.substr(6), &seconds)) return seconds;
    }
  }
  return std::nullopt;
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory stream's own descriptor
}

}  // namespace

std::optional<ProcessStats> ParseProcStat(const std::string& stat,
                                          long ticks_per_second,
                                          long page_bytes, double boot_time) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos || ticks_per_second <= 0) return std::nullopt;
  std::vector<std::string> fields = absl::StrSplit(
      stat.substr(close + 1), absl::ByAnyChar(" \n"), absl::SkipEmpty());
  // fields[0] is field 3 (state) of proc(5): field N is fields[N - 3].
  auto field = [&](int n, double* out) {
    return static_cast<int>(fields.size()) > n - 3 &&
           absl::SimpleAtod(fields[n - 3], out);
  };
  double utime, stime, start_ticks, vsize, rss_pages;
  if (!field(14, &utime) || !field(15, &stime) || !field(22, &start_ticks) ||
      !field(23, &vsize) || !field(24, &rss_pages)) {
    return std::nullopt;
  }
  ProcessStats stats;
  stats.cpu_seconds = (utime + stime) / ticks_per_second;
  stats.start_time_seconds = boot_time + start_ticks / ticks_per_second;
  stats.virtual_bytes = vsize;
  stats.resident_bytes = rss_pages * page_bytes;
  return stats;
}

std::optional<ProcessStats> ReadProcessStats() {
  std::optional<std::string> stat = ReadFile("/proc/self/stat");
  std::optional<double> boot_time = BootTime();
  if (!stat.has_value() || !boot_time.has_value()) return std::nullopt;
  std::optional<ProcessStats> stats = ParseProcStat(
      *stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), *boot_time);
  if (!stats.has_value()) return std::nullopt;
  stats->open_fds = CountOpenFds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats->max_fds = static_cast<double>(limit.rlim_cur);
  }
  return stats;
}

}  // namespace metad::daemon
