// The C++ worker helper (clients/cpp/worker_run) against the real services:
// it names the files it received when it finishes, keeps the lease alive,
// and reports a lost run.
#include "metad/client/worker_run.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::testing {
namespace {

using client::WorkerRun;
using client::WorkerRunOptions;
using namespace metad::v1;  // NOLINT: test brevity

class WorkerRunTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::FileServiceImpl>();
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Start();
    client::ClientOptions options;
    client_ = std::make_unique<client::Client>(server_->channel(), options);
    Sql("INSERT INTO tasks (name) VALUES ('load')");
    Sql("INSERT INTO files (source, file_name) SELECT 's', 'f' || i "
        "FROM generate_series(1, 3) i");
  }

  std::string FileStatus(int64_t id) {
    return Sql(absl::StrCat("SELECT status FROM files WHERE id = ", id));
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(WorkerRunTest, FinishNamesReceivedFilesAndReleasesTheOthers) {
  auto run = WorkerRun::Start(client_.get(), "load", "b1");
  ASSERT_TRUE(run.ok()) << run.status();
  auto claimed = (*run)->Claim(2);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  // A claim whose answer never reached the helper.
  ClaimFilesRequest behind;
  behind.set_run_id((*run)->id());
  behind.set_limit(1);
  ClaimFilesResponse unseen;
  ASSERT_TRUE(client_->ClaimFiles(behind, &unseen).ok());
  ASSERT_EQ(unseen.files_size(), 1);
  ASSERT_TRUE(
      (*run)->Complete((*claimed)[0].id(), FILE_STATUS_SUCCESS).ok());
  auto finished = (*run)->Finish(RUN_STATUS_SUCCESS);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->files_finished(), 1);
  EXPECT_EQ(finished->files_released(), 1);
  EXPECT_EQ(FileStatus((*claimed)[0].id()), "SUCCESS");
  EXPECT_EQ(FileStatus((*claimed)[1].id()), "SUCCESS");
  EXPECT_EQ(FileStatus(unseen.files(0).id()), "NEW");
  EXPECT_EQ((*run)->run().status(), RUN_STATUS_SUCCESS);
}

TEST_F(WorkerRunTest, HeartbeatsKeepTheLease) {
  WorkerRunOptions options;
  // A lease of 2 s outlived twice over, heartbeats every 200 ms: a loaded
  // machine may delay a few of them, not all for 2 s.
  options.lease_seconds = 2;
  options.heartbeat_interval = absl::Milliseconds(200);
  auto run = WorkerRun::Start(client_.get(), "load", "b1", options);
  ASSERT_TRUE(run.ok()) << run.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  EXPECT_TRUE((*run)->lost().ok()) << (*run)->lost().error_message();
  EXPECT_TRUE((*run)->Finish(RUN_STATUS_SUCCESS).ok());
}

TEST_F(WorkerRunTest, ARefusedRunIsLost) {
  WorkerRunOptions options;
  options.heartbeat = false;
  auto run = WorkerRun::Start(client_.get(), "load", "b1", options);
  ASSERT_TRUE(run.ok()) << run.status();
  Sql(absl::StrCat("UPDATE task_log SET lease_expire_time = now() - "
                   "interval '1 second' WHERE id = ", (*run)->id()));
  auto claimed = (*run)->Claim(1);
  EXPECT_EQ(claimed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*run)->lost().error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Every later call answers the same refusal without asking again.
  EXPECT_EQ((*run)->Finish(RUN_STATUS_SUCCESS).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace metad::testing
