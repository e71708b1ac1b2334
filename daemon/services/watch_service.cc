#include "daemon/services/watch_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error_details.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "daemon/rpc/auth.h"
#include "daemon/rpc/grpc_status.h"
#include "daemon/rpc/selector.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

using metad::v1::WatchedFileEvent;
using metad::v1::WatchedRunEvent;
using store::EventTable;

// Events read per batch: the most a stream buffers.
constexpr int kBatch = 100;
// Event ids one read looks through at most, so a stream with a rare filter
// resuming from far back reads in short transactions.
constexpr int64_t kMaxScan = 10000;
// How long one read may take.
constexpr absl::Duration kReadTimeout = absl::Seconds(30);

// One stream: a ServerWriteReactor driven by a single "turn". Whoever holds
// the turn (the constructor, a read on the pool, a write or the initial
// metadata in flight, or the hub while the stream waits) is the only one to
// touch the stream's state, and hands the turn on; Finish() is always the
// holder's last act (OnDone may delete the stream at once). OnCancel only
// raises a flag, and takes the turn back from the hub if the hub holds it.
template <typename Event>
class WatchReactor final : public grpc::ServerWriteReactor<Event>,
                           public EventWaiter {
 public:
  // Reads events with after < id <= upto, at most `limit`.
  using Fetch = std::function<absl::StatusOr<std::vector<Event>>(
      const store::TxOptions&, int64_t after, int64_t upto, int limit)>;

  struct Deps {
    EventHub* hub;
    WorkerPool* reads;
    store::WatchStore* store;
    EventListener* listener;
  };

  // Starts the stream, or ends it at once with `refusal` when not OK.
  WatchReactor(grpc::CallbackServerContext* context, const char* method,
               EventTable table, int64_t after_event_id, Fetch fetch, Deps deps,
               const absl::Status& refusal)
      : context_(context),
        method_(method),
        table_(table),
        requested_after_(after_event_id),
        fetch_(std::move(fetch)),
        deps_(deps),
        start_(absl::Now()) {
    if (!refusal.ok()) {
      End(refusal);
      return;
    }
    if (!deps_.hub->Attach()) {
      End(deps_.hub->shutting_down()
              ? absl::UnavailableError("metad is shutting down")
              : absl::ResourceExhaustedError(
                    "too many watch streams on this metad; retry later or "
                    "on another replica"));
      return;
    }
    attached_ = true;
    deps_.listener->Start();
    Submit();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("the client went away"));
      return;
    }
    buffer_.pop_front();
    ++sent_;
    Step();
  }

  void OnSendInitialMetadataDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("the client went away"));
      return;
    }
    Step();
  }

  void OnCancel() override {
    cancelled_.store(true, std::memory_order_release);
    // If the hub held the turn, it is ours now; otherwise its holder will
    // see the flag.
    if (deps_.hub->Cancel(this)) {
      End(absl::CancelledError("the client cancelled the watch"));
    }
  }

  void OnDone() override {
    if (attached_) deps_.hub->Detach();
    delete this;
  }

  // EventWaiter: under the hub's lock, so only hand the turn to the pool.
  void OnHorizon() override { Submit(); }
  bool Cancelled() const override {
    return cancelled_.load(std::memory_order_acquire);
  }

 private:
  // With the turn: decides the next step.
  void Step() {
    if (Cancelled()) {
      End(absl::CancelledError("the client cancelled the watch"));
      return;
    }
    if (deps_.hub->shutting_down()) {
      End(absl::UnavailableError(
          "metad is shutting down; reconnect with after_event_id set to the "
          "id of the last event received"));
      return;
    }
    if (send_metadata_) {
      send_metadata_ = false;
      this->StartSendInitialMetadata();
      return;
    }
    if (!buffer_.empty()) {
      this->StartWrite(&buffer_.front());
      return;
    }
    if (!started_ || cursor_ < deps_.hub->horizon(table_)) {
      Submit();
      return;
    }
    if (deps_.hub->WaitBeyond(table_, cursor_, this)) return;  // hub's turn
    Step();  // the horizon moved, or cancelled, or shutting down
  }

  // With the turn: reads the next batch on the pool.
  void Submit() {
    if (deps_.reads->TrySubmit([this] { Read(); })) return;
    // The queue holds one task per stream at most, so this means the pool
    // is being torn down; never finish here (the hub's lock may be held).
    log::Error("watch_pool_refused", {{"method", method_}});
    std::thread([this] { Read(); }).detach();
  }

  // On a pool thread, with the turn.
  void Read() {
    if (Cancelled() || deps_.hub->shutting_down()) {
      Step();
      return;
    }
    store::TxOptions options;
    options.deadline = absl::Now() + kReadTimeout;
    auto deadline = context_->deadline();
    if (deadline <
        std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
      options.deadline = std::min(options.deadline, absl::FromChrono(deadline));
    }
    grpc::CallbackServerContext* context = context_;
    options.cancelled = [context] { return context->IsCancelled(); };
    if (!started_) {
      if (requested_after_ == 0) {
        absl::StatusOr<int64_t> last =
            deps_.store->LastEventId(table_, options);
        if (!last.ok()) {
          End(last.status());
          return;
        }
        cursor_ = *last;
      } else {
        if (requested_after_ > 0) {
          // Retention may have deleted events after this cursor: say so
          // rather than skip them (proto/metad/v1/admin.proto).
          absl::StatusOr<int64_t> pruned =
              deps_.store->PrunedThrough(table_, options);
          if (!pruned.ok()) {
            End(pruned.status());
            return;
          }
          if (requested_after_ < *pruned) {
            End(absl::OutOfRangeError(absl::StrCat(
                "after_event_id: history pruned: events up to id ", *pruned,
                " were deleted by retention, so some after ", requested_after_,
                " may be missing; resume with -1 (oldest stored) or 0 "
                "(from now)")));
            return;
          }
        }
        cursor_ = std::max<int64_t>(requested_after_, 0);
      }
      started_ = true;
      context_->AddInitialMetadata(kWatchStartHeader, std::to_string(cursor_));
      send_metadata_ = true;
    }
    int64_t horizon = deps_.hub->horizon(table_);
    if (cursor_ < horizon) {
      int64_t upto = std::min(horizon, cursor_ + kMaxScan);
      absl::StatusOr<std::vector<Event>> events =
          fetch_(options, cursor_, upto, kBatch);
      if (!events.ok()) {
        End(events.status());
        return;
      }
      // A full batch may have stopped short of `upto`.
      cursor_ = static_cast<int>(events->size()) == kBatch
                    ? events->back().event().id()
                    : upto;
      for (Event& e : *events) buffer_.push_back(std::move(e));
    }
    Step();
  }

  // With the turn, as its last act.
  void End(const absl::Status& status) {
    log::Write(status.code() == absl::StatusCode::kInternal ? log::Level::kError
                                                            : log::Level::kInfo,
               "watch_end",
               {{"method", method_},
                {"code", absl::StatusCodeToString(status.code())},
                {"events", sent_},
                {"seconds", absl::ToDoubleSeconds(absl::Now() - start_)},
                {"message", status.message()}});
    this->Finish(ToGrpcStatus(status));
  }

  grpc::CallbackServerContext* const context_;
  const char* const method_;
  const EventTable table_;
  const int64_t requested_after_;
  const Fetch fetch_;
  const Deps deps_;
  const absl::Time start_;
  std::atomic<bool> cancelled_{false};
  // Touched only with the turn.
  bool attached_ = false;
  bool started_ = false;
  bool send_metadata_ = false;
  int64_t cursor_ = 0;
  int64_t sent_ = 0;
  std::deque<Event> buffer_;
};

