#include "daemon/http/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "absl/status/status.h"

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
      leases_expired_(Build(prometheus::BuildCounter(),
                            "metad_leases_expired_total",
                            "Runs this replica ended because their lease "
                            "lapsed",
                            *registry_)
                          .Add({})),
      pruned_(Build(prometheus::BuildCounter(),
                    "metad_retention_pruned_rows_total",
                    "Rows this replica's --retention pruner deleted, by table",
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
                 .Add({})) {
  Build(prometheus::BuildGauge(), "metad_build_info",
        "Always 1; the version label says which metad", *registry_)
      .Add({{"version", version}})
      .Set(1);
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

void Metrics::RecordPruned(const std::string& table, int64_t rows) {
  if (rows > 0) pruned_.Add({{"table", table}}).Increment(rows);
}

void Metrics::RecordLeasesExpired(int runs) {
  if (runs > 0) leases_expired_.Increment(runs);
}

std::string Metrics::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace metad::daemon
