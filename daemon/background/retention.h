// Retention: pruning old history in batches (store::RetentionStore), for
// AdminService.PruneHistory and for `metad serve --retention`, which runs it
// periodically in every replica (replicas skip each other's rows, see
// store/retention_store.h).
#ifndef METAD_DAEMON_BACKGROUND_RETENTION_H_
#define METAD_DAEMON_BACKGROUND_RETENTION_H_

#include <atomic>
#include <functional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "store/database.h"
#include "store/retention_store.h"

namespace metad::daemon {

struct PruneOptions {
  // Prune what ended or was recorded before now - older_than.
  absl::Duration older_than = absl::Hours(24 * 30);
  int batch_size = 1000;
  // Batches per table; 0 for no limit.
  int max_batches = 0;
  bool dry_run = false;
};

struct PruneResult {
  absl::Time cutoff;
  store::PruneCounts counts;
  int batches = 0;     // transactions that deleted something
  int partitions = 0;  // whole partitions dropped (not in batches)
  bool complete = false;
};

// Makes the event partitions due ahead, then prunes runs (with their
// events), then file events: whole old partitions dropped first, then the
// rest batch by batch, until
// nothing old is left, max_batches, `deadline` is less than a second away or
// `stop` says so (then complete is false). `now` is injected for tests. On
// an error, returns it: the batches before it stay committed.
absl::StatusOr<PruneResult> PruneHistory(store::RetentionStore* store,
                                         const PruneOptions& options,
                                         absl::Time now, absl::Time deadline,
                                         const std::function<bool()>& stop);

// `metad serve --retention`: PruneHistory every `interval` on a thread.
class RetentionPruner {
 public:
  // `on_pruned` (may be empty) hears what each round deleted (metrics).
  RetentionPruner(store::Database* db, PruneOptions options,
                  absl::Duration interval,
                  std::function<void(const store::PruneCounts&)> on_pruned);
  ~RetentionPruner();  // stops

  void Start();
  void Stop();
  // One round; logs and swallows failures (the next round tries again).
  void RunOnce();

 private:
  store::RetentionStore store_;
  PruneOptions options_;
  absl::Duration interval_;
  std::function<void(const store::PruneCounts&)> on_pruned_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_RETENTION_H_
