// GetReadyTasks answers kept per (batch, targets), each valid for the state
// it was computed from: the graph's version (task_graph_version), the batch's
// run version (batch_run_version, bumped by every change to the batch's runs)
// and the earliest lease expiry among the batch's live runs (a lapse changes
// readiness with no write). A caller checks an answer against those read in
// its own snapshot (dependency.ready_state), so a cached answer is the answer
// the SQL rule gives in that snapshot, whichever replica made the changes.
#ifndef METAD_STORE_READY_CACHE_H_
#define METAD_STORE_READY_CACHE_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "store/task_graph.h"

namespace metad::store {

// What one snapshot says about a batch, as far as readiness goes.
struct ReadyState {
  TaskGraphId graph;
  int64_t batch_version = 0;  // 0 and "": the batch never had a run
  std::string batch_token;
  int64_t now_us = 0;  // the snapshot's now(), as the ready rule sees it
  // Ids of the tasks whose global concurrency limit is full, as an array
  // literal: runs of other batches fill and free those slots.
  std::string full;
};

// One answer: ready tasks of `graph`, by index, ascending.
struct ReadyAnswer {
  std::shared_ptr<const TaskGraph> graph;
  int64_t batch_version = 0;
  std::string batch_token;
  // The earliest lease expiry of a live run among the candidates: from then
  // on that run counts as a spent attempt, not as running.
  int64_t live_until_us = std::numeric_limits<int64_t>::max();
  std::string full;  // ReadyState::full when the answer was computed
  std::vector<int32_t> ready;

  // The ready tasks in wire form, one per entry of `ready`: encoded once on
  // first use, so a held answer is sent without copying 1,000s of Task
  // messages per call (the copies were most of the daemon's time).
  const std::vector<std::string>& Encoded() const;

  // Whether this is the answer in a snapshot that reads `state`.
  bool HoldsIn(const ReadyState& state) const {
    return graph->id == state.graph && batch_version == state.batch_version &&
           batch_token == state.batch_token && state.now_us < live_until_us &&
           full == state.full;
  }

 private:
  mutable std::once_flag encoded_once_;
  mutable std::vector<std::string> encoded_;
};

// A page of GetReadyTasks: entries [begin, end) of a held answer's `ready`
// when `answer` is set, else `tasks` (the SQL path).
struct ReadyPage {
  std::shared_ptr<const ReadyAnswer> answer;
  size_t begin = 0;
  size_t end = 0;
  std::vector<metad::v1::Task> tasks;

  size_t size() const { return answer ? end - begin : tasks.size(); }
  // The id of the page's k-th task.
  int64_t IdAt(size_t k) const {
    return answer ? answer->graph->tasks[answer->ready[begin + k]].id()
                  : tasks[k].id();
  }
};

class ReadyAnswerCache {
 public:
  explicit ReadyAnswerCache(size_t max_entries = 256)
      : max_entries_(max_entries) {}

  // The key of a call: the batch and its targets (order and repeats do not
  // change the answer).
  static std::string Key(const std::string& batch_id,
                         const std::vector<std::string>& targets);

  // The answer held for `key`, or null.
  std::shared_ptr<const ReadyAnswer> Find(const std::string& key) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Holds `answer` for `key`. Answers of another graph are dropped (they
  // can never hold again and keep that graph in memory); when full, one
  // arbitrary answer is.
  void Put(const std::string& key, std::shared_ptr<const ReadyAnswer> answer)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Calls answered from a held answer; for tests.
  int64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  void CountHit() { hits_.fetch_add(1, std::memory_order_relaxed); }

 private:
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const ReadyAnswer>> answers_
      ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> hits_{0};
};

}  // namespace metad::store

#endif  // METAD_STORE_READY_CACHE_H_
