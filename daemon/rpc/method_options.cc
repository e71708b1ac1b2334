#include "daemon/rpc/method_options.h"

#include <set>

#include "metad/v1/admin.pb.h"
#include "metad/v1/deadlines.pb.h"
#include "metad/v1/dependencies.pb.h"
#include "metad/v1/files.pb.h"
#include "metad/v1/task_log.pb.h"
#include "metad/v1/tasks.pb.h"
#include "metad/v1/watch.pb.h"

namespace metad::daemon {

const std::vector<const google::protobuf::MethodDescriptor*>& MetadMethods() {
  static const auto* const methods = [] {
    auto* all = new std::vector<const google::protobuf::MethodDescriptor*>();
    // A message of each file: naming it links the file's descriptor in.
    const google::protobuf::FileDescriptor* files[] = {
        v1::File::descriptor()->file(),
        v1::Task::descriptor()->file(),
        v1::StartRunRequest::descriptor()->file(),
        v1::AddDependencyRequest::descriptor()->file(),
        v1::WatchFilesRequest::descriptor()->file(),
        v1::PruneHistoryRequest::descriptor()->file(),
        v1::SetBatchDeadlineRequest::descriptor()->file(),
    };
    for (const google::protobuf::FileDescriptor* file : files) {
      for (int s = 0; s < file->service_count(); ++s) {
        const google::protobuf::ServiceDescriptor* service = file->service(s);
        for (int m = 0; m < service->method_count(); ++m) {
          all->push_back(service->method(m));
        }
      }
    }
    return all;
  }();
  return *methods;
}

bool IsReadMethod(const std::string& method) {
  static const auto* const reads = [] {
    auto* names = new std::set<std::string>();
    for (const google::protobuf::MethodDescriptor* m : MetadMethods()) {
      if (m->options().idempotency_level() ==
          google::protobuf::MethodOptions::NO_SIDE_EFFECTS) {
        names->insert(m->name());
      }
    }
    return names;
  }();
  return reads->count(method) > 0;
}

}  // namespace metad::daemon
