#include "metad/client/watch.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>

#include "absl/strings/numbers.h"

namespace metad::client {
namespace {

// The response header that says where a stream starts (watch.proto).
constexpr char kStartHeader[] = "metad-after-event-id";

// Pause before reconnect `attempt` (>= 1): exponential, capped, jittered
// into [d/2, d] so that many watchers do not reconnect in lockstep.
absl::Duration ReconnectPause(const WatchOptions& options, int attempt) {
  double d = absl::ToDoubleSeconds(options.initial_backoff);
  for (int i = 1; i < attempt; ++i) d *= options.multiplier;
  d = std::min(d, absl::ToDoubleSeconds(options.max_backoff));
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return absl::Seconds(d * jitter(rng));
}

// UNAVAILABLE: the daemon went away or lost its database. CANCELLED that
// this side did not ask for: a daemon shutting down cancels the streams
// still open when its drain ends.
bool Resumable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::CANCELLED;
}

}  // namespace

template <typename Event>
WatchStream<Event>::WatchStream(Opener open, ContextSetup setup,
                                int64_t after_event_id, WatchOptions options)
    : open_(std::move(open)),
      setup_(std::move(setup)),
      options_(std::move(options)),
      after_(after_event_id) {}

template <typename Event>
WatchStream<Event>::~WatchStream() {
  Cancel();
  if (reader_ != nullptr) reader_->Finish();
}

template <typename Event>
bool WatchStream<Event>::Open() {
  context_ = std::make_unique<grpc::ClientContext>();
  if (setup_) setup_(context_.get());
  int64_t after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return false;
    live_ = context_.get();
    after = after_;
  }
  reader_ = open_(context_.get(), after);
  // Returns at once with nothing when the call fails before the header.
  reader_->WaitForInitialMetadata();
  const auto& md = context_->GetServerInitialMetadata();
  auto it = md.find(kStartHeader);
  if (it != md.end()) {
    failed_opens_ = 0;  // the daemon answered
    int64_t start = 0;
    std::lock_guard<std::mutex> lock(mu_);
    // Before the first event, the resolved start replaces 0 or -1, so a
    // reconnect continues from where this stream began.
    if (!delivered_ &&
        absl::SimpleAtoi(std::string(it->second.data(), it->second.size()),
                         &start)) {
      after_ = start;
    }
  }
  return true;
}

template <typename Event>
bool WatchStream<Event>::Pause(absl::Duration pause) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cancelled_cv_.wait_for(lock, absl::ToChronoNanoseconds(pause),
                                 [this] { return cancelled_; });
}

template <typename Event>
bool WatchStream<Event>::Next(Event* event) {
  while (!done_) {
    if (reader_ == nullptr && !Open()) break;  // cancelled
    if (reader_->Read(event)) {
      std::lock_guard<std::mutex> lock(mu_);
      after_ = event->event().id();
      delivered_ = true;
      return true;
    }
    grpc::Status status = reader_->Finish();
    reader_.reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ = nullptr;
      if (cancelled_) break;
    }
    context_.reset();
    ++failed_opens_;
    if (!Resumable(status.error_code()) ||
        (options_.max_reconnects > 0 &&
         failed_opens_ > options_.max_reconnects)) {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = status;
      done_ = true;
      return false;
    }
    absl::Duration pause = ReconnectPause(options_, failed_opens_);
    if (options_.on_reconnect) options_.on_reconnect(status, pause);
    if (!Pause(pause)) break;
    std::lock_guard<std::mutex> lock(mu_);
    ++reconnects_;
  }
  // Cancelled by the caller: an orderly end.
  std::lock_guard<std::mutex> lock(mu_);
  if (!done_) status_ = grpc::Status::OK;
  done_ = true;
  return false;
}

template <typename Event>
grpc::Status WatchStream<Event>::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

template <typename Event>
int64_t WatchStream<Event>::after_event_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return after_;
}

template <typename Event>
int WatchStream<Event>::reconnects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reconnects_;
}

template <typename Event>
void WatchStream<Event>::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (live_ != nullptr) live_->TryCancel();
  cancelled_cv_.notify_all();
}

template class WatchStream<v1::WatchedFileEvent>;
template class WatchStream<v1::WatchedRunEvent>;

}  // namespace metad::client
