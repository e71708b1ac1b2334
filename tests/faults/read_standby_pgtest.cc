// Reads on standbys (issue 14, item 4): metad with --read_database on an
// ASYNC streaming standby whose replay is held back by
// recovery_min_apply_delay, so that a stale read is real:
//   - a client that writes, then reads at once with the write's position
//     (metad-commit-lsn sent back as metad-min-lsn), never misses its own
//     write: the standby has not replayed it, so the primary serves;
//   - the same read without the position does miss it (this is what the
//     first check would catch if the position were ignored);
//   - reads whose position the standby has replayed, and reads without a
//     position, are served by the standby (metad_db_reads_total);
//   - with the standby stopped every read is still answered (by the
//     primary), and reads return to the standby once it is back.
// The figures (how many reads left the primary) go to docs/scaling.md.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "metad/client/metad_client.h"
#include "metad/v1/files.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";
// Long enough that a read right after a write beats the standby's replay on
// any machine; short enough to wait for in a test.
constexpr int kApplyDelaySeconds = 2;

// A shell command, run as the cluster's owner when we are root.
int Run(const std::string& command) {
  std::string line = geteuid() == 0
                         ? absl::StrCat("runuser -u postgres -- ", command)
                         : command;
  return std::system(line.c_str());
}

// A hot standby of `primary_port`, made with pg_basebackup -R, replaying
// kApplyDelaySeconds behind. Stopped and left for faults.sh to clean up.
class Standby {
 public:
  explicit Standby(int apply_delay_seconds = kApplyDelaySeconds)
      : delay_(apply_delay_seconds) {}
  bool Create(int primary_port) {
    const char* base = getenv("METAD_FAULTS_WORKDIR");
    std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp",
                                       "/metad-faults-pg-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) return false;
    dir_ = pattern;
    if (geteuid() == 0) {
      passwd* pw = getpwnam("postgres");
      if (pw == nullptr || chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return false;
      }
    }
    port_ = FreePort();
    if (Run(absl::StrCat(kPgBin, "/pg_basebackup -h 127.0.0.1 -p ",
                         primary_port, " -U postgres -c fast -D ", dir_,
                         "/data -R -X stream >", dir_,
                         "/basebackup.log 2>&1")) != 0) {
      return false;
    }
    return Start();
  }
  bool Start() {
    return Run(absl::StrCat(
               kPgBin, "/pg_ctl -D ", dir_, "/data -l ", dir_,
               "/server.log -w -t 60 -o \"-c listen_addresses=127.0.0.1 "
               "-c port=",
               port_, " -c unix_socket_directories=", dir_,
               " -c hot_standby=on -c recovery_min_apply_delay=", delay_,
               "s\" start >/dev/null")) == 0;
  }
  bool Stop() {
    return Run(absl::StrCat(kPgBin, "/pg_ctl -D ", dir_,
                            "/data -m fast -w -t 60 stop >/dev/null")) == 0;
  }
  ~Standby() {
    if (!dir_.empty()) Stop();
  }
  std::string Url(const std::string& dbname) const {
    return absl::StrCat("host=127.0.0.1 port=", port_,
                        " user=postgres dbname=", dbname);
  }

 private:
  std::string dir_;
  int port_ = 0;
  int delay_;
};

// Reads per route, from the daemon's /metrics.
using Routes = std::map<std::string, int64_t>;

Routes ReadRoutes(int metrics_port) {
  Routes routes;
  HttpResult r = HttpGet(metrics_port, "/metrics");
  const std::string prefix = "metad_db_reads_total{served_by=\"";
  size_t at = 0;
  while ((at = r.body.find(prefix, at)) != std::string::npos) {
    at += prefix.size();
    size_t quote = r.body.find('"', at);
    size_t space = r.body.find(' ', quote);
    size_t end = r.body.find('\n', space);
    double value = 0;
    if (absl::SimpleAtod(r.body.substr(space + 1, end - space - 1), &value)) {
      routes[r.body.substr(at, quote - at)] = static_cast<int64_t>(value);
    }
  }
  return routes;
}

int64_t Total(const Routes& routes) {
  int64_t n = 0;
  for (const auto& [route, count] : routes) n += count;
  return n;
}

