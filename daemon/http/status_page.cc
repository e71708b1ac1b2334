#include "daemon/http/status_page.h"

#include <atomic>
#include <memory>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "daemon/http/json_writer.h"
#include "daemon/rpc/limits.h"
#include "store/status_page_store.h"

namespace metad::daemon {
namespace {

constexpr const char kJson[] = "application/json; charset=utf-8";
// Bounds each API request's SQL and its wait for a pooled connection.
constexpr absl::Duration kRequestDeadline = absl::Seconds(5);

HttpResponse JsonError(int status, std::string_view message) {
  JsonWriter json;
  json.BeginObject().Key("error").String(message).EndObject();
  return {status, kJson, json.str()};
}

HttpResponse FromStoreError(const absl::Status& status, const char* path) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return JsonError(400, std::string(status.message()));
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
      return JsonError(503, std::string(status.message()));
    default:
      log::Error("status_page_failed",
                 {{"path", path}, {"error", status.message()}});
      return JsonError(500, "internal error (see the daemon's log)");
  }
}

store::TxOptions RequestOptions() {
  store::TxOptions options;
  options.deadline = absl::Now() + kRequestDeadline;
  options.read = true;  // a standby may serve it (--read_database)
  return options;
}

void WriteCounts(JsonWriter& json, const std::map<std::string, int64_t>& m) {
  json.BeginObject();
  for (const auto& [status, n] : m) json.Key(status).Int(n);
  json.EndObject();
}

// A run a file is linked to: {"run_id", "task", "batch_id"}.
void RunLinkJson(const store::StatusRunLink& link, JsonWriter& json) {
  json.BeginObject();
  json.Key("run_id").Int(link.run_id);
  json.Key("task").String(link.task);
  json.Key("batch_id").String(link.batch_id);
  json.EndObject();
}

void WriteRun(JsonWriter& json, const store::StatusRun& run) {
  json.BeginObject();
  json.Key("run_id").Int(run.run_id);
  json.Key("task_id").Int(run.task_id);
  json.Key("status").String(run.status);
  json.Key("attempt").Int(run.attempt);
  json.Key("worker_id").String(run.worker_id);
  json.Key("error_message").String(run.error_message);
  json.Key("start_us").Int(run.start_us);
  json.Key("heartbeat_us").OptionalInt(run.heartbeat_us);
  json.Key("end_us").OptionalInt(run.end_us);
  json.Key("lease_expire_us").OptionalInt(run.lease_expire_us);
  json.Key("cancelled").Bool(run.cancelled);
  json.Key("superseded").Bool(run.superseded);
  json.EndObject();
}

