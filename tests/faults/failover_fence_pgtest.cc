// Fault: an old primary restarted unfenced after a failover (issue 14). A
// primary and a streaming standby on loopback; metad's URL lists both, the
// old primary first, with target_session_attrs=read-write. The primary is
// killed, the standby promoted (timeline 2), metad writes there; then the
// old primary starts again as a primary on timeline 1 and metad's
// connections are cut, so libpq picks the old primary first again:
//   - metad refuses it (timeline 1 behind 2, store/timeline_fence.h) and
//     connects to the new primary instead;
//   - no write lands on the old primary; every OK'd write is on the new
//     one; the codes seen are OK and UNAVAILABLE only.
// Then daemons started fresh, which never saw the failover, while the old
// primary is back unfenced (a primary of three: the new primary's standby
// follows it):
//   - with the new primary up: metad reads the URL's other hosts, finds a
//     primary on a later timeline, and writes there only;
//   - with the new primary down and its standby up: the standby shows the
//     later timeline (its restartpoint), so no write is made anywhere;
//   - with only the old primary reachable: a daemon with the first one's
//     --fence_state_file refuses it too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/faults/fault_support.h"
#include "tests/support/daemon_process.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

grpc::Status Register(FileService::Stub& files, const std::string& name) {
  RegisterFileRequest req;
  req.mutable_file()->set_source("landing");
  req.mutable_file()->set_file_name(name);
  req.set_request_id("req-" + name);
  RegisterFileResponse resp;
  return files.RegisterFile(Ctx(10).get(), req, &resp);
}

