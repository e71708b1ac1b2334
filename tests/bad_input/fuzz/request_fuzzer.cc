// libFuzzer target: raw bytes into every metad.v1 RPC's request parsing and
// the shared validation (daemon/rpc/validation.h) and page tokens
// (daemon/rpc/page_token.h) the handlers apply to them.
//
// Input: the first byte picks one of the 29 RPCs (files, tasks, task_log,
// dependencies, watch.proto, each in declaration order), the
// rest is parsed as that RPC's request message exactly as gRPC does
// (MessageLite::ParseFromArray). A parsed request is then walked field by
// field and each value is put through the check the services use for a
// field of that name, with oracles that make wrong answers crash:
//  - every string protobuf accepted is valid UTF-8, so IsValidUtf8 must say
//    so, and IsValidUtf8 must agree with protobuf's own validator on the raw
//    input too (a differential check of our UTF-8 decoder);
//  - a check either passes or returns INVALID_ARGUMENT whose message starts
//    with the field's name and ": ";
//  - CheckPageSize yields 1..1000 when it passes;
//  - DecodePageToken accepts only what EncodePageToken could have made for
//    these filters, and re-encoding its result gives a token that decodes
//    to the same id; FilterFingerprint ignores page_size and page_token;
//  - serializing a parsed request and parsing it again gives an equal
//    message.
// What it does not reach: the handlers' own lambdas (they run on the
// worker pool against PostgreSQL), the store, and gRPC's transport. Those
// see hostile bytes in tests/bad_input/bad_input_pgtest.cc, which under
// scripts/sanitize.sh runs against an ASan/UBSan-built metad.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/rpc/page_token.h"
#include "daemon/rpc/validation.h"
#include "metad/v1/dependencies.pb.h"
#include "metad/v1/files.pb.h"
#include "metad/v1/task_log.pb.h"
#include "metad/v1/tasks.pb.h"
#include "metad/v1/watch.pb.h"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
namespace d = metad::daemon;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "ORACLE FAILED: %s\n", what.c_str());
  std::abort();
}

// OK, or INVALID_ARGUMENT naming `field` first.
void ExpectFieldError(const absl::Status& status, const std::string& field) {
  if (status.ok()) return;
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Fail(absl::StrCat(field, ": code ", status.ToString()));
  }
  if (!absl::StartsWith(status.message(), absl::StrCat(field, ": "))) {
    Fail(absl::StrCat(
        field, ": message does not name it: ", std::string(status.message())));
  }
}

const std::vector<const google::protobuf::MethodDescriptor*>& Methods() {
  static const auto* methods = [] {
    auto* out = new std::vector<const google::protobuf::MethodDescriptor*>();
    // Referencing the types links their descriptors in.
    for (const google::protobuf::FileDescriptor* file :
         {metad::v1::File::descriptor()->file(),
          metad::v1::Task::descriptor()->file(),
          metad::v1::Run::descriptor()->file(),
          metad::v1::Dependency::descriptor()->file(),
          metad::v1::WatchFilesRequest::descriptor()->file()}) {
      for (int s = 0; s < file->service_count(); ++s) {
        for (int m = 0; m < file->service(s)->method_count(); ++m) {
          out->push_back(file->service(s)->method(m));
        }
      }
    }
    return out;
  }();
  return *methods;
}

// The check the services apply to a string field of this name.
void CheckString(const std::string& name, const std::string& value) {
  if (!d::IsValidUtf8(value)) {
    Fail(absl::StrCat(name,
                      ": protobuf accepted a string IsValidUtf8 "
                      "rejects"));
  }
  if (name == "source") {
    ExpectFieldError(d::CheckText(name, value, 1, 256), name);
  } else if (name == "file_name") {
    ExpectFieldError(d::CheckText(name, value, 1, 1024), name);
  } else if (name == "checksum") {
    ExpectFieldError(d::CheckText(name, value, 0, 256), name);
  } else if (name == "key") {  // of a map entry
    ExpectFieldError(d::CheckText(name, value, 1, 256), name);
  } else if (name == "request_id") {
    ExpectFieldError(d::CheckRequestId(name, value), name);
  } else if (name == "batch_id") {
    ExpectFieldError(d::CheckBatchId(name, value), name);
  } else if (name == "task" || name == "name" || name == "parent_task" ||
             name == "child_task" || name == "targets") {
    absl::Status s = d::CheckTaskName(name, value);
    ExpectFieldError(s, name);
    // A valid task name is a valid label too.
    if (s.ok() && !d::CheckLabel(name, value, 1, 128).ok()) {
      Fail("a task name that is not a label: " + value);
    }
  } else if (name == "worker_id") {
    ExpectFieldError(d::CheckLabel(name, value, 0, 256), name);
  } else if (name == "name_prefix") {
    ExpectFieldError(d::CheckLabel(name, value, 0, 128), name);
  } else {  // error_message, description, reason, value, ...
    ExpectFieldError(d::CheckText(name, value, 0, d::kMaxMessageBytes), name);
  }
}

