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

#include <memory>
#include <string>

#include "daemon/rpc/call_runner.h"
#include "store/database.h"
#include "store/state_count_store.h"

namespace metad::daemon {

class Metrics {
 public:
  explicit Metrics(const std::string& version);

  void RecordCall(const CallRecord& call);
  void RecordPool(const store::PoolStats& pool);
  void RecordState(const store::StateCounts& state);
  void RecordDatabaseUp(bool up);
  void RecordLeasesExpired(int runs);
  // Rows retention deleted from `table` (task_log, run_events, file_events).
  void RecordPruned(const std::string& table, int64_t rows);

  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Gauge& pool_open_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_waiting_;
  prometheus::Counter& tx_retries_;
  prometheus::Counter& leases_expired_;
  prometheus::Family<prometheus::Counter>& pruned_;
  prometheus::Family<prometheus::Gauge>& files_;
  prometheus::Family<prometheus::Gauge>& runs_;
  prometheus::Gauge& oldest_processing_;
  prometheus::Gauge& db_up_;
  int64_t retries_seen_ = 0;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_METRICS_H_