class FaultsReadStandby : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    primary_ = new PgCluster();
    ASSERT_TRUE(primary_->Create({"max_connections=60"}));
    CreateDatabase(primary_->Url("postgres"), "metad");
    standby_ = new Standby();
    ASSERT_TRUE(standby_->Create(primary_->port()));
    daemon_ = new DaemonProcess();
    metrics_port_ = FreePort();
    ASSERT_TRUE(daemon_->Spawn(
        primary_->Url("metad"),
        {"--read_database", standby_->Url("metad") + " connect_timeout=2",
         "--pool_size", "4", "--drain", "2", "--metrics_listen",
         absl::StrCat("127.0.0.1:", metrics_port_)}));
    ASSERT_TRUE(daemon_->WaitServing()) << daemon_->ReadLog();
    // The schema the daemon just made must be on the standby before the
    // first read that the standby serves.
    WaitReplayed(std::to_string(QueryInt(
        primary_->Url("metad"),
        "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")));
  }
  static void TearDownTestSuite() {
    if (daemon_ != nullptr) {
      int status = daemon_->Stop(SIGTERM);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << daemon_->ReadLog();
    }
    delete daemon_;
    delete standby_;
    delete primary_;
  }

  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);
    files_ = FileService::NewStub(daemon_->channel());
    reads_ = 0;
    before_ = ReadRoutes(metrics_port_);
  }

  // Registers `name`; its commit position (metad-commit-lsn), "" if none.
  std::string Write(const std::string& name) {
    RegisterFileRequest req;
    req.mutable_file()->set_source("landing");
    req.mutable_file()->set_file_name(name);
    RegisterFileResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    grpc::Status s = files_->RegisterFile(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    auto trailers = ctx.GetServerTrailingMetadata();
    auto it = trailers.find("metad-commit-lsn");
    if (it == trailers.end()) return "";
    return std::string(it->second.data(), it->second.size());
  }

  // GetFile by name, sending `position` as metad-min-lsn unless empty.
  grpc::StatusCode Read(const std::string& name, const std::string& position) {
    GetFileRequest req;
    req.set_source("landing");
    req.set_file_name(name);
    File file;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    if (!position.empty()) ctx.AddMetadata("metad-min-lsn", position);
    ++reads_;
    grpc::Status s = files_->GetFile(&ctx, req, &file);
    EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND)
        << s.error_message();
    return s.error_code();
  }

  // The reads made since SetUp, per route, once /metrics (updated every
  // 250 ms) counts all of them.
  // `exact`: each read was one transaction.
  Routes ReadsSinceSetUp(bool exact = true) {
    Routes now;
    for (int i = 0; i < 400; ++i) {
      now = ReadRoutes(metrics_port_);
      if (Total(now) - Total(before_) >= reads_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (exact) EXPECT_EQ(Total(now) - Total(before_), reads_);
    for (auto& [route, count] : now) count -= before_[route];
    return now;
  }

  // Waits until the standby has replayed `position`.
  static void WaitReplayed(const std::string& position) {
    const std::string sql = absl::StrCat(
        "SELECT count(*) FROM (SELECT 1) x WHERE pg_last_wal_replay_lsn() - "
        "'0/0'::pg_lsn >= ",
        position);
    for (int i = 0; i < 600; ++i) {
      if (QueryInt(standby_->Url("metad"), sql) == 1) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the standby never replayed " << position;
  }

  static PgCluster* primary_;
  static Standby* standby_;
  static DaemonProcess* daemon_;
  static int metrics_port_;
  std::unique_ptr<FileService::Stub> files_;
  int64_t reads_ = 0;
  Routes before_;
};

PgCluster* FaultsReadStandby::primary_ = nullptr;
Standby* FaultsReadStandby::standby_ = nullptr;
DaemonProcess* FaultsReadStandby::daemon_ = nullptr;
int FaultsReadStandby::metrics_port_ = 0;

TEST_F(FaultsReadStandby, AReadWithThePositionNeverMissesItsOwnWrite) {
  const int n = ShortOrLong(100, 1000);
  int missed = 0;
  for (int i = 0; i < n; ++i) {
    const std::string name = absl::StrCat("ryw-", i, ".csv");
    const std::string position = Write(name);
    ASSERT_FALSE(position.empty()) << "no metad-commit-lsn trailer";
    if (Read(name, position) != grpc::StatusCode::OK) ++missed;
  }
  EXPECT_EQ(missed, 0);
  Routes routes = ReadsSinceSetUp();
  // Replay is held back: these reads were too fresh for the standby (all of
  // them unless the machine stalled for the whole delay).
  EXPECT_GT(routes["primary_lagging"], 0);
  Figures("reads_read_your_writes")
      .Add("reads", int64_t{n})
      .Add("missed", int64_t{missed})
      .Add("on_standby", routes["standby"])
      .Add("on_primary_lagging", routes["primary_lagging"])
      .Emit();
}

TEST_F(FaultsReadStandby, AReadWithoutThePositionMayBeStale) {
  // What the test above would see if the position were ignored.
  const int n = 20;
  int stale = 0;
  for (int i = 0; i < n; ++i) {
    const std::string name = absl::StrCat("stale-", i, ".csv");
    Write(name);
    if (Read(name, "") == grpc::StatusCode::NOT_FOUND) ++stale;
  }
  EXPECT_GT(stale, 0) << "the standby was never behind: the delay is lost";
  Routes routes = ReadsSinceSetUp();
  EXPECT_EQ(routes["standby"], n);
  Figures("reads_without_position")
      .Add("reads", int64_t{n})
      .Add("stale", int64_t{stale})
      .Add("on_standby", routes["standby"])
      .Emit();
}

TEST_F(FaultsReadStandby, ReadsTheStandbyHasReplayedGoToTheStandby) {
  // A dashboard's reads: positions seen a while ago, and no position.
  const int n = ShortOrLong(200, 2000);
  const std::string position = Write("replayed.csv");
  WaitReplayed(position);
  int found = 0;
  for (int i = 0; i < n; ++i) {
    if (Read("replayed.csv", i % 2 == 0 ? position : "") ==
        grpc::StatusCode::OK) {
      ++found;
    }
  }
  EXPECT_EQ(found, n);
  Routes routes = ReadsSinceSetUp();
  EXPECT_EQ(routes["standby"], n);
  Figures("reads_replayed")
      .Add("reads", int64_t{n})
      .Add("on_standby", routes["standby"])
      .Emit();
}

TEST_F(FaultsReadStandby, WithTheStandbyStoppedReadsAreStillAnswered) {
  const std::string position = Write("outage.csv");
  WaitReplayed(position);
  ASSERT_TRUE(standby_->Stop());
  const int n = 50;
  int answered = 0;
  for (int i = 0; i < n; ++i) {
    if (Read("outage.csv", "") == grpc::StatusCode::OK) ++answered;
  }
  EXPECT_EQ(answered, n);
  Routes routes = ReadsSinceSetUp();
  EXPECT_EQ(routes["primary_unreachable"], n);

  // Back: the read pool is tried again (after Database::kReadPoolRetry).
  ASSERT_TRUE(standby_->Start());
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    EXPECT_EQ(Read("outage.csv", ""), grpc::StatusCode::OK);
    back = ReadsSinceSetUp()["standby"] > 0;
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(back) << "reads never returned to the standby";
}

// Every kind of read works on a hot standby (none writes, which a standby
// would refuse) and is served there: the methods without side effects and
// the status page.
TEST_F(FaultsReadStandby, EveryReadRunsOnTheStandby) {
  client::ClientOptions options;
  options.address = daemon_->address();
  client::Client c(options);
  v1::RegisterTaskRequest task;
  task.set_name("load");
  v1::RegisterTaskResponse task_resp;
  ASSERT_TRUE(c.RegisterTask(task, &task_resp).ok());
  const std::string position = Write("every.csv");
  WaitReplayed(std::to_string(c.commit_position()));
  WaitReplayed(position);
  std::vector<std::pair<std::string, grpc::Status>> calls;
  auto call = [&](const std::string& name, grpc::Status s) {
    ++reads_;
    calls.emplace_back(name, s);
  };
  {
    v1::ListFilesRequest r;
    v1::ListFilesResponse a;
    call("ListFiles", c.ListFiles(r, &a));
  }
  {
    v1::ListFileEventsRequest r;
    v1::ListFileEventsResponse a;
    call("ListFileEvents", c.ListFileEvents(r, &a));
  }
  {
    v1::GetTaskRequest r;
    r.set_name("load");
    v1::Task a;
    call("GetTask", c.GetTask(r, &a));
  }
  {
    v1::ListTasksRequest r;
    v1::ListTasksResponse a;
    call("ListTasks", c.ListTasks(r, &a));
  }
  {
    v1::ListTaskEventsRequest r;
    v1::ListTaskEventsResponse a;
    call("ListTaskEvents", c.ListTaskEvents(r, &a));
  }
  {
    v1::ListRunsRequest r;
    v1::ListRunsResponse a;
    call("ListRuns", c.ListRuns(r, &a));
  }
  {
    v1::GetBatchRequest r;
    r.set_batch_id("b1");
    v1::Batch a;
    call("GetBatch", c.GetBatch(r, &a));
  }
  {
    v1::ListRunEventsRequest r;
    v1::ListRunEventsResponse a;
    call("ListRunEvents", c.ListRunEvents(r, &a));
  }
  {
    v1::ListDependenciesRequest r;
    r.set_task("load");
    r.set_direction(v1::DIRECTION_PARENTS);
    v1::ListDependenciesResponse a;
    call("ListDependencies", c.ListDependencies(r, &a));
  }
  {
    v1::GetExecutionPlanRequest r;
    r.add_targets("load");
    v1::GetExecutionPlanResponse a;
    call("GetExecutionPlan", c.GetExecutionPlan(r, &a));
  }
  {
    v1::GetReadyTasksRequest r;
    r.set_batch_id("b1");
    v1::GetReadyTasksResponse a;
    call("GetReadyTasks", c.GetReadyTasks(r, &a));
  }
  for (const auto& [name, s] : calls) {
    // NOT_FOUND: the batch has no runs (an answer from the database).
    EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND)
        << name << ": " << s.error_code() << " " << s.error_message();
  }
  HttpResult page = HttpGet(metrics_port_, "/status/api/overview");
  EXPECT_EQ(page.status, 200) << page.body;
  ++reads_;
  // The overview may run more than one read transaction: at least these.
  Routes routes = ReadsSinceSetUp(/*exact=*/false);
  EXPECT_GE(routes["standby"], static_cast<int64_t>(calls.size()) + 1);
  EXPECT_EQ(routes["primary_lagging"] + routes["primary_unreachable"], 0);
}

// The C++ client's session: read_your_writes (on by default) carries the
// position by itself; turned off, the same pattern reads stale.
TEST_F(FaultsReadStandby, TheCppClientReadsItsOwnWritesByItself) {
  auto session = [](bool read_your_writes) {
    client::ClientOptions options;
    options.address = daemon_->address();
    options.read_your_writes = read_your_writes;
    return std::make_unique<client::Client>(options);
  };
  auto write_then_read = [](client::Client& c, const std::string& name) {
    v1::RegisterFileRequest req;
    req.mutable_file()->set_source("landing");
    req.mutable_file()->set_file_name(name);
    v1::RegisterFileResponse resp;
    EXPECT_TRUE(c.RegisterFile(req, &resp).ok());
    v1::GetFileRequest get;
    get.set_source("landing");
    get.set_file_name(name);
    v1::File file;
    return c.GetFile(get, &file).error_code();
  };
  const int n = ShortOrLong(50, 500);
  auto on = session(true);
  auto off = session(false);
  int missed = 0, stale = 0;
  for (int i = 0; i < n; ++i) {
    if (write_then_read(*on, absl::StrCat("cpp-on-", i, ".csv")) !=
        grpc::StatusCode::OK) {
      ++missed;
    }
    if (write_then_read(*off, absl::StrCat("cpp-off-", i, ".csv")) ==
        grpc::StatusCode::NOT_FOUND) {
      ++stale;
    }
  }
  EXPECT_GT(on->commit_position(), 0u);
  EXPECT_EQ(off->commit_position(), 0u);
  EXPECT_EQ(missed, 0);
  EXPECT_GT(stale, 0) << "the standby was never behind: the delay is lost";
}

// The measurement for docs/scaling.md: a standby with no apply delay (plain
// asynchronous streaming on loopback), and a client that reads its own
// write at once, the worst case for read-your-writes; and a reader with no
// position. Only the answers are checked; the split is reported.
TEST_F(FaultsReadStandby, HowManyReadsLeaveThePrimary) {
  Standby prompt(0);
  ASSERT_TRUE(prompt.Create(primary_->port()));
  DaemonProcess d;
  const int metrics = FreePort();
  ASSERT_TRUE(d.Spawn(
      primary_->Url("metad"),
      {"--read_database", prompt.Url("metad"), "--pool_size", "4", "--drain",
       "2", "--metrics_listen", absl::StrCat("127.0.0.1:", metrics)}));
  ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
  client::ClientOptions options;
  options.address = d.address();
  client::Client c(options);
  Routes start = ReadRoutes(metrics);
  const int n = ShortOrLong(300, 3000);
  int missed = 0;
  for (int i = 0; i < n; ++i) {
    const std::string name = absl::StrCat("measure-", i, ".csv");
    v1::RegisterFileRequest req;
    req.mutable_file()->set_source("landing");
    req.mutable_file()->set_file_name(name);
    v1::RegisterFileResponse resp;
    ASSERT_TRUE(c.RegisterFile(req, &resp).ok());
    v1::GetFileRequest get;
    get.set_source("landing");
    get.set_file_name(name);
    v1::File file;
    if (!c.GetFile(get, &file).ok()) ++missed;
  }
  Routes routes;
  for (int i = 0; i < 400; ++i) {
    routes = ReadRoutes(metrics);
    if (Total(routes) - Total(start) >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& [route, count] : routes) count -= start[route];
  EXPECT_EQ(missed, 0);
  EXPECT_EQ(Total(routes), n);
  Figures("reads_moved_off_primary")
      .Add("pattern", std::string("write then read at once, position sent"))
      .Add("reads", int64_t{n})
      .Add("on_standby", routes["standby"])
      .Add("on_primary_lagging", routes["primary_lagging"])
      .Add("missed", int64_t{missed})
      .Emit();
  int status = d.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << d.ReadLog();
}

}  // namespace
}  // namespace metad::testing
