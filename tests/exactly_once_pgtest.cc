// Exactly once at the edges (issue 12, part 1): ClaimFiles with a
// request_id, CompleteFile and FinishRun are safe to retry after a lost
// answer, and a file becomes SUCCESS only when a worker that received it
// names it. The last test drops answers at random under many workers.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "daemon/services/file_service.h"
#include "daemon/services/task_log_service.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "tests/support/pg_test_base.h"
#include "tests/support/test_server.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

// The ErrorInfo reason of a refusal (grpc-status-details-bin).
std::string Reason(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return "";
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

// Drops the answers of the calls it is told to, as a lost connection or a
// deadline would after the daemon did the work: the caller sees UNAVAILABLE
// although the call took effect.
class AnswerDropper {
 public:
  AnswerDropper(int percent, std::set<std::string> methods)
      : percent_(percent), methods_(std::move(methods)) {}

  bool Drop(const std::string& method) {
    if (methods_.count(method) == 0) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (std::uniform_int_distribution<int>(0, 99)(rng_) >= percent_) {
      return false;
    }
    ++dropped_[method];
    return true;
  }

  std::map<std::string, int> dropped() {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
  }

 private:
  const int percent_;
  const std::set<std::string> methods_;
  std::mutex mu_;
  std::mt19937 rng_{20261202};
  std::map<std::string, int> dropped_;
};

class DropInterceptor : public grpc::experimental::Interceptor {
 public:
  DropInterceptor(AnswerDropper* dropper, std::string method)
      : dropper_(dropper), method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      if (status->ok() && dropper_->Drop(method_)) {
        *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "answer dropped by the test");
      }
    }
    methods->Proceed();
  }

 private:
  AnswerDropper* dropper_;
  std::string method_;
};

class DropFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit DropFactory(AnswerDropper* dropper) : dropper_(dropper) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new DropInterceptor(dropper_, info->method());
  }

 private:
  AnswerDropper* dropper_;
};

class ExactlyOnceTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::FileServiceImpl>();
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Start();
    files_ = FileService::NewStub(server_->channel());
    runs_ = TaskLogService::NewStub(server_->channel());
    Sql("INSERT INTO tasks (name, max_attempts) VALUES ('ingest', 1000)");
  }

  void TearDown() override {
    files_.reset();
    runs_.reset();
    server_.reset();
  }

  void AddFiles(int n, const std::string& source = "s") {
    Sql(absl::StrCat("INSERT INTO files (source, file_name) SELECT '", source,
                     "', 'f' || i FROM generate_series(1, ", n, ") i"));
  }

  int64_t StartRun(const std::string& batch) {
    StartRunRequest request;
    request.set_task("ingest");
    request.set_batch_id(batch);
    request.set_worker_id("w");
    StartRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = runs_->StartRun(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  grpc::Status Claim(int64_t run, int limit, const std::string& request_id,
                     ClaimFilesResponse* response,
                     const std::string& source = "") {
    ClaimFilesRequest request;
    request.set_run_id(run);
    request.set_limit(limit);
    request.set_request_id(request_id);
    request.set_source(source);
    grpc::ClientContext context;
    return files_->ClaimFiles(&context, request, response);
  }

  static std::vector<int64_t> Ids(const ClaimFilesResponse& response) {
    std::vector<int64_t> ids;
    for (const File& f : response.files()) ids.push_back(f.id());
    return ids;
  }

  grpc::Status Complete(int64_t run, int64_t file, FileStatus status,
                        CompleteFileResponse* response,
                        const std::string& message = "") {
    CompleteFileRequest request;
    request.set_run_id(run);
    request.set_file_id(file);
    request.set_status(status);
    request.set_error_message(message);
    grpc::ClientContext context;
    return files_->CompleteFile(&context, request, response);
  }

  grpc::Status Finish(int64_t run, RunStatus status,
                      const std::vector<int64_t>& file_ids,
                      FinishRunResponse* response,
                      const std::string& message = "",
                      bool settle_all = false) {
    FinishRunRequest request;
    request.set_run_id(run);
    request.set_status(status);
    request.set_error_message(message);
    for (int64_t id : file_ids) request.add_file_ids(id);
    request.set_settle_all_held(settle_all);
    grpc::ClientContext context;
    return runs_->FinishRun(&context, request, response);
  }

  std::string FileState(int64_t file) {
    return Sql(absl::StrCat(
        "SELECT status || '/' || coalesce(run_id::text, '-') FROM files "
        "WHERE id = ", file));
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FileService::Stub> files_;
  std::unique_ptr<TaskLogService::Stub> runs_;
};

TEST_F(ExactlyOnceTest, ClaimRetryReturnsTheSameFilesNeverASecondSet) {
  AddFiles(10);
  const int64_t run = StartRun("b");
  ClaimFilesResponse first, retry, other;
  ASSERT_TRUE(Claim(run, 3, "claim-1", &first).ok());
  ASSERT_EQ(first.files_size(), 3);
  EXPECT_FALSE(first.replayed());
  ASSERT_TRUE(Claim(run, 3, "claim-1", &retry).ok());
  EXPECT_TRUE(retry.replayed());
  EXPECT_EQ(Ids(retry), Ids(first));
  EXPECT_EQ(Sql("SELECT count(*) FROM files WHERE status = 'PROCESSING'"),
            "3");
  // A new id is a new claim.
  ASSERT_TRUE(Claim(run, 3, "claim-2", &other).ok());
  EXPECT_FALSE(other.replayed());
  const std::vector<int64_t> first_ids = Ids(first);
  for (int64_t id : Ids(other)) {
    EXPECT_EQ(std::count(first_ids.begin(), first_ids.end(), id), 0);
  }
  // A retry returns only the files the run still holds.
  CompleteFileResponse done;
  ASSERT_TRUE(Complete(run, first.files(0).id(), FILE_STATUS_SUCCESS, &done)
                  .ok());
  ClaimFilesResponse later;
  ASSERT_TRUE(Claim(run, 3, "claim-1", &later).ok());
  EXPECT_TRUE(later.replayed());
  EXPECT_EQ(Ids(later),
            (std::vector<int64_t>{first.files(1).id(), first.files(2).id()}));
  // The same id in another run is that run's own.
  const int64_t run2 = StartRun("b2");
  ClaimFilesResponse elsewhere;
  ASSERT_TRUE(Claim(run2, 3, "claim-1", &elsewhere).ok());
  EXPECT_FALSE(elsewhere.replayed());
  EXPECT_EQ(elsewhere.files_size(), 3);
}

TEST_F(ExactlyOnceTest, ClaimRequestIdReusedForAnotherClaimIsAlreadyExists) {
  AddFiles(10, "s");
  const int64_t run = StartRun("b");
  ClaimFilesResponse first, bigger, elsewhere;
  ASSERT_TRUE(Claim(run, 3, "k", &first).ok());
  grpc::Status status = Claim(run, 4, "k", &bigger);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Reason(status), "REQUEST_ID_REUSED");
  EXPECT_NE(status.error_message().find("request_id"), std::string::npos);
  status = Claim(run, 3, "k", &elsewhere, "s");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Sql("SELECT count(*) FROM files WHERE status = 'PROCESSING'"),
            "3");
}

