// The read-only status page on the operator HTTP port: the page itself
// (one embedded HTML file, see daemon/http/status_page.html) and the JSON it
// polls. Each API request is one read-only transaction (StatusPageStore).
#ifndef METAD_DAEMON_HTTP_STATUS_PAGE_H_
#define METAD_DAEMON_HTTP_STATUS_PAGE_H_

#include "daemon/http/http_server.h"
#include "daemon/http/writes_health.h"
#include "daemon/rpc/auth.h"
#include "store/database.h"

namespace metad::daemon {

struct StatusPageOptions {
  // When set, /status/api/* answers 401 unless the request carries
  // `Authorization: Bearer <token>` of any role in it. The page itself is
  // static (no data) and stays open; it asks for the token. Must outlive
  // the server's serving.
  const TokenAuthenticator* tokens = nullptr;
  // API requests served at once; more answer 503 at once, so slow queries
  // (a locked table, a busy pool) never take every HTTP thread.
  int max_in_flight = 4;
  // When set, the overview carries "writes": {durable, reason, detail}
  // (daemon/http/writes_health.h). Must outlive the server's serving.
  const WritesHealth* writes = nullptr;
};

// Registers, on `http` (before Start):
//   GET /, /status            the page (text/html, strict CSP with a nonce);
//   GET /status/api/overview  files and runs per status, recent batches,
//                             recent failures, whether writes are durable;
//   GET /status/api/batch?batch_id=B
//                             every task's state in batch B, the edges and
//                             the batch's runs; 400 when batch_id is missing
//                             or longer than 128 bytes.
// API errors are JSON {"error": "..."}: 400, 401 (tokens on, none or an
// unknown one), 503 (database unavailable or busy, or max_in_flight
// requests already running), 500. `db` must outlive `http`'s serving.
void RegisterStatusPage(HttpServer* http, store::Database* db,
                        StatusPageOptions options = {});

// The embedded page, with "__CSP_NONCE__" where the nonce goes.
extern const char kStatusPageHtml[];

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_STATUS_PAGE_H_