std::string OverviewJson(const store::StatusOverview& o,
                         const WritesHealth* writes) {
  JsonWriter json;
  json.BeginObject();
  json.Key("now_us").Int(o.now_us);
  if (writes != nullptr) {
    WritesHealth::State w = writes->Get();
    json.Key("writes").BeginObject();
    json.Key("durable").Bool(w.durable);
    json.Key("reason").String(w.reason);
    json.Key("detail").String(w.detail);
    json.EndObject();
  }
  json.Key("files_by_status");
  WriteCounts(json, o.files_by_status);
  json.Key("runs_by_status");
  WriteCounts(json, o.runs_by_status);
  json.Key("tasks").Int(o.tasks);
  json.Key("dependencies").Int(o.dependencies);
  json.Key("oldest_processing_run_seconds")
      .Double(o.oldest_processing_run_seconds);
  json.Key("batches").BeginArray();
  for (const store::StatusBatch& b : o.batches) {
    json.BeginObject();
    json.Key("batch_id").String(b.batch_id);
    json.Key("processing_tasks").Int(b.processing_tasks);
    json.Key("success_tasks").Int(b.success_tasks);
    json.Key("error_tasks").Int(b.error_tasks);
    json.Key("runs").Int(b.runs);
    json.Key("first_start_us").Int(b.first_start_us);
    json.Key("last_activity_us").Int(b.last_activity_us);
    json.EndObject();
  }
  json.EndArray();
  json.Key("failed_runs").BeginArray();
  for (const store::StatusFailedRun& r : o.failed_runs) {
    json.BeginObject();
    json.Key("run_id").Int(r.run_id);
    json.Key("task").String(r.task);
    json.Key("batch_id").String(r.batch_id);
    json.Key("attempt").Int(r.attempt);
    json.Key("worker_id").String(r.worker_id);
    json.Key("error_message").String(r.error_message);
    json.Key("end_us").Int(r.end_us);
    json.EndObject();
  }
  json.EndArray();
  json.Key("failed_files").BeginArray();
  for (const store::StatusFailedFile& f : o.failed_files) {
    json.BeginObject();
    json.Key("file_id").Int(f.file_id);
    json.Key("source").String(f.source);
    json.Key("file_name").String(f.file_name);
    json.Key("run_id").Int(f.run_id);
    json.Key("error_message").String(f.error_message);
    json.Key("time_us").Int(f.time_us);
    json.Key("producer");
    if (f.producer) {
      RunLinkJson(*f.producer, json);
    } else {
      json.Null();
    }
    json.Key("consumers").BeginArray();
    for (const store::StatusRunLink& c : f.consumers) RunLinkJson(c, json);
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.Key("alerts").BeginArray();
  for (const store::StatusAlert& a : o.alerts) {
    json.BeginObject();
    json.Key("id").Int(a.id);
    json.Key("kind").String(a.kind);
    json.Key("task").String(a.task);
    json.Key("batch_id").String(a.batch_id);
    json.Key("source").String(a.source);
    json.Key("due_us").Int(a.due_us);
    json.Key("event_us").Int(a.event_us);
    json.Key("message").String(a.message);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.str();
}

std::string BatchJson(const store::StatusBatchGraph& g) {
  JsonWriter json;
  json.BeginObject();
  json.Key("now_us").Int(g.now_us);
  json.Key("batch_id").String(g.batch_id);
  json.Key("truncated").Bool(g.truncated);
  json.Key("tasks").BeginArray();
  for (const store::StatusTask& t : g.tasks) {
    json.BeginObject();
    json.Key("id").Int(t.id);
    json.Key("name").String(t.name);
    json.Key("description").String(t.description);
    json.Key("max_attempts").Int(t.max_attempts);
    json.Key("attempts").Int(t.attempts);
    json.Key("ready").Bool(t.ready);
    json.Key("latest");
    if (t.latest.has_value()) {
      WriteRun(json, *t.latest);
    } else {
      json.Null();
    }
    json.EndObject();
  }
  json.EndArray();
  json.Key("edges").BeginArray();
  for (const auto& [parent, child] : g.edges) {
    json.BeginArray().Int(parent).Int(child).EndArray();
  }
  json.EndArray();
  json.Key("runs").BeginArray();
  for (const store::StatusRun& r : g.runs) WriteRun(json, r);
  json.EndArray();
  json.EndObject();
  return json.str();
}

std::string NewNonce() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string bytes(16, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
  return absl::Base64Escape(bytes);
}

HttpResponse Page(const HttpRequest&) {
  // Only this response's own <script> and <style> run: an injected tag or
  // inline handler (should text ever reach markup) is refused by the
  // browser, and the page can talk to nothing but its own origin.
  const std::string nonce = NewNonce();
  HttpResponse response{
      200, "text/html; charset=utf-8",
      absl::StrReplaceAll(kStatusPageHtml, {{"__CSP_NONCE__", nonce}})};
  response.headers = {
      {"Content-Security-Policy",
       absl::StrCat("default-src 'none'; script-src 'nonce-", nonce,
                    "'; style-src 'nonce-", nonce,
                    "'; connect-src 'self'; img-src data:; base-uri 'none'; "
                    "form-action 'none'; frame-ancestors 'none'")},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"}};
  return response;
}

// The API's gate: the token (when required), then a slot among
// max_in_flight. Shared by the API's handlers.
class ApiGate {
 public:
  explicit ApiGate(StatusPageOptions options) : options_(options) {}

  HttpServer::Handler Wrap(HttpServer::Handler handler) {
    return [this, handler = std::move(handler)](const HttpRequest& req) {
      if (options_.tokens != nullptr) {
        auto it = req.headers.find("authorization");
        auto role = options_.tokens->RoleOfBearer(
            it == req.headers.end() ? "" : it->second);
        if (!role.ok()) {
          HttpResponse denied =
              JsonError(401, std::string(role.status().message()));
          denied.headers = {{"WWW-Authenticate", "Bearer realm=\"metad\""}};
          return denied;
        }
      }
      if (in_flight_.fetch_add(1) >= options_.max_in_flight) {
        in_flight_.fetch_sub(1);
        return JsonError(503, "busy: too many status requests at once");
      }
      HttpResponse response;
      try {
        response = handler(req);
      } catch (...) {
        in_flight_.fetch_sub(1);
        throw;
      }
      in_flight_.fetch_sub(1);
      return response;
    };
  }

 private:
  const StatusPageOptions options_;
  std::atomic<int> in_flight_{0};
};

}  // namespace

void RegisterStatusPage(HttpServer* http, store::Database* db,
                        StatusPageOptions options) {
  // Lives as long as the handlers that hold it.
  auto gate = std::make_shared<ApiGate>(options);
  auto api = [gate](HttpServer::Handler handler) {
    return [gate, inner = gate->Wrap(std::move(handler))](
               const HttpRequest& req) { return inner(req); };
  };
  http->Handle("/", Page);
  http->Handle("/status", Page);
  const WritesHealth* writes = options.writes;
  http->Handle("/status/api/overview", api([db, writes](const HttpRequest&) {
                 store::StatusPageStore status_store(db);
                 auto overview = status_store.Overview(
                     RequestOptions(), store::StatusOverviewLimits());
                 if (!overview.ok()) {
                   return FromStoreError(overview.status(),
                                         "/status/api/overview");
                 }
                 return HttpResponse{200, kJson,
                                     OverviewJson(*overview, writes)};
               }));
  http->Handle("/status/api/batch", api([db](const HttpRequest& req) {
                 auto it = req.query.find("batch_id");
                 if (it == req.query.end() || it->second.empty()) {
                   return JsonError(400, "batch_id: required");
                 }
                 if (it->second.size() > kMaxBatchIdBytes) {
                   return JsonError(400, "batch_id: at most 128 bytes");
                 }
                 if (it->second.find('\0') != std::string::npos) {
                   return JsonError(400, "batch_id: must not contain NUL");
                 }
                 store::StatusPageStore status_store(db);
                 auto graph = status_store.BatchGraph(
                     RequestOptions(), it->second, store::StatusBatchLimits());
                 if (!graph.ok())
                   return FromStoreError(graph.status(), "/status/api/batch");
                 return HttpResponse{200, kJson, BatchJson(*graph)};
               }));
}

}  // namespace metad::daemon
