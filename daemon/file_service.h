// metad.v1.FileService: decode, validate, call the file store, map status.
#ifndef METAD_DAEMON_FILE_SERVICE_H_
#define METAD_DAEMON_FILE_SERVICE_H_

#include "daemon/call_runner.h"
#include "metad/v1/files.grpc.pb.h"
#include "store/database.h"

namespace metad::daemon {

class FileServiceImpl final : public metad::v1::FileService::CallbackService {
 public:
  FileServiceImpl(store::Database* db, CallRunner* runner);

 private:
  store::Database* db_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_FILE_SERVICE_H_
