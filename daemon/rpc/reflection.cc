#include "daemon/rpc/reflection.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/version_info.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "grpc/health/v1/health.pb.h"

namespace metad::daemon {
namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;

void SetError(grpc::StatusCode code, const char* message,
              ServerReflectionResponse* response) {
  response->mutable_error_response()->set_error_code(code);
  response->mutable_error_response()->set_error_message(message);
}

// Adds `file` and, depth first, every file it imports, each once: a client
// needs the whole closure to build the descriptor.
void AddFileWithImports(const pb::FileDescriptor* file,
                        std::set<std::string>* sent,
                        ServerReflectionResponse* response) {
  if (!sent->insert(file->name()).second) return;
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  response->mutable_file_descriptor_response()->add_file_descriptor_proto(
      proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileWithImports(file->dependency(i), sent, response);
  }
}

void AddFile(const pb::FileDescriptor* file,
             ServerReflectionResponse* response) {
  std::set<std::string> sent;
  AddFileWithImports(file, &sent, response);
}

// Registers the service when the server is built and hands it the server's
// list of services once every service (health included) is registered.
class ReflectionV1Plugin : public grpc::ServerBuilderPlugin {
 public:
  std::string name() override { return "metad_reflection_v1"; }
  void InitServer(grpc::ServerInitializer* si) override {
    si->RegisterService(service_);
  }
  void Finish(grpc::ServerInitializer* si) override {
    service_->set_service_list(si->GetServiceList());
  }
  void ChangeArguments(const std::string& name, void* value) override {}
  // A sync service: the server must start its sync request threads.
  bool has_sync_methods() const override { return true; }

 private:
  std::shared_ptr<ReflectionV1Service> service_ =
      std::make_shared<ReflectionV1Service>();
};

class ReflectionV1Option : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* args) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<ReflectionV1Plugin>());
  }
};

}  // namespace

ServerReflectionResponse ReflectionV1Service::Answer(
    const ServerReflectionRequest& request) const {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kFileByFilename: {
      const pb::FileDescriptor* file =
          pool->FindFileByName(request.file_by_filename());
      if (file == nullptr) {
        SetError(grpc::NOT_FOUND, "File not found.", &response);
      } else {
        AddFile(file, &response);
      }
      break;
    }
    case ServerReflectionRequest::kFileContainingSymbol: {
      const pb::FileDescriptor* file =
          pool->FindFileContainingSymbol(request.file_containing_symbol());
      if (file == nullptr) {
        SetError(grpc::NOT_FOUND, "Symbol not found.", &response);
      } else {
        AddFile(file, &response);
      }
      break;
    }
    case ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      const pb::Descriptor* type =
          pool->FindMessageTypeByName(ext.containing_type());
      const pb::FieldDescriptor* field =
          type == nullptr
              ? nullptr
              : pool->FindExtensionByNumber(type, ext.extension_number());
      if (type == nullptr) {
        SetError(grpc::NOT_FOUND, "Type not found.", &response);
      } else if (field == nullptr) {
        SetError(grpc::NOT_FOUND, "Extension not found.", &response);
      } else {
        AddFile(field->file(), &response);
      }
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type =
          pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        SetError(grpc::NOT_FOUND, "Type not found.", &response);
        break;
      }
      std::vector<const pb::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const pb::FieldDescriptor* field : extensions) {
        numbers->add_extension_number(field->number());
      }
      break;
    }
    case ServerReflectionRequest::kListServices: {
      auto* list = response.mutable_list_services_response();
      const auto* services = services_.load(std::memory_order_acquire);
      if (services != nullptr) {
        for (const std::string& name : *services) {
          list->add_service()->set_name(name);
        }
      }
      break;
    }
    default:
      SetError(grpc::UNIMPLEMENTED, "The request is not supported.", &response);
  }
  return response;
}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<ServerReflectionResponse, ServerReflectionRequest>*
        stream) {
  ServerReflectionRequest request;
  while (stream->Read(&request)) {
    if (!stream->Write(Answer(request))) break;
  }
  return grpc::Status::OK;
}

void CompleteReflection(grpc::ServerBuilder* builder) {
  // A use of the generated health code, so that the linker keeps
  // health.pb.cc (static libraries drop unreferenced objects) and its
  // descriptor is in the pool reflection answers from.
  grpc::health::v1::HealthCheckRequest::descriptor();
#if GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR < 60
  builder->SetOption(std::make_unique<ReflectionV1Option>());
#else
  (void)builder;  // gRPC's plugin serves v1 itself.
#endif
}

}  // namespace metad::daemon