TEST_F(ExactlyOnceTest, ClaimRequestIdIsCheckedAndAnEndedRunIsRefused) {
  AddFiles(3);
  const int64_t run = StartRun("b");
  ClaimFilesResponse response;
  EXPECT_EQ(Claim(run, 1, std::string(129, 'x'), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Claim(run, 1, "k", &response).ok());
  FinishRunResponse finished;
  ASSERT_TRUE(Finish(run, RUN_STATUS_SUCCESS, Ids(response), &finished).ok());
  // The run has ended: a retry cannot hand out files any more.
  grpc::Status status = Claim(run, 1, "k", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(status), "RUN_ENDED");
}

// Twins of one call (the retry arrives while the first is still running)
// make one claim: every twin gets the same files.
TEST_F(ExactlyOnceTest, ConcurrentTwinsOfAClaimClaimOnce) {
  AddFiles(200);
  const int64_t run = StartRun("b");
  constexpr int kTwins = 8;
  std::vector<ClaimFilesResponse> answers(kTwins);
  std::vector<grpc::Status> statuses(kTwins);
  std::vector<std::thread> threads;
  for (int i = 0; i < kTwins; ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = Claim(run, 20, "twin", &answers[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kTwins; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(Ids(answers[i]), Ids(answers[0])) << i;
  }
  EXPECT_EQ(answers[0].files_size(), 20);
  EXPECT_EQ(Sql("SELECT count(*) FROM files WHERE status = 'PROCESSING'"),
            "20");
  EXPECT_EQ(Sql("SELECT count(*) FROM file_events WHERE kind = 'CLAIMED'"),
            "20");
}

TEST_F(ExactlyOnceTest, CompleteFileRetryIsReplayedEvenAfterTheRunEnded) {
  AddFiles(2);
  const int64_t run = StartRun("b");
  ClaimFilesResponse claimed;
  ASSERT_TRUE(Claim(run, 2, "k", &claimed).ok());
  const int64_t a = claimed.files(0).id(), b = claimed.files(1).id();
  CompleteFileResponse first, retry;
  ASSERT_TRUE(Complete(run, a, FILE_STATUS_ERROR, &first, "bad row").ok());
  EXPECT_FALSE(first.replayed());
  ASSERT_TRUE(Complete(run, a, FILE_STATUS_ERROR, &retry, "bad row").ok());
  EXPECT_TRUE(retry.replayed());
  EXPECT_EQ(retry.file().status(), FILE_STATUS_ERROR);
  EXPECT_EQ(Sql(absl::StrCat("SELECT count(*) FROM file_events WHERE "
                             "kind = 'COMPLETED' AND file_id = ", a)),
            "1");
  // Another outcome is not a retry.
  grpc::Status status = Complete(run, a, FILE_STATUS_SUCCESS, &retry);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(status), "FILE_NOT_HELD");
  status = Complete(run, a, FILE_STATUS_ERROR, &retry, "other words");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // After the run ended, a retry still gets its answer.
  FinishRunResponse finished;
  ASSERT_TRUE(Finish(run, RUN_STATUS_SUCCESS, {a, b}, &finished).ok());
  ASSERT_TRUE(Complete(run, a, FILE_STATUS_ERROR, &retry, "bad row").ok());
  EXPECT_TRUE(retry.replayed());
  // But not a completion that never happened.
  status = Complete(run, b, FILE_STATUS_ERROR, &retry, "late");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(status), "RUN_ENDED");
}

TEST_F(ExactlyOnceTest, FinishRunReleasesHeldFilesItDoesNotName) {
  AddFiles(4);
  const int64_t run = StartRun("b");
  ClaimFilesResponse claimed;
  ASSERT_TRUE(Claim(run, 4, "k", &claimed).ok());
  const std::vector<int64_t> ids = Ids(claimed);
  CompleteFileResponse completed;
  ASSERT_TRUE(Complete(run, ids[0], FILE_STATUS_SUCCESS, &completed).ok());
  FinishRunResponse finished;
  // Names the completed file and one held file; two held files unnamed.
  ASSERT_TRUE(Finish(run, RUN_STATUS_SUCCESS, {ids[0], ids[1]}, &finished)
                  .ok());
  EXPECT_EQ(finished.files_finished(), 1);
  EXPECT_EQ(finished.files_released(), 2);
  EXPECT_FALSE(finished.replayed());
  EXPECT_EQ(FileState(ids[0]), absl::StrCat("SUCCESS/", run));
  EXPECT_EQ(FileState(ids[1]), absl::StrCat("SUCCESS/", run));
  EXPECT_EQ(FileState(ids[2]), "NEW/-");
  EXPECT_EQ(FileState(ids[3]), "NEW/-");
  EXPECT_EQ(Sql(absl::StrCat(
                "SELECT string_agg(kind || ':' || to_status || ':' || message, "
                "',' ORDER BY file_id) FROM file_events WHERE run_id = ", run,
                " AND kind IN ('FINISHED', 'RELEASED')")),
            "FINISHED:SUCCESS:,RELEASED:NEW:not named by FinishRun,"
            "RELEASED:NEW:not named by FinishRun");
  // A retry answers as the first call did and changes nothing.
  FinishRunResponse retry;
  ASSERT_TRUE(Finish(run, RUN_STATUS_SUCCESS, {ids[0], ids[1]}, &retry).ok());
  EXPECT_TRUE(retry.replayed());
  EXPECT_EQ(retry.files_finished(), 1);
  EXPECT_EQ(retry.files_released(), 2);
  EXPECT_EQ(retry.run().status(), RUN_STATUS_SUCCESS);
  EXPECT_EQ(Sql(absl::StrCat("SELECT count(*) FROM run_events WHERE run_id = ",
                             run, " AND kind = 'FINISHED'")),
            "1");
  // Another ending is not a retry.
  grpc::Status status =
      Finish(run, RUN_STATUS_ERROR, {}, &retry, "changed my mind");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(status), "RUN_ENDED");
}

TEST_F(ExactlyOnceTest, FinishRunWithErrorGivesNamedFilesTheError) {
  AddFiles(2);
  const int64_t run = StartRun("b");
  ClaimFilesResponse claimed;
  ASSERT_TRUE(Claim(run, 2, "k", &claimed).ok());
  FinishRunResponse finished;
  ASSERT_TRUE(Finish(run, RUN_STATUS_ERROR, {claimed.files(0).id()}, &finished,
                     "disk full")
                  .ok());
  EXPECT_EQ(FileState(claimed.files(0).id()), absl::StrCat("ERROR/", run));
  EXPECT_EQ(FileState(claimed.files(1).id()), "NEW/-");
  FinishRunResponse retry;
  ASSERT_TRUE(Finish(run, RUN_STATUS_ERROR, {claimed.files(0).id()}, &retry,
                     "disk full")
                  .ok());
  EXPECT_TRUE(retry.replayed());
}

