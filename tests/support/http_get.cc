#include "tests/support/http_get.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace metad::testing {

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

HttpResult HttpGet(int port, const std::string& target,
                   const std::vector<std::string>& headers) {
  HttpResult result;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return result;
  std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  for (const std::string& header : headers) request += header + "\r\n";
  request += "\r\n";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0)
    response.append(buffer, n);
  close(fd);
  size_t split = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 ", 0) != 0 || split == std::string::npos) {
    return result;
  }
  result.status = std::atoi(response.c_str() + 9);
  result.headers = response.substr(0, split);
  result.body = response.substr(split + 4);
  return result;
}

}  // namespace metad::testing
