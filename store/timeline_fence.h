// Fence against an old primary that came back unfenced (issue 14). After a
// failover, an old primary restarted without its HA manager's fencing
// accepts writes on its old timeline, and a multi-host URL that lists it
// first picks it again. Every new connection reads the server's system
// identifier and timeline; the pool keeps the highest timeline seen of the
// first system seen, and refuses a primary of a lower timeline of it or of
// another system: that connection is closed, the URL's other hosts are
// tried, and the call answers UNAVAILABLE if none is admitted.
//
// Limit: the highest timeline lives in the daemon's memory. A daemon that
// starts while the only primary it can reach is the stale one cannot tell;
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
  int64_t timeline = 0;  // 0 for a standby
};

// Reads the identity of the server `conn` reached (one statement).
ServerIdentity ReadServerIdentity(pqxx::connection& conn);

class TimelineFence {
 public:
  // OK, remembering a higher timeline; UNAVAILABLE for a primary of a lower
  // timeline of the system seen, or of another system. Standbys are
  // admitted (they refuse writes themselves) and change nothing.
  absl::Status Admit(const ServerIdentity& server);

  // Primaries refused since start.
  int64_t refused() const;

 private:
  mutable absl::Mutex mu_;
  std::string system_id_ ABSL_GUARDED_BY(mu_);  // empty: none seen yet
  int64_t timeline_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

// The connection strings of each host of a libpq URL or key=value string,
// in order, every other setting kept (empty when it lists one host or
// cannot be parsed): what a refused host's connection falls back to.
std::vector<std::string> PerHostConnectionStrings(const std::string& url);

}  // namespace metad::store

#endif  // METAD_STORE_TIMELINE_FENCE_H_
