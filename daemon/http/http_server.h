// A deliberately small HTTP/1.1 server for the operator port: /metrics and
// the status page. One thread, one request per connection, GET and HEAD only,
// bounded request size and timeouts. Not for untrusted networks.
#ifndef METAD_DAEMON_HTTP_HTTP_SERVER_H_
#define METAD_DAEMON_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace metad::daemon {

struct HttpRequest {
  std::string method;                        // GET or HEAD
  std::string path;                          // without the query string
  std::map<std::string, std::string> query;  // decoded
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

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer() = default;
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before Start. Exact path match.
  void Handle(const std::string& path, Handler handler);

  // Binds host:port (port 0 picks one) and starts the accept thread.
  // UNAVAILABLE when the address cannot be bound.
  absl::Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

 private:
  void Loop();
  void Serve(int fd);

  std::map<std::string, Handler> handlers_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Percent-decoding of a query component ('+' is a space).
std::string UrlDecode(const std::string& text);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_HTTP_SERVER_H_
