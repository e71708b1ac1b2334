// The one check of a metad.v1.FileSpec, shared by every call that registers
// files: RegisterFile(s) (file_service.cc) and run outputs (RecordOutputs,
// FinishRun outputs: run_outputs.cc).
#ifndef METAD_DAEMON_SERVICES_FILE_SPEC_CHECK_H_
#define METAD_DAEMON_SERVICES_FILE_SPEC_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "metad/v1/files.pb.h"

namespace metad::daemon {

// INVALID_ARGUMENT naming the field for a malformed spec; `prefix` names the
// spec in messages: "file.", "files[3].", "outputs[0].".
absl::Status CheckFileSpec(const std::string& prefix,
                           const metad::v1::FileSpec& spec);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_FILE_SPEC_CHECK_H_
