// The process's own figures for /metrics, read from /proc/self (the
// prometheus-cpp of Debian 12 has no process collector): what the standard
// process_* metrics of Prometheus's client libraries report.
#ifndef METAD_DAEMON_HTTP_PROCESS_STATS_H_
#define METAD_DAEMON_HTTP_PROCESS_STATS_H_

#include <optional>
#include <string>

namespace metad::daemon {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  double resident_bytes = 0;      // RSS
  double virtual_bytes = 0;       // address space
  double open_fds = 0;            // entries of /proc/self/fd
  double max_fds = 0;             // RLIMIT_NOFILE's soft limit
  double start_time_seconds = 0;  // Unix time the process started
};

// Reads /proc/self/stat, /proc/stat (boot time) and /proc/self/fd; nullopt
// when /proc cannot be read (not Linux, or /proc not mounted).
std::optional<ProcessStats> ReadProcessStats();

// Parses the text of /proc/<pid>/stat, given the clock ticks per second,
// the page size and the boot time (Unix seconds). nullopt for a malformed
// text. Apart for tests.
std::optional<ProcessStats> ParseProcStat(const std::string& stat,
                                          long ticks_per_second,
                                          long page_bytes, double boot_time);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_PROCESS_STATS_H_
