// A small C++ client of metad over the generated stubs: one channel, the four
// services, a default deadline, optional TLS/mTLS and bearer token, and
// retries of only what is safe to retry.
//
// Retry rule: a call is retried on UNAVAILABLE or ABORTED, with exponential
// backoff and jitter, within the call's deadline, when the proto declares
// its method NO_SIDE_EFFECTS or IDEMPOTENT (`option idempotency_level`, see
// proto/metad/v1/options.proto): reads, creating calls that carry a
// request_id (RegisterFile(s), RegisterTask, StartRun, ClaimFiles,
// AddDependency) and calls the daemon answers again as it answered the
// first (CompleteFile, FinishRun, Heartbeat, CancelRun, RecordOutputs,
// PruneHistory). Creating calls get a generated request_id when the caller
// leaves it empty, so a retry after a lost response cannot create (or claim)
// twice. Every other call (ResetFile, ReprocessFiles, RerunTasks,
// DeleteTask, RemoveDependency, UpdateTask) is sent exactly once.
//
// Watch streams (WatchFiles, WatchRuns) have no deadline and reconnect by
// themselves from the last event id (watch.h).
#ifndef METAD_CLIENT_METAD_CLIENT_H_
#define METAD_CLIENT_METAD_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metad/client/watch.h"
#include "metad/v1/admin.grpc.pb.h"
#include "metad/v1/deadlines.grpc.pb.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "metad/v1/watch.grpc.pb.h"

namespace metad::client {

struct RetryPolicy {
  // Attempts in all, the first included; 1 disables retries.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  double multiplier = 2.0;
};

struct ClientOptions {
  std::string address = "127.0.0.1:50051";
  // Deadline of one call, its retries and backoff included.
  absl::Duration timeout = absl::Seconds(10);
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string bearer_token;
  // TLS: server verified against ca_cert_pem (system roots when empty);
  // client_cert_pem + client_key_pem for mutual TLS.
  bool tls = false;
  std::string ca_cert_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  RetryPolicy retry;
  // Read-your-writes when metad serves reads from a standby
  // (--read_database): the Client remembers the highest commit position an
  // answer carried (trailer metad-commit-lsn) and sends it with every call
  // (header metad-min-lsn), so a read never misses a change this Client
  // made. Costs nothing when metad has no read pool (no trailer is sent).
  // Off: reads may be served by a standby that is behind.
  bool read_your_writes = true;
  // Injected for tests; absl::SleepFor when empty.
  std::function<void(absl::Duration)> sleep;
};

// Whether the method taking `request` may be sent again after UNAVAILABLE or
// ABORTED: its idempotency_level is NO_SIDE_EFFECTS or IDEMPOTENT.
bool IsRetryable(const google::protobuf::Descriptor* request);

// Channel credentials for the options (insecure unless tls).
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const ClientOptions& options);

// A fresh random idempotency key ("c-" + 32 hex digits).
std::string NewRequestId();

// The whole content of a file; NOT_FOUND/PERMISSION_DENIED... as
// absl::Status naming the path when it cannot be read.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Reads a token file: its content without surrounding whitespace;
// INVALID_ARGUMENT when it is empty.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

class Client {
 public:
  // Connects lazily to options.address.
  explicit Client(ClientOptions options);
  // Uses an existing channel (tests, or a caller sharing one).
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  const ClientOptions& options() const { return options_; }

  // The highest commit position seen (read_your_writes), 0 before any.
  // Another Client (another process) may pass it on with
  // set_commit_position to read what this one wrote.
  uint64_t commit_position() const { return position_->load(); }
  void set_commit_position(uint64_t position);

  // FileService
  grpc::Status RegisterFile(v1::RegisterFileRequest request,
                            v1::RegisterFileResponse* response);
  grpc::Status RegisterFiles(v1::RegisterFilesRequest request,
                             v1::RegisterFilesResponse* response);
  grpc::Status GetFile(const v1::GetFileRequest& request, v1::File* response);
  grpc::Status ListFiles(const v1::ListFilesRequest& request,
                         v1::ListFilesResponse* response);
  grpc::Status ClaimFiles(v1::ClaimFilesRequest request,
                          v1::ClaimFilesResponse* response);
  grpc::Status CompleteFile(const v1::CompleteFileRequest& request,
                            v1::CompleteFileResponse* response);
  grpc::Status ResetFile(const v1::ResetFileRequest& request,
                         v1::ResetFileResponse* response);
  grpc::Status ListFileEvents(const v1::ListFileEventsRequest& request,
                              v1::ListFileEventsResponse* response);
  grpc::Status ReprocessFiles(const v1::ReprocessFilesRequest& request,
                              v1::ReprocessFilesResponse* response);
  // A read: retried.
  grpc::Status GetLineage(const v1::GetLineageRequest& request,
                          v1::GetLineageResponse* response);

