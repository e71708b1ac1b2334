// A minimal HTTP GET over loopback for tests of the operator port.
#ifndef METAD_TESTS_SUPPORT_HTTP_GET_H_
#define METAD_TESTS_SUPPORT_HTTP_GET_H_

#include <string>
#include <vector>

namespace metad::testing {

struct HttpResult {
  int status = 0;  // 0 when the connection failed
  std::string headers;
  std::string body;
};

// A TCP connection to 127.0.0.1:port; -1 when refused. The caller closes it.
int ConnectLoopback(int port);

// `headers` are extra request lines such as "Authorization: Bearer x".
HttpResult HttpGet(int port, const std::string& target,
                   const std::vector<std::string>& headers = {});

}  // namespace metad::testing

#endif  // METAD_TESTS_SUPPORT_HTTP_GET_H_
