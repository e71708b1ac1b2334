#include "daemon/http/http_server.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "tests/support/http_get.h"

namespace metad::daemon {
namespace {

using metad::testing::HttpGet;

TEST(HttpServer, ServesRegisteredPathsAndQueries) {
  HttpServer server;
  server.Handle("/hello", [](const HttpRequest& req) {
    auto it = req.query.find("name");
    return HttpResponse{200, "text/plain",
                        "hi " + (it == req.query.end() ? "?" : it->second)};
  });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_NE(server.port(), 0);
  auto ok = HttpGet(server.port(), "/hello?name=a%20b+c");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hi a b c");
  EXPECT_NE(ok.headers.find("Content-Length: 8"), std::string::npos);
  EXPECT_EQ(HttpGet(server.port(), "/missing").status, 404);
}

TEST(HttpServer, HandlerExceptionsBecome500) {
  HttpServer server;
  server.Handle("/boom", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  EXPECT_EQ(HttpGet(server.port(), "/boom").status, 500);
}

TEST(HttpServer, RefusesAnAddressInUse) {
  HttpServer first;
  ASSERT_TRUE(first.Start("127.0.0.1:0").ok());
  HttpServer second;
  absl::Status s = second.Start("127.0.0.1:" + std::to_string(first.port()));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

// A handler that blocks holds one thread, not the server.
TEST(HttpServer, AnswersWhileAnotherHandlerIsBlocked) {
  absl::Notification release;
  HttpServer server(HttpServerOptions{/*threads=*/4, absl::Seconds(10)});
  server.Handle("/slow", [&release](const HttpRequest&) {
    release.WaitForNotification();
    return HttpResponse{200, "text/plain", "slow"};
  });
  server.Handle("/fast",
                [](const HttpRequest&) { return HttpResponse(200, "", "f"); });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::thread slow(
      [&] { EXPECT_EQ(HttpGet(server.port(), "/slow").body, "slow"); });
  EXPECT_EQ(HttpGet(server.port(), "/fast").body, "f");
  release.Notify();
  slow.join();
  server.Stop();
}

// Headers reach handlers with lower-case names.
TEST(HttpServer, PassesHeadersWithLowerCaseNames) {
  HttpServer server;
  server.Handle("/h", [](const HttpRequest& req) {
    auto it = req.headers.find("authorization");
    return HttpResponse{200, "text/plain",
                        it == req.headers.end() ? "-" : it->second};
  });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  EXPECT_EQ(HttpGet(server.port(), "/h", {"AUTHORIZATION: Bearer t"}).body,
            "Bearer t");
}

TEST(UrlDecode, DecodesPercentAndPlus) {
  EXPECT_EQ(UrlDecode("a%2Fb+c%zz"), "a/b c%zz");
}

}  // namespace
}  // namespace metad::daemon
