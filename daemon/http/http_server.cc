#include "daemon/http/http_server.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"

namespace metad::daemon {
namespace {

constexpr int kMaxRequestBytes = 16 * 1024;

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// civetweb's own messages (a client that timed out, a bad request line):
// one log line each at debug level, since clients cause them.
int LogCivetweb(const mg_connection*, const char* message) {
  log::Debug("http_server_message", {{"message", message}});
  return 1;
}

// "host:port" with the host resolved to a numeric address, as civetweb's
// listening_ports wants it ("[v6]:port" for IPv6).
absl::StatusOr<std::string> NumericListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (!host.empty() && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &result) != 0 ||
      result == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve HTTP address \"", listen, "\""));
  }
  char numeric[NI_MAXHOST];
  const bool v6 = result->ai_family == AF_INET6;
  int rc = getnameinfo(result->ai_addr, result->ai_addrlen, numeric,
                       sizeof(numeric), nullptr, 0, NI_NUMERICHOST);
  freeaddrinfo(result);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve HTTP address \"", listen, "\""));
  }
  return v6 ? absl::StrCat("[", numeric, "]:", port)
            : absl::StrCat(numeric, ":", port);
}

// Opens and closes a connection to our own port (best effort).
void Knock(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                  &result) != 0) {
    return;
  }
  int fd = socket(result->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    connect(fd, result->ai_addr, result->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(result);
}

HttpRequest ReadRequest(const mg_request_info& info) {
  HttpRequest req;
  req.method = info.request_method != nullptr ? info.request_method : "";
  req.path = info.local_uri_raw != nullptr ? info.local_uri_raw : "";
  if (info.query_string != nullptr) {
    for (absl::string_view part :
         absl::StrSplit(info.query_string, '&', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
      req.query[UrlDecode(kv.first)] = UrlDecode(kv.second);
    }
  }
  for (int i = 0; i < info.num_headers; ++i) {
    req.headers[absl::AsciiStrToLower(info.http_headers[i].name)] =
        info.http_headers[i].value;
  }
  return req;
}

}  // namespace

std::string UrlDecode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() &&
               HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      out +=
          static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& path, Handler handler) {
  handlers_[path] = std::move(handler);
}

absl::Status HttpServer::Start(const std::string& listen) {
  absl::StatusOr<std::string> address = NumericListen(listen);
  if (!address.ok()) return address.status();
  const std::string threads = std::to_string(options_.threads);
  const std::string timeout_ms =
      std::to_string(absl::ToInt64Milliseconds(options_.request_timeout));
  const std::string max_request = std::to_string(kMaxRequestBytes);
  // No document_root: civetweb serves no files; every request goes through
  // BeginRequest.
  const char* config[] = {"listening_ports",
                          address->c_str(),
                          "num_threads",
                          threads.c_str(),
                          "connection_queue",
                          threads.c_str(),
                          "listen_backlog",
                          "128",
                          "request_timeout_ms",
                          timeout_ms.c_str(),
                          "enable_keep_alive",
                          "no",
                          "max_request_size",
                          max_request.c_str(),
                          nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &HttpServer::BeginRequest;
  callbacks.log_message = &LogCivetweb;
  char error_text[256] = "";
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = config;
  context_ = mg_start2(&init, &error);
  if (context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, ": ", error_text));
  }
  mg_server_port ports[1];
  if (mg_get_server_ports(context_, 1, ports) == 1) port_ = ports[0].port;
  // Where Stop knocks: the bound address, or loopback for a wildcard.
  knock_address_ = address->substr(0, address->rfind(':'));
  if (knock_address_ == "0.0.0.0") knock_address_ = "127.0.0.1";
  if (knock_address_ == "[::]") knock_address_ = "::1";
  if (knock_address_.front() == '[') {
    knock_address_ = knock_address_.substr(1, knock_address_.size() - 2);
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (context_ == nullptr) return;
  // civetweb's accept loop sees its stop flag when a connection arrives or
  // after 2 s of quiet: knock until it has stopped, so Stop is quick.
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    mg_stop(context_);
    stopped = true;
  });
  for (int i = 0; i < 100 && !stopped; ++i) {
    Knock(knock_address_, port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stopper.join();
  context_ = nullptr;
}

int HttpServer::BeginRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto* self = static_cast<HttpServer*>(info->user_data);
  HttpRequest req = ReadRequest(*info);
  HttpResponse response = self->Dispatch(req);
  std::string head = absl::StrCat(
      "HTTP/1.1 ", response.status, " ", Reason(response.status),
      "\r\nContent-Type: ", response.content_type,
      "\r\nContent-Length: ", response.body.size(),
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff"
      "\r\nConnection: close\r\n");
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "\r\n";
  if (req.method != "HEAD") head += response.body;
  mg_write(conn, head.data(), head.size());
  return response.status;
}

HttpResponse HttpServer::Dispatch(const HttpRequest& req) const {
  if (req.method != "GET" && req.method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  }
  auto it = handlers_.find(req.path);
  if (it == handlers_.end()) {
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }
  try {
    return it->second(req);
  } catch (const std::exception& e) {
    log::Error("http_handler_failed",
               {{"path", req.path}, {"error", e.what()}});
    return {500, "text/plain; charset=utf-8", "internal error\n"};
  }
}

}  // namespace metad::daemon
