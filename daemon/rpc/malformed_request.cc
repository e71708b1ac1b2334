#include "daemon/rpc/malformed_request.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"

namespace metad::daemon {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Protobuf says which field held invalid UTF-8 only in an ERROR log line
// ("String field 'metad.v1.FileSpec.source' contains invalid UTF-8 data when
// parsing a protocol buffer. ..."), written on the thread that parses. gRPC
// deserializes a request and then runs the POST_RECV_MESSAGE interception
// on the same thread, so a thread-local carries the name from one to the
// other. The line itself is swallowed: a client must not be able to fill the
// daemon's stderr with protobuf's unstructured lines; the call is logged as
// one structured line instead.
thread_local std::string t_utf8_field;
google::protobuf::LogHandler* g_previous_log_handler = nullptr;

const std::string& Utf8Prefix() {
  static const std::string* prefix = new std::string("String field '");
  return *prefix;
}
const std::string& Utf8Parsing() {
  static const std::string* parsing =
      new std::string("' contains invalid UTF-8 data when parsing");
  return *parsing;
}

void CaptureUtf8Errors(google::protobuf::LogLevel level, const char* filename,
                       int line, const std::string& message) {
  const std::string& prefix = Utf8Prefix();
  if (message.compare(0, prefix.size(), prefix) == 0) {
    size_t end = message.find(Utf8Parsing(), prefix.size());
    if (end != std::string::npos) {
      t_utf8_field = message.substr(prefix.size(), end - prefix.size());
      return;
    }
  }
  if (g_previous_log_handler != nullptr) {
    g_previous_log_handler(level, filename, line, message);
  }
}

void InstallUtf8Capture() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_previous_log_handler =
        google::protobuf::SetLogHandler(&CaptureUtf8Errors);
  });
}

const google::protobuf::Descriptor* RequestType(const std::string& method) {
  // "/metad.v1.FileService/RegisterFile" -> "metad.v1.FileService.RegisterFile"
  if (method.size() < 2 || method[0] != '/') return nullptr;
  std::string name = absl::StrReplaceAll(method.substr(1), {{"/", "."}});
  const google::protobuf::MethodDescriptor* m =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          name);
  return m == nullptr ? nullptr : m->input_type();
}

// The shortest path from `root` to the field named `full_name`, in the
// services' own style: "file.source", "files[].file_name",
// "file.attributes key". Empty if the field is not reachable.
std::string FieldPath(const google::protobuf::Descriptor* root,
                      const std::string& full_name) {
  struct Step {
    const google::protobuf::Descriptor* type;
    std::string prefix;
    int depth;
  };
  std::deque<Step> queue = {{root, "", 0}};
  while (!queue.empty()) {
    Step step = std::move(queue.front());
    queue.pop_front();
    for (int i = 0; i < step.type->field_count(); ++i) {
      const google::protobuf::FieldDescriptor* f = step.type->field(i);
      const std::string name = step.prefix + f->name();
      if (f->full_name() == full_name) return name;
      if (f->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE ||
          step.depth >= 8) {
        continue;
      }
      const google::protobuf::Descriptor* child = f->message_type();
      if (f->is_map()) {
        const auto* key = child->map_key();
        const auto* value = child->map_value();
        if (key->full_name() == full_name) return name + " key";
        if (value->full_name() == full_name) return name + " value";
        if (value->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
          queue.push_back(
              {value->message_type(), name + "[].", step.depth + 1});
        }
        continue;
      }
      // google.protobuf.* types hold no strings a caller could get wrong.
      if (absl::StartsWith(child->full_name(), "google.protobuf.")) continue;
      queue.push_back(
          {child, name + (f->is_repeated() ? "[]." : "."), step.depth + 1});
    }
  }
  return "";
}

class MalformedRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(
      const char* method,
      const std::function<void(const CallRecord&)>* observer)
      : method_(method), observer_(observer) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Always take the captured name, so none is left for a later call.
      std::string field = std::move(t_utf8_field);
      t_utf8_field.clear();
      if (methods->GetRecvMessage() == nullptr) {
        parse_failed_ = true;
        utf8_field_ = std::move(field);
        start_ = std::chrono::steady_clock::now();
      }
    }
    if (parse_failed_ && methods->QueryInterceptionHookPoint(
                             InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // Only the handler-less answer to a failed parse; anything else (e.g.
      // a future gRPC that reports the failure itself) passes unchanged.
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        std::string message = MalformedRequestMessage(method_, utf8_field_);
        Report(message);
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message));
      }
    }
    methods->Proceed();
  }

 private:
  void Report(const std::string& message) {
    const char* slash = std::strrchr(method_, '/');
    const char* short_name = slash == nullptr ? method_ : slash + 1;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    if (log::Enabled(log::Level::kInfo)) {
      log::Info("rpc", {{"method", short_name},
                        {"code", "INVALID_ARGUMENT"},
                        {"ms", seconds * 1000},
                        {"message", message}});
    }
    if (*observer_) {
      (*observer_)(
          CallRecord{short_name, absl::StatusCode::kInvalidArgument, seconds});
    }
  }

  const char* method_;
  const std::function<void(const CallRecord&)>* observer_;
  bool parse_failed_ = false;
  std::string utf8_field_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::string MalformedRequestMessage(const std::string& method,
                                    const std::string& utf8_field) {
  const google::protobuf::Descriptor* type = RequestType(method);
  const std::string type_name =
      type != nullptr ? type->full_name() : "request message";
  if (utf8_field.empty()) {
    return absl::StrCat("request: is not a valid ", type_name,
                        " (malformed protobuf encoding)");
  }
  std::string path = type != nullptr ? FieldPath(type, utf8_field) : "";
  if (path.empty()) path = utf8_field;
  return absl::StrCat(path, ": must be valid UTF-8 (string field ", utf8_field,
                      "; the request is not a valid ", type_name, ")");
}

MalformedRequestInterceptorFactory::MalformedRequestInterceptorFactory(
    std::function<void(const CallRecord&)> observer)
    : observer_(std::move(observer)) {
  InstallUtf8Capture();
}

grpc::experimental::Interceptor*
MalformedRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // Unary and server-streaming calls carry one request that gRPC parses
  // before the handler; client streams read their own (none here).
  if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY &&
      info->type() !=
          grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING) {
    return nullptr;
  }
  return new MalformedRequestInterceptor(info->method(), &observer_);
}

}  // namespace metad::daemon