absl::Status CheckAfterEventId(int64_t after_event_id) {
  if (after_event_id < -1) {
    return metad::InvalidFieldError(
        "after_event_id",
        absl::StrCat("must be -1 (from the first event), 0 (from now) or "
                     "an event id (got ",
                     after_event_id, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalId(absl::string_view field, int64_t id,
                             absl::string_view what) {
  if (id < 0) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must not be negative (got ", id, "); 0 means any ",
                            what));
  }
  return absl::OkStatus();
}

// Validates a WatchFiles request into the store's filter.
absl::Status FileFilterOf(const metad::v1::WatchFilesRequest& request,
                          store::FileEventFilter* filter) {
  RETURN_IF_ERROR(CheckAfterEventId(request.after_event_id()));
  if (!request.source().empty()) {
    RETURN_IF_ERROR(CheckText("source", request.source(), 1, kMaxSourceBytes));
  }
  if (!metad::v1::FileStatus_IsValid(request.status())) {
    return metad::InvalidFieldError(
        "status", absl::StrCat("unknown FileStatus value ", request.status()));
  }
  RETURN_IF_ERROR(CheckOptionalId("file_id", request.file_id(), "file"));
  filter->source = request.source();
  if (request.status() != metad::v1::FILE_STATUS_UNSPECIFIED) {
    // FILE_STATUS_SUCCESS -> "SUCCESS", the text the tables hold.
    filter->to_status = metad::v1::FileStatus_Name(request.status())
                            .substr(std::strlen("FILE_STATUS_"));
  }
  filter->file_id = request.file_id();
  ASSIGN_OR_RETURN(
      filter->attributes,
      ParseSelector("attribute_selector", request.attribute_selector(),
                    SelectorKind::kAttributes));
  return absl::OkStatus();
}

// Validates a WatchRuns request into the store's filter.
absl::Status RunFilterOf(const metad::v1::WatchRunsRequest& request,
                         store::RunEventFilter* filter) {
  RETURN_IF_ERROR(CheckAfterEventId(request.after_event_id()));
  if (!request.batch_id().empty()) {
    RETURN_IF_ERROR(CheckBatchId("batch_id", request.batch_id()));
  }
  if (!request.task().empty()) {
    RETURN_IF_ERROR(CheckTaskName("task", request.task()));
  }
  if (!metad::v1::RunStatus_IsValid(request.status())) {
    return metad::InvalidFieldError(
        "status", absl::StrCat("unknown RunStatus value ", request.status()));
  }
  RETURN_IF_ERROR(CheckOptionalId("run_id", request.run_id(), "run"));
  filter->batch_id = request.batch_id();
  filter->task_name = request.task();
  if (request.status() != metad::v1::RUN_STATUS_UNSPECIFIED) {
    filter->to_status = metad::v1::RunStatus_Name(request.status())
                            .substr(std::strlen("RUN_STATUS_"));
  }
  filter->run_id = request.run_id();
  ASSIGN_OR_RETURN(filter->labels,
                   ParseSelector("label_selector", request.label_selector(),
                                 SelectorKind::kLabels));
  return absl::OkStatus();
}

}  // namespace

