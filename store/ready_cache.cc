#include "store/ready_cache.h"

#include <algorithm>
#include <utility>

namespace metad::store {

const std::vector<std::string>& ReadyAnswer::Encoded() const {
  std::call_once(encoded_once_, [this] {
    encoded_.reserve(ready.size());
    for (int32_t i : ready) {
      encoded_.push_back(graph->tasks[i].SerializeAsString());
    }
  });
  return encoded_;
}

std::string ReadyAnswerCache::Key(const std::string& batch_id,
                                  const std::vector<std::string>& targets) {
  std::vector<std::string> sorted = targets;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  // NUL cannot occur in a batch id or a task name (UTF-8 text in PostgreSQL).
  std::string key = batch_id;
  for (const std::string& t : sorted) {
    key.push_back('\0');
    key += t;
  }
  return key;
}

std::shared_ptr<const ReadyAnswer> ReadyAnswerCache::Find(
    const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = answers_.find(key);
  return it == answers_.end() ? nullptr : it->second;
}

void ReadyAnswerCache::Put(const std::string& key,
                           std::shared_ptr<const ReadyAnswer> answer) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(answers_, [&](const auto& entry) {
    return entry.second->graph != answer->graph;
  });
  if (answers_.size() >= max_entries_ && !answers_.contains(key)) {
    answers_.erase(answers_.begin());
  }
  answers_[key] = std::move(answer);
}

}  // namespace metad::store
