#include "store/task_graph.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace metad::store {

absl::Status TaskGraph::Build(
    const std::vector<std::pair<int64_t, int64_t>>& edges) {
  const int32_t n = static_cast<int32_t>(tasks.size());
  index_of_id.clear();
  index_of_name.clear();
  index_of_id.reserve(n);
  index_of_name.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    index_of_id.emplace(tasks[i].id(), i);
    index_of_name.emplace(tasks[i].name(), i);
  }
  // Counting sort of the edges by child index into the CSR arrays.
  parent_begin.assign(n + 1, 0);
  std::vector<std::pair<int32_t, int32_t>> indexed;
  indexed.reserve(edges.size());
  for (const auto& [child, parent] : edges) {
    const int32_t c = IndexOfId(child), p = IndexOfId(parent);
    if (c < 0 || p < 0) {
      return absl::InternalError(
          absl::StrCat("task graph: edge ", parent, " -> ", child,
                       " names a task missing from the snapshot"));
    }
    indexed.emplace_back(c, p);
    ++parent_begin[c + 1];
  }
  for (int32_t i = 0; i < n; ++i) parent_begin[i + 1] += parent_begin[i];
  parents.assign(indexed.size(), 0);
  std::vector<int32_t> next(parent_begin.begin(), parent_begin.end() - 1);
  for (const auto& [c, p] : indexed) parents[next[c]++] = p;
  return absl::OkStatus();
}

int32_t TaskGraph::IndexOfId(int64_t id) const {
  auto it = index_of_id.find(id);
  return it == index_of_id.end() ? -1 : it->second;
}

int32_t TaskGraph::IndexOfName(absl::string_view name) const {
  auto it = index_of_name.find(name);
  return it == index_of_name.end() ? -1 : it->second;
}

std::vector<int32_t> TaskGraph::UpstreamClosure(
    const std::vector<int32_t>& seeds) const {
  std::vector<char> seen(tasks.size(), 0);
  std::vector<int32_t> stack;
  for (int32_t s : seeds) {
    if (!seen[s]) {
      seen[s] = 1;
      stack.push_back(s);
    }
  }
  std::vector<int32_t> out;
  while (!stack.empty()) {
    const int32_t t = stack.back();
    stack.pop_back();
    out.push_back(t);
    for (int32_t e = parent_begin[t]; e < parent_begin[t + 1]; ++e) {
      if (!seen[parents[e]]) {
        seen[parents[e]] = 1;
        stack.push_back(parents[e]);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int32_t> ReadyIndexes(const TaskGraph& graph,
                                  const BatchRunSummary& runs,
                                  const std::vector<int32_t>* candidates) {
  const size_t n = graph.tasks.size();
  // Runs of tasks the graph does not know cannot matter: a task's runs go
  // with it, and the graph is the one of the runs' snapshot.
  std::vector<char> succeeded(n, 0), blocked(n, 0);
  std::vector<int64_t> spent(n, 0);
  for (int64_t id : runs.succeeded) {
    if (int32_t i = graph.IndexOfId(id); i >= 0) succeeded[i] = 1;
  }
  for (const std::vector<int64_t>* ids :
       {&runs.succeeded, &runs.live, &runs.full}) {
    for (int64_t id : *ids) {
      if (int32_t i = graph.IndexOfId(id); i >= 0) blocked[i] = 1;
    }
  }
  for (int64_t id : runs.spent) {
    if (int32_t i = graph.IndexOfId(id); i >= 0) ++spent[i];
  }
  auto ready = [&](int32_t t) {
    if (blocked[t] || spent[t] >= graph.tasks[t].max_attempts()) return false;
    for (int32_t e = graph.parent_begin[t]; e < graph.parent_begin[t + 1];
         ++e) {
      if (!succeeded[graph.parents[e]]) return false;
    }
    return true;
  };
  std::vector<int32_t> out;
  if (candidates == nullptr) {
    for (int32_t t = 0; t < static_cast<int32_t>(n); ++t) {
      if (ready(t)) out.push_back(t);
    }
  } else {
    for (int32_t t : *candidates) {
      if (ready(t)) out.push_back(t);
    }
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const TaskGraph>> TaskGraphCache::GetOrLoad(
    absl::FunctionRef<bool(const TaskGraph&)> fresh, absl::Time deadline,
    Loader load) {
  absl::ReleasableMutexLock lock(&mu_);
  if (graph_ != nullptr && fresh(*graph_)) return graph_;
  const int64_t ended_before = loads_ended_;
  while (loading_) {
    if (load_ended_.WaitWithDeadline(&mu_, deadline) && loading_) {
      return absl::DeadlineExceededError(
          "deadline passed while waiting for the task graph to be read");
    }
  }
  // Read since this call looked: the caller checks it against its snapshot.
  if (loads_ended_ != ended_before && graph_ != nullptr) return graph_;
  loading_ = true;
  lock.Release();
  absl::StatusOr<std::shared_ptr<const TaskGraph>> loaded = load();
  absl::MutexLock relock(&mu_);
  loading_ = false;
  ++loads_ended_;
  if (loaded.ok()) {
    graph_ = *loaded;
    ++loads_;
  }
  load_ended_.SignalAll();
  return loaded;
}

int64_t TaskGraphCache::loads() const {
  absl::MutexLock lock(&mu_);
  return loads_;
}

absl::StatusOr<std::vector<int64_t>> ParseIntArray(absl::string_view text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return absl::InternalError("not a bigint[] in text form");
  }
  std::vector<int64_t> out;
  text = text.substr(1, text.size() - 2);
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InternalError("not a bigint[] in text form");
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace metad::store
