#include "daemon/rpc/call_runner.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "daemon/rpc/grpc_status.h"
#include "daemon/rpc/method_options.h"

namespace metad::daemon {
namespace {

// The caller's request id, when it sent one, for correlating logs.
std::string RequestIdOf(grpc::ServerContextBase* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("x-request-id");
  if (it == metadata.end()) return "";
  return std::string(it->second.data(),
                     std::min<size_t>(it->second.size(), 128));
}

}  // namespace

store::TxOptions TxOptionsFor(grpc::ServerContextBase* context) {
  store::TxOptions options;
  auto deadline = context->deadline();
  // gRPC reports "no deadline" as a time point centuries away.
  if (deadline <
      std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    options.deadline = absl::FromChrono(deadline);
  }
  options.cancelled = [context] { return context->IsCancelled(); };
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kMinPositionHeader);
  // An unreadable position is ignored: the read is then served as without.
  if (it != metadata.end()) {
    uint64_t position = 0;
    if (absl::SimpleAtoi(
            absl::string_view(it->second.data(), it->second.size()),
            &position)) {
      options.min_position = position;
    }
  }
  return options;
}

CallRunner::CallRunner(WorkerPool* pool) : pool_(pool) {}

CallRunner::Done CallRunner::Finisher(grpc::CallbackServerContext* context,
                                      grpc::ServerUnaryReactor* reactor,
                                      const char* method) {
  absl::Time start = absl::Now();
  const bool writes = commit_position_ && !IsReadMethod(method);
  return
      [this, reactor, context, method, start, writes](const absl::Status& s) {
        if (writes && s.ok()) {
          // Read now, after the call's commit: at or past it.
          if (uint64_t position = commit_position_(); position > 0) {
            context->AddTrailingMetadata(kCommitPositionTrailer,
                                         std::to_string(position));
          }
        }
        double seconds = absl::ToDoubleSeconds(absl::Now() - start);
        log::Level level = s.ok() ? log::Level::kDebug
                           : s.code() == absl::StatusCode::kInternal
                               ? log::Level::kError
                               : log::Level::kInfo;
        if (log::Enabled(level)) {
          log::Write(level, "rpc",
                     {{"method", method},
                      {"code", absl::StatusCodeToString(s.code())},
                      {"ms", seconds * 1000},
                      {"request_id", RequestIdOf(context)},
                      {"message", s.message()}});
        }
        for (const auto& observer : observers_) {
          observer(CallRecord{method, s.code(), seconds});
        }
        reactor->Finish(ToGrpcStatus(s));
      };
}

grpc::ServerUnaryReactor* CallRunner::Run(grpc::CallbackServerContext* context,
                                          const char* method, Handler handler) {
  // DefaultReactor() is taken once: it (re)initializes the reactor.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Done finish = Finisher(context, reactor, method);
  if (authorizer_) {
    absl::Status allowed = authorizer_(*context, method);
    if (!allowed.ok()) {
      finish(allowed);
      return reactor;
    }
  }
  bool queued = pool_->TrySubmit([context, handler = std::move(handler), finish,
                                  actor = ActorOf(*context),
                                  read = IsReadMethod(method)] {
    if (context->IsCancelled()) {
      finish(absl::CancelledError("the call was cancelled before it ran"));
      return;
    }
    store::TxOptions options = TxOptionsFor(context);
    options.actor = actor;
    options.read = read;
    finish(handler(options));
  });
  if (!queued) {
    finish(absl::ResourceExhaustedError(
        "metad is overloaded (request queue full); retry with backoff"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* CallRunner::RunAsync(
    grpc::CallbackServerContext* context, const char* method,
    AsyncHandler handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Done finish = Finisher(context, reactor, method);
  absl::Status allowed =
      authorizer_ ? authorizer_(*context, method) : absl::OkStatus();
  if (!allowed.ok()) {
    finish(allowed);
  } else {
    store::TxOptions options = TxOptionsFor(context);
    options.actor = ActorOf(*context);
    handler(std::move(options), std::move(finish));
  }
  return reactor;
}

std::string CallRunner::ActorOf(const grpc::ServerContextBase& context) const {
  if (namer_) {
    std::string name = namer_(context);
    if (!name.empty()) return name;
  }
  return context.peer();
}

}  // namespace metad::daemon
