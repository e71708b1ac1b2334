#include "tests/support/test_server.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace metad::testing {

TestServer::TestServer(store::Database* db, int worker_threads)
    : db_(db), pool_(worker_threads, 4096), runner_(&pool_) {}

TestServer::~TestServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
    server_->Wait();
  }
}

void TestServer::Start() {
  builder_.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                            &port_);
  server_ = builder_.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  ASSERT_NE(port_, 0);
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                 grpc::InsecureChannelCredentials());
}

}  // namespace metad::testing
