// A minimal HTTP GET over loopback for tests of the operator port.
#ifndef METAD_TESTS_SUPPORT_HTTP_GET_H_
#define METAD_TESTS_SUPPORT_HTTP_GET_H_

#include <string>

namespace metad::testing {

struct HttpResult {
  int status = 0;  // 0 when the connection failed
  std::string headers;
  std::string body;
};

HttpResult HttpGet(int port, const std::string& target);

}  // namespace metad::testing

#endif  // METAD_TESTS_SUPPORT_HTTP_GET_H_
