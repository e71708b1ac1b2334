#include "metad/client/metad_client.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace metad::client {
namespace {

bool IsRetryableCode(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::ABORTED;
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

// Backoff before attempt `attempt + 1` (attempt >= 1): exponential, capped,
// with jitter in [d/2, d] so that many clients do not retry in lockstep.
absl::Duration Backoff(const RetryPolicy& policy, int attempt) {
  double d = absl::ToDoubleSeconds(policy.initial_backoff);
  for (int i = 1; i < attempt; ++i) d *= policy.multiplier;
  d = std::min(d, absl::ToDoubleSeconds(policy.max_backoff));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return absl::Seconds(d * jitter(Rng()));
}

template <typename Request>
Request WithRequestId(Request request) {
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  return request;
}

}  // namespace

bool IsRetryable(const google::protobuf::Descriptor* request) {
  const google::protobuf::FileDescriptor* file = request->file();
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      const google::protobuf::MethodDescriptor* method = service->method(m);
      if (method->input_type() == request) {
        return method->options().idempotency_level() !=
               google::protobuf::MethodOptions::IDEMPOTENCY_UNKNOWN;
      }
    }
  }
  return false;
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const ClientOptions& options) {
  if (!options.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_cert_pem;
  ssl.pem_cert_chain = options.client_cert_pem;
  ssl.pem_private_key = options.client_key_pem;
  return grpc::SslCredentials(ssl);
}

std::string NewRequestId() {
  std::uniform_int_distribution<uint64_t> dist;
  return absl::StrFormat("c-%016x%016x", dist(Rng()), dist(Rng()));
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return content.str();
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFileToString(path);
  if (!content.ok()) return content.status();
  std::string token(absl::StripAsciiWhitespace(*content));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": token is empty"));
  }
  return token;
}

Client::Client(ClientOptions options)
    : Client(
          grpc::CreateChannel(options.address, MakeChannelCredentials(options)),
          options) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      files_(v1::FileService::NewStub(channel_)),
      tasks_(v1::TaskService::NewStub(channel_)),
      runs_(v1::TaskLogService::NewStub(channel_)),
      deps_(v1::DependencyService::NewStub(channel_)),
      admin_(v1::AdminService::NewStub(channel_)),
      deadlines_(v1::DeadlineService::NewStub(channel_)),
      watch_(v1::WatchService::NewStub(channel_)) {}

void Client::Sleep(absl::Duration d) const {
  if (options_.sleep) {
    options_.sleep(d);
  } else {
    absl::SleepFor(d);
  }
}

void Client::set_commit_position(uint64_t position) {
  uint64_t seen = position_->load();
  while (position > seen && !position_->compare_exchange_weak(seen, position)) {
  }
}

template <typename Stub, typename Request, typename Response>
grpc::Status Client::Invoke(Stub* stub, Method<Stub, Request, Response> method,
                            const Request& request, Response* response) {
  const absl::Time deadline = absl::Now() + options_.timeout;
  // What the proto declares (idempotency_level), looked up once per method.
  static const bool retryable = IsRetryable(Request::descriptor());
  const int max_attempts =
      retryable ? std::max(1, options_.retry.max_attempts) : 1;
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    if (!options_.bearer_token.empty()) {
      context.AddMetadata("authorization",
                          absl::StrCat("Bearer ", options_.bearer_token));
    }
    if (options_.read_your_writes) {
      if (uint64_t seen = position_->load(); seen > 0) {
        context.AddMetadata(kMinPositionHeader, std::to_string(seen));
      }
    }
    response->Clear();
    status = (stub->*method)(&context, request, response);
    if (status.ok() && options_.read_your_writes) {
      const auto& trailers = context.GetServerTrailingMetadata();
      auto it = trailers.find(kCommitPositionTrailer);
      uint64_t position = 0;
      if (it != trailers.end() &&
          absl::SimpleAtoi(
              absl::string_view(it->second.data(), it->second.size()),
              &position)) {
        set_commit_position(position);
      }
    }
    if (status.ok() || !IsRetryableCode(status.error_code()) ||
        attempt >= max_attempts) {
      return status;
    }
    absl::Duration pause = Backoff(options_.retry, attempt);
    if (absl::Now() + pause >= deadline) return status;
    Sleep(pause);
  }
}

// FileService -------------------------------------------------------------

grpc::Status Client::RegisterFile(v1::RegisterFileRequest request,
                                  v1::RegisterFileResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::RegisterFile,
                WithRequestId(std::move(request)), response);
}

