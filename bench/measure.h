// The measuring helpers every scenario uses (defined in bench/scenarios.cc),
// for scenarios that live in files of their own.
#ifndef METAD_BENCH_MEASURE_H_
#define METAD_BENCH_MEASURE_H_

#include <string>

#include "bench/driver.h"
#include "bench/scenarios.h"
#include "bench/stats.h"

namespace metad::bench {

// Drives `op` as `drive` says and returns its figures (rates, latency,
// errors, the daemon's peak RSS over the run).
Figures Measure(Env* env, const std::string& name, const DriveOptions& drive,
                Recorder* rec, const Operation& op);

// The closed loop of the run's settings (concurrency, duration, calls).
DriveOptions DriveFor(const Settings& s);

}  // namespace metad::bench

#endif  // METAD_BENCH_MEASURE_H_
