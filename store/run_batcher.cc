#include "store/run_batcher.h"

#include <utility>

namespace metad::store {

RunBatcher::RunBatcher(RunStore* store)
    : store_(store),
      starts_(
          [this](const TxOptions& o, const StartRunInput& in) {
            return store_->StartRun(o, in);
          },
          [this](const TxOptions& o,
                 const std::vector<const StartRunInput*>& ins) {
            return store_->StartRuns(o, ins);
          }),
      finishes_(
          [this](const TxOptions& o, const FinishRunInput& in) {
            return store_->FinishRun(o, in);
          },
          [this](const TxOptions& o,
                 const std::vector<const FinishRunInput*>& ins) {
            return store_->FinishRuns(o, ins);
          }) {}

void RunBatcher::SubmitStart(TxOptions options, StartRunInput in,
                             StartDone done) {
  starts_.Submit(std::move(options), std::move(in), std::move(done));
}

void RunBatcher::SubmitFinish(TxOptions options, FinishRunInput in,
                              FinishDone done) {
  finishes_.Submit(std::move(options), std::move(in), std::move(done));
}

void RunBatcher::Stop() {
  starts_.Stop();
  finishes_.Stop();
}

}  // namespace metad::store