TEST_F(ExactlyOnceTest, FinishRunNamingAFileNotTheRunsChangesNothing) {
  AddFiles(3);
  const int64_t run = StartRun("b"), other = StartRun("b2");
  ClaimFilesResponse mine, theirs;
  ASSERT_TRUE(Claim(run, 1, "k", &mine).ok());
  ASSERT_TRUE(Claim(other, 1, "k", &theirs).ok());
  const int64_t never_claimed = std::stoll(
      Sql("SELECT id FROM files WHERE status = 'NEW' ORDER BY id LIMIT 1"));
  FinishRunResponse finished;
  for (int64_t bad : {theirs.files(0).id(), never_claimed}) {
    grpc::Status status = Finish(
        run, RUN_STATUS_SUCCESS, {mine.files(0).id(), bad}, &finished);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << bad;
    EXPECT_EQ(Reason(status), "FILE_NOT_HELD");
    EXPECT_NE(status.error_message().find(absl::StrCat("file ", bad)),
              std::string::npos)
        << status.error_message();
  }
  grpc::Status status =
      Finish(run, RUN_STATUS_SUCCESS, {mine.files(0).id(), 999999}, &finished);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  // Nothing changed: the run is live and still holds its file.
  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", run)),
            "PROCESSING");
  EXPECT_EQ(FileState(mine.files(0).id()), absl::StrCat("PROCESSING/", run));
  EXPECT_EQ(FileState(theirs.files(0).id()),
            absl::StrCat("PROCESSING/", other));
}

TEST_F(ExactlyOnceTest, SettleAllHeldIsTheExplicitUnsafeForm) {
  AddFiles(3);
  const int64_t run = StartRun("b");
  ClaimFilesResponse claimed;
  ASSERT_TRUE(Claim(run, 3, "", &claimed).ok());
  FinishRunResponse finished;
  grpc::Status status = Finish(run, RUN_STATUS_SUCCESS,
                               {claimed.files(0).id()}, &finished, "", true);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("file_ids"), std::string::npos);
  ASSERT_TRUE(Finish(run, RUN_STATUS_SUCCESS, {}, &finished, "", true).ok());
  EXPECT_EQ(finished.files_finished(), 3);
  EXPECT_EQ(finished.files_released(), 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM files WHERE status = 'SUCCESS'"), "3");
}

TEST_F(ExactlyOnceTest, FinishRunFileIdsAreChecked) {
  const int64_t run = StartRun("b");
  FinishRunResponse finished;
  grpc::Status status = Finish(run, RUN_STATUS_SUCCESS, {5, 0}, &finished);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("file_ids[1]"), std::string::npos)
      << status.error_message();
  std::vector<int64_t> too_many(100001, 1);
  status = Finish(run, RUN_STATUS_SUCCESS, too_many, &finished);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM task_log WHERE id = ", run)),
            "PROCESSING");
}

