// Several metad processes on one database: started at the same moment they
// migrate once, and claimers spread over them get every file exactly once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return c;
}

TEST(MultiDaemon, ThreeReplicasMigrateOnceAndClaimEachFileOnce) {
  constexpr int kDaemons = 3;
  constexpr int kThreads = 16;
  constexpr int kFiles = 2000;
  std::string url = CreateEmptyDatabase("replicas");
  DaemonProcess daemons[kDaemons];
  for (auto& d : daemons) ASSERT_TRUE(d.Spawn(url, {"--pool_size", "4"}));
  for (auto& d : daemons) ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
  EXPECT_EQ(
      QueryValue(url, "SELECT count(*) FROM metad_schema_migrations"),
      QueryValue(url, "SELECT max(version) FROM metad_schema_migrations"));
  int applied_logs = 0;
  for (auto& d : daemons) {
    std::string log = d.ReadLog();
    for (size_t pos = log.find("migration_applied"); pos != std::string::npos;
         pos = log.find("migration_applied", pos + 1)) {
      ++applied_logs;
    }
  }
  EXPECT_EQ(std::to_string(applied_logs),
            QueryValue(url, "SELECT count(*) FROM metad_schema_migrations"));

  auto tasks = TaskService::NewStub(daemons[0].channel());
  RegisterTaskRequest task;
  task.set_name("ingest");
  RegisterTaskResponse task_resp;
  ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), task, &task_resp).ok());
  auto files = FileService::NewStub(daemons[1].channel());
  for (int chunk = 0; chunk < kFiles / 1000; ++chunk) {
    RegisterFilesRequest req;
    for (int i = 0; i < 1000; ++i) {
      FileSpec* spec = req.add_files();
      spec->set_source("landing");
      spec->set_file_name(absl::StrCat("part-", chunk * 1000 + i, ".parquet"));
    }
    RegisterFilesResponse resp;
    ASSERT_TRUE(files->RegisterFiles(Ctx().get(), req, &resp).ok());
    ASSERT_EQ(resp.created_count(), 1000);
  }

  std::atomic<int> claimed_total{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto channel = daemons[t % kDaemons].channel();
      auto runs = TaskLogService::NewStub(channel);
      auto files = FileService::NewStub(channel);
      StartRunRequest start;
      start.set_task("ingest");
      start.set_batch_id(absl::StrCat("worker-", t));
      start.set_lease_seconds(120);
      StartRunResponse started;
      if (!runs->StartRun(Ctx().get(), start, &started).ok()) {
        ++failures;
        return;
      }
      FinishRunRequest finish;
      finish.set_run_id(started.run().id());
      finish.set_status(RUN_STATUS_SUCCESS);
      for (;;) {
        ClaimFilesRequest claim;
        claim.set_run_id(started.run().id());
        claim.set_limit(25);
        ClaimFilesResponse claimed;
        if (!files->ClaimFiles(Ctx().get(), claim, &claimed).ok()) {
          ++failures;
          return;
        }
        if (claimed.files_size() == 0) break;
        claimed_total += claimed.files_size();
        for (const File& f : claimed.files()) finish.add_file_ids(f.id());
      }
      FinishRunResponse finished;
      if (!runs->FinishRun(Ctx().get(), finish, &finished).ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(claimed_total.load(), kFiles);
  EXPECT_EQ(
      QueryValue(url, "SELECT count(*) FROM files WHERE status = 'SUCCESS'"),
      std::to_string(kFiles));
  // Each file was claimed exactly once, by one run.
  EXPECT_EQ(QueryValue(url,
                       "SELECT count(*) FROM (SELECT file_id FROM file_events "
                       "WHERE kind = 'CLAIMED' GROUP BY file_id "
                       "HAVING count(*) <> 1) x"),
            "0");
  EXPECT_EQ(QueryValue(
                url, "SELECT count(*) FROM file_events WHERE kind = 'CLAIMED'"),
            std::to_string(kFiles));
  for (auto& d : daemons) {
    int status = d.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << d.ReadLog();
  }
}

}  // namespace
}  // namespace metad::testing
