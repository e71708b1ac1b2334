// daemon/malformed_request: requests protobuf cannot parse get
// INVALID_ARGUMENT naming the field instead of gRPC 1.51's bare
// UNIMPLEMENTED. An in-process server with two real services and a database
// that is never reached: every request here fails before the store.
#include "daemon/rpc/malformed_request.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "daemon/rpc/worker_pool.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "metad/v1/files.pb.h"
#include "metad/v1/task_log.pb.h"

namespace metad::daemon {
namespace {

using Code = grpc::StatusCode;

grpc::Status CallBytes(grpc::GenericStub* stub, const std::string& method,
                       const std::string& request) {
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  std::promise<grpc::Status> done;
  stub->UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                  [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// A RegisterFileRequest whose file_name holds invalid UTF-8, encoded by hand
// (the C++ serializer would log about it).
std::string BadUtf8RegisterFile(const std::string& field_tag_and_len) {
  // RegisterFileRequest.file (1, length-delimited) { FileSpec ... }
  std::string spec = "\x0a\x01s" + field_tag_and_len + "\xff\xfe";
  return "\x0a" + std::string(1, static_cast<char>(spec.size())) + spec;
}

class MalformedRequestTest : public ::testing::Test {
 protected:
  MalformedRequestTest()
      : db_(store::DatabaseOptions{"host=/nonexistent-metad-socket-dir"}),
        pool_(2, 64),
        runner_(&pool_),
        files_(&db_, &runner_),
        runs_(&db_, &runner_) {}

  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&files_);
    builder.RegisterService(&runs_);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(std::make_unique<MalformedRequestInterceptorFactory>(
        [this](const CallRecord& record) {
          absl::MutexLock lock(&mu_);
          observed_.push_back(absl::StrCat(
              record.method, " ", absl::StatusCodeToString(record.code)));
        }));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }

  void TearDown() override {
    stub_.reset();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
    server_->Wait();
  }

  store::Database db_;
  WorkerPool pool_;
  CallRunner runner_;
  FileServiceImpl files_;
  TaskLogServiceImpl runs_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  int port_ = 0;
  absl::Mutex mu_;
  std::vector<std::string> observed_;
};

TEST_F(MalformedRequestTest, InvalidUtf8NamesTheField) {
  // FileSpec.file_name is field 2: tag 0x12, length 3.
  grpc::Status s = CallBytes(stub_.get(), "/metad.v1.FileService/RegisterFile",
                             BadUtf8RegisterFile("\x12\x03"
                                                 "a"));
  EXPECT_EQ(s.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "file.file_name: must be valid UTF-8 (string field "
            "metad.v1.FileSpec.file_name; the request is not a valid "
            "metad.v1.RegisterFileRequest)");
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(observed_,
            std::vector<std::string>{"RegisterFile INVALID_ARGUMENT"});
}

TEST_F(MalformedRequestTest, BrokenEncodingSaysSo) {
  grpc::Status s = CallBytes(stub_.get(), "/metad.v1.TaskLogService/GetRun",
                             std::string("\x08\xff\xff", 3));
  EXPECT_EQ(s.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request: is not a valid metad.v1.GetRunRequest (malformed "
            "protobuf encoding)");
}

TEST_F(MalformedRequestTest, AFieldNameIsNotLeftForTheNextCall) {
  ASSERT_EQ(CallBytes(stub_.get(), "/metad.v1.FileService/RegisterFile",
                      BadUtf8RegisterFile("\x12\x03"
                                          "a"))
                .error_code(),
            Code::INVALID_ARGUMENT);
  grpc::Status s = CallBytes(stub_.get(), "/metad.v1.FileService/GetFile",
                             std::string("\xff\xff", 2));
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "request: is not a valid"))
      << s.error_message();
}

TEST_F(MalformedRequestTest, OtherAnswersPassUnchanged) {
  grpc::Status s = CallBytes(stub_.get(), "/metad.v1.TaskLogService/GetRun",
                             std::string("\x08\x7f", 2) /* run_id 127 */);
  // Valid request: reaches the (unreachable) database.
  EXPECT_EQ(s.error_code(), Code::UNAVAILABLE) << s.error_message();
  // A handler's own refusal.
  s = CallBytes(stub_.get(), "/metad.v1.TaskLogService/GetRun", "");
  EXPECT_EQ(s.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "run_id: must be a positive id (got 0)");
  // A method that does not exist stays UNIMPLEMENTED.
  s = CallBytes(stub_.get(), "/metad.v1.FileService/DropAllFiles", "");
  EXPECT_EQ(s.error_code(), Code::UNIMPLEMENTED);
}

TEST_F(MalformedRequestTest, ConcurrentCallsEachGetTheirOwnField) {
  // FileSpec fields 1 (source), 2 (file_name), 3 (checksum) with invalid
  // UTF-8, and broken encodings, from 8 threads at once.
  struct Kind {
    std::string bytes, want;
  };
  std::vector<Kind> kinds = {
      {"\x0a\x04\x0a\x02\xff\xfe", "file.source: must be valid UTF-8"},
      {BadUtf8RegisterFile("\x12\x03"
                           "a"),
       "file.file_name: must be valid"},
      {BadUtf8RegisterFile("\x12\x01"
                           "a\x1a\x02"),
       "file.checksum: must be valid UTF-8"},
      {std::string("\x0a\x05\x0a", 3), "request: is not a valid"},
  };
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const Kind& k = kinds[(t + i) % kinds.size()];
        grpc::Status s = CallBytes(
            stub_.get(), "/metad.v1.FileService/RegisterFile", k.bytes);
        if (s.error_code() != Code::INVALID_ARGUMENT ||
            !absl::StartsWith(s.error_message(), k.want)) {
          ++wrong;
          ADD_FAILURE() << "want " << k.want << ", got " << s.error_code()
                        << " " << s.error_message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(MalformedRequestMessageTest, PathsInTheServicesStyle) {
  EXPECT_EQ(MalformedRequestMessage("/metad.v1.FileService/RegisterFiles",
                                    "metad.v1.FileSpec.source"),
            "files[].source: must be valid UTF-8 (string field "
            "metad.v1.FileSpec.source; the request is not a valid "
            "metad.v1.RegisterFilesRequest)");
  EXPECT_TRUE(absl::StartsWith(
      MalformedRequestMessage("/metad.v1.FileService/RegisterFile",
                              "metad.v1.FileSpec.AttributesEntry.key"),
      "file.attributes key: must be valid UTF-8"));
  EXPECT_TRUE(absl::StartsWith(
      MalformedRequestMessage("/metad.v1.FileService/RegisterFile",
                              "metad.v1.FileSpec.AttributesEntry.value"),
      "file.attributes value: must be valid UTF-8"));
  // A field protobuf named that the request cannot reach: its full name.
  EXPECT_TRUE(absl::StartsWith(
      MalformedRequestMessage("/metad.v1.TaskLogService/GetRun",
                              "metad.v1.FileSpec.source"),
      "metad.v1.FileSpec.source: must be valid UTF-8"));
  EXPECT_EQ(MalformedRequestMessage("/no.Such/Method", ""),
            "request: is not a valid request message (malformed protobuf "
            "encoding)");
}

}  // namespace
}  // namespace metad::daemon
