// The methods of metad.v1's services, as the generated descriptors describe
// them: what the proto declares about each (idempotency_level, access_role)
// is read from here rather than restated in code.
#ifndef METAD_DAEMON_RPC_METHOD_OPTIONS_H_
#define METAD_DAEMON_RPC_METHOD_OPTIONS_H_

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

namespace metad::daemon {

// Every method of every metad.v1 service (FileService, TaskService, ...).
const std::vector<const google::protobuf::MethodDescriptor*>& MetadMethods();

// Whether the method (by its short name, e.g. "GetFile") declares
// idempotency_level = NO_SIDE_EFFECTS: a read, which a standby may serve.
bool IsReadMethod(const std::string& method);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_METHOD_OPTIONS_H_
