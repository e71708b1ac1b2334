// What a load run measured: latencies per RPC method, errors by gRPC code,
// and the scenario's own counts (operations and rows). Thread-safe: many
// callbacks record at once.
#ifndef METAD_BENCH_STATS_H_
#define METAD_BENCH_STATS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace metad::bench {

using Clock = std::chrono::steady_clock;

struct Percentiles {
  int64_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

// Nearest-rank percentiles of `micros` (sorted in place).
Percentiles ComputePercentiles(std::vector<int64_t>* micros);

// gRPC's name of a code ("UNAVAILABLE").
std::string CodeName(grpc::StatusCode code);

class Recorder {
 public:
  // One finished RPC. Successful calls feed the latency percentiles; failed
  // ones are counted by code (and their latency kept apart).
  void Record(const std::string& method, const grpc::Status& status,
              Clock::duration latency);
  // A scenario-level event that should not happen (e.g. "not created" for a
  // unique name), counted and printed with the errors.
  void Anomaly(const std::string& what);
  // One operation of the scenario finished (e.g. StartRun then FinishRun),
  // `latency` from its start to its end.
  void OpDone(Clock::duration latency);
  void AddRows(int64_t n) { rows_.fetch_add(n, std::memory_order_relaxed); }

  struct MethodSummary {
    std::string method;
    Percentiles ok;  // latency of successful calls
    int64_t failed = 0;
  };
  std::vector<MethodSummary> Methods();
  // Latency of whole operations.
  Percentiles Ops();
  // "CODE: n" for every failed call, plus anomalies.
  std::map<std::string, int64_t> Errors();
  int64_t calls();
  int64_t ops();
  int64_t rows() const { return rows_.load(); }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::vector<int64_t>> ok_micros_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> failed_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> op_micros_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> rows_{0};
};

// Median of each figure over repetitions (the issue asks for medians of at
// least three runs).
double Median(std::vector<double> values);

}  // namespace metad::bench

#endif  // METAD_BENCH_STATS_H_