WatchServiceImpl::WatchServiceImpl(store::Database* db, CallRunner* runner,
                                   WatchOptions options)
    : runner_(runner),
      store_(db),
      hub_(options.max_streams),
      listener_(db, options, &hub_),
      notifier_(&store_, options.mode == WatchMode::kNotify,
                [this] { listener_.Kick(); }),
      // One task per stream at most: the queue never refuses one.
      reads_(options.read_threads, options.max_streams + 16) {
  hub_.set_on_first_stream([this] { listener_.Kick(); });
  // After a writing call commits, streams here and on every replica must
  // look (a failed call rolled back and wrote nothing).
  runner_->add_observer([this](const CallRecord& call) {
    if (call.code == absl::StatusCode::kOk &&
        RequiredRole(call.method) != Role::kReader) {
      notifier_.Written();
    }
  });
}

WatchServiceImpl::~WatchServiceImpl() { Shutdown(); }

void WatchServiceImpl::Shutdown() {
  notifier_.Stop();
  hub_.Shutdown();
  listener_.Stop();
}

grpc::ServerWriteReactor<WatchedFileEvent>* WatchServiceImpl::WatchFiles(
    grpc::CallbackServerContext* context,
    const metad::v1::WatchFilesRequest* request) {
  store::FileEventFilter filter;
  absl::Status allowed = runner_->Authorize(*context, "WatchFiles");
  if (allowed.ok()) allowed = FileFilterOf(*request, &filter);
  store::WatchStore* store = &store_;
  auto fetch = [store, filter](const store::TxOptions& options, int64_t after,
                               int64_t upto, int limit) {
    return store->ReadFileEvents(options, filter, after, upto, limit);
  };
  return new WatchReactor<WatchedFileEvent>(
      context, "WatchFiles", EventTable::kFileEvents, request->after_event_id(),
      std::move(fetch), {&hub_, &reads_, &store_, &listener_}, allowed);
}

grpc::ServerWriteReactor<WatchedRunEvent>* WatchServiceImpl::WatchRuns(
    grpc::CallbackServerContext* context,
    const metad::v1::WatchRunsRequest* request) {
  store::RunEventFilter filter;
  absl::Status allowed = runner_->Authorize(*context, "WatchRuns");
  if (allowed.ok()) allowed = RunFilterOf(*request, &filter);
  store::WatchStore* store = &store_;
  auto fetch = [store, filter](const store::TxOptions& options, int64_t after,
                               int64_t upto, int limit) {
    return store->ReadRunEvents(options, filter, after, upto, limit);
  };
  return new WatchReactor<WatchedRunEvent>(
      context, "WatchRuns", EventTable::kRunEvents, request->after_event_id(),
      std::move(fetch), {&hub_, &reads_, &store_, &listener_}, allowed);
}

}  // namespace metad::daemon