// Many workers through a channel that loses a third of the answers of
// ClaimFiles, CompleteFile and FinishRun (the call took effect, the worker
// hears UNAVAILABLE). Workers retry with the same request; some give up on
// a claim after a few tries and so never learn which files it took. In the
// end every file is SUCCESS exactly once, and always by a run whose worker
// received it.
TEST_F(ExactlyOnceTest, LostAnswersNeitherLoseNorDoubleFiles) {
  constexpr int kFiles = 3000, kWorkers = 16;
  AddFiles(kFiles);
  AnswerDropper dropper(33, {"/metad.v1.FileService/ClaimFiles",
                             "/metad.v1.FileService/CompleteFile",
                             "/metad.v1.TaskLogService/FinishRun"});
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::make_unique<DropFactory>(&dropper));
  auto lossy = grpc::experimental::CreateCustomChannelWithInterceptors(
      absl::StrCat("127.0.0.1:", server_->port()),
      grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      std::move(factories));
  auto files = FileService::NewStub(lossy);
  auto runs = TaskLogService::NewStub(lossy);

  std::mutex mu;
  std::set<std::pair<int64_t, int64_t>> received;  // (run, file)
  std::atomic<int> claims_given_up{0}, unexpected{0};
  auto remaining = [&] {
    return std::stoll(Sql("SELECT count(*) FROM files WHERE status <> "
                          "'SUCCESS'"));
  };
  auto retry = [](int attempts, auto call) {
    grpc::Status s;
    for (int i = 0; i < attempts; ++i) {
      s = call();
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    }
    return s;
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int n = 0; remaining() > 0 && n < 1000; ++n) {
        const int64_t run = StartRun(absl::StrCat("w", w, "-", n));
        ClaimFilesRequest claim;
        claim.set_run_id(run);
        claim.set_limit(std::uniform_int_distribution<int>(1, 40)(rng));
        claim.set_request_id(absl::StrCat("w", w, "-", n, "/claim"));
        ClaimFilesResponse claimed;
        // Two tries only: a claim whose answers were both lost is given up,
        // and FinishRun must release what it took.
        grpc::Status s = retry(2, [&] {
          grpc::ClientContext context;
          return files->ClaimFiles(&context, claim, &claimed);
        });
        std::vector<int64_t> seen;
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          for (const File& f : claimed.files()) {
            received.insert({run, f.id()});
            seen.push_back(f.id());
          }
        } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          ++claims_given_up;
        } else {
          ++unexpected;
          ADD_FAILURE() << "ClaimFiles: " << s.error_message();
        }
        // Half of the files are completed one by one, the rest by FinishRun.
        for (size_t i = 0; i < seen.size(); i += 2) {
          CompleteFileRequest complete;
          complete.set_run_id(run);
          complete.set_file_id(seen[i]);
          complete.set_status(FILE_STATUS_SUCCESS);
          CompleteFileResponse completed;
          s = retry(20, [&] {
            grpc::ClientContext context;
            return files->CompleteFile(&context, complete, &completed);
          });
          if (!s.ok()) {
            ++unexpected;
            ADD_FAILURE() << "CompleteFile: " << s.error_message();
          }
        }
        FinishRunRequest finish;
        finish.set_run_id(run);
        finish.set_status(RUN_STATUS_SUCCESS);
        for (int64_t id : seen) finish.add_file_ids(id);
        FinishRunResponse finished;
        s = retry(20, [&] {
          grpc::ClientContext context;
          return runs->FinishRun(&context, finish, &finished);
        });
        if (!s.ok()) {
          ++unexpected;
          ADD_FAILURE() << "FinishRun: " << s.error_message();
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  ASSERT_EQ(remaining(), 0);
  const std::map<std::string, int> dropped = dropper.dropped();
  for (const char* m : {"/metad.v1.FileService/ClaimFiles",
                        "/metad.v1.FileService/CompleteFile",
                        "/metad.v1.TaskLogService/FinishRun"}) {
    EXPECT_GT(dropped.count(m) ? dropped.at(m) : 0, 0) << m;
  }
  EXPECT_GT(claims_given_up.load(), 0);
  // Exactly one SUCCESS per file, each by a run whose worker received it.
  EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT file_id FROM file_events "
                "WHERE to_status = 'SUCCESS' GROUP BY file_id "
                "HAVING count(*) <> 1) x"),
            "0");
  int checked = 0, unseen = 0;
  for (absl::string_view pair : absl::StrSplit(
           Sql("SELECT string_agg(run_id || ':' || file_id, ',') "
               "FROM file_events WHERE to_status = 'SUCCESS'"),
           ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> rf = absl::StrSplit(pair, ':');
    ++checked;
    if (received.count({std::stoll(rf.first), std::stoll(rf.second)}) == 0) {
      ++unseen;
    }
  }
  EXPECT_EQ(checked, kFiles);
  EXPECT_EQ(unseen, 0) << "files recorded SUCCESS that no worker received";
  // The given-up claims' files went back to NEW when their runs finished.
  EXPECT_GT(std::stoll(Sql("SELECT count(*) FROM file_events WHERE "
                           "kind = 'RELEASED' AND message = "
                           "'not named by FinishRun'")),
            0);
  std::printf("dropped answers: ClaimFiles %d, CompleteFile %d, FinishRun %d; "
              "claims given up %d\n",
              dropped.count("/metad.v1.FileService/ClaimFiles")
                  ? dropped.at("/metad.v1.FileService/ClaimFiles")
                  : 0,
              dropped.count("/metad.v1.FileService/CompleteFile")
                  ? dropped.at("/metad.v1.FileService/CompleteFile")
                  : 0,
              dropped.count("/metad.v1.TaskLogService/FinishRun")
                  ? dropped.at("/metad.v1.TaskLogService/FinishRun")
                  : 0,
              claims_given_up.load());
}

}  // namespace
}  // namespace metad::testing
