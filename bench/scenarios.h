// The scenarios of issue 5, each measured against metad through gRPC and,
// where one exists, against pgbench running the same rows' SQL on the same
// PostgreSQL at the same concurrency.
#ifndef METAD_BENCH_SCENARIOS_H_
#define METAD_BENCH_SCENARIOS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bench/stats.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"

namespace metad::bench {

struct Settings {
  int concurrency = 32;
  absl::Duration duration = absl::Seconds(5);
  int64_t max_ops = 0;
  absl::Duration deadline = absl::Seconds(10);
  int batch_size = 100;
  int claim_limit = 100;
  bool claim_with_complete_file = false;
  int64_t backlog = 100000;
  int ready_tasks = 10000;
  int ready_edges = 50000;
  int list_depth_pages = 10000;
  int list_walk_page = 1000;
  int list_page = 100;
  double half_rate = 0;  // register-half's rate; 0: half of register's
  // lineage, label-list: pipelines of 100 runs and 100 files each.
  int lineage_pipelines = 10000;
  // pgbench ("" to skip the comparison).
  std::string pgbench;
  std::string pgbench_dir;
  int pgbench_threads = 2;
  int metad_pid = 0;
};

struct Env {
  Settings settings;
  std::string pg;  // libpq connection string ("" = PG* environment)
  std::unique_ptr<metad::v1::FileService::Stub> files;
  std::unique_ptr<metad::v1::TaskService::Stub> tasks;
  std::unique_ptr<metad::v1::TaskLogService::Stub> runs;
  std::unique_ptr<metad::v1::DependencyService::Stub> deps;
  // ping: metad's own gRPC ceiling (Health/Check answers from memory).
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  std::string tag;  // unique per process: names never collide across runs
  std::atomic<int64_t> counter{0};
  // The register rate last measured (for register-half).
  double last_register_rate = 0;
  // list-deep: the token of page `list_depth_pages` (found once per phase).
  std::string deep_token;
  int64_t deep_token_rows = 0;
};

// One repetition of one scenario.
struct Figures {
  std::string scenario;
  int concurrency = 0;
  double seconds = 0;
  int64_t calls = 0, ops = 0, rows = 0;
  double calls_per_s = 0, ops_per_s = 0, rows_per_s = 0;
  double rate = 0;      // paced scenarios: the target rate
  Percentiles latency;  // every successful call of the scenario
  std::vector<Recorder::MethodSummary> methods;
  std::map<std::string, int64_t> errors;
  int64_t peak_rss_kib = -1;
  int64_t files_before = 0;  // approximate rows in files at the start
  // The comparison's figure: what `unit` counts per second, metad vs pgbench.
  std::string unit;
  double metad_unit_per_s = 0;
  bool has_pgbench = false;
  double pgbench_unit_per_s = 0;
  Percentiles pgbench_latency;
  int64_t pgbench_failed = 0;
  std::string note;  // verification, pgbench trouble, ...
};

// Runs one repetition of `scenario` (ping, register, register-half,
// register-batch, run-lifecycle, run-outputs, claim-complete, ready,
// list-deep). list-deep
// yields two Figures: list-page1 and list-deep.
absl::Status RunScenario(Env* env, const std::string& scenario,
                         std::vector<Figures>* out);

// Creates the pgb.* copies of metad's tables for pgbench.
absl::Status SetUpPgbenchSchema(Env* env);

// Adds SUCCESS files (source bench-history) to public.files and, when pgbench
// runs, to pgb.files until each holds at least `rows` rows.
absl::Status GrowFiles(Env* env, int64_t rows);

// Peak resident set of `pid` in KiB (VmHWM), -1 if unreadable; Reset sets it
// back to the current RSS (clear_refs 5) so each scenario has its own peak.
int64_t PeakRssKib(int pid);
void ResetPeakRss(int pid);

}  // namespace metad::bench

#endif  // METAD_BENCH_SCENARIOS_H_
