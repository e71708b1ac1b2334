#include "store/register_batcher.h"

#include <iterator>
#include <utility>

namespace metad::store {

using metad::v1::FileSpec;

RegisterBatcher::RegisterBatcher(FileStore* store,
                                 RegisterBatcherOptions options)
    : store_(store),
      group_(
          [this](const TxOptions& options, const Call& call) {
            return store_->Register(options, call.specs, call.request_id,
                                    call.intent);
          },
          [this](const TxOptions& shared,
                 const std::vector<const Call*>& calls) {
            return RegisterAll(shared, calls);
          },
          GroupCommitOptions{options.committers, options.max_calls,
                             options.max_queued}) {}

void RegisterBatcher::Submit(TxOptions options,
                             std::vector<const FileSpec*> specs,
                             std::string request_id, ChangeIntent intent,
                             Done done) {
  Call call{std::move(specs), std::move(request_id), std::move(intent)};
  group_.Submit(std::move(options), std::move(call), std::move(done));
}

absl::StatusOr<std::vector<absl::StatusOr<RegisterBatcher::Files>>>
RegisterBatcher::RegisterAll(const TxOptions& shared,
                             const std::vector<const Call*>& calls) {
  // One multi-row registration; `shared` rolls it back if any of its calls
  // is cancelled before COMMIT.
  std::vector<const FileSpec*> specs;
  std::vector<std::string> request_ids;
  std::vector<ChangeIntent> intents;
  for (const Call* call : calls) {
    specs.insert(specs.end(), call->specs.begin(), call->specs.end());
    request_ids.insert(request_ids.end(), call->specs.size(), call->request_id);
    intents.insert(intents.end(), call->specs.size(), call->intent);
  }
  absl::StatusOr<Files> all =
      store_->Register(shared, specs, request_ids, intents);
  if (!all.ok()) return all.status();
  std::vector<absl::StatusOr<Files>> answers;
  auto next = all->begin();
  for (const Call* call : calls) {
    auto end = next + call->specs.size();
    answers.emplace_back(
        Files(std::make_move_iterator(next), std::make_move_iterator(end)));
    next = end;
  }
  return answers;
}

}  // namespace metad::store