void CheckPageToken(const Message& request, const std::string& token) {
  const uint64_t fingerprint = d::FilterFingerprint(request);
  absl::StatusOr<int64_t> id =
      d::DecodePageToken("page_token", token, fingerprint);
  if (!id.ok()) {
    ExpectFieldError(id.status(), "page_token");
    return;
  }
  if (token.empty() != (*id == 0) || *id < 0) {
    Fail(absl::StrCat("DecodePageToken gave ", *id, " for ", token));
  }
  if (*id > 0) {
    absl::StatusOr<int64_t> again = d::DecodePageToken(
        "page_token", d::EncodePageToken(*id, fingerprint), fingerprint);
    if (!again.ok() || *again != *id) Fail("page token round trip");
  }
}

void Walk(const Message& message, int depth) {
  const auto* descriptor = message.GetDescriptor();
  const auto* refl = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* f = descriptor->field(i);
    const std::string& name = f->name();
    const int n = f->is_repeated() ? refl->FieldSize(message, f) : 1;
    for (int k = 0; k < n && k < 2000; ++k) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string value = f->is_repeated()
                                  ? refl->GetRepeatedString(message, f, k)
                                  : refl->GetString(message, f);
          if (name == "page_token") {
            CheckPageToken(message, value);
          } else {
            CheckString(name, value);
          }
          break;
        }
        case FieldDescriptor::CPPTYPE_INT64: {
          int64_t value = f->is_repeated()
                              ? refl->GetRepeatedInt64(message, f, k)
                              : refl->GetInt64(message, f);
          // after_event_id is a cursor (-1 and 0 mean something), not an id.
          if (absl::EndsWith(name, "id") && name != "after_event_id") {
            absl::Status s = d::CheckId(name, value);
            ExpectFieldError(s, name);
            if (s.ok() != (value > 0)) Fail(name + ": CheckId");
          }
          break;
        }
        case FieldDescriptor::CPPTYPE_INT32: {
          int32_t value = f->is_repeated()
                              ? refl->GetRepeatedInt32(message, f, k)
                              : refl->GetInt32(message, f);
          if (name == "page_size") {
            int32_t effective = -1;
            absl::Status s = d::CheckPageSize(name, value, &effective);
            ExpectFieldError(s, name);
            if (s.ok() && (effective < 1 || effective > d::kMaxPageSize)) {
              Fail(absl::StrCat("page_size ", value, " -> ", effective));
            }
          }
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth < 4) {
            Walk(f->is_repeated() ? refl->GetRepeatedMessage(message, f, k)
                                  : refl->GetMessage(message, f),
                 depth + 1);
          }
          break;
        default:
          break;
      }
    }
  }
}

void CheckFingerprintIgnoresPaging(const Message& request) {
  const auto* descriptor = request.GetDescriptor();
  if (descriptor->FindFieldByName("page_token") == nullptr) return;
  std::unique_ptr<Message> copy(request.New());
  copy->CopyFrom(request);
  const auto* refl = copy->GetReflection();
  refl->SetString(copy.get(), descriptor->FindFieldByName("page_token"),
                  "another");
  if (const auto* size = descriptor->FindFieldByName("page_size")) {
    refl->SetInt32(copy.get(), size, 7);
  }
  if (d::FilterFingerprint(*copy) != d::FilterFingerprint(request)) {
    Fail("FilterFingerprint depends on page_token or page_size");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string with invalid UTF-8 it rejects; fuzzing makes
  // millions of them.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  // Our UTF-8 decoder against protobuf's.
  if (d::IsValidUtf8(raw) !=
      google::protobuf::internal::IsStructurallyValidUTF8(raw.data(),
                                                          int(raw.size()))) {
    Fail("IsValidUtf8 disagrees with protobuf on " + raw);
  }
  if (size == 0) return 0;
  const auto& methods = Methods();
  const auto* method = methods[data[0] % methods.size()];
  std::unique_ptr<Message> request(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(method->input_type())
          ->New());
  if (!request->ParseFromArray(data + 1, int(size - 1))) return 0;

  Walk(*request, 0);
  CheckFingerprintIgnoresPaging(*request);

  std::string bytes;
  if (!request->SerializeToString(&bytes)) Fail("cannot serialize");
  std::unique_ptr<Message> again(request->New());
  if (!again->ParseFromString(bytes) ||
      !google::protobuf::util::MessageDifferencer::Equals(*request, *again)) {
    Fail("serialize/parse round trip");
  }
  return 0;
}
