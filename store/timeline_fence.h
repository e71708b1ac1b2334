// Fence against an old primary that came back unfenced (issue 14). After a
// failover, an old primary restarted without its HA manager's fencing
// accepts writes on its old timeline, and a multi-host URL that lists it
// first picks it again. Every new connection reads the server's system
// identifier and timeline; the pool keeps the highest timeline seen of the
// first system seen, and refuses a primary of a lower timeline of it or of
// another system: that connection is closed, the URL's other hosts are
// tried, and the call answers UNAVAILABLE if none is admitted.
//
// A daemon that starts (or reconnects) can meet the stale primary first.
// Two more sources of the highest timeline cover that:
//   - peers: each new connection to a primary also reads the URL's other
//     hosts (Database::OpenAdmitted); a primary behind any of them of the
//     same system (another primary, or a standby that has reached a later
//     timeline) is refused;
//   - a state file (--fence_state_file, fence_state.h): the highest
//     (system, timeline) seen, kept across restarts.
// Limit: with neither (a fresh daemon, no state file, and no other host
// reachable that shows the later timeline) the stale primary is admitted;
// fencing the old node (Patroni, pg_auto_failover) stays necessary.
#ifndef METAD_STORE_TIMELINE_FENCE_H_
#define METAD_STORE_TIMELINE_FENCE_H_

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace metad::store {

struct ServerIdentity {
  std::string system_id;
  bool in_recovery = false;
  // A primary's timeline. A standby's is a lower bound of the timeline it
  // has reached: its WAL receiver's (visible to superusers and members of
  // pg_read_all_stats, and only while it streams), else that of its last
  // restartpoint or minimum recovery point, which lag; 0 when unknown.
  int64_t timeline = 0;
  std::string server;  // host:port, for messages
};

// Reads the identity of the server `conn` reached (one statement).
ServerIdentity ReadServerIdentity(pqxx::connection& conn);

class TimelineFence {
 public:
  // Remembers the highest timeline in `path` (fence_state.h) from now on,
  // and starts from what it holds. INVALID_ARGUMENT if it cannot be read.
  absl::Status UseStateFile(const std::string& path);

  // OK, remembering a higher timeline; UNAVAILABLE for a primary of a lower
  // timeline of the system seen, or behind one of `peers` (the URL's other
  // hosts, read just now) of that system, or of another system. Standbys
  // are admitted (they refuse writes themselves) and change nothing.
  absl::Status Admit(const ServerIdentity& server,
                     const std::vector<ServerIdentity>& peers = {});

  // Primaries refused since start.
  int64_t refused() const;

 private:
  // Writes the state file (if any) after a change; a failure is logged.
  void SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::string system_id_ ABSL_GUARDED_BY(mu_);  // empty: none seen yet
  int64_t timeline_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::string state_file_ ABSL_GUARDED_BY(mu_);
};

// The connection strings of each host of a libpq URL or key=value string,
// in order, every other setting kept (empty when it lists one host or
// cannot be parsed): what a refused host's connection falls back to.
std::vector<std::string> PerHostConnectionStrings(const std::string& url);

}  // namespace metad::store

#endif  // METAD_STORE_TIMELINE_FENCE_H_
