#include "daemon/app/daemon.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"
#include "daemon/app/server.h"
#include "daemon/background/deadline_checker.h"
#include "daemon/background/event_partitions.h"
#include "daemon/background/lease_reaper.h"
#include "daemon/background/monitor.h"
#include "daemon/background/retention.h"
#include "daemon/http/http_server.h"
#include "daemon/http/metrics.h"
#include "daemon/http/status_page.h"
#include "daemon/rpc/auth.h"
#include "daemon/rpc/tls.h"
#include "store/database.h"
#include "store/migrator.h"

namespace metad::daemon {
namespace {

// Brings the schema to this binary's version (or checks it), waiting for the
// database to answer for up to `wait`.
absl::Status PrepareSchema(const std::string& url, bool auto_migrate,
                           absl::Duration wait) {
  auto migrations = store::EmbeddedMigrations();
  if (!migrations.ok()) return migrations.status();
  store::Migrator migrator(url, *migrations, store::EmbeddedDefinitions());
  absl::Time give_up = absl::Now() + wait;
  for (;;) {
    absl::Status status = auto_migrate ? migrator.Up() : absl::OkStatus();
    if (status.ok()) status = migrator.CheckCompatible();
    if (status.code() != absl::StatusCode::kUnavailable ||
        absl::Now() >= give_up) {
      return status;
    }
    log::Warn("database_wait", {{"error", status.message()}});
    absl::SleepFor(absl::Milliseconds(250));
  }
}

bool IsLoopback(const std::string& listen) {
  return listen.rfind("127.", 0) == 0 || listen.rfind("localhost:", 0) == 0 ||
         listen.rfind("[::1]:", 0) == 0;
}

}  // namespace

// Declared in start order; destroyed in reverse.
struct Daemon::Parts {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<TokenAuthenticator> tokens =
      std::make_shared<TokenAuthenticator>();
  std::unique_ptr<store::Database> read_db;  // --read_database; outlives db
  std::unique_ptr<store::Database> db;
  std::unique_ptr<Metrics> metrics;
  // The monitor's write probe; read by the status page.
  std::unique_ptr<WritesHealth> writes_health =
      std::make_unique<WritesHealth>();
  std::shared_ptr<TokenAuthenticator> status_tokens;
  std::unique_ptr<HttpServer> http;         // --metrics_listen
  std::unique_ptr<HttpServer> status_http;  // --status_listen
  std::unique_ptr<MetadServer> server;
  std::unique_ptr<LeaseReaper> reaper;
  std::unique_ptr<DeadlineChecker> deadlines;
  std::unique_ptr<Monitor> monitor;
  std::unique_ptr<RetentionPruner> pruner;
  std::unique_ptr<EventPartitioner> partitioner;
  bool stopped = false;
};

Daemon::Daemon(ServeConfig config)
    : config_(std::move(config)), parts_(std::make_unique<Parts>()) {}

Daemon::~Daemon() { Stop(); }

absl::Status Daemon::Start(std::string* event) {
  Parts& p = *parts_;
  *event = "bad_flags";
  if (!config_.tls.cert.empty() || !config_.tls.key.empty() ||
      !config_.tls.client_ca.empty()) {
    auto tls = TlsServerCredentials(config_.tls, /*refresh_seconds=*/5);
    if (!tls.ok()) return tls.status();
    p.credentials = *tls;
  }
  if (!config_.token_file.empty()) {
    if (absl::Status s = p.tokens->Load(config_.token_file); !s.ok()) return s;
  } else if (!IsLoopback(config_.listen)) {
    log::Warn("no_authentication",
              {{"listen", config_.listen},
               {"hint", "set --token_file (and TLS) off loopback"}});
  }

  const std::string& status_address = config_.status_listen.empty()
                                          ? config_.metrics_listen
                                          : config_.status_listen;
  if (!status_address.empty() && config_.status_token_file.empty() &&
      !IsLoopback(status_address)) {
    log::Warn("status_page_open",
              {{"listen", status_address},
               {"hint", "set --status_token_file off loopback"}});
  }

  *event = "schema_not_ready";
  if (absl::Status s =
          PrepareSchema(config_.migration_database_url, config_.auto_migrate,
                        config_.database_wait);
      !s.ok()) {
    return s;
  }

  store::DatabaseOptions db_options;
  db_options.url = config_.database_url;
  db_options.pool_size = config_.pool_size;
  p.db = std::make_unique<store::Database>(db_options);
  if (!config_.fence_state_file.empty()) {
    *event = "fence_state_unreadable";
    if (absl::Status s = p.db->UseFenceStateFile(config_.fence_state_file);
        !s.ok()) {
      return s;
    }
  }
  if (!config_.read_database_url.empty()) {
    // Reads (and the status page) try it first; writes, the reaper,
    // retention and watch streams (LISTEN) stay on the primary.
    store::DatabaseOptions read_options = db_options;
    read_options.url = config_.read_database_url;
    p.read_db = std::make_unique<store::Database>(read_options);
    p.db->SetReadPool(p.read_db.get());
    log::Info("read_pool",
              {{"url", store::RedactDatabaseUrl(config_.read_database_url)}});
  }

  if (!config_.status_token_file.empty()) {
    p.status_tokens = std::make_shared<TokenAuthenticator>();
    if (absl::Status s = p.status_tokens->Load(config_.status_token_file,
                                               "--status_token_file");
        !s.ok()) {
      return s;
    }
  }
  HttpServerOptions http_options;
  http_options.threads = config_.http_threads;
  http_options.request_timeout = config_.http_request_timeout;
  StatusPageOptions status_options;
  status_options.tokens = p.status_tokens.get();
  status_options.writes = p.writes_health.get();
  // A quarter of the threads at most wait on the database; the rest stay
  // free for /metrics and the page.
  status_options.max_in_flight = std::max(1, config_.http_threads / 4);
  if (!config_.metrics_listen.empty()) {
    *event = "metrics_listen_failed";
    p.metrics = std::make_unique<Metrics>(METAD_VERSION);
    Metrics* metrics = p.metrics.get();
    p.http = std::make_unique<HttpServer>(http_options);
    p.http->Handle("/metrics", [metrics](const HttpRequest&) {
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                          metrics->Render()};
    });
    if (config_.status_listen.empty()) {
      RegisterStatusPage(p.http.get(), p.db.get(), status_options);
    }
    if (absl::Status s = p.http->Start(config_.metrics_listen); !s.ok()) {
      return s;
    }
  }
  if (!config_.status_listen.empty()) {
    *event = "status_listen_failed";
    p.status_http = std::make_unique<HttpServer>(http_options);
    RegisterStatusPage(p.status_http.get(), p.db.get(), status_options);
    if (absl::Status s = p.status_http->Start(config_.status_listen); !s.ok()) {
      return s;
    }
  }

