// Runs PostgreSQL's pgbench with one of bench/pgbench/*.sql and reads its
// summary and per-transaction log (for latency percentiles).
#ifndef METAD_BENCH_PGBENCH_RUNNER_H_
#define METAD_BENCH_PGBENCH_RUNNER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "bench/stats.h"

namespace metad::bench {

struct PgbenchRun {
  std::string pgbench;  // path to the pgbench binary
  std::string script;   // path to the .sql script
  int clients = 32;
  int threads = 2;
  int seconds = 5;
  double rate = 0;  // transactions/s (-R); 0 for as fast as possible
};

struct PgbenchResult {
  int64_t transactions = 0;  // script executions
  int64_t failed = 0;
  double tps = 0;       // pgbench's own figure
  Percentiles latency;  // per script execution, from the log
};

// Connects through libpq's environment (PGHOST, PGPORT, PGUSER,
// PGDATABASE), as bench.sh sets it.
absl::StatusOr<PgbenchResult> RunPgbench(const PgbenchRun& run);

}  // namespace metad::bench

#endif  // METAD_BENCH_PGBENCH_RUNNER_H_
