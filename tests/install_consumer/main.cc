// Registers a file, claims it in a run, finishes the run and reads the
// file's first event from a watch: the installed client end to end.
//   consumer HOST:PORT
#include <iostream>

#include "metad/client/metad_client.h"
#include "metad/client/worker_run.h"

namespace v1 = metad::v1;
namespace client = metad::client;

int Fail(const std::string& what, const std::string& why) {
  std::cerr << "consumer: " << what << ": " << why << "\n";
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) return Fail("usage", "consumer HOST:PORT");
  client::ClientOptions options;
  options.address = argv[1];
  client::Client metad(options);

  v1::RegisterTaskRequest task;
  task.set_name("consume");
  v1::RegisterTaskResponse registered;
  grpc::Status s = metad.RegisterTask(task, &registered);
  if (!s.ok()) return Fail("RegisterTask", s.error_message());

  v1::RegisterFileRequest file;
  file.mutable_file()->set_source("incoming");
  file.mutable_file()->set_file_name("a.csv");
  v1::RegisterFileResponse file_response;
  s = metad.RegisterFile(file, &file_response);
  if (!s.ok()) return Fail("RegisterFile", s.error_message());

  auto run = client::WorkerRun::Start(&metad, "consume", "b1");
  if (!run.ok()) return Fail("StartRun", std::string(run.status().message()));
  auto claimed = (*run)->Claim(10, "incoming");
  if (!claimed.ok()) {
    return Fail("ClaimFiles", std::string(claimed.status().message()));
  }
  if (claimed->size() != 1) return Fail("ClaimFiles", "expected one file");
  auto finished = (*run)->Finish(v1::RUN_STATUS_SUCCESS);
  if (!finished.ok()) {
    return Fail("FinishRun", std::string(finished.status().message()));
  }

  v1::WatchFilesRequest watch;
  watch.set_after_event_id(-1);
  auto stream = metad.WatchFiles(watch);
  v1::WatchedFileEvent event;
  if (!stream->Next(&event)) {
    return Fail("WatchFiles", stream->status().error_message());
  }
  std::cout << "claimed " << claimed->front().source() << "/"
            << claimed->front().file_name() << " in run " << (*run)->id()
            << "; first event " << event.event().kind() << " of "
            << event.file_name() << "\n";
  return 0;
}