  *event = "listen_failed";
  ServerOptions server_options;
  server_options.listen = config_.listen;
  server_options.worker_threads = config_.pool_size;
  server_options.max_queued_calls = config_.max_queued_calls;
  server_options.max_receive_message_bytes = config_.max_message_bytes;
  server_options.credentials = p.credentials;
  server_options.watch = config_.watch;
  server_options.dependencies.ready_graph_max_tasks =
      config_.ready_graph_max_tasks;
  if (!config_.token_file.empty()) {
    server_options.authorizer = [tokens = p.tokens](
                                    const grpc::ServerContextBase& ctx,
                                    const char* method) {
      return tokens->Authorize(ctx, method);
    };
    server_options.namer = [tokens =
                                p.tokens](const grpc::ServerContextBase& ctx) {
      return tokens->NameOf(ctx);
    };
  }
  if (p.metrics != nullptr) {
    Metrics* metrics = p.metrics.get();
    server_options.call_observer = [metrics](const CallRecord& call) {
      metrics->RecordCall(call);
    };
  }
  auto server = MetadServer::Start(p.db.get(), server_options);
  if (!server.ok()) return server.status();
  p.server = std::move(*server);
  MetadServer* grpc_server = p.server.get();
  if (p.metrics != nullptr) {
    p.metrics->SetLiveSource([grpc_server] {
      return LiveGauges{grpc_server->queued_calls(),
                        grpc_server->busy_workers(),
                        grpc_server->watch_streams()};
    });
  }

  p.reaper = std::make_unique<LeaseReaper>(p.db.get(), config_.reaper_interval);
  p.reaper->set_on_expired([grpc_server] { grpc_server->EventsWritten(); });
  if (p.metrics != nullptr) {
    Metrics* metrics = p.metrics.get();
    p.reaper->set_on_extended(
        [metrics](int64_t runs) { metrics->RecordLeasesExtended(runs); });
  }
  p.reaper->Start();