  // TaskService
  grpc::Status RegisterTask(v1::RegisterTaskRequest request,
                            v1::RegisterTaskResponse* response);
  // Sent once: a repeat after a lost answer would see its own change as a
  // newer etag (ABORTED ETAG_MISMATCH). See EnsureTask (ensure_task.h).
  grpc::Status UpdateTask(const v1::UpdateTaskRequest& request,
                          v1::Task* response);
  grpc::Status GetTask(const v1::GetTaskRequest& request, v1::Task* response);
  grpc::Status ListTasks(const v1::ListTasksRequest& request,
                         v1::ListTasksResponse* response);
  grpc::Status DeleteTask(const v1::DeleteTaskRequest& request,
                          v1::DeleteTaskResponse* response);
  grpc::Status ListTaskEvents(const v1::ListTaskEventsRequest& request,
                              v1::ListTaskEventsResponse* response);

  // TaskLogService
  grpc::Status StartRun(v1::StartRunRequest request,
                        v1::StartRunResponse* response);
  grpc::Status Heartbeat(const v1::HeartbeatRequest& request,
                         v1::HeartbeatResponse* response);
  grpc::Status FinishRun(const v1::FinishRunRequest& request,
                         v1::FinishRunResponse* response);
  grpc::Status CancelRun(const v1::CancelRunRequest& request,
                         v1::CancelRunResponse* response);
  grpc::Status RerunTasks(const v1::RerunTasksRequest& request,
                          v1::RerunTasksResponse* response);
  // Retried: recording the same outputs again changes nothing (dedupe by
  // name, one link per run and file), and a run that lost its lease is
  // refused either way.
  grpc::Status RecordOutputs(const v1::RecordOutputsRequest& request,
                             v1::RecordOutputsResponse* response);
  grpc::Status GetRun(const v1::GetRunRequest& request, v1::Run* response);
  grpc::Status ListRuns(const v1::ListRunsRequest& request,
                        v1::ListRunsResponse* response);
  grpc::Status GetBatch(const v1::GetBatchRequest& request,
                        v1::Batch* response);
  grpc::Status ListRunEvents(const v1::ListRunEventsRequest& request,
                             v1::ListRunEventsResponse* response);

  // DependencyService
  grpc::Status AddDependency(v1::AddDependencyRequest request,
                             v1::AddDependencyResponse* response);
  grpc::Status RemoveDependency(const v1::RemoveDependencyRequest& request,
                                v1::RemoveDependencyResponse* response);
  grpc::Status ListDependencies(const v1::ListDependenciesRequest& request,
                                v1::ListDependenciesResponse* response);
  grpc::Status GetUpstream(const v1::GetUpstreamRequest& request,
                           v1::GetUpstreamResponse* response);
  grpc::Status GetDownstream(const v1::GetDownstreamRequest& request,
                             v1::GetDownstreamResponse* response);
  grpc::Status GetExecutionPlan(const v1::GetExecutionPlanRequest& request,
                                v1::GetExecutionPlanResponse* response);
  grpc::Status GetReadyTasks(const v1::GetReadyTasksRequest& request,
                             v1::GetReadyTasksResponse* response);

  // AdminService (retried: pruning again is harmless)
  grpc::Status PruneHistory(const v1::PruneHistoryRequest& request,
                            v1::PruneHistoryResponse* response);

  // DeadlineService (retried: setting the same value again is harmless)
  grpc::Status SetBatchDeadline(const v1::SetBatchDeadlineRequest& request,
                                v1::SetBatchDeadlineResponse* response);
  grpc::Status SetSourceFreshness(const v1::SetSourceFreshnessRequest& request,
                                  v1::SourceFreshness* response);
  grpc::Status ListAlerts(const v1::ListAlertsRequest& request,
                          v1::ListAlertsResponse* response);

  // WatchService: the stream starts after request.after_event_id and
  // reconnects after UNAVAILABLE from the last event delivered (watch.h).
  // The stream shares the channel and may outlive this Client.
  std::unique_ptr<FileWatch> WatchFiles(v1::WatchFilesRequest request,
                                        WatchOptions options = {});
  std::unique_ptr<RunWatch> WatchRuns(v1::WatchRunsRequest request,
                                      WatchOptions options = {});

 private:
  template <typename Stub, typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&,
                                        Response*);

  // Sends the call (again, while `retry` allows) until the deadline.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Invoke(Stub* stub, Method<Stub, Request, Response> method,
                      const Request& request, Response* response);

  void Sleep(absl::Duration d) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FileService::Stub> files_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::unique_ptr<v1::TaskLogService::Stub> runs_;
  std::unique_ptr<v1::DependencyService::Stub> deps_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::DeadlineService::Stub> deadlines_;
  std::shared_ptr<v1::WatchService::Stub> watch_;
  // Shared so that Client stays movable.
  std::shared_ptr<std::atomic<uint64_t>> position_ =
      std::make_shared<std::atomic<uint64_t>>(0);
};

// The names of the read-your-writes metadata (docs/scaling.md).
inline constexpr char kCommitPositionTrailer[] = "metad-commit-lsn";
inline constexpr char kMinPositionHeader[] = "metad-min-lsn";

}  // namespace metad::client

#endif  // METAD_CLIENT_METAD_CLIENT_H_
