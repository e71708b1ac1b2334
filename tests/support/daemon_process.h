// Runs the built `metad` binary as a child process, for end-to-end tests.
// The binary is found through METAD_BIN_DIR (exported by scripts/test.sh),
// else next to the test binary's parent directory.
#ifndef METAD_TESTS_SUPPORT_DAEMON_PROCESS_H_
#define METAD_TESTS_SUPPORT_DAEMON_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace metad::testing {

// The directory holding the built metad and metactl.
std::string BinDir();

// A loopback port that was free a moment ago.
int FreePort();

class DaemonProcess {
 public:
  DaemonProcess() = default;
  ~DaemonProcess();  // SIGKILL if still running

  // Spawns `metad serve --listen 127.0.0.1:<free port> --database <url>
  // <extra...>`, stderr to a log file. Returns false if it could not spawn.
  bool Spawn(const std::string& database_url,
             const std::vector<std::string>& extra_flags = {});
  // Spawns again on the port of the last Spawn (after Stop), as a
  // restarted service would be.
  bool Respawn(const std::string& database_url,
               const std::vector<std::string>& extra_flags = {});
  // Polls grpc.health.v1 until SERVING or the timeout; false on timeout or
  // when the process exited.
  bool WaitServing(double timeout_seconds = 60);
  // Sends `signal` and waits; returns the exit status as from waitpid
  // (decode with WIFEXITED/WEXITSTATUS).
  int Stop(int signal);
  // Waits for the process to exit by itself; returns the waitpid status, or
  // -1 after the timeout.
  int WaitExit(double timeout_seconds);

  // Credentials for channel() (insecure by default), e.g. for TLS tests.
  void UseCredentials(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    credentials_ = std::move(credentials);
    channel_.reset();
  }

  std::string address() const;
  std::shared_ptr<grpc::Channel> channel();
  std::string ReadLog() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool keep_port_ = false;  // Respawn
  std::string log_path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
};

}  // namespace metad::testing

#endif  // METAD_TESTS_SUPPORT_DAEMON_PROCESS_H_
