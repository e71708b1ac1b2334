// FileService under concurrent callers, through gRPC on a real PostgreSQL:
// claimers never share a file, and racing registrants create each file once.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/services/file_service.h"
#include "tests/file_test_support.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::metad::testing::FileTest;
using ::metad::testing::Spec;
using ::metad::testing::TestServer;
using namespace ::metad::v1;  // NOLINT: the whole API under test

class FileConcurrencyTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    server_ = std::make_unique<TestServer>(db(), /*worker_threads=*/16);
    server_->Add<FileServiceImpl>();
    server_->Start();
  }

  // Starts `n` threads running fn(i) together and joins them.
  template <typename Fn>
  void RunTogether(int n, Fn fn) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < n) std::this_thread::yield();
        fn(i);
      });
    }
    for (auto& t : threads) t.join();
  }

  std::unique_ptr<TestServer> server_;
};

TEST_F(FileConcurrencyTest, SixteenClaimersTakeEachFileExactlyOnce) {
  constexpr int kFiles = 2000;
  constexpr int kThreads = 16;
  auto stub = FileService::NewStub(server_->channel());
  for (int batch = 0; batch < kFiles / 1000; ++batch) {
    RegisterFilesRequest req;
    for (int i = 0; i < 1000; ++i) {
      *req.add_files() =
          Spec(i % 2 ? "odd" : "even", absl::StrCat(batch, "-", i));
    }
    RegisterFilesResponse resp;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->RegisterFiles(&context, req, &resp).ok());
    ASSERT_EQ(resp.created_count(), 1000);
  }
  std::vector<int64_t> runs;
  for (int t = 0; t < kThreads; ++t) runs.push_back(NewRun());

  std::vector<std::vector<int64_t>> claimed(kThreads);
  std::vector<std::string> errors(kThreads);
  RunTogether(kThreads, [&](int t) {
    auto my_stub = FileService::NewStub(server_->channel());
    for (int round = 0;; ++round) {
      ClaimFilesRequest req;
      req.set_run_id(runs[t]);
      req.set_limit(1 + (t + round) % 7);  // small, uneven batches
      // Some claimers take one source only; all must end up empty-handed.
      if (t % 4 == 3 && round % 2 == 0) req.set_source("odd");
      ClaimFilesResponse resp;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(60));
      grpc::Status s = my_stub->ClaimFiles(&context, req, &resp);
      if (!s.ok()) {
        errors[t] = s.error_message();
        return;
      }
      for (const File& f : resp.files()) {
        if (f.run_id() != runs[t] || f.status() != FILE_STATUS_PROCESSING) {
          errors[t] = absl::StrCat("file ", f.id(), " not held by the run");
          return;
        }
        claimed[t].push_back(f.id());
      }
      if (resp.files_size() == 0 && !req.source().empty()) continue;
      if (resp.files_size() == 0) return;
    }
  });

  std::multiset<int64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    all.insert(claimed[t].begin(), claimed[t].end());
    // What the caller was told is what the database holds for its run.
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM files WHERE run_id = ",
                                 runs[t])),
              static_cast<int64_t>(claimed[t].size()))
        << "thread " << t;
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kFiles));
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(),
            static_cast<size_t>(kFiles))
      << "a file was claimed twice";
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status = 'PROCESSING'"),
            kFiles);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE status <> 'PROCESSING' "
                  "OR run_id IS NULL"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'CLAIMED'"),
            kFiles);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events e JOIN files f ON "
                  "f.id = e.file_id WHERE e.kind = 'CLAIMED' AND "
                  "e.run_id = f.run_id"),
            kFiles);
  int runs_with_files = 0;
  for (const auto& c : claimed) runs_with_files += c.empty() ? 0 : 1;
  EXPECT_GT(runs_with_files, 1);
}

TEST_F(FileConcurrencyTest, OverlappingRegistrantsCreateEachFileOnce) {
  constexpr int kNames = 400;
  constexpr int kThreads = 8;
  constexpr int kBatch = 100;
  // Each thread registers every name, in its own random order, in batches
  // (so the batches of different threads overlap in every way), plus a few
  // single RegisterFile calls.
  std::vector<std::map<std::string, int>> created(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<int64_t> created_counts(kThreads, 0);
  RunTogether(kThreads, [&](int t) {
    auto stub = FileService::NewStub(server_->channel());
    std::vector<int> order(kNames);
    for (int i = 0; i < kNames; ++i) order[i] = i;
    std::mt19937 rng(t);
    std::shuffle(order.begin(), order.end(), rng);
    for (int start = 0; start < kNames; start += kBatch) {
      RegisterFilesRequest req;
      for (int i = start; i < std::min(kNames, start + kBatch); ++i) {
        *req.add_files() = Spec("shared", absl::StrCat("f", order[i]));
        if (i % 10 == 0) {  // a duplicate inside the request
          *req.add_files() = Spec("shared", absl::StrCat("f", order[i]));
        }
      }
      RegisterFilesResponse resp;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(60));
      grpc::Status s = stub->RegisterFiles(&context, req, &resp);
      if (!s.ok()) {
        errors[t] = absl::StrCat(s.error_code(), ": ", s.error_message());
        return;
      }
      for (const auto& r : resp.results()) {
        if (r.created()) ++created[t][r.file().file_name()];
      }
      created_counts[t] += resp.created_count();
      RegisterFileRequest one;
      *one.mutable_file() = Spec("shared", absl::StrCat("f", order[start]));
      RegisterFileResponse one_resp;
      grpc::ClientContext one_context;
      s = stub->RegisterFile(&one_context, one, &one_resp);
      if (!s.ok()) {
        errors[t] = absl::StrCat(s.error_code(), ": ", s.error_message());
        return;
      }
      if (one_resp.created()) ++created[t][one_resp.file().file_name()];
      created_counts[t] += one_resp.created() ? 1 : 0;
    }
  });

  std::map<std::string, int> total;
  int64_t sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    for (const auto& [name, n] : created[t]) total[name] += n;
    sum += created_counts[t];
  }
  EXPECT_EQ(total.size(), static_cast<size_t>(kNames));
  for (const auto& [name, n] : total) {
    EXPECT_EQ(n, 1) << name << " was reported created " << n << " times";
  }
  EXPECT_EQ(sum, kNames);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), kNames);
  EXPECT_EQ(Count("SELECT count(DISTINCT (source, file_name)) FROM files"),
            kNames);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = "
                  "'REGISTERED'"),
            kNames);
}

}  // namespace
}  // namespace metad::daemon
