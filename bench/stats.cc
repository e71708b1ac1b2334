#include "bench/stats.h"

#include <algorithm>

namespace metad::bench {

Percentiles ComputePercentiles(std::vector<int64_t>* micros) {
  Percentiles p;
  if (micros->empty()) return p;
  std::sort(micros->begin(), micros->end());
  const size_t n = micros->size();
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(q * static_cast<double>(n) + 0.999999);
    rank = std::clamp<size_t>(rank, 1, n);
    return static_cast<double>((*micros)[rank - 1]) / 1000.0;
  };
  p.count = static_cast<int64_t>(n);
  p.p50_ms = at(0.50);
  p.p90_ms = at(0.90);
  p.p99_ms = at(0.99);
  p.max_ms = static_cast<double>(micros->back()) / 1000.0;
  return p;
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

void Recorder::Record(const std::string& method, const grpc::Status& status,
                      Clock::duration latency) {
  int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    ok_micros_[method].push_back(us);
    return;
  }
  ++failed_[method];
  ++errors_[CodeName(status.error_code())];
}

void Recorder::Anomaly(const std::string& what) {
  absl::MutexLock lock(&mu_);
  ++errors_[what];
}

std::vector<Recorder::MethodSummary> Recorder::Methods() {
  absl::MutexLock lock(&mu_);
  std::vector<MethodSummary> out;
  std::map<std::string, bool> names;
  for (const auto& [m, v] : ok_micros_) names[m] = true;
  for (const auto& [m, n] : failed_) names[m] = true;
  for (const auto& [m, unused] : names) {
    MethodSummary s;
    s.method = m;
    std::vector<int64_t> copy = ok_micros_[m];
    s.ok = ComputePercentiles(&copy);
    s.failed = failed_[m];
    out.push_back(s);
  }
  return out;
}

void Recorder::OpDone(Clock::duration latency) {
  int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  absl::MutexLock lock(&mu_);
  op_micros_.push_back(us);
}

Percentiles Recorder::Ops() {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> copy = op_micros_;
  return ComputePercentiles(&copy);
}

int64_t Recorder::ops() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(op_micros_.size());
}

std::map<std::string, int64_t> Recorder::Errors() {
  absl::MutexLock lock(&mu_);
  return errors_;
}

int64_t Recorder::calls() {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [m, v] : ok_micros_) n += static_cast<int64_t>(v.size());
  for (const auto& [m, f] : failed_) n += f;
  return n;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace metad::bench
