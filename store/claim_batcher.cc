#include "store/claim_batcher.h"

#include <utility>

namespace metad::store {

ClaimBatcher::ClaimBatcher(FileStore* store, GroupCommitOptions options)
    : store_(store),
      group_(
          [this](const TxOptions& o, const ClaimCall& call) {
            return store_->Claim(o, call.run_id, call.source, call.limit,
                                 call.request_id);
          },
          [this](const TxOptions& o,
                 const std::vector<const ClaimCall*>& calls) {
            return store_->ClaimMany(o, calls);
          },
          options) {}

void ClaimBatcher::Submit(TxOptions options, ClaimCall call, Done done) {
  group_.Submit(std::move(options), std::move(call), std::move(done));
}

}  // namespace metad::store