grpc::Status Client::RegisterFiles(v1::RegisterFilesRequest request,
                                   v1::RegisterFilesResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::RegisterFiles,
                WithRequestId(std::move(request)), response);
}

grpc::Status Client::GetFile(const v1::GetFileRequest& request,
                             v1::File* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::GetFile, request,
                response);
}

grpc::Status Client::ListFiles(const v1::ListFilesRequest& request,
                               v1::ListFilesResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::ListFiles, request,
                response);
}

grpc::Status Client::ClaimFiles(v1::ClaimFilesRequest request,
                                v1::ClaimFilesResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::ClaimFiles,
                WithRequestId(std::move(request)), response);
}

grpc::Status Client::CompleteFile(const v1::CompleteFileRequest& request,
                                  v1::CompleteFileResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::CompleteFile, request,
                response);
}

grpc::Status Client::ResetFile(const v1::ResetFileRequest& request,
                               v1::ResetFileResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::ResetFile, request,
                response);
}

grpc::Status Client::ListFileEvents(const v1::ListFileEventsRequest& request,
                                    v1::ListFileEventsResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::ListFileEvents, request,
                response);
}

// Sent once: a retry after a lost answer would find the files NEW and be
// refused (by ids) or take the next ones (by filter).
grpc::Status Client::ReprocessFiles(const v1::ReprocessFilesRequest& request,
                                    v1::ReprocessFilesResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::ReprocessFiles, request,
                response);
}

grpc::Status Client::GetLineage(const v1::GetLineageRequest& request,
                                v1::GetLineageResponse* response) {
  return Invoke(files_.get(), &v1::FileService::Stub::GetLineage, request,
                response);
}

grpc::Status Client::RecordOutputs(const v1::RecordOutputsRequest& request,
                                   v1::RecordOutputsResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::RecordOutputs, request,
                response);
}

// TaskService -------------------------------------------------------------

grpc::Status Client::RegisterTask(v1::RegisterTaskRequest request,
                                  v1::RegisterTaskResponse* response) {
  return Invoke(tasks_.get(), &v1::TaskService::Stub::RegisterTask,
                WithRequestId(std::move(request)), response);
}

grpc::Status Client::UpdateTask(const v1::UpdateTaskRequest& request,
                                v1::Task* response) {
  return Invoke(tasks_.get(), &v1::TaskService::Stub::UpdateTask, request,
                response);
}

grpc::Status Client::GetTask(const v1::GetTaskRequest& request,
                             v1::Task* response) {
  return Invoke(tasks_.get(), &v1::TaskService::Stub::GetTask, request,
                response);
}

grpc::Status Client::ListTasks(const v1::ListTasksRequest& request,
                               v1::ListTasksResponse* response) {
  return Invoke(tasks_.get(), &v1::TaskService::Stub::ListTasks, request,
                response);
}

grpc::Status Client::ListTaskEvents(const v1::ListTaskEventsRequest& request,
                                    v1::ListTaskEventsResponse* response) {
  return Invoke(tasks_.get(), &v1::TaskService::Stub::ListTaskEvents, request,
                response);
}

grpc::Status Client::DeleteTask(const v1::DeleteTaskRequest& request,
                                v1::DeleteTaskResponse* response) {
  return Invoke(tasks_.get(), &v1::TaskService::Stub::DeleteTask, request,
                response);
}

// TaskLogService ----------------------------------------------------------

grpc::Status Client::StartRun(v1::StartRunRequest request,
                              v1::StartRunResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::StartRun,
                WithRequestId(std::move(request)), response);
}

grpc::Status Client::Heartbeat(const v1::HeartbeatRequest& request,
                               v1::HeartbeatResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::Heartbeat, request,
                response);
}

grpc::Status Client::FinishRun(const v1::FinishRunRequest& request,
                               v1::FinishRunResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::FinishRun, request,
                response);
}

grpc::Status Client::CancelRun(const v1::CancelRunRequest& request,
                               v1::CancelRunResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::CancelRun, request,
                response);
}

// Not retried: a repeat after a lost answer would also supersede runs that
// ended in between.
grpc::Status Client::RerunTasks(const v1::RerunTasksRequest& request,
                                v1::RerunTasksResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::RerunTasks, request,
                response);
}

grpc::Status Client::GetRun(const v1::GetRunRequest& request,
                            v1::Run* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::GetRun, request,
                response);
}

