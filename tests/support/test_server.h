// An in-process gRPC server on 127.0.0.1 with the services a test adds, and
// a real channel to it: service tests go through the wire like clients do.
#ifndef METAD_TESTS_SUPPORT_TEST_SERVER_H_
#define METAD_TESTS_SUPPORT_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "daemon/rpc/call_runner.h"
#include "daemon/rpc/worker_pool.h"
#include "store/database.h"

namespace metad::testing {

class TestServer {
 public:
  explicit TestServer(store::Database* db, int worker_threads = 8);
  ~TestServer();

  // Adds a service built as Service(db, runner). Call before Start().
  template <typename Service>
  Service* Add() {
    auto service = std::make_unique<Service>(db_, &runner_);
    Service* raw = service.get();
    builder_.RegisterService(raw);
    services_.push_back(std::shared_ptr<void>(std::move(service)));
    return raw;
  }

  void Start();
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  int port() const { return port_; }

 private:
  store::Database* db_;
  daemon::WorkerPool pool_;
  daemon::CallRunner runner_;
  grpc::ServerBuilder builder_;
  std::vector<std::shared_ptr<void>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  int port_ = 0;
};

}  // namespace metad::testing

#endif  // METAD_TESTS_SUPPORT_TEST_SERVER_H_
