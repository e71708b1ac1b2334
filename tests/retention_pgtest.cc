// Retention through a running metad (real PostgreSQL, real gRPC): what
// AdminService.PruneHistory deletes and keeps, who may call it, concurrent
// pruners, watchers resuming from before the pruned range, and the
// `--retention` daemon option.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "metad/v1/admin.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "metad/v1/watch.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

constexpr char kReader[] = "retention-reader-token-0123";
constexpr char kWorker[] = "retention-worker-token-0123";
constexpr char kAdmin[] = "retention-admin-token-01234";
constexpr int64_t kDay = 86400;

std::string TokenFile() {
  static std::string path = [] {
    char dir[] = "/tmp/metad-retention-XXXXXX";
    std::string p = std::string(mkdtemp(dir)) + "/tokens";
    std::ofstream(p) << "reader " << kReader << "\nworker " << kWorker
                     << "\nadmin " << kAdmin << "\n";
    return p;
  }();
  return path;
}

std::unique_ptr<grpc::ClientContext> Ctx(const char* token = kAdmin) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return ctx;
}

class RetentionTest : public PgTest {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new DaemonProcess();
    ASSERT_TRUE(
        daemon_->Spawn(MigratedDatabaseUrl(), {"--token_file", TokenFile()}));
    ASSERT_TRUE(daemon_->WaitServing()) << daemon_->ReadLog();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }

  void SetUp() override {
    PgTest::SetUp();
    Sql("UPDATE retention_state SET pruned_through = 0");
    auto tasks = v1::TaskService::NewStub(daemon_->channel());
    v1::RegisterTaskRequest req;
    req.set_name("t");
    v1::RegisterTaskResponse resp;
    ASSERT_TRUE(tasks->RegisterTask(Ctx().get(), req, &resp).ok());
  }

  std::shared_ptr<grpc::Channel> channel() { return daemon_->channel(); }

  int64_t StartRun(const std::string& batch) {
    auto stub = v1::TaskLogService::NewStub(channel());
    v1::StartRunRequest req;
    req.set_task("t");
    req.set_batch_id(batch);
    req.set_lease_seconds(3600);
    v1::StartRunResponse resp;
    grpc::Status s = stub->StartRun(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.run().id();
  }

  void FinishRun(int64_t run, v1::RunStatus status) {
    auto stub = v1::TaskLogService::NewStub(channel());
    v1::FinishRunRequest req;
    req.set_run_id(run);
    req.set_status(status);
    if (status == v1::RUN_STATUS_ERROR) req.set_error_message("boom");
    v1::FinishRunResponse resp;
    grpc::Status s = stub->FinishRun(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  v1::RegisterFileResponse RegisterFile(const std::string& name) {
    auto stub = v1::FileService::NewStub(channel());
    v1::RegisterFileRequest req;
    req.mutable_file()->set_source("s");
    req.mutable_file()->set_file_name(name);
    v1::RegisterFileResponse resp;
    grpc::Status s = stub->RegisterFile(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Claims every NEW file of source "s" for `run` and completes them.
  void ProcessFiles(int64_t run) {
    auto stub = v1::FileService::NewStub(channel());
    v1::ClaimFilesRequest claim;
    claim.set_run_id(run);
    claim.set_source("s");
    claim.set_limit(100);
    v1::ClaimFilesResponse claimed;
    ASSERT_TRUE(stub->ClaimFiles(Ctx().get(), claim, &claimed).ok());
    for (const v1::File& f : claimed.files()) {
      v1::CompleteFileRequest req;
      req.set_file_id(f.id());
      req.set_run_id(run);
      req.set_status(v1::FILE_STATUS_SUCCESS);
      v1::CompleteFileResponse resp;
      ASSERT_TRUE(stub->CompleteFile(Ctx().get(), req, &resp).ok());
    }
  }

  grpc::StatusCode GetRun(int64_t run) {
    auto stub = v1::TaskLogService::NewStub(channel());
    v1::GetRunRequest req;
    req.set_run_id(run);
    v1::Run resp;
    return stub->GetRun(Ctx(kReader).get(), req, &resp).error_code();
  }

  // Moves a run and its events `days` into the past.
  void Age(int64_t run, int days) {
    std::string ago = absl::StrCat("now() - interval '", days, " days'");
    Sql(absl::StrCat("UPDATE task_log SET start_time = ", ago,
                     ", end_time = CASE WHEN end_time IS NULL THEN NULL ELSE ",
                     ago, " END WHERE id = ", run));
    Sql(absl::StrCat("UPDATE run_events SET event_time = ", ago,
                     " WHERE run_id = ", run));
  }

  int64_t Count(const std::string& sql) { return std::stoll(Sql(sql)); }

  grpc::Status Prune(v1::PruneHistoryResponse* resp, int64_t older_than_days,
                     int batch_size = 0, bool dry_run = false,
                     const char* token = kAdmin) {
    auto stub = v1::AdminService::NewStub(channel());
    v1::PruneHistoryRequest req;
    req.mutable_older_than()->set_seconds(older_than_days * kDay);
    req.set_batch_size(batch_size);
    req.set_dry_run(dry_run);
    return stub->PruneHistory(Ctx(token).get(), req, resp);
  }

  static DaemonProcess* daemon_;
};

DaemonProcess* RetentionTest::daemon_ = nullptr;

// Old runs: one SUCCESS, one ERROR, one PROCESSING, one that processed a
// file; one recent SUCCESS run. Returns their ids in that order.
struct History {
  int64_t old_success, old_error, old_processing, file_run, recent;
};

TEST_F(RetentionTest, PrunesOldFinishedRunsAndEventsKeepsTheRest) {
  History h;
  h.old_success = StartRun("b1");
  FinishRun(h.old_success, v1::RUN_STATUS_SUCCESS);
  h.old_error = StartRun("b2");
  FinishRun(h.old_error, v1::RUN_STATUS_ERROR);
  h.old_processing = StartRun("b3");
  int64_t file_id = RegisterFile("f1").file().id();
  h.file_run = StartRun("b4");
  ProcessFiles(h.file_run);
  FinishRun(h.file_run, v1::RUN_STATUS_SUCCESS);
  h.recent = StartRun("b5");
  FinishRun(h.recent, v1::RUN_STATUS_SUCCESS);
  for (int64_t run : {h.old_success, h.old_error, h.old_processing, h.file_run})
    Age(run, 40);
  Sql("UPDATE file_events SET event_time = now() - interval '40 days'");
  RegisterFile("f2");  // a recent file event
  const int64_t files = Count("SELECT count(*) FROM files");
  const int64_t old_run_events =
      Count(absl::StrCat("SELECT count(*) FROM run_events WHERE run_id IN (",
                         h.old_success, ",", h.old_error, ")"));
  const int64_t old_file_events = Count(
      "SELECT count(*) FROM file_events WHERE event_time < now() - "
      "interval '30 days'");
  ASSERT_GT(old_run_events, 0);
  ASSERT_GT(old_file_events, 0);

  v1::PruneHistoryResponse dry;
  ASSERT_TRUE(Prune(&dry, 30, 0, /*dry_run=*/true).ok());
  EXPECT_EQ(dry.runs_deleted(), 2);
  EXPECT_EQ(dry.run_events_deleted(), old_run_events);
  EXPECT_EQ(dry.file_events_deleted(), old_file_events);
  EXPECT_EQ(dry.batches(), 0);
  EXPECT_EQ(GetRun(h.old_success), grpc::StatusCode::OK);  // nothing deleted

  v1::PruneHistoryResponse resp;
  grpc::Status s = Prune(&resp, 30, /*batch_size=*/1);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.runs_deleted(), 2);
  EXPECT_EQ(resp.run_events_deleted(), old_run_events);
  EXPECT_EQ(resp.file_events_deleted(), old_file_events);
  EXPECT_EQ(resp.batches(), 2 + old_file_events);  // one row per batch
  EXPECT_TRUE(resp.complete());
  EXPECT_GT(resp.cutoff().seconds(), 0);

  EXPECT_EQ(GetRun(h.old_success), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetRun(h.old_error), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetRun(h.old_processing), grpc::StatusCode::OK);
  EXPECT_EQ(GetRun(h.file_run), grpc::StatusCode::OK);
  EXPECT_EQ(GetRun(h.recent), grpc::StatusCode::OK);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM run_events WHERE run_id "
                               "IN (",
                               h.old_processing, ",", h.file_run, ",", h.recent,
                               ")")),
            Count("SELECT count(*) FROM run_events"));
  EXPECT_GT(Count(absl::StrCat("SELECT count(*) FROM run_events WHERE "
                               "run_id = ",
                               h.recent)),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE event_time < now() "
                  "- interval '30 days'"),
            0);
  EXPECT_GT(Count("SELECT count(*) FROM file_events"), 0);  // f2's

  // Files are never pruned, and still dedupe.
  EXPECT_EQ(Count("SELECT count(*) FROM files"), files);
  EXPECT_EQ(Sql(absl::StrCat("SELECT run_id FROM files WHERE id = ", file_id)),
            std::to_string(h.file_run));
  v1::RegisterFileResponse again = RegisterFile("f1");
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.file().id(), file_id);
  EXPECT_EQ(again.file().status(), v1::FILE_STATUS_SUCCESS);

  // Nothing left: a second call deletes nothing.
  v1::PruneHistoryResponse second;
  ASSERT_TRUE(Prune(&second, 30).ok());
  EXPECT_EQ(second.runs_deleted() + second.run_events_deleted() +
                second.file_events_deleted(),
            0);
  EXPECT_TRUE(second.complete());
}