grpc::Status Client::ListRuns(const v1::ListRunsRequest& request,
                              v1::ListRunsResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::ListRuns, request,
                response);
}

grpc::Status Client::GetBatch(const v1::GetBatchRequest& request,
                              v1::Batch* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::GetBatch, request,
                response);
}

grpc::Status Client::ListRunEvents(const v1::ListRunEventsRequest& request,
                                   v1::ListRunEventsResponse* response) {
  return Invoke(runs_.get(), &v1::TaskLogService::Stub::ListRunEvents, request,
                response);
}

// DependencyService -------------------------------------------------------

grpc::Status Client::AddDependency(v1::AddDependencyRequest request,
                                   v1::AddDependencyResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::AddDependency,
                WithRequestId(std::move(request)), response);
}

grpc::Status Client::RemoveDependency(
    const v1::RemoveDependencyRequest& request,
    v1::RemoveDependencyResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::RemoveDependency,
                request, response);
}

grpc::Status Client::ListDependencies(
    const v1::ListDependenciesRequest& request,
    v1::ListDependenciesResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::ListDependencies,
                request, response);
}

grpc::Status Client::GetUpstream(const v1::GetUpstreamRequest& request,
                                 v1::GetUpstreamResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::GetUpstream, request,
                response);
}

grpc::Status Client::GetDownstream(const v1::GetDownstreamRequest& request,
                                   v1::GetDownstreamResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::GetDownstream,
                request, response);
}

grpc::Status Client::GetExecutionPlan(
    const v1::GetExecutionPlanRequest& request,
    v1::GetExecutionPlanResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::GetExecutionPlan,
                request, response);
}

grpc::Status Client::GetReadyTasks(const v1::GetReadyTasksRequest& request,
                                   v1::GetReadyTasksResponse* response) {
  return Invoke(deps_.get(), &v1::DependencyService::Stub::GetReadyTasks,
                request, response);
}

// AdminService ------------------------------------------------------------

grpc::Status Client::PruneHistory(const v1::PruneHistoryRequest& request,
                                  v1::PruneHistoryResponse* response) {
  return Invoke(admin_.get(), &v1::AdminService::Stub::PruneHistory, request,
                response);
}

// DeadlineService ---------------------------------------------------------

grpc::Status Client::SetBatchDeadline(
    const v1::SetBatchDeadlineRequest& request,
    v1::SetBatchDeadlineResponse* response) {
  return Invoke(deadlines_.get(), &v1::DeadlineService::Stub::SetBatchDeadline,
                request, response);
}

grpc::Status Client::SetSourceFreshness(
    const v1::SetSourceFreshnessRequest& request,
    v1::SourceFreshness* response) {
  return Invoke(deadlines_.get(),
                &v1::DeadlineService::Stub::SetSourceFreshness, request,
                response);
}

grpc::Status Client::ListAlerts(const v1::ListAlertsRequest& request,
                                v1::ListAlertsResponse* response) {
  return Invoke(deadlines_.get(), &v1::DeadlineService::Stub::ListAlerts,
                request, response);
}

// WatchService ------------------------------------------------------------

namespace {

// Streams carry the token like every call, and no deadline.
std::function<void(grpc::ClientContext*)> StreamSetup(std::string token) {
  return [token = std::move(token)](grpc::ClientContext* context) {
    if (!token.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
  };
}

}  // namespace

std::unique_ptr<FileWatch> Client::WatchFiles(v1::WatchFilesRequest request,
                                              WatchOptions options) {
  const int64_t after = request.after_event_id();
  auto open = [stub = watch_, request = std::move(request)](
                  grpc::ClientContext* context, int64_t after_event_id) {
    v1::WatchFilesRequest r = request;
    r.set_after_event_id(after_event_id);
    return stub->WatchFiles(context, r);
  };
  return std::make_unique<FileWatch>(std::move(open),
                                     StreamSetup(options_.bearer_token), after,
                                     std::move(options));
}

std::unique_ptr<RunWatch> Client::WatchRuns(v1::WatchRunsRequest request,
                                            WatchOptions options) {
  const int64_t after = request.after_event_id();
  auto open = [stub = watch_, request = std::move(request)](
                  grpc::ClientContext* context, int64_t after_event_id) {
    v1::WatchRunsRequest r = request;
    r.set_after_event_id(after_event_id);
    return stub->WatchRuns(context, r);
  };
  return std::make_unique<RunWatch>(std::move(open),
                                    StreamSetup(options_.bearer_token), after,
                                    std::move(options));
}

}  // namespace metad::client
