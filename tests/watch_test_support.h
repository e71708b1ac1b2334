// Shared by the watch tests: an in-process metad with the services that
// write events (FileService, TaskLogService) and WatchService, configured
// like `metad serve` would (watch mode, authorizer); and a client stream
// that collects what it receives on a thread of its own.
#ifndef METAD_TESTS_WATCH_TEST_SUPPORT_H_
#define METAD_TESTS_WATCH_TEST_SUPPORT_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/rpc/call_runner.h"
#include "daemon/rpc/worker_pool.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "daemon/services/watch_service.h"
#include "metad/v1/watch.grpc.pb.h"
#include "store/database.h"

namespace metad::testing {

// One metad replica: its own port, worker pool and watch listener.
class WatchServer {
 public:
  WatchServer(store::Database* db, daemon::WatchOptions options,
              daemon::CallRunner::Authorizer authorizer = nullptr)
      : pool_(8, 4096),
        runner_(&pool_),
        files_(db, &runner_),
        runs_(db, &runner_),
        watch_(db, &runner_, options) {
    if (authorizer) runner_.set_authorizer(std::move(authorizer));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&files_);
    builder.RegisterService(&runs_);
    builder.RegisterService(&watch_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                   grpc::InsecureChannelCredentials());
  }
  ~WatchServer() { Stop(); }

  // As MetadServer::Shutdown: streams first, then the server. The drain
  // deadline is long on purpose: a stream left open would show as a
  // CANCELLED status (and a slow test) instead of UNAVAILABLE.
  void Stop() {
    if (server_ == nullptr) return;
    watch_.Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(60));
    server_->Wait();
    server_.reset();
  }

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  daemon::WatchServiceImpl& watch() { return watch_; }

 private:
  daemon::WorkerPool pool_;
  daemon::CallRunner runner_;
  daemon::FileServiceImpl files_;
  daemon::TaskLogServiceImpl runs_;
  daemon::WatchServiceImpl watch_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  int port_ = 0;
};

// A client stream read on its own thread.
template <typename Event>
class Collector {
 public:
  using Start = std::function<std::unique_ptr<grpc::ClientReader<Event>>(
      grpc::ClientContext*)>;

  explicit Collector(Start start) {
    thread_ = std::thread([this, start = std::move(start)] {
      std::unique_ptr<grpc::ClientReader<Event>> reader = start(&context_);
      reader->WaitForInitialMetadata();
      {
        absl::MutexLock lock(&mu_);
        const auto& md = context_.GetServerInitialMetadata();
        auto it = md.find(daemon::kWatchStartHeader);
        if (it != md.end()) {
          header_ = std::string(it->second.data(), it->second.size());
        }
        have_header_ = true;
      }
      Event event;
      while (reader->Read(&event)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(event);
      }
      grpc::Status status = reader->Finish();
      absl::MutexLock lock(&mu_);
      status_ = status;
      done_ = true;
    });
  }
  ~Collector() {
    Cancel();
    thread_.join();
  }

  // True once at least n events arrived (false after `timeout`, or when
  // the stream ended with fewer).
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto ready = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n || done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return events_.size() >= n;
  }

  // The metad-after-event-id header ("" when none); waits for it.
  std::string Header(absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return have_header_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return header_;
  }

  void Cancel() { context_.TryCancel(); }

  // Waits for the end of the stream; its status.
  grpc::Status Wait(absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "the test gave up waiting for the stream's end");
    }
    return status_;
  }

  std::vector<Event> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  std::vector<int64_t> ids() {
    std::vector<int64_t> out;
    for (const Event& e : events()) out.push_back(e.event().id());
    return out;
  }

 private:
  grpc::ClientContext context_;
  absl::Mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  std::string header_ ABSL_GUARDED_BY(mu_);
  bool have_header_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

using FileCollector = Collector<metad::v1::WatchedFileEvent>;
using RunCollector = Collector<metad::v1::WatchedRunEvent>;

inline std::unique_ptr<FileCollector> WatchFiles(
    std::shared_ptr<grpc::Channel> channel,
    const metad::v1::WatchFilesRequest& request) {
  auto stub = std::shared_ptr<metad::v1::WatchService::Stub>(
      metad::v1::WatchService::NewStub(channel));
  return std::make_unique<FileCollector>(
      [stub, request](grpc::ClientContext* context) {
        return stub->WatchFiles(context, request);
      });
}

inline std::unique_ptr<RunCollector> WatchRuns(
    std::shared_ptr<grpc::Channel> channel,
    const metad::v1::WatchRunsRequest& request) {
  auto stub = std::shared_ptr<metad::v1::WatchService::Stub>(
      metad::v1::WatchService::NewStub(channel));
  return std::make_unique<RunCollector>(
      [stub, request](grpc::ClientContext* context) {
        return stub->WatchRuns(context, request);
      });
}

}  // namespace metad::testing

#endif  // METAD_TESTS_WATCH_TEST_SUPPORT_H_
