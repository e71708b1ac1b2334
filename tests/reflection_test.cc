// Server reflection (daemon/rpc/reflection.h) on an in-process server built
// the way metad builds its own: every service that reflection lists must be
// describable through grpc.reflection.v1, health and reflection included.
// No database: a metad service with no handlers stands in for the others.
#include "daemon/rpc/reflection.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "metad/v1/tasks.grpc.pb.h"

namespace metad {
namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflection;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;
using ::testing::IsSupersetOf;

class ReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As daemon/app/server.cc does, before any ServerBuilder exists.
    static const bool kInitialized = [] {
      grpc::EnableDefaultHealthCheckService(true);
      grpc::reflection::InitProtoReflectionServerBuilderPlugin();
      return true;
    }();
    (void)kInitialized;
    grpc::ServerBuilder builder;
    builder.RegisterService(&tasks_);
    daemon::CompleteReflection(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = ServerReflection::NewStub(
        server_->InProcessChannel(grpc::ChannelArguments()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Sends the requests on one stream and returns the answers.
  std::vector<ServerReflectionResponse> Ask(
      const std::vector<ServerReflectionRequest>& requests) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    auto stream = stub_->ServerReflectionInfo(&context);
    std::vector<ServerReflectionResponse> answers;
    for (const auto& request : requests) {
      EXPECT_TRUE(stream->Write(request));
      ServerReflectionResponse answer;
      EXPECT_TRUE(stream->Read(&answer));
      answers.push_back(answer);
    }
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return answers;
  }

  ServerReflectionResponse AskOne(const ServerReflectionRequest& request) {
    std::vector<ServerReflectionResponse> answers = Ask({request});
    return answers.empty() ? ServerReflectionResponse() : answers[0];
  }

  std::vector<std::string> ListServices() {
    ServerReflectionRequest request;
    request.set_list_services("");
    ServerReflectionResponse answer = AskOne(request);
    std::vector<std::string> names;
    for (const auto& service : answer.list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  metad::v1::TaskService::Service tasks_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ServerReflection::Stub> stub_;
};

// Builds the files of an answer into a fresh pool, as a client does: this
// fails unless every import came along.
const pb::ServiceDescriptor* Describe(const ServerReflectionResponse& answer,
                                      const std::string& service,
                                      pb::DescriptorPool* pool) {
  std::vector<pb::FileDescriptorProto> files;
  for (const std::string& raw :
       answer.file_descriptor_response().file_descriptor_proto()) {
    files.emplace_back();
    if (!files.back().ParseFromString(raw)) return nullptr;
  }
  // Imports first: keep building whatever has all its imports in the pool.
  for (size_t built = 0, round = 0; round < files.size(); ++round) {
    for (const auto& file : files) {
      if (pool->FindFileByName(file.name()) != nullptr) continue;
      bool ready = true;
      for (const std::string& dep : file.dependency()) {
        ready = ready && pool->FindFileByName(dep) != nullptr;
      }
      if (ready && pool->BuildFile(file) != nullptr) ++built;
    }
    if (built == files.size()) break;
  }
  return pool->FindServiceByName(service);
}

TEST_F(ReflectionTest, ListsHealthBothReflectionsAndOurServices) {
  EXPECT_THAT(ListServices(),
              IsSupersetOf({"metad.v1.TaskService", "grpc.health.v1.Health",
                            "grpc.reflection.v1.ServerReflection",
                            "grpc.reflection.v1alpha.ServerReflection"}));
}

TEST_F(ReflectionTest, DescribesEveryListedService) {
  std::vector<std::string> services = ListServices();
  ASSERT_FALSE(services.empty());
  std::vector<ServerReflectionRequest> requests;
  for (const std::string& name : services) {
    requests.emplace_back();
    requests.back().set_file_containing_symbol(name);
  }
  std::vector<ServerReflectionResponse> answers = Ask(requests);
  ASSERT_EQ(answers.size(), services.size());
  for (size_t i = 0; i < services.size(); ++i) {
    SCOPED_TRACE(services[i]);
    EXPECT_FALSE(answers[i].has_error_response())
        << answers[i].error_response().error_message();
    pb::DescriptorPool pool;
    const pb::ServiceDescriptor* service =
        Describe(answers[i], services[i], &pool);
    ASSERT_NE(service, nullptr);
    EXPECT_GT(service->method_count(), 0);
  }
}

TEST_F(ReflectionTest, HealthCheckMethodAndItsTypes) {
  ServerReflectionRequest request;
  request.set_file_containing_symbol("grpc.health.v1.Health.Check");
  pb::DescriptorPool pool;
  const pb::ServiceDescriptor* health =
      Describe(AskOne(request), "grpc.health.v1.Health", &pool);
  ASSERT_NE(health, nullptr);
  const pb::MethodDescriptor* check = health->FindMethodByName("Check");
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->input_type()->full_name(),
            "grpc.health.v1.HealthCheckRequest");
  EXPECT_EQ(check->output_type()->full_name(),
            "grpc.health.v1.HealthCheckResponse");
}

TEST_F(ReflectionTest, FileByNameSendsImportsToo) {
  ServerReflectionRequest request;
  request.set_host("h");
  request.set_file_by_filename("metad/v1/tasks.proto");
  ServerReflectionResponse answer = AskOne(request);
  EXPECT_EQ(answer.valid_host(), "h");
  EXPECT_EQ(answer.original_request().file_by_filename(),
            "metad/v1/tasks.proto");
  pb::DescriptorPool pool;
  EXPECT_NE(Describe(answer, "metad.v1.TaskService", &pool), nullptr);
  EXPECT_NE(pool.FindFileByName("google/protobuf/timestamp.proto"), nullptr);
}

TEST_F(ReflectionTest, UnknownNamesAreNotFound) {
  std::vector<ServerReflectionRequest> requests(5);
  requests[0].set_file_containing_symbol("metad.v1.NoSuchService");
  requests[1].set_file_by_filename("no/such.proto");
  requests[2].set_all_extension_numbers_of_type("metad.v1.NoSuchMessage");
  requests[3].mutable_file_containing_extension()->set_containing_type(
      "metad.v1.NoSuchMessage");
  requests[4].mutable_file_containing_extension()->set_containing_type(
      "grpc.health.v1.HealthCheckRequest");
  requests[4].mutable_file_containing_extension()->set_extension_number(100);
  std::vector<ServerReflectionResponse> answers = Ask(requests);
  ASSERT_EQ(answers.size(), requests.size());
  for (const auto& answer : answers) {
    EXPECT_EQ(answer.error_response().error_code(), grpc::StatusCode::NOT_FOUND)
        << answer.DebugString();
  }
}

TEST_F(ReflectionTest, ExtensionNumbersOfAMessageWithoutExtensions) {
  ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type(
      "grpc.health.v1.HealthCheckRequest");
  ServerReflectionResponse answer = AskOne(request);
  ASSERT_TRUE(answer.has_all_extension_numbers_response());
  EXPECT_EQ(answer.all_extension_numbers_response().base_type_name(),
            "grpc.health.v1.HealthCheckRequest");
  EXPECT_EQ(answer.all_extension_numbers_response().extension_number_size(), 0);
}

TEST(ReflectionV1Service, EmptyRequestIsUnimplemented) {
  daemon::ReflectionV1Service service;
  ServerReflectionResponse answer = service.Answer(ServerReflectionRequest());
  EXPECT_EQ(answer.error_response().error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace metad
