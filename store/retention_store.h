// Retention: deleting old finished runs, their run events and old file
// events in small batches, each in its own short transaction (see
// proto/metad/v1/admin.proto for what is kept and why).
//
// Concurrency: every batch locks the rows it deletes with FOR UPDATE SKIP
// LOCKED, so pruners in several replicas (or an admin call next to them)
// take disjoint rows instead of waiting on each other; the only row they
// share is retention_state's per-table mark, updated last and briefly.
#ifndef METAD_STORE_RETENTION_STORE_H_
#define METAD_STORE_RETENTION_STORE_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "store/database.h"
#include "store/watch_store.h"

namespace metad::store {

struct PruneCounts {
  int64_t runs = 0;
  int64_t run_events = 0;
  int64_t file_events = 0;
};

// What one RetentionStore::DropPartition call removed.
struct PartitionDrop {
  // Where the next call starts; empty when there is nothing more to drop
  // this round (no candidate left, a younger file event, or the lock was
  // not had within a second).
  std::optional<int64_t> next_after;
  int64_t events = 0;
  int64_t runs = 0;
};

class RetentionStore {
 public:
  explicit RetentionStore(Database* db) : db_(db) {}

  // One transaction: deletes up to `limit` runs with id > *after_run_id
  // that ended (SUCCESS or ERROR) before `cutoff_micros` and that no file
  // points to, with their run events, lowest id first; raises
  // retention_state's run_events mark. Sets *after_run_id to the largest run
  // id deleted, so the next batch does not rescan the kept runs before it.
  // A result with runs < limit means nothing more to do after *after_run_id
  // (rows another pruner holds are its to delete). Only Database::Transact's
  // own codes.
  absl::StatusOr<PruneCounts> PruneRuns(const TxOptions& options,
                                        int64_t cutoff_micros, int limit,
                                        int64_t* after_run_id);

  // One transaction: deletes the file events recorded before
  // `cutoff_micros` among the `limit` lowest-id ones not locked by another
  // pruner, stopping at the first younger event (ids and times grow
  // together, so this walks only the old head of the table, never a full
  // scan); raises retention_state's file_events mark. Returns how many it
  // deleted: fewer than `limit` means none is left (within that walk).
  // Only Database::Transact's own codes.
  absl::StatusOr<int64_t> PruneFileEvents(const TxOptions& options,
                                          int64_t cutoff_micros, int limit);

  // One transaction: drops the lowest whole partition of `table` starting
  // at or after `after` when every row in it is one retention deletes
  // anyway (old file events as an id prefix; run events of old runs that no
  // file points to, those runs going with it), and raises the table's
  // retention_state mark as a batched delete would
  // (migrations/0014_partitioned_history.up.sql). Only
  // Database::Transact's own codes.
  absl::StatusOr<PartitionDrop> DropPartition(const TxOptions& options,
                                              EventTable table,
                                              int64_t cutoff_micros,
                                              int64_t after);

  // Creates the event partitions due ahead of the id sequences (one
  // replica at a time); returns how many. Only Database::Transact's codes.
  absl::StatusOr<int> EnsurePartitions(const TxOptions& options);

  // What PruneRuns and PruneFileEvents would delete in total (file events
  // counted as all those recorded before the cutoff). Reads only.
  absl::StatusOr<PruneCounts> CountPrunable(const TxOptions& options,
                                            int64_t cutoff_micros);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_RETENTION_STORE_H_