  // Every replica checks; the alerts table's unique indexes record each
  // missed deadline or stale source once.
  {
    Metrics* m = p.metrics.get();
    p.deadlines = std::make_unique<DeadlineChecker>(
        p.db.get(), config_.reaper_interval, [m](const store::AlertCounts& c) {
          if (m == nullptr) return;
          m->RecordAlerts("DEADLINE_MISSED", c.deadline_missed);
          m->RecordAlerts("STALE", c.stale);
        });
    p.deadlines->Start();
  }

  // Health follows the database: NOT_SERVING while it does not answer.
  p.monitor = std::make_unique<Monitor>(
      p.db.get(), p.metrics.get(),
      [grpc_server](bool up) { grpc_server->SetServing(up); },
      config_.state_metrics_interval);
  p.monitor->set_writes(p.writes_health.get(), [grpc_server](bool durable) {
    grpc_server->SetWritesServing(durable);
  });
  p.monitor->Start();

  // Event partitions ahead of the id sequences, retention or not.
  p.partitioner =
      std::make_unique<EventPartitioner>(p.db.get(), absl::Minutes(1));
  p.partitioner->Start();

  // Off by default. Every replica may run it: pruners skip each other's rows.
  if (config_.retention > absl::ZeroDuration()) {
    PruneOptions prune;
    prune.older_than = config_.retention;
    Metrics* m = p.metrics.get();
    p.pruner = std::make_unique<RetentionPruner>(
        p.db.get(), prune, config_.retention_interval,
        [m](const store::PruneCounts& c) {
          if (m == nullptr) return;
          m->RecordPruned("task_log", c.runs);
          m->RecordPruned("run_events", c.run_events);
          m->RecordPruned("file_events", c.file_events);
        });
    p.pruner->Start();
  }
  event->clear();
  return absl::OkStatus();
}

void Daemon::Reload() {
  Parts& p = *parts_;
  if (!config_.token_file.empty()) {
    absl::Status s = p.tokens->Load(config_.token_file);
    log::Write(s.ok() ? log::Level::kInfo : log::Level::kError,
               "tokens_reloaded",
               {{"ok", s.ok()},
                {"tokens", static_cast<int64_t>(p.tokens->size())},
                {"error", s.message()}});
  }
  if (p.status_tokens != nullptr) {
    absl::Status s =
        p.status_tokens->Load(config_.status_token_file, "--status_token_file");
    log::Write(s.ok() ? log::Level::kInfo : log::Level::kError,
               "status_tokens_reloaded",
               {{"ok", s.ok()},
                {"tokens", static_cast<int64_t>(p.status_tokens->size())},
                {"error", s.message()}});
  }
  // Certificate files are watched anyway; checking them now shows a broken
  // renewal in the log at once.
  if (p.credentials != nullptr) {
    absl::Status s = CheckTlsFiles(config_.tls);
    log::Write(s.ok() ? log::Level::kInfo : log::Level::kError,
               "tls_files_checked", {{"ok", s.ok()}, {"error", s.message()}});
  }
}

void Daemon::Stop() {
  Parts& p = *parts_;
  if (p.stopped) return;
  p.stopped = true;
  if (p.pruner != nullptr) p.pruner->Stop();
  if (p.partitioner != nullptr) p.partitioner->Stop();
  if (p.monitor != nullptr) p.monitor->Stop();
  if (p.deadlines != nullptr) p.deadlines->Stop();
  if (p.reaper != nullptr) p.reaper->Stop();
  log::Debug("background_stopped");
  if (p.server != nullptr) p.server->Shutdown(config_.drain);
  // /metrics answered during the drain; now the server it reads goes.
  if (p.metrics != nullptr) p.metrics->SetLiveSource(nullptr);
  if (p.status_http != nullptr) p.status_http->Stop();
  if (p.http != nullptr) p.http->Stop();
}

int Daemon::grpc_port() const {
  return parts_->server != nullptr ? parts_->server->port() : 0;
}

int Daemon::metrics_port() const {
  return parts_->http != nullptr ? parts_->http->port() : 0;
}

int Daemon::status_port() const {
  if (parts_->status_http != nullptr) return parts_->status_http->port();
  return metrics_port();
}

}  // namespace metad::daemon