TEST_F(RetentionTest, OnlyAdminsMayPruneAndBadFieldsAreNamed) {
  v1::PruneHistoryResponse resp;
  EXPECT_EQ(Prune(&resp, 30, 0, false, kReader).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Prune(&resp, 30, 0, false, kWorker).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto stub = v1::AdminService::NewStub(channel());
  {
    grpc::ClientContext ctx;  // no token
    v1::PruneHistoryRequest req;
    req.mutable_older_than()->set_seconds(30 * kDay);
    EXPECT_EQ(stub->PruneHistory(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  struct Case {
    std::string what;
    std::function<void(v1::PruneHistoryRequest*)> edit;
    std::string field;
  } cases[] = {
      {"missing older_than",
       [](v1::PruneHistoryRequest* r) { r->clear_older_than(); },
       "older_than:"},
      {"under an hour",
       [](v1::PruneHistoryRequest* r) {
         r->mutable_older_than()->set_seconds(3599);
       },
       "older_than:"},
      {"negative",
       [](v1::PruneHistoryRequest* r) {
         r->mutable_older_than()->set_seconds(-kDay);
       },
       "older_than:"},
      {"batch too big",
       [](v1::PruneHistoryRequest* r) { r->set_batch_size(10001); },
       "batch_size:"},
      {"batch negative",
       [](v1::PruneHistoryRequest* r) { r->set_batch_size(-1); },
       "batch_size:"},
      {"max_batches negative",
       [](v1::PruneHistoryRequest* r) { r->set_max_batches(-1); },
       "max_batches:"},
  };
  for (const Case& c : cases) {
    v1::PruneHistoryRequest req;
    req.mutable_older_than()->set_seconds(30 * kDay);
    c.edit(&req);
    grpc::Status s = stub->PruneHistory(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_EQ(s.error_message().rfind(c.field, 0), 0u)
        << c.what << ": " << s.error_message();
  }
}

TEST_F(RetentionTest, MaxBatchesStopsEarlyAndSaysSo) {
  for (int i = 0; i < 5; ++i) {
    int64_t run = StartRun(absl::StrCat("m", i));
    FinishRun(run, v1::RUN_STATUS_SUCCESS);
    Age(run, 40);
  }
  auto stub = v1::AdminService::NewStub(channel());
  v1::PruneHistoryRequest req;
  req.mutable_older_than()->set_seconds(30 * kDay);
  req.set_batch_size(2);
  req.set_max_batches(1);
  v1::PruneHistoryResponse resp;
  ASSERT_TRUE(stub->PruneHistory(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.runs_deleted(), 2);
  EXPECT_FALSE(resp.complete());
  req.set_max_batches(0);
  ASSERT_TRUE(stub->PruneHistory(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.runs_deleted(), 3);
  EXPECT_TRUE(resp.complete());
}

TEST_F(RetentionTest, ConcurrentPrunersDeleteEachRowOnce) {
  // Bulk history written directly: 400 old finished runs with an event
  // each, 2001 old file events.
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, start_time, end_time) "
      "SELECT 1, 'bulk' || g, 'SUCCESS', 1, 60, now() - interval '50 days', "
      "now() - interval '50 days' FROM generate_series(1, 400) g");
  Sql("INSERT INTO run_events (run_id, kind, to_status, event_time) "
      "SELECT id, 'FINISHED', 'SUCCESS', now() - interval '50 days' "
      "FROM task_log");
  int64_t file_id = RegisterFile("bulk").file().id();
  Sql(
      absl::StrCat("INSERT INTO file_events (file_id, kind, to_status, "
                   "event_time) SELECT ",
                   file_id,
                   ", 'NOTE', 'NEW', now() - interval '50 days' "
                   "FROM generate_series(1, 2000)"));
  // Event times grow with ids (the pruner walks the oldest ids and stops at
  // the first young event), so the file's REGISTERED event is aged too.
  Sql("UPDATE file_events SET event_time = now() - interval '50 days'");
  const int64_t old_file_events = Count(
      "SELECT count(*) FROM file_events WHERE event_time < now() - "
      "interval '30 days'");
  ASSERT_EQ(old_file_events, 2001);

  constexpr int kPruners = 4;
  std::vector<v1::PruneHistoryResponse> results(kPruners);
  std::vector<grpc::Status> statuses(kPruners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPruners; ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = Prune(&results[i], 30, /*batch_size=*/25); });
  }
  for (std::thread& t : threads) t.join();
  int64_t runs = 0, run_events = 0, file_events = 0;
  for (int i = 0; i < kPruners; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    runs += results[i].runs_deleted();
    run_events += results[i].run_events_deleted();
    file_events += results[i].file_events_deleted();
  }
  EXPECT_EQ(runs, 400);
  EXPECT_EQ(run_events, 400);
  EXPECT_EQ(file_events, 2001);
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE event_time < now() "
                  "- interval '30 days'"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 1);
  // The marks are the largest ids deleted.
  EXPECT_EQ(Count("SELECT pruned_through FROM retention_state WHERE "
                  "table_name = 'run_events'"),
            400);
}

// WatchRuns from `after`: the first event's id, or the status it ended with.
grpc::Status WatchFirst(std::shared_ptr<grpc::Channel> channel, int64_t after,
                        int64_t* first_id) {
  auto stub = v1::WatchService::NewStub(channel);
  auto ctx = Ctx(kReader);
  v1::WatchRunsRequest req;
  req.set_after_event_id(after);
  auto reader = stub->WatchRuns(ctx.get(), req);
  v1::WatchedRunEvent event;
  if (reader->Read(&event)) {
    *first_id = event.event().id();
    ctx->TryCancel();
    reader->Finish().IgnoreError();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

TEST_F(RetentionTest, WatcherResumingFromPrunedHistoryGetsOutOfRange) {
  int64_t old_run = StartRun("w1");
  FinishRun(old_run, v1::RUN_STATUS_SUCCESS);
  Age(old_run, 40);
  int64_t kept_run = StartRun("w2");
  FinishRun(kept_run, v1::RUN_STATUS_SUCCESS);
  RegisterFile("w1");
  RegisterFile("w2");
  const int64_t mark = Count(
      absl::StrCat("SELECT max(id) FROM run_events WHERE run_id = ", old_run));
  const int64_t first_kept = Count(
      absl::StrCat("SELECT min(id) FROM run_events WHERE run_id = ", kept_run));
  ASSERT_GT(first_kept, mark);
  v1::PruneHistoryResponse resp;
  ASSERT_TRUE(Prune(&resp, 30).ok());
  ASSERT_EQ(resp.runs_deleted(), 1);

  int64_t first = 0;
  grpc::Status s = WatchFirst(channel(), 1, &first);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(s.error_message().find("history pruned"), std::string::npos)
      << s.error_message();
  // From the mark on, or from the oldest stored, nothing is missing.
  ASSERT_TRUE(WatchFirst(channel(), mark, &first).ok());
  EXPECT_EQ(first, first_kept);
  ASSERT_TRUE(WatchFirst(channel(), -1, &first).ok());
  EXPECT_EQ(first, first_kept);
  // File events were not pruned (their mark is 0): a file watcher resumes
  // from any id as before.
  int64_t first_file_event = Count("SELECT min(id) FROM file_events");
  auto stub = v1::WatchService::NewStub(channel());
  auto ctx = Ctx(kReader);
  v1::WatchFilesRequest freq;
  freq.set_after_event_id(first_file_event);
  auto reader = stub->WatchFiles(ctx.get(), freq);
  v1::WatchedFileEvent fevent;
  ASSERT_TRUE(reader->Read(&fevent)) << reader->Finish().error_message();
  EXPECT_EQ(fevent.event().id(), first_file_event + 1);
  ctx->TryCancel();
  reader->Finish().IgnoreError();
}

TEST_F(RetentionTest, DaemonOptionPrunesPeriodically) {
  for (int i = 0; i < 3; ++i) {
    int64_t run = StartRun(absl::StrCat("d", i));
    FinishRun(run, v1::RUN_STATUS_SUCCESS);
    Age(run, 40);
  }
  int64_t recent = StartRun("d-recent");
  FinishRun(recent, v1::RUN_STATUS_SUCCESS);
  int metrics_port = FreePort();
  DaemonProcess pruner;
  ASSERT_TRUE(pruner.Spawn(
      url(), {"--retention", "30d", "--retention_interval", "1",
              "--metrics_listen", absl::StrCat("127.0.0.1:", metrics_port)}));
  ASSERT_TRUE(pruner.WaitServing()) << pruner.ReadLog();
  // The first round runs a second after start; wait for its effect.
  absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (Count("SELECT count(*) FROM task_log") > 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 1) << pruner.ReadLog();
  EXPECT_EQ(GetRun(recent), grpc::StatusCode::OK);
  std::string metrics;
  while (absl::Now() < give_up) {
    metrics = HttpGet(metrics_port, "/metrics").body;
    if (metrics.find(
            "metad_retention_pruned_rows_total{table=\"task_log\"} 3") !=
        std::string::npos) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(
      metrics.find("metad_retention_pruned_rows_total{table=\"task_log\"} 3"),
      std::string::npos)
      << metrics;
}

// Runs metactl with `args` against the suite's daemon; returns its output
// (stdout and stderr) and sets *exit_code.
std::string RunMetactl(const std::string& address, const std::string& args,
                       int* exit_code) {
  std::string command = absl::StrCat(BinDir(), "/metactl --address ", address,
                                     " ", args, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  size_t n;
  while (pipe != nullptr && (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out.append(buffer, n);
  }
  int status = pipe != nullptr ? pclose(pipe) : -1;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST_F(RetentionTest, MetactlAdminPrune) {
  int64_t run = StartRun("c1");
  FinishRun(run, v1::RUN_STATUS_SUCCESS);
  Age(run, 40);
  std::string admin_token = TokenFile() + ".admin";
  std::ofstream(admin_token) << kAdmin << "\n";
  std::string reader_token = TokenFile() + ".reader";
  std::ofstream(reader_token) << kReader << "\n";
  int rc = -1;
  std::string out =
      RunMetactl(daemon_->address(),
                 "--token-file " + admin_token +
                     " --output json admin prune --older-than 30d --dry-run",
                 &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"runs_deleted\":\"1\""), std::string::npos) << out;
  EXPECT_EQ(GetRun(run), grpc::StatusCode::OK);
  out = RunMetactl(
      daemon_->address(),
      "--token-file " + reader_token + " admin prune --older-than 30d", &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("PERMISSION_DENIED"), std::string::npos) << out;
  out = RunMetactl(daemon_->address(),
                   "--token-file " + admin_token +
                       " admin prune --older-than 720h --batch-size 10",
                   &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("complete"), std::string::npos) << out;
  EXPECT_EQ(GetRun(run), grpc::StatusCode::NOT_FOUND);
  out = RunMetactl(daemon_->address(), "admin prune --older-than soon", &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--older-than"), std::string::npos) << out;
}

}  // namespace
}  // namespace metad::testing
