#include "tests/support/daemon_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

extern char** environ;

namespace metad::testing {

std::string BinDir() {
  if (const char* dir = std::getenv("METAD_BIN_DIR"); dir && *dir) return dir;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string path(self, n > 0 ? n : 0);
  // <build>/tests/<binary> -> <build>
  path = path.substr(0, path.rfind('/'));
  return path.substr(0, path.rfind('/'));
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool DaemonProcess::Respawn(const std::string& database_url,
                            const std::vector<std::string>& extra_flags) {
  keep_port_ = true;
  return Spawn(database_url, extra_flags);
}

bool DaemonProcess::Spawn(const std::string& database_url,
                          const std::vector<std::string>& extra_flags) {
  static int counter = 0;
  if (!keep_port_ || port_ == 0) port_ = FreePort();
  keep_port_ = false;
  log_path_ =
      absl::StrCat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp",
                   "/metad-e2e-", getpid(), "-", counter++, ".log");
  std::vector<std::string> args = {
      BinDir() + "/metad", "serve",
      "--listen",          absl::StrCat("127.0.0.1:", port_),
      "--database",        database_url};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null",
                                   O_WRONLY, 0);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) pid_ = -1;
  channel_.reset();
  return rc == 0;
}

std::string DaemonProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::shared_ptr<grpc::Channel> DaemonProcess::channel() {
  if (channel_ == nullptr) {
    // Reconnect quickly: the daemon may not be listening yet on first use.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
    channel_ = grpc::CreateCustomChannel(
        address(),
        credentials_ ? credentials_ : grpc::InsecureChannelCredentials(), args);
  }
  return channel_;
}

namespace {

bool TcpConnects(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

bool DaemonProcess::WaitServing(double timeout_seconds) {
  auto give_up = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
  // Wait for the port first: a gRPC channel that met a refused connection
  // backs off for seconds before trying again.
  while (!TcpConnects(port_) && std::chrono::steady_clock::now() < give_up) {
    if (pid_ <= 0 || waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto stub = grpc::health::v1::Health::NewStub(channel());
  while (std::chrono::steady_clock::now() < give_up) {
    if (pid_ <= 0 || waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    grpc::ClientContext context;
    // Generous per attempt: a TLS handshake on a loaded machine is slow.
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(3));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    if (stub->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int DaemonProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  channel_.reset();
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int DaemonProcess::WaitExit(double timeout_seconds) {
  auto give_up = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
  while (pid_ > 0 && std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string DaemonProcess::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace metad::testing
