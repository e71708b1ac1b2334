// A fixed set of threads with a bounded queue. gRPC's callback reactors must
// never block, and libpqxx always does: RPC handlers run here instead.
#ifndef METAD_DAEMON_RPC_WORKER_POOL_H_
#define METAD_DAEMON_RPC_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace metad::daemon {

class WorkerPool {
 public:
  WorkerPool(int threads, int max_queued);
  // Runs what is queued, then joins.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and `task` not run) when max_queued tasks are already waiting or
  // the pool is shutting down.
  bool TrySubmit(std::function<void()> task);

  // Tasks waiting for a thread.
  int queued() const;
  // Tasks running now.
  int busy() const;

 private:
  void Loop();

  const int max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_WORKER_POOL_H_
