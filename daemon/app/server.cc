#include "daemon/app/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "daemon/http/writes_health.h"
#include "daemon/rpc/malformed_request.h"
#include "daemon/rpc/reflection.h"
#include "daemon/services/admin_service.h"
#include "daemon/services/deadline_service.h"
#include "daemon/services/dependency_service.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "daemon/services/task_service.h"
#include "daemon/services/watch_service.h"

namespace metad::daemon {

struct MetadServer::Services {
  Services(store::Database* db, CallRunner* runner,
           const WatchOptions& watch_options,
           const store::DependencyStoreOptions& dependency_options)
      : files(db, runner),
        tasks(db, runner),
        runs(db, runner),
        dependencies(db, runner, dependency_options),
        watch(db, runner, watch_options),
        admin(db, runner),
        deadlines(db, runner) {}
  FileServiceImpl files;
  TaskServiceImpl tasks;
  TaskLogServiceImpl runs;
  DependencyServiceImpl dependencies;
  WatchServiceImpl watch;
  AdminServiceImpl admin;
  DeadlineServiceImpl deadlines;
};

namespace {
constexpr const char* kServiceNames[] = {"",
                                         "metad.v1.FileService",
                                         "metad.v1.TaskService",
                                         "metad.v1.TaskLogService",
                                         "metad.v1.DependencyService",
                                         "metad.v1.WatchService",
                                         "metad.v1.AdminService",
                                         "metad.v1.DeadlineService"};
}  // namespace

MetadServer::MetadServer(store::Database* db, const ServerOptions& options)
    : pool_(options.worker_threads, options.max_queued_calls),
      runner_(&pool_),
      services_(std::make_unique<Services>(db, &runner_, options.watch,
                                           options.dependencies)) {
  if (options.call_observer) runner_.add_observer(options.call_observer);
  if (options.authorizer) runner_.set_authorizer(options.authorizer);
  if (options.namer) runner_.set_namer(options.namer);
  // 0 (no trailer) unless the pool has a read pool.
  runner_.set_commit_position([db] { return db->CommitPosition(); });
}

MetadServer::~MetadServer() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::unique_ptr<MetadServer>> MetadServer::Start(
    store::Database* db, const ServerOptions& options) {
  static const bool kPluginsInitialized = [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)kPluginsInitialized;

  std::unique_ptr<MetadServer> server(new MetadServer(db, options));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen,
                           options.credentials
                               ? options.credentials
                               : grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC 1.51 has known metadata-size DoS issues: keep headers small.
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.RegisterService(&server->services_->files);
  builder.RegisterService(&server->services_->tasks);
  builder.RegisterService(&server->services_->runs);
  builder.RegisterService(&server->services_->dependencies);
  builder.RegisterService(&server->services_->watch);
  builder.RegisterService(&server->services_->admin);
  builder.RegisterService(&server->services_->deadlines);
  // Health describable, and reflection v1 next to gRPC's v1alpha.
  CompleteReflection(&builder);
  // gRPC 1.51 answers a request protobuf cannot parse (e.g. invalid UTF-8
  // in a string) with a bare UNIMPLEMENTED; say INVALID_ARGUMENT instead.
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<MalformedRequestInterceptorFactory>(
      options.call_observer));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen, " (address in use or invalid)"));
  }
  server->SetServing(true);
  return server;
}

void MetadServer::EventsWritten() { services_->watch.EventsWritten(); }

int MetadServer::watch_streams() const {
  return services_->watch.open_streams();
}

void MetadServer::SetServing(bool serving) {
  if (server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  serving_ = serving;
  for (const char* name : kServiceNames) {
    health->SetServingStatus(name, serving);
  }
  health->SetServingStatus(kWritesHealthName, serving && writes_serving_);
}

void MetadServer::SetWritesServing(bool serving) {
  writes_serving_ = serving;
  if (server_ == nullptr || shut_down_) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(kWritesHealthName, serving && serving_);
}

void MetadServer::Shutdown(absl::Duration drain) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  SetServing(false);
  services_->watch.Shutdown();  // watch streams never end by themselves
  server_->Shutdown(absl::ToChronoTime(absl::Now() + drain));
  server_->Wait();
}

}  // namespace metad::daemon
