// The operator port under pressure and behind a token, through the real
// binary: /metrics answers while many clients stall mid-request and status
// queries wait on a locked table; the status page on its own port answers
// its API only with a token; the live and process metrics are there.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http/process_stats.h"
#include "metad/v1/watch.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A connection that sent half a request and then says nothing.
int StalledClient(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return -1;
  const std::string half = "GET /metrics HTTP/1.1\r\nHost: loc";
  send(fd, half.data(), half.size(), MSG_NOSIGNAL);
  return fd;
}

// True while the server has neither answered nor closed `fd`.
bool StillHeld(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

// The value of an unlabelled sample `name` in exposition text; -1 if absent.
double Sample(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

// Holds ACCESS EXCLUSIVE on `files` (which the status overview reads) in
// its own session until Release or destruction.
class TableLock {
 public:
  explicit TableLock(std::string url) : url_(std::move(url)) {
    thread_ = std::thread([this] {
      try {
        QueryValue(url_,
                   "DO $$ BEGIN LOCK TABLE files IN ACCESS EXCLUSIVE MODE; "
                   "PERFORM pg_sleep(120); END $$");
      } catch (const std::exception&) {
        // cancelled by Release
      }
    });
  }
  ~TableLock() { Release(); }
  void Release() {
    if (!thread_.joinable()) return;
    for (int i = 0; i < 100; ++i) {
      if (QueryValue(url_,
                     "SELECT count(pg_cancel_backend(pid)) FROM "
                     "pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                     "query LIKE 'DO $$ BEGIN LOCK TABLE files%'") != "0") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    thread_.join();
  }
  // Sessions waiting for a lock in this database.
  int Waiting() {
    return std::stoi(
        QueryValue(url_,
                   "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND wait_event_type = 'Lock'"));
  }

 private:
  std::string url_;
  std::thread thread_;
};

TEST(OperatorPort, MetricsAnswerWhileSlowClientsAndStatusQueriesAreStuck) {
  const int port = FreePort();
  const std::string url = CreateEmptyDatabase("operator_port");
  DaemonProcess daemon;
  // Stalled clients are not disconnected during the test (60 s), so they
  // hold their threads for all of it.
  ASSERT_TRUE(daemon.Spawn(
      url, {"--metrics_listen", "127.0.0.1:" + std::to_string(port),
            "--http_request_timeout", "60"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();

  std::vector<int> stalled;
  for (int i = 0; i < 20; ++i) {
    int fd = StalledClient(port);
    ASSERT_GE(fd, 0);
    stalled.push_back(fd);
  }
  TableLock lock(url);
  // Status requests that wait on the lock (each up to its 5 s deadline).
  std::vector<std::thread> status;
  std::vector<int> status_codes(6, 0);
  for (int i = 0; i < 6; ++i) {
    status.emplace_back([&, i] {
      status_codes[i] = HttpGet(port, "/status/api/overview").status;
    });
  }
  // Wait until at least one status query is really stuck on the lock.
  bool stuck = false;
  for (int i = 0; i < 300 && !stuck; ++i) {
    stuck = lock.Waiting() > 0;
    if (!stuck) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(stuck) << "no status query waited on the lock";

  const Clock::time_point start = Clock::now();
  HttpResult metrics = HttpGet(port, "/metrics");
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "/metrics answered in %.1f ms with 20 stalled clients and %d "
      "status queries waiting on a lock\n",
      seconds * 1000, lock.Waiting());
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(Contains(metrics.body, "metad_db_up")) << metrics.body;
  // Generous: "answered at all while the others are stuck".
  EXPECT_LT(seconds, 5.0);
  int held = 0;
  for (int fd : stalled) held += StillHeld(fd) ? 1 : 0;
  EXPECT_EQ(held, 20) << "the stalled clients were let go before /metrics";

  lock.Release();
  for (std::thread& t : status) t.join();
  for (int code : status_codes) {
    // 200 once the lock went, 503 for a deadline or a full gate.
    EXPECT_TRUE(code == 200 || code == 503) << code;
  }
  for (int fd : stalled) close(fd);
  daemon.Stop(SIGTERM);
}

std::string WriteTokenFile(const std::string& text) {
  char path[] = "/tmp/metad_status_tokens_XXXXXX";
  int fd = mkstemp(path);
  write(fd, text.data(), text.size());
  close(fd);
  return path;
}

TEST(OperatorPort, StatusPageOnItsOwnPortNeedsAToken) {
  const int metrics_port = FreePort();
  int status_port = FreePort();
  while (status_port == metrics_port) status_port = FreePort();
  const std::string token = "status-reader-token-0123456789";
  const std::string tokens =
      WriteTokenFile("# operators\nreader " + token + " ops\n");
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(
      CreateEmptyDatabase("status_token"),
      {"--metrics_listen", "127.0.0.1:" + std::to_string(metrics_port),
       "--status_listen", "127.0.0.1:" + std::to_string(status_port),
       "--status_token_file", tokens}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();

  HttpResult none = HttpGet(status_port, "/status/api/overview");
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(Contains(none.headers, "WWW-Authenticate: Bearer"));
  EXPECT_EQ(HttpGet(status_port, "/status/api/overview",
                    {"Authorization: Bearer not-the-token-at-all"})
                .status,
            401);
  EXPECT_EQ(HttpGet(status_port, "/status/api/batch?batch_id=b").status, 401);
  HttpResult ok = HttpGet(status_port, "/status/api/overview",
                          {"Authorization: Bearer " + token});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(Contains(ok.body, "\"files_by_status\""));
  EXPECT_EQ(HttpGet(status_port, "/status/api/batch?batch_id=b",
                    {"Authorization: Bearer " + token})
                .status,
            200);
  // The page itself holds no data and asks for the token.
  EXPECT_EQ(HttpGet(status_port, "/").status, 200);
  // Each port serves only its own part; /metrics needs no token.
  EXPECT_EQ(HttpGet(status_port, "/metrics").status, 404);
  EXPECT_EQ(HttpGet(metrics_port, "/metrics").status, 200);
  EXPECT_EQ(HttpGet(metrics_port, "/status/api/overview",
                    {"Authorization: Bearer " + token})
                .status,
            404);
  // The token never reaches the log.
  daemon.Stop(SIGTERM);
  EXPECT_FALSE(Contains(daemon.ReadLog(), token));
  unlink(tokens.c_str());
}

// User + system CPU seconds of `pid` from /proc/<pid>/stat; -1 if unreadable.
double DaemonCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  std::optional<daemon::ProcessStats> stats = daemon::ParseProcStat(
      stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), /*boot_time=*/0);
  return stats.has_value() ? stats->cpu_seconds : -1;
}

TEST(OperatorPort, LiveAndProcessMetrics) {
  const int port = FreePort();
  DaemonProcess daemon;
  ASSERT_TRUE(
      daemon.Spawn(CreateEmptyDatabase("process_metrics"),
                   {"--metrics_listen", "127.0.0.1:" + std::to_string(port)}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();

  // One watch stream open.
  auto watch = v1::WatchService::NewStub(daemon.channel());
  grpc::ClientContext ctx;
  v1::WatchRunsRequest req;
  req.set_after_event_id(-1);
  auto stream = watch->WatchRuns(&ctx, req);
  std::string m;
  double cpu_before = -1, cpu_after = -1;
  for (int i = 0; i < 100; ++i) {
    cpu_before = DaemonCpuSeconds(daemon.pid());
    m = HttpGet(port, "/metrics").body;
    cpu_after = DaemonCpuSeconds(daemon.pid());
    if (Sample(m, "metad_watch_streams") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Sample(m, "metad_watch_streams"), 1) << m;
  EXPECT_EQ(Sample(m, "metad_rpc_queued_calls"), 0) << m;
  EXPECT_GE(Sample(m, "metad_rpc_busy_workers"), 0) << m;
  // The daemon's own CPU time as the test reads it from /proc just before
  // and after the scrape (a fresh daemon may have used less than a tick).
  ASSERT_GE(cpu_before, 0);
  EXPECT_GE(Sample(m, "process_cpu_seconds_total"), cpu_before) << m;
  EXPECT_LE(Sample(m, "process_cpu_seconds_total"), cpu_after) << m;
  EXPECT_GT(Sample(m, "process_resident_memory_bytes"), 1 << 20) << m;
  EXPECT_GT(Sample(m, "process_virtual_memory_bytes"),
            Sample(m, "process_resident_memory_bytes"));
  EXPECT_GT(Sample(m, "process_open_fds"), 3) << m;
  EXPECT_GE(Sample(m, "process_max_fds"), Sample(m, "process_open_fds"));
  const double now = static_cast<double>(time(nullptr));
  const double started = Sample(m, "process_start_time_seconds");
  EXPECT_GT(started, now - 600) << m;
  EXPECT_LE(started, now + 1) << m;

  ctx.TryCancel();
  stream->Finish();
  for (int i = 0; i < 100; ++i) {
    m = HttpGet(port, "/metrics").body;
    if (Sample(m, "metad_watch_streams") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Sample(m, "metad_watch_streams"), 0) << m;
  daemon.Stop(SIGTERM);
}

}  // namespace
}  // namespace metad::testing
