// Prometheus metrics of the daemon: calls and latency per method and code,
// the database pool, retries, expired leases, and gauges of the state itself.
// Rendered in the text exposition format for GET /metrics.
#ifndef METAD_DAEMON_HTTP_METRICS_H_
#define METAD_DAEMON_HTTP_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "daemon/rpc/call_runner.h"
#include "store/database.h"
#include "store/state_count_store.h"

namespace metad::daemon {

// Figures read when /metrics is rendered (not sampled in the background),
// so they are current at every scrape.
struct LiveGauges {
  int rpc_queued = 0;     // calls waiting for a handler thread
  int rpc_busy = 0;       // handler threads running a call
  int watch_streams = 0;  // WatchFiles/WatchRuns streams open
};

class Metrics {
 public:
  explicit Metrics(const std::string& version);

  void RecordCall(const CallRecord& call);
  void RecordPool(const store::PoolStats& pool);
  void RecordState(const store::StateCounts& state);
  void RecordDatabaseUp(bool up);
  // metad_writes_durable{reason}: 1 with reason "ok", else 0 with the
  // probe's reason (one series at a time).
  void RecordWritesDurable(bool durable, const std::string& reason);
  void RecordLeasesExpired(int runs);
  // Runs whose lease the lease clock pushed back after an outage.
  void RecordLeasesExtended(int64_t runs);
  // Rows retention deleted from `table` (task_log, run_events, file_events).
  void RecordPruned(const std::string& table, int64_t rows);

  // Alerts this replica recorded (DEADLINE_MISSED, STALE); each alert is
  // recorded by one replica only, so the sum over replicas is exact.
  void RecordAlerts(const std::string& kind, int64_t n);
  // Called by Render for the live gauges; empty (the default) leaves them
  // at 0. Set it once the server runs and clear it before the server goes.
  void SetLiveSource(std::function<LiveGauges()> source);

  // The exposition text, with the live gauges and the process_* metrics
  // (CPU, memory, descriptors, start time) read now. Thread-safe.
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Gauge& pool_open_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_waiting_;
  prometheus::Counter& tx_retries_;
  prometheus::Family<prometheus::Counter>& reads_;
  prometheus::Counter& leases_expired_;
  prometheus::Counter& leases_extended_;
  prometheus::Family<prometheus::Counter>& pruned_;
  prometheus::Family<prometheus::Counter>& alerts_;
  prometheus::Family<prometheus::Gauge>& files_;
  prometheus::Family<prometheus::Gauge>& runs_;
  prometheus::Gauge& oldest_processing_;
  prometheus::Gauge& db_up_;
  prometheus::Family<prometheus::Gauge>& writes_durable_;
  prometheus::Gauge* writes_durable_series_ = nullptr;  // guarded by mu_
  prometheus::Gauge& rpc_queued_;
  prometheus::Gauge& rpc_busy_;
  prometheus::Gauge& watch_streams_;
  prometheus::Counter& cpu_seconds_;
  prometheus::Gauge& resident_bytes_;
  prometheus::Gauge& virtual_bytes_;
  prometheus::Gauge& open_fds_;
  prometheus::Gauge& max_fds_;
  prometheus::Gauge& start_time_;
  mutable absl::Mutex mu_;
  std::function<LiveGauges()> live_ ABSL_GUARDED_BY(mu_);
  mutable double cpu_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t retries_seen_ = 0;
  // Read routes counted so far (store::PoolStats), in the order of
  // Metrics::RecordPool's labels.
  int64_t reads_seen_[4] = {0, 0, 0, 0};
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_METRICS_H_
