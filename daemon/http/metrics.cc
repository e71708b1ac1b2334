#include "daemon/http/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "absl/status/status.h"
#include "daemon/http/process_stats.h"

namespace metad::daemon {
namespace {

template <typename Builder>
auto& Build(Builder builder, const char* name, const char* help,
            prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

Metrics::Metrics(const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      calls_(Build(prometheus::BuildCounter(), "metad_rpc_calls_total",
                   "RPCs finished, by method and status code", *registry_)),
      latency_(Build(prometheus::BuildHistogram(), "metad_rpc_latency_seconds",
                     "RPC latency from arrival to finish, by method",
                     *registry_)),
      pool_open_(Build(prometheus::BuildGauge(), "metad_db_pool_open",
                       "Database connections open", *registry_)
                     .Add({})),
      pool_in_use_(Build(prometheus::BuildGauge(), "metad_db_pool_in_use",
                         "Database connections lent to calls", *registry_)
                       .Add({})),
      pool_waiting_(Build(prometheus::BuildGauge(), "metad_db_pool_waiting",
                          "Calls waiting for a database connection", *registry_)
                        .Add({})),
      tx_retries_(Build(prometheus::BuildCounter(), "metad_tx_retries_total",
                        "Transactions retried after a serialization failure, "
                        "deadlock or lost connection",
                        *registry_)
                      .Add({})),
      reads_(Build(prometheus::BuildCounter(), "metad_db_reads_total",
                   "Read transactions with --read_database, by where they "
                   "ran: standby; read_pool_primary (the read URL found no "
                   "standby); primary_lagging (the standby had not replayed "
                   "the caller's metad-min-lsn); primary_unreachable",
                   *registry_)),
      leases_expired_(Build(prometheus::BuildCounter(),
                            "metad_leases_expired_total",
                            "Runs this replica ended because their lease "
                            "lapsed",
                            *registry_)
                          .Add({})),
      leases_extended_(Build(prometheus::BuildCounter(),
                             "metad_leases_extended_total",
                             "Runs whose lease this replica pushed back by "
                             "an outage of the database (the lease clock)",
                             *registry_)
                           .Add({})),
      pruned_(Build(prometheus::BuildCounter(),
                    "metad_retention_pruned_rows_total",
                    "Rows this replica's --retention pruner deleted, by table",
                    *registry_)),
      alerts_(Build(prometheus::BuildCounter(), "metad_alerts_total",
                    "Missed deadlines (DEADLINE_MISSED) and stale sources "
                    "(STALE) this replica recorded, by kind",
                    *registry_)),
      files_(Build(prometheus::BuildGauge(), "metad_files",
                   "Files per status (whole database)", *registry_)),
      runs_(Build(prometheus::BuildGauge(), "metad_runs",
                  "Runs per status (whole database)", *registry_)),
      oldest_processing_(Build(prometheus::BuildGauge(),
                               "metad_oldest_processing_run_age_seconds",
                               "Age of the oldest PROCESSING run (0 when none)",
                               *registry_)
                             .Add({})),
      db_up_(Build(prometheus::BuildGauge(), "metad_db_up",
                   "1 when the database answers, else 0", *registry_)
                 .Add({})),
      writes_durable_(Build(prometheus::BuildGauge(), "metad_writes_durable",
                            "1 when a write can be made durable now (the "
                            "monitor's write probe), else 0; reason says why",
                            *registry_)),
      rpc_queued_(Build(prometheus::BuildGauge(), "metad_rpc_queued_calls",
                        "Calls waiting for a handler thread (RESOURCE_"
                        "EXHAUSTED beyond --max_queued_calls)",
                        *registry_)
                      .Add({})),
      rpc_busy_(Build(prometheus::BuildGauge(), "metad_rpc_busy_workers",
                      "Handler threads running a call (of --pool_size)",
                      *registry_)
                    .Add({})),
      watch_streams_(Build(prometheus::BuildGauge(), "metad_watch_streams",
                           "WatchFiles and WatchRuns streams open", *registry_)
                         .Add({})),
      cpu_seconds_(
          Build(prometheus::BuildCounter(), "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds", *registry_)
              .Add({})),
      resident_bytes_(Build(prometheus::BuildGauge(),
                            "process_resident_memory_bytes",
                            "Resident memory size in bytes", *registry_)
                          .Add({})),
      virtual_bytes_(Build(prometheus::BuildGauge(),
                           "process_virtual_memory_bytes",
                           "Virtual memory size in bytes", *registry_)
                         .Add({})),
      open_fds_(Build(prometheus::BuildGauge(), "process_open_fds",
                      "Number of open file descriptors", *registry_)
                    .Add({})),
      max_fds_(Build(prometheus::BuildGauge(), "process_max_fds",
                     "Maximum number of open file descriptors", *registry_)
                   .Add({})),
      start_time_(Build(prometheus::BuildGauge(), "process_start_time_seconds",
                        "Start time of the process since unix epoch in "
                        "seconds",
                        *registry_)
                      .Add({})) {
  Build(prometheus::BuildGauge(), "metad_build_info",
        "Always 1; the version label says which metad", *registry_)
      .Add({{"version", version}})
      .Set(1);
  // Both kinds exported from the start, so increase() sees the first one.
  alerts_.Add({{"kind", "DEADLINE_MISSED"}});
  alerts_.Add({{"kind", "STALE"}});
}

void Metrics::RecordCall(const CallRecord& call) {
  calls_
      .Add({{"method", call.method},
            {"code", absl::StatusCodeToString(call.code)}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  latency_.Add({{"method", call.method}}, kBuckets).Observe(call.seconds);
}

void Metrics::RecordPool(const store::PoolStats& pool) {
  pool_open_.Set(pool.open);
  pool_in_use_.Set(pool.in_use);
  pool_waiting_.Set(pool.waiting);
  if (pool.retries > retries_seen_) {
    tx_retries_.Increment(static_cast<double>(pool.retries - retries_seen_));
    retries_seen_ = pool.retries;
  }
  const int64_t reads[4] = {pool.reads_standby, pool.reads_read_pool_primary,
                            pool.reads_primary_lagging,
                            pool.reads_primary_unreachable};
  static const char* const kRoutes[4] = {
      "standby", "read_pool_primary", "primary_lagging", "primary_unreachable"};
  for (int i = 0; i < 4; ++i) {
    if (reads[i] > reads_seen_[i]) {
      reads_.Add({{"served_by", kRoutes[i]}})
          .Increment(static_cast<double>(reads[i] - reads_seen_[i]));
      reads_seen_[i] = reads[i];
    }
  }
}

void Metrics::RecordState(const store::StateCounts& state) {
  for (const auto& [status, count] : state.files_by_status) {
    files_.Add({{"status", status}}).Set(static_cast<double>(count));
  }
  for (const auto& [status, count] : state.runs_by_status) {
    runs_.Add({{"status", status}}).Set(static_cast<double>(count));
  }
  oldest_processing_.Set(state.oldest_processing_run_seconds);
}

void Metrics::RecordDatabaseUp(bool up) { db_up_.Set(up ? 1 : 0); }

void Metrics::RecordWritesDurable(bool durable, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  prometheus::Gauge* series = &writes_durable_.Add({{"reason", reason}});
  if (writes_durable_series_ != nullptr && writes_durable_series_ != series) {
    writes_durable_.Remove(writes_durable_series_);
  }
  writes_durable_series_ = series;
  series->Set(durable ? 1 : 0);
}

void Metrics::RecordPruned(const std::string& table, int64_t rows) {
  if (rows > 0) pruned_.Add({{"table", table}}).Increment(rows);
}

void Metrics::RecordAlerts(const std::string& kind, int64_t n) {
  if (n > 0) alerts_.Add({{"kind", kind}}).Increment(n);
}

void Metrics::RecordLeasesExpired(int runs) {
  if (runs > 0) leases_expired_.Increment(runs);
}

void Metrics::RecordLeasesExtended(int64_t runs) {
  if (runs > 0) leases_extended_.Increment(static_cast<double>(runs));
}

void Metrics::SetLiveSource(std::function<LiveGauges()> source) {
  absl::MutexLock lock(&mu_);
  live_ = std::move(source);
}

std::string Metrics::Render() const {
  {
    // One render at a time sets the gauges, so the CPU counter only grows.
    absl::MutexLock lock(&mu_);
    if (live_) {
      LiveGauges live = live_();
      rpc_queued_.Set(live.rpc_queued);
      rpc_busy_.Set(live.rpc_busy);
      watch_streams_.Set(live.watch_streams);
    }
    if (std::optional<ProcessStats> p = ReadProcessStats(); p.has_value()) {
      if (p->cpu_seconds > cpu_seen_) {
        cpu_seconds_.Increment(p->cpu_seconds - cpu_seen_);
        cpu_seen_ = p->cpu_seconds;
      }
      resident_bytes_.Set(p->resident_bytes);
      virtual_bytes_.Set(p->virtual_bytes);
      open_fds_.Set(p->open_fds);
      max_fds_.Set(p->max_fds);
      start_time_.Set(p->start_time_seconds);
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace metad::daemon
