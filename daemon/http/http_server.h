// The operator port's HTTP/1.1 server: /metrics and the status page, on
// civetweb (Debian's libcivetweb, the library prometheus-cpp's exposer
// uses). A fixed set of threads each serves one connection at a time, so a
// slow or idle client holds one thread, never the port: a request must
// arrive whole within `request_timeout`, connections are closed after each
// answer (no keep-alive), and requests are bounded in size. GET and HEAD
// only; no files are ever served. Not for untrusted networks.
#ifndef METAD_DAEMON_HTTP_HTTP_SERVER_H_
#define METAD_DAEMON_HTTP_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

struct mg_context;
struct mg_connection;

namespace metad::daemon {

struct HttpRequest {
  std::string method;                          // GET or HEAD
  std::string path;                            // without the query string
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names in lower case
};

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int status, std::string content_type, std::string body)
      : status(status),
        content_type(std::move(content_type)),
        body(std::move(body)) {}

  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra response headers (e.g. Content-Security-Policy).
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpServerOptions {
  // Connections served at once; more wait in a queue of the same length,
  // then in the kernel's backlog.
  int threads = 32;
  // A request's line and headers must arrive within this; a client that
  // stalls is disconnected (its thread is free again).
  absl::Duration request_timeout = absl::Seconds(10);
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before Start. Exact path match. Handlers run on the server's
  // threads, several at once.
  void Handle(const std::string& path, Handler handler);

  // Binds host:port (port 0 picks one; a host name is resolved once) and
  // starts serving. INVALID_ARGUMENT for an address that is not host:port
  // or does not resolve, UNAVAILABLE when it cannot be bound.
  absl::Status Start(const std::string& listen);
  // Stops accepting, finishes the requests in flight and joins. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  static int BeginRequest(mg_connection* conn);
  HttpResponse Dispatch(const HttpRequest& request) const;

  const HttpServerOptions options_;
  std::map<std::string, Handler> handlers_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  std::string knock_address_;  // numeric host Stop connects to
};

// Percent-decoding of a query component ('+' is a space).
std::string UrlDecode(const std::string& text);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_HTTP_SERVER_H_