// Registers `name` until OK (retrying with the same request_id), at most
// `seconds`; every answer's code is tallied.
bool RegisterUntilOk(FileService::Stub& files, const std::string& name,
                     CallTally* tally, double seconds = 60) {
  const double start = MonoSeconds();
  while (MonoSeconds() - start < seconds) {
    const double t = MonoSeconds();
    grpc::Status s = Register(files, name);
    tally->Record(s.error_code(), MonoSeconds() - t);
    if (s.ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int64_t FilesLike(const std::string& url, const std::string& pattern) {
  return QueryInt(url, absl::StrCat("SELECT count(*) FROM files WHERE "
                                    "file_name LIKE '",
                                    pattern, "'"));
}

TEST(FaultsFailoverFence, AnOldPrimaryBackUnfencedGetsNoWrites) {
  PgCluster primary, standby;
  ASSERT_TRUE(primary.Create({"max_connections=40"}));
  CreateDatabase(primary.Url("postgres"), "metad");
  ASSERT_TRUE(
      standby.CreateStandby(primary, "standby", {"max_connections=40"}));
  const std::string url = absl::StrCat(
      "host=127.0.0.1,127.0.0.1 port=", primary.port(), ",", standby.port(),
      " user=postgres dbname=metad target_session_attrs=read-write "
      "connect_timeout=2");

  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(url, {"--pool_size", "4", "--drain", "2"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
  auto files = FileService::NewStub(daemon.channel());
  CallTally before;
  ASSERT_TRUE(RegisterUntilOk(*files, "before.csv", &before));
  // The standby has it (hot standby reads) before the primary dies.
  for (int i = 0; i < 600 && FilesLike(standby.Url("metad"), "before%") == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(FilesLike(standby.Url("metad"), "before%"), 1);

  // Failover: the primary dies, the standby is promoted, metad follows.
  ASSERT_TRUE(primary.Stop("immediate"));
  ASSERT_TRUE(standby.Promote());
  CallTally failover;
  ASSERT_TRUE(RegisterUntilOk(*files, "after.csv", &failover))
      << failover.Summary() << daemon.ReadLog();
  EXPECT_EQ(QueryInt(standby.Url("metad"),
                     "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), "
                     "1, 8)::int"),
            2);

  // The old primary comes back unfenced, and metad's sessions are cut: its
  // new connections reach the old primary first.
  ASSERT_TRUE(primary.Start());
  QueryRows(standby.Url("postgres"),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'metad' AND pid <> pg_backend_pid()");
  CallTally late;
  const int kWrites = ShortOrLong(20, 200);
  int ok = 0;
  for (int i = 0; i < kWrites; ++i) {
    const double t = MonoSeconds();
    grpc::Status s = Register(*files, absl::StrCat("late-", i, ".csv"));
    late.Record(s.error_code(), MonoSeconds() - t);
    if (s.ok()) ++ok;
  }
  EXPECT_EQ(late.count(grpc::StatusCode::OK) +
                late.count(grpc::StatusCode::UNAVAILABLE),
            kWrites)
      << late.Summary();
  EXPECT_GT(ok, 0) << late.Summary() << daemon.ReadLog();

  // Nothing on the old primary; every OK'd write on the new one.
  EXPECT_EQ(FilesLike(primary.Url("metad"), "after%"), 0);
  EXPECT_EQ(FilesLike(primary.Url("metad"), "late-%"), 0);
  EXPECT_EQ(FilesLike(standby.Url("metad"), "after%"), 1);
  EXPECT_GE(FilesLike(standby.Url("metad"), "late-%"), ok);
  const std::string log = daemon.ReadLog();
  EXPECT_NE(log.find("database_server_fenced"), std::string::npos)
      << "the old primary was never offered: the test proved nothing";

  Figures("failover_fence")
      .Add("failover_codes", failover.Summary())
      .Add("late_writes", static_cast<int64_t>(kWrites))
      .Add("late_codes", late.Summary())
      .Add("on_old_primary", FilesLike(primary.Url("metad"), "late-%") +
                                 FilesLike(primary.Url("metad"), "after%"))
      .Emit();
  int status = daemon.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
}

// Waits until the daemon answers health checks, SERVING or not (a daemon
// whose only reachable primary is fenced serves, NOT_SERVING).
bool WaitAnswering(DaemonProcess& daemon, double seconds = 60) {
  auto health = grpc::health::v1::Health::NewStub(daemon.channel());
  const double give_up = MonoSeconds() + seconds;
  while (MonoSeconds() < give_up) {
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    if (health->Check(Ctx(1).get(), req, &resp).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// `writes` registrations named `prefix`-N through a daemon spawned fresh on
// `url` with `flags`; their codes in *tally. False if it did not start.
bool FreshDaemonWrites(const std::string& url,
                       const std::vector<std::string>& flags,
                       const std::string& prefix, int writes, CallTally* tally,
                       std::string* log) {
  DaemonProcess daemon;
  std::vector<std::string> all = {"--pool_size", "2", "--drain", "1"};
  all.insert(all.end(), flags.begin(), flags.end());
  if (!daemon.Spawn(url, all) || !WaitAnswering(daemon)) {
    *log = daemon.ReadLog();
    return false;
  }
  auto files = FileService::NewStub(daemon.channel());
  for (int i = 0; i < writes; ++i) {
    const double t = MonoSeconds();
    grpc::Status s = Register(*files, absl::StrCat(prefix, "-", i, ".csv"));
    tally->Record(s.error_code(), MonoSeconds() - t);
  }
  *log = daemon.ReadLog();
  daemon.Stop(SIGTERM);
  return true;
}

TEST(FaultsFailoverFence, AFreshDaemonRefusesAStalePrimary) {
  PgCluster old_primary, next, standby;
  ASSERT_TRUE(old_primary.Create({"max_connections=40"}));
  CreateDatabase(old_primary.Url("postgres"), "metad");
  ASSERT_TRUE(next.CreateStandby(old_primary, "next", {"max_connections=40"}));
  ASSERT_TRUE(
      standby.CreateStandby(old_primary, "standby", {"max_connections=40"}));
  const std::string url = absl::StrCat(
      "host=127.0.0.1,127.0.0.1,127.0.0.1 port=", old_primary.port(), ",",
      next.port(), ",", standby.port(),
      " user=postgres dbname=metad target_session_attrs=read-write "
      "connect_timeout=2");
  const std::string state_file = ScratchDir("fence") + "/fence.state";

  // A daemon with a state file sees the failover (timeline 1, then 2).
  {
    DaemonProcess daemon;
    ASSERT_TRUE(daemon.Spawn(url, {"--pool_size", "2", "--drain", "1",
                                   "--fence_state_file", state_file}));
    ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();
    auto files = FileService::NewStub(daemon.channel());
    CallTally tally;
    ASSERT_TRUE(RegisterUntilOk(*files, "before.csv", &tally));
    ASSERT_TRUE(old_primary.Stop("immediate"));
    ASSERT_TRUE(next.Promote());
    ASSERT_TRUE(standby.Follow(next));
    ASSERT_TRUE(RegisterUntilOk(*files, "after.csv", &tally))
        << tally.Summary() << daemon.ReadLog();
    daemon.Stop(SIGTERM);
  }
  // The standby has replayed timeline 2 and made a restartpoint there (as
  // it does every checkpoint_timeout, 5 min by default).
  QueryRows(next.Url("postgres"), "CHECKPOINT");
  for (int i = 0; i < 600 && FilesLike(standby.Url("metad"), "after%") == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(FilesLike(standby.Url("metad"), "after%"), 1);
  for (int i = 0; i < 100; ++i) {
    QueryRows(standby.Url("postgres"), "CHECKPOINT");
    if (QueryInt(standby.Url("postgres"),
                 "SELECT timeline_id FROM pg_control_checkpoint()") == 2) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(QueryInt(standby.Url("postgres"),
                     "SELECT timeline_id FROM pg_control_checkpoint()"),
            2);

  // The old primary comes back unfenced, first in the URL.
  ASSERT_TRUE(old_primary.Start());
  auto on_old = [&] {
    return FilesLike(old_primary.Url("metad"), "fresh-%") +
           FilesLike(old_primary.Url("metad"), "after%");
  };

  // 1. The new primary up: it is found, and written to.
  CallTally peer_primary;
  std::string log;
  ASSERT_TRUE(FreshDaemonWrites(url, {}, "fresh-a", 5, &peer_primary, &log))
      << log;
  EXPECT_EQ(peer_primary.count(grpc::StatusCode::OK), 5)
      << peer_primary.Summary() << log;
  EXPECT_NE(log.find("database_server_fenced"), std::string::npos) << log;
  EXPECT_EQ(on_old(), 0) << log;
  EXPECT_EQ(FilesLike(next.Url("metad"), "fresh-a-%"),
            peer_primary.count(grpc::StatusCode::OK));

  // 2. The new primary down, its standby up: no write anywhere.
  ASSERT_TRUE(next.Stop("immediate"));
  CallTally peer_standby;
  ASSERT_TRUE(FreshDaemonWrites(url, {}, "fresh-b", 5, &peer_standby, &log))
      << log;
  EXPECT_EQ(peer_standby.count(grpc::StatusCode::UNAVAILABLE), 5)
      << peer_standby.Summary() << log;
  EXPECT_NE(log.find("(a standby)"), std::string::npos) << log;
  EXPECT_EQ(on_old(), 0) << log;

  // 3. Only the old primary reachable: the state file refuses it.
  ASSERT_TRUE(standby.Stop("immediate"));
  CallTally state_only;
  ASSERT_TRUE(FreshDaemonWrites(url, {"--fence_state_file", state_file},
                                "fresh-c", 5, &state_only, &log))
      << log;
  EXPECT_EQ(state_only.count(grpc::StatusCode::UNAVAILABLE), 5)
      << state_only.Summary() << log;
  EXPECT_NE(log.find("fence_state_loaded"), std::string::npos) << log;
  EXPECT_EQ(on_old(), 0) << log;

  Figures("failover_fence_fresh")
      .Add("new_primary_up_codes", peer_primary.Summary())
      .Add("standby_up_codes", peer_standby.Summary())
      .Add("state_file_only_codes", state_only.Summary())
      .Add("on_old_primary", on_old())
      .Emit();
}

}  // namespace
}  // namespace metad::testing
