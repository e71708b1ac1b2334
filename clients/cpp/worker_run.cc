#include "metad/client/worker_run.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace metad::client {
namespace {

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

std::string DefaultWorkerId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid());
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerRun>> WorkerRun::Start(
    Client* client, const std::string& task, const std::string& batch_id,
    WorkerRunOptions options) {
  v1::StartRunRequest request;
  request.set_task(task);
  request.set_batch_id(batch_id);
  request.set_worker_id(options.worker_id.empty() ? DefaultWorkerId()
                                                  : options.worker_id);
  request.set_lease_seconds(options.lease_seconds);
  request.mutable_labels()->insert(options.labels.begin(),
                                   options.labels.end());
  // Chosen here, so the client's retries of a lost answer find this run.
  request.set_request_id(options.request_id.empty() ? NewRequestId()
                                                    : options.request_id);
  v1::StartRunResponse response;
  grpc::Status status = client->StartRun(request, &response);
  if (!status.ok()) return ToAbsl(status);
  absl::Duration interval = options.heartbeat_interval;
  if (interval <= absl::ZeroDuration()) {
    const int64_t lease_s = response.run().lease_expire_time().seconds() -
                            response.run().start_time().seconds();
    interval = absl::Seconds(lease_s > 0 ? lease_s : 60) / 3;
  }
  std::unique_ptr<WorkerRun> run(new WorkerRun(client, response.run()));
  if (options.heartbeat) {
    WorkerRun* raw = run.get();
    run->heartbeats_ = std::thread([raw, interval] {
      raw->HeartbeatLoop(interval);
    });
  }
  return run;
}

WorkerRun::WorkerRun(Client* client, v1::Run run)
    : client_(client), run_id_(run.id()), run_(std::move(run)) {}

WorkerRun::~WorkerRun() { StopHeartbeats(); }

v1::Run WorkerRun::run() const {
  std::lock_guard<std::mutex> lock(mu_);
  return run_;
}

grpc::Status WorkerRun::lost() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lost_;
}

std::vector<int64_t> WorkerRun::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {received_.begin(), received_.end()};
}

grpc::Status WorkerRun::Note(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_.ok()) lost_ = status;
  }
  return status;
}

absl::StatusOr<std::vector<v1::File>> WorkerRun::Claim(
    int32_t limit, const std::string& source) {
  grpc::Status gone = lost();
  if (!gone.ok()) return ToAbsl(gone);
  v1::ClaimFilesRequest request;
  request.set_run_id(run_id_);
  request.set_limit(limit);
  request.set_source(source);
  request.set_request_id(NewRequestId());
  v1::ClaimFilesResponse response;
  grpc::Status status = Note(client_->ClaimFiles(request, &response));
  if (!status.ok()) return ToAbsl(status);
  std::vector<v1::File> files(response.files().begin(),
                              response.files().end());
  std::lock_guard<std::mutex> lock(mu_);
  for (const v1::File& f : files) received_.insert(f.id());
  return files;
}

absl::StatusOr<v1::File> WorkerRun::Complete(int64_t file_id,
                                             v1::FileStatus status,
                                             const std::string& message) {
  grpc::Status gone = lost();
  if (!gone.ok()) return ToAbsl(gone);
  v1::CompleteFileRequest request;
  request.set_run_id(run_id_);
  request.set_file_id(file_id);
  request.set_status(status);
  request.set_error_message(message);
  v1::CompleteFileResponse response;
  grpc::Status s = Note(client_->CompleteFile(request, &response));
  if (!s.ok()) return ToAbsl(s);
  return response.file();
}

absl::StatusOr<v1::FinishRunResponse> WorkerRun::Finish(
    v1::RunStatus status, const std::string& error_message) {
  StopHeartbeats();
  grpc::Status gone = lost();
  if (!gone.ok()) return ToAbsl(gone);
  v1::FinishRunRequest request;
  request.set_run_id(run_id_);
  request.set_status(status);
  request.set_error_message(error_message);
  for (int64_t id : received()) request.add_file_ids(id);
  v1::FinishRunResponse response;
  grpc::Status s = Note(client_->FinishRun(request, &response));
  if (!s.ok()) return ToAbsl(s);
  std::lock_guard<std::mutex> lock(mu_);
  run_ = response.run();
  return response;
}

void WorkerRun::StopHeartbeats() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (heartbeats_.joinable()) heartbeats_.join();
}

void WorkerRun::HeartbeatLoop(absl::Duration interval) {
  absl::Duration wait = interval;
  int failures = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait),
                            [this] { return stop_; })) {
        return;
      }
    }
    v1::HeartbeatRequest request;
    request.set_run_id(run_id_);
    v1::HeartbeatResponse response;
    grpc::Status s = client_->Heartbeat(request, &response);
    if (s.ok()) {
      failures = 0;
      wait = interval;
      std::lock_guard<std::mutex> lock(mu_);
      run_ = response.run();
      continue;
    }
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
        s.error_code() == grpc::StatusCode::ABORTED ||
        s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      // Sooner than the interval, so a short outage does not cost the lease.
      wait = std::min(interval, absl::Milliseconds(100) * (1 << std::min(
                                                              failures++, 6)));
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_.ok()) lost_ = s;
    return;
  }
}

}  // namespace metad::client
