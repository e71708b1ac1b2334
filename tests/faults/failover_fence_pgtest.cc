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
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
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
  ASSERT_TRUE(standby.CreateStandby(primary, "standby", {"max_connections=40"}));
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

}  // namespace
}  // namespace metad::testing
