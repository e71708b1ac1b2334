#include "daemon/background/retention.h"

#include <algorithm>
#include <exception>
#include <limits>

#include "absl/time/clock.h"
#include "common/log.h"

namespace metad::daemon {
namespace {

// No batch may run longer than this, whatever the caller's deadline.
constexpr absl::Duration kBatchTimeout = absl::Seconds(30);
// A call stops starting batches this close to its deadline.
constexpr absl::Duration kDeadlineMargin = absl::Seconds(1);

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

}  // namespace

absl::StatusOr<PruneResult> PruneHistory(store::RetentionStore* store,
                                         const PruneOptions& options,
                                         absl::Time now, absl::Time deadline,
                                         const std::function<bool()>& stop) {
  PruneResult result;
  result.cutoff = now - options.older_than;
  const int64_t cutoff = ToMicros(result.cutoff);
  store::TxOptions tx;
  auto out_of_time = [&] {
    return (stop && stop()) || absl::Now() + kDeadlineMargin >= deadline;
  };
  auto batch_options = [&] {
    tx.deadline = std::min(deadline, absl::Now() + kBatchTimeout);
    return tx;
  };
  if (options.dry_run) {
    absl::StatusOr<store::PruneCounts> counts =
        store->CountPrunable(batch_options(), cutoff);
    if (!counts.ok()) return counts.status();
    result.counts = *counts;
    result.complete = true;
    return result;
  }
  auto batches_left = [&](int done) {
    return options.max_batches == 0 || done < options.max_batches;
  };
  // Whole partitions first (almost no WAL), then batches for what is left
  // of the old history in partially old partitions.
  auto drop_partitions = [&](store::EventTable table,
                             int64_t* events) -> absl::Status {
    int64_t after = std::numeric_limits<int64_t>::min();
    while (!out_of_time()) {
      absl::StatusOr<store::PartitionDrop> drop =
          store->DropPartition(batch_options(), table, cutoff, after);
      if (!drop.ok()) return drop.status();
      result.counts.runs += drop->runs;
      *events += drop->events;
      if (drop->events > 0) ++result.partitions;
      if (!drop->next_after) break;
      after = *drop->next_after;
    }
    return absl::OkStatus();
  };
  if (absl::Status s = store->EnsurePartitions(batch_options()).status();
      !s.ok()) {
    return s;
  }
  if (absl::Status s = drop_partitions(store::EventTable::kRunEvents,
                                       &result.counts.run_events);
      !s.ok()) {
    return s;
  }
  // Runs first: their events go with them.
  bool runs_done = false;
  int64_t after_run = 0;
  for (int n = 0; batches_left(n); ++n) {
    if (out_of_time()) return result;
    absl::StatusOr<store::PruneCounts> batch = store->PruneRuns(
        batch_options(), cutoff, options.batch_size, &after_run);
    if (!batch.ok()) return batch.status();
    result.counts.runs += batch->runs;
    result.counts.run_events += batch->run_events;
    if (batch->runs > 0) ++result.batches;
    if (batch->runs < options.batch_size) {
      runs_done = true;
      break;
    }
  }
  if (absl::Status s = drop_partitions(store::EventTable::kFileEvents,
                                       &result.counts.file_events);
      !s.ok()) {
    return s;
  }
  bool events_done = false;
  for (int n = 0; batches_left(n); ++n) {
    if (out_of_time()) return result;
    absl::StatusOr<int64_t> deleted =
        store->PruneFileEvents(batch_options(), cutoff, options.batch_size);
    if (!deleted.ok()) return deleted.status();
    result.counts.file_events += *deleted;
    if (*deleted > 0) ++result.batches;
    if (*deleted < options.batch_size) {
      events_done = true;
      break;
    }
  }
  result.complete = runs_done && events_done;
  return result;
}

RetentionPruner::RetentionPruner(
    store::Database* db, PruneOptions options, absl::Duration interval,
    std::function<void(const store::PruneCounts&)> on_pruned)
    : store_(db),
      options_(options),
      interval_(interval),
      on_pruned_(std::move(on_pruned)) {}

RetentionPruner::~RetentionPruner() { Stop(); }

void RetentionPruner::Start() {
  thread_ = std::thread([this] {
    // First round soon after start, then every interval.
    absl::Duration wait = std::min(interval_, absl::Seconds(10));
    while (!stop_.WaitForNotificationWithTimeout(wait)) {
      RunOnce();
      wait = interval_;
    }
  });
}

void RetentionPruner::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void RetentionPruner::RunOnce() {
  absl::Time start = absl::Now();
  try {
    // A round may take a while on a large backlog, but never past the next
    // one's start, and each batch is short anyway.
    absl::StatusOr<PruneResult> result = PruneHistory(
        &store_, options_, start, start + std::max(interval_, absl::Minutes(1)),
        [this] { return stop_.HasBeenNotified(); });
    if (!result.ok()) {
      log::Warn("retention_failed",
                {{"code", absl::StatusCodeToString(result.status().code())},
                 {"error", result.status().message()}});
      return;
    }
    if (on_pruned_) on_pruned_(result->counts);
    const store::PruneCounts& c = result->counts;
    if (c.runs + c.run_events + c.file_events > 0 || !result->complete) {
      log::Info("retention_pruned",
                {{"runs", c.runs},
                 {"run_events", c.run_events},
                 {"file_events", c.file_events},
                 {"batches", result->batches},
                 {"partitions", result->partitions},
                 {"complete", result->complete},
                 {"seconds", absl::ToDoubleSeconds(absl::Now() - start)}});
    }
  } catch (const std::exception& e) {
    // Last guard: the pruner thread never takes the daemon down.
    log::Error("retention_failed", {{"error", e.what()}});
  }
}

}  // namespace metad::daemon
