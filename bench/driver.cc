#include "bench/driver.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace metad::bench {
namespace {

// Shared by the slots of one Drive() call; outlives every callback because
// Drive() waits for in_flight to reach zero before returning.
struct Loop {
  const DriveOptions* options;
  const Operation* op;
  Clock::time_point end;
  std::atomic<int64_t> started{0};
  absl::Mutex mu;
  int in_flight ABSL_GUARDED_BY(mu) = 0;
  Clock::time_point last_done ABSL_GUARDED_BY(mu);

  bool Exhausted() {
    if (Clock::now() >= end) return true;
    if (options->max_ops > 0 &&
        started.fetch_add(1, std::memory_order_relaxed) >= options->max_ops) {
      return true;
    }
    return false;
  }

  void Finished() {
    absl::MutexLock lock(&mu);
    --in_flight;
    last_done = Clock::now();
  }

  // Closed loop: the slot's next operation starts from the previous one's
  // completion callback.
  void Next(int slot) {
    if (Exhausted()) {
      Finished();
      return;
    }
    (*op)(slot, Clock::now(), [this, slot](bool more) {
      if (more) {
        Next(slot);
      } else {
        Finished();
      }
    });
  }
};

}  // namespace

double Drive(const DriveOptions& options, const Operation& op) {
  Loop loop;
  loop.options = &options;
  loop.op = &op;
  const Clock::time_point start = Clock::now();
  loop.end = start + absl::ToChronoNanoseconds(options.duration);
  {
    absl::MutexLock lock(&loop.mu);
    loop.last_done = start;
  }
  auto idle = [&loop]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop.mu) {
    return loop.in_flight == 0;
  };
  // Set by an operation that found nothing left to do (paced mode).
  std::atomic<bool> stop{false};

  if (options.rate <= 0) {
    {
      absl::MutexLock lock(&loop.mu);
      loop.in_flight = options.concurrency;
    }
    for (int slot = 0; slot < options.concurrency; ++slot) loop.Next(slot);
  } else {
    // Paced: this thread starts operations on schedule; a slot is free
    // when fewer than `concurrency` are in flight.
    const auto interval =
        std::chrono::nanoseconds(static_cast<int64_t>(1e9 / options.rate));
    auto below_limit = [&loop, &options]()
                           ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop.mu) {
                             return loop.in_flight < options.concurrency;
                           };
    for (int64_t i = 0; !stop.load(); ++i) {
      Clock::time_point due = start + i * interval;
      if (due >= loop.end || (options.max_ops > 0 && i >= options.max_ops)) {
        break;
      }
      std::this_thread::sleep_until(due);
      {
        absl::MutexLock lock(&loop.mu);
        loop.mu.Await(absl::Condition(&below_limit));
        ++loop.in_flight;
      }
      op(static_cast<int>(i % options.concurrency), due,
         [&loop, &stop](bool more) {
           if (!more) stop.store(true);
           loop.Finished();
         });
    }
  }
  absl::MutexLock lock(&loop.mu);
  loop.mu.Await(absl::Condition(&idle));
  return std::chrono::duration<double>(loop.last_done - start).count();
}

}  // namespace metad::bench
