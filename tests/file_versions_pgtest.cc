// File versions, CHANGED events, change_policy and ReprocessFiles, through
// a real gRPC channel on a real PostgreSQL: each rule and each refusal, and
// concurrent registrations of the same new content making one version.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "daemon/rpc/auth.h"
#include "daemon/services/file_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "store/file_store.h"
#include "store/watch_store.h"
#include "tests/file_test_support.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::metad::testing::FileTest;
using ::metad::testing::Spec;
using ::metad::testing::TestServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace ::metad::v1;  // NOLINT: the whole API under test

FileSpec Content(const std::string& name, const std::string& checksum,
                 int64_t size) {
  FileSpec spec = Spec("src", name);
  spec.set_checksum(checksum);
  spec.set_size_bytes(size);
  return spec;
}

// The ErrorInfo and ResourceInfo of a refusal (empty when absent).
struct Details {
  google::rpc::ErrorInfo error_info;
  google::rpc::ResourceInfo resource_info;
};

Details DetailsOf(const grpc::Status& s) {
  Details d;
  google::rpc::Status status;
  EXPECT_TRUE(status.ParseFromString(s.error_details()));
  for (const auto& any : status.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) any.UnpackTo(&d.error_info);
    if (any.Is<google::rpc::ResourceInfo>()) any.UnpackTo(&d.resource_info);
  }
  return d;
}

class FileVersionsTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    server_ = std::make_unique<TestServer>(db(), /*worker_threads=*/16);
    server_->Add<FileServiceImpl>();
    server_->Start();
    stub_ = FileService::NewStub(server_->channel());
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (FileService::Stub::*method)(
                        grpc::ClientContext*, const Req&, Resp*),
                    const Req& request, Resp* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    return (stub_.get()->*method)(&context, request, response);
  }

  RegisterFileResponse Register(
      const FileSpec& spec, ChangePolicy policy = CHANGE_POLICY_UNSPECIFIED) {
    RegisterFileRequest req;
    *req.mutable_file() = spec;
    req.set_change_policy(policy);
    RegisterFileResponse resp;
    grpc::Status s = Call(&FileService::Stub::RegisterFile, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  std::vector<FileEvent> Events(int64_t file_id) {
    ListFileEventsRequest req;
    req.set_file_id(file_id);
    req.set_page_size(1000);
    ListFileEventsResponse resp;
    grpc::Status s = Call(&FileService::Stub::ListFileEvents, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.events().begin(), resp.events().end()};
  }

  std::vector<std::string> Kinds(int64_t file_id) {
    std::vector<std::string> kinds;
    for (const FileEvent& e : Events(file_id)) kinds.push_back(e.kind());
    return kinds;
  }

  File Get(int64_t id) {
    GetFileRequest req;
    req.set_id(id);
    File file;
    grpc::Status s = Call(&FileService::Stub::GetFile, req, &file);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return file;
  }

  grpc::Status Reprocess(const ReprocessFilesRequest& req,
                         ReprocessFilesResponse* resp) {
    return Call(&FileService::Stub::ReprocessFiles, req, resp);
  }

  // A file in `status` (held by a fresh run for PROCESSING, processed by
  // one for SUCCESS and ERROR); returns its id, the run in *run.
  int64_t FileIn(const std::string& name, const std::string& status,
                 int64_t* run = nullptr) {
    const int64_t id = Register(Content(name, "c1", 10)).file().id();
    if (status != "NEW") {
      const int64_t r = NewRun();
      SetFileState(id, status, absl::StrCat(r));
      if (status == "ERROR") {
        Sql(absl::StrCat("UPDATE files SET error_message = 'bad row' ",
                         "WHERE id = ", id));
      }
      if (run != nullptr) *run = r;
    }
    return id;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FileService::Stub> stub_;
};

// ---- versions and CHANGED ----

TEST_F(FileVersionsTest, FirstRegistrationIsVersionOne) {
  RegisterFileResponse r = Register(Content("a.csv", "c1", 10));
  EXPECT_TRUE(r.created());
  EXPECT_FALSE(r.changed());
  EXPECT_EQ(r.file().version(), 1);
  EXPECT_EQ(r.file().producer_run_id(), 0);
  EXPECT_EQ(Get(r.file().id()).version(), 1);
}

TEST_F(FileVersionsTest, IdenticalOrAbsentContentIsANoOp) {
  const int64_t id = Register(Content("a.csv", "c1", 10)).file().id();
  for (const FileSpec& again :
       {Content("a.csv", "c1", 10), Content("a.csv", "", 0),
        Content("a.csv", "c1", 0), Content("a.csv", "", 10)}) {
    RegisterFileResponse r = Register(again, CHANGE_POLICY_REPROCESS);
    EXPECT_FALSE(r.created());
    EXPECT_FALSE(r.changed()) << again.ShortDebugString();
    EXPECT_EQ(r.file().version(), 1);
    EXPECT_EQ(r.file().checksum(), "c1");
    EXPECT_EQ(r.file().size_bytes(), 10);
  }
  EXPECT_THAT(Kinds(id), ElementsAre("REGISTERED"));
}

TEST_F(FileVersionsTest, NewChecksumMakesAVersionAndAChangedEvent) {
  const int64_t id = Register(Content("a.csv", "c1", 10)).file().id();
  RegisterFileResponse r = Register(Content("a.csv", "c2", 0));
  EXPECT_FALSE(r.created());
  EXPECT_TRUE(r.changed());
  EXPECT_EQ(r.file().id(), id);
  EXPECT_EQ(r.file().version(), 2);
  EXPECT_EQ(r.file().checksum(), "c2");
  EXPECT_EQ(r.file().size_bytes(), 10);  // not given: kept

  // Then the size alone.
  r = Register(Content("a.csv", "", 20));
  EXPECT_TRUE(r.changed());
  EXPECT_EQ(r.file().version(), 3);
  EXPECT_EQ(r.file().checksum(), "c2");
  EXPECT_EQ(r.file().size_bytes(), 20);

  std::vector<FileEvent> events = Events(id);
  ASSERT_EQ(events.size(), 3u);
  const FileEvent& changed = events[1];
  EXPECT_EQ(changed.kind(), "CHANGED");
  EXPECT_EQ(changed.from_status(), FILE_STATUS_NEW);
  EXPECT_EQ(changed.to_status(), FILE_STATUS_NEW);
  EXPECT_FALSE(changed.actor().empty());  // the caller's peer
  EXPECT_EQ(changed.previous().version(), 1);
  EXPECT_EQ(changed.previous().checksum(), "c1");
  EXPECT_EQ(changed.previous().size_bytes(), 10);
  EXPECT_EQ(changed.current().version(), 2);
  EXPECT_EQ(changed.current().checksum(), "c2");
  EXPECT_EQ(changed.current().size_bytes(), 10);
  EXPECT_EQ(events[2].previous().version(), 2);
  EXPECT_EQ(events[2].previous().size_bytes(), 10);
  EXPECT_EQ(events[2].current().version(), 3);
  EXPECT_EQ(events[2].current().size_bytes(), 20);
  // Events of other kinds carry no content.
  EXPECT_FALSE(events[0].has_previous());
  EXPECT_FALSE(events[0].has_current());
}

TEST_F(FileVersionsTest, AGivenSizeDiffersFromAnUnknownOne) {
  const int64_t id = Register(Content("a.csv", "c1", 0)).file().id();
  RegisterFileResponse r = Register(Content("a.csv", "c1", 5));
  EXPECT_TRUE(r.changed());
  EXPECT_EQ(r.file().size_bytes(), 5);
  std::vector<FileEvent> events = Events(id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].previous().size_bytes(), -1);
  EXPECT_EQ(events[1].current().size_bytes(), 5);
}

TEST_F(FileVersionsTest, AChangeStoresAGivenRowCount) {
  FileSpec first = Content("a.csv", "c1", 10);
  first.set_row_count(100);
  Register(first);
  FileSpec second = Content("a.csv", "c2", 10);
  EXPECT_EQ(Register(second).file().row_count(), 100);  // not given: kept
  FileSpec third = Content("a.csv", "c3", 10);
  third.set_row_count(7);
  EXPECT_EQ(Register(third).file().row_count(), 7);
  // Without a content change, a new row count is not a change.
  FileSpec same = Content("a.csv", "c3", 10);
  same.set_row_count(9);
  RegisterFileResponse r = Register(same);
  EXPECT_FALSE(r.changed());
  EXPECT_EQ(r.file().row_count(), 7);
}

TEST_F(FileVersionsTest, KeepStatusLeavesEveryStatusAlone) {
  for (const char* status : {"NEW", "PROCESSING", "SUCCESS", "ERROR"}) {
    for (ChangePolicy policy :
         {CHANGE_POLICY_UNSPECIFIED, CHANGE_POLICY_KEEP_STATUS}) {
      const std::string name = absl::StrCat("keep-", status, "-", policy);
      int64_t run = 0;
      const int64_t id = FileIn(name, status, &run);
      RegisterFileResponse r = Register(Content(name, "c2", 10), policy);
      EXPECT_TRUE(r.changed()) << name;
      EXPECT_EQ(r.file().version(), 2) << name;
      EXPECT_EQ(store::FileStatusText(r.file().status()), std::string(status))
          << name;
      EXPECT_EQ(r.file().run_id(), run) << name;
      const FileEvent last = Events(id).back();
      EXPECT_EQ(last.kind(), "CHANGED");
      EXPECT_EQ(last.from_status(), last.to_status());
    }
  }
}

TEST_F(FileVersionsTest, ReprocessSendsFinalFilesBackToNew) {
  for (const char* status : {"SUCCESS", "ERROR"}) {
    const std::string name = absl::StrCat("again-", status);
    int64_t run = 0;
    const int64_t id = FileIn(name, status, &run);
    RegisterFileResponse r =
        Register(Content(name, "c2", 10), CHANGE_POLICY_REPROCESS);
    EXPECT_TRUE(r.changed());
    EXPECT_EQ(r.file().version(), 2);
    EXPECT_EQ(r.file().status(), FILE_STATUS_NEW) << name;
    EXPECT_EQ(r.file().run_id(), 0);
    EXPECT_EQ(r.file().error_message(), "");
    const FileEvent last = Events(id).back();
    EXPECT_EQ(last.kind(), "CHANGED");
    EXPECT_EQ(store::FileStatusText(last.from_status()), std::string(status));
    EXPECT_EQ(last.to_status(), FILE_STATUS_NEW);
    EXPECT_EQ(last.run_id(), run);  // the run that had processed it
  }
}

TEST_F(FileVersionsTest, ReprocessKeepsNewAndProcessingFiles) {
  const int64_t fresh = FileIn("fresh", "NEW");
  RegisterFileResponse r =
      Register(Content("fresh", "c2", 10), CHANGE_POLICY_REPROCESS);
  EXPECT_TRUE(r.changed());
  EXPECT_EQ(r.file().status(), FILE_STATUS_NEW);
  EXPECT_EQ(Events(fresh).back().kind(), "CHANGED");

  int64_t run = 0;
  FileIn("held", "PROCESSING", &run);
  r = Register(Content("held", "c2", 10), CHANGE_POLICY_REPROCESS);
  EXPECT_TRUE(r.changed());
  EXPECT_EQ(r.file().status(), FILE_STATUS_PROCESSING);  // its run decides
  EXPECT_EQ(r.file().run_id(), run);
}

TEST_F(FileVersionsTest, UnknownChangePolicyIsRefused) {
  RegisterFileRequest req;
  *req.mutable_file() = Content("a.csv", "c1", 1);
  req.set_change_policy(static_cast<ChangePolicy>(7));
  RegisterFileResponse resp;
  grpc::Status s = Call(&FileService::Stub::RegisterFile, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("change_policy"));

  RegisterFilesRequest many;
  *many.add_files() = Content("a.csv", "c1", 1);
  many.set_change_policy(static_cast<ChangePolicy>(-1));
  RegisterFilesResponse many_resp;
  s = Call(&FileService::Stub::RegisterFiles, many, &many_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("change_policy"));
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 0);
}

TEST_F(FileVersionsTest, RegisterFilesCountsChangesAndAppliesRepeatsInOrder) {
  Register(Content("known", "c1", 10));
  Register(Content("same", "s1", 10));
  RegisterFilesRequest req;
  req.set_change_policy(CHANGE_POLICY_KEEP_STATUS);
  *req.add_files() = Content("known", "c2", 10);  // changed: v2
  *req.add_files() = Content("same", "s1", 10);   // unchanged
  *req.add_files() = Content("new", "x", 1);      // created: v1
  *req.add_files() = Content("new", "y", 1);      // then changed: v2
  *req.add_files() = Content("new", "x", 1);      // and back: v3
  *req.add_files() = Content("new", "x", 1);      // already so: no change
  RegisterFilesResponse resp;
  grpc::Status s = Call(&FileService::Stub::RegisterFiles, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.created_count(), 1);
  EXPECT_EQ(resp.changed_count(), 3);
  ASSERT_EQ(resp.results_size(), 6);
  EXPECT_TRUE(resp.results(0).changed());
  EXPECT_EQ(resp.results(0).file().version(), 2);
  EXPECT_FALSE(resp.results(1).changed());
  EXPECT_EQ(resp.results(1).file().version(), 1);
  EXPECT_TRUE(resp.results(2).created());
  EXPECT_FALSE(resp.results(2).changed());
  EXPECT_EQ(resp.results(2).file().version(), 1);
  EXPECT_EQ(resp.results(2).file().checksum(), "x");
  EXPECT_TRUE(resp.results(3).changed());
  EXPECT_EQ(resp.results(3).file().version(), 2);
  EXPECT_EQ(resp.results(3).file().checksum(), "y");
  EXPECT_TRUE(resp.results(4).changed());
  EXPECT_EQ(resp.results(4).file().version(), 3);
  EXPECT_EQ(resp.results(4).file().checksum(), "x");
  EXPECT_FALSE(resp.results(5).changed());
  EXPECT_EQ(resp.results(5).file().version(), 3);
  EXPECT_THAT(Kinds(resp.results(2).file().id()),
              ElementsAre("REGISTERED", "CHANGED", "CHANGED"));
}

// The batch form the register batcher uses: each spec keeps its own policy.
TEST_F(FileVersionsTest, OneBatchMixesPoliciesPerSpec) {
  const int64_t kept = FileIn("kept", "SUCCESS");
  const int64_t again = FileIn("again", "SUCCESS");
  store::FileStore store(db());
  FileSpec a = Content("kept", "c2", 10);
  FileSpec b = Content("again", "c2", 10);
  auto results = store.Register(
      {}, {&a, &b}, std::vector<std::string>{"r1", "r2"},
      {store::ChangeIntent{false, "alice"}, store::ChangeIntent{true, "bob"}});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].file.status(), FILE_STATUS_SUCCESS);
  EXPECT_EQ((*results)[1].file.status(), FILE_STATUS_NEW);
  EXPECT_EQ(Events(kept).back().actor(), "alice");
  EXPECT_EQ(Events(again).back().actor(), "bob");
}

TEST_F(FileVersionsTest, ConcurrentSameContentMakesOneVersion) {
  constexpr int kNames = 20;
  constexpr int kThreads = 16;
  for (int n = 0; n < kNames; ++n) {
    Register(Content(absl::StrCat("f", n), "v1", 10));
  }
  // Each round, every thread registers every name with the round's new
  // content, singly (through the batcher) or in one RegisterFiles.
  for (int round = 2; round <= 3; ++round) {
    const std::string checksum = absl::StrCat("v", round);
    std::atomic<int> changed{0}, failures{0}, ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto stub = FileService::NewStub(server_->channel());
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        if (t % 2 == 0) {
          RegisterFilesRequest req;
          for (int n = 0; n < kNames; ++n) {
            *req.add_files() =
                Content(absl::StrCat("f", (n + t) % kNames), checksum, 10);
          }
          RegisterFilesResponse resp;
          grpc::ClientContext context;
          if (!stub->RegisterFiles(&context, req, &resp).ok()) {
            failures.fetch_add(1);
            return;
          }
          changed.fetch_add(resp.changed_count());
          for (const auto& r : resp.results()) {
            if (r.file().version() != round) failures.fetch_add(1);
          }
        } else {
          for (int n = 0; n < kNames; ++n) {
            RegisterFileRequest req;
            *req.mutable_file() =
                Content(absl::StrCat("f", (n + t) % kNames), checksum, 10);
            RegisterFileResponse resp;
            grpc::ClientContext context;
            if (!stub->RegisterFile(&context, req, &resp).ok()) {
              failures.fetch_add(1);
              continue;
            }
            changed.fetch_add(resp.changed() ? 1 : 0);
            if (resp.file().version() != round) failures.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(changed.load(), kNames) << "round " << round;
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM files WHERE version = ",
                                 round, " AND checksum = '", checksum, "'")),
              kNames);
    EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'CHANGED'"),
              kNames * (round - 1));
  }
}

// Watch streams read events with the same row shape: actor and content.
TEST_F(FileVersionsTest, WatchReadsChangedEventsWholly) {
  const int64_t id = Register(Content("w.csv", "c1", 10)).file().id();
  Register(Content("w.csv", "c2", 11));
  store::WatchStore watch(db());
  store::FileEventFilter filter;
  filter.file_id = id;
  auto events = watch.ReadFileEvents({}, filter, 0, 1000000, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  const FileEvent& changed = (*events)[1].event();
  EXPECT_EQ(changed.kind(), "CHANGED");
  EXPECT_FALSE(changed.actor().empty());
  EXPECT_EQ(changed.previous().checksum(), "c1");
  EXPECT_EQ(changed.previous().size_bytes(), 10);
  EXPECT_EQ(changed.current().checksum(), "c2");
  EXPECT_EQ(changed.current().size_bytes(), 11);
  EXPECT_EQ(changed.current().version(), 2);
  EXPECT_EQ((*events)[1].file_name(), "w.csv");
}

// ---- ReprocessFiles ----

TEST_F(FileVersionsTest, ReprocessFilesByIds) {
  int64_t run = 0;
  const int64_t ok = FileIn("ok", "SUCCESS", &run);
  const int64_t bad = FileIn("bad", "ERROR");
  ReprocessFilesRequest req;
  req.add_file_ids(bad);
  req.add_file_ids(ok);
  req.add_file_ids(bad);  // repeats are fine
  req.set_reason("new parser");
  ReprocessFilesResponse resp;
  grpc::Status s = Reprocess(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.file_ids(), ElementsAre(ok, bad));
  EXPECT_FALSE(resp.more());
  for (int64_t id : {ok, bad}) {
    File f = Get(id);
    EXPECT_EQ(f.status(), FILE_STATUS_NEW);
    EXPECT_EQ(f.run_id(), 0);
    EXPECT_EQ(f.error_message(), "");
    EXPECT_EQ(f.version(), 1);
    const FileEvent last = Events(id).back();
    EXPECT_EQ(last.kind(), "REPROCESSED");
    EXPECT_EQ(last.message(), "new parser");
    EXPECT_EQ(last.to_status(), FILE_STATUS_NEW);
    EXPECT_FALSE(last.actor().empty());
  }
  EXPECT_EQ(Events(ok).back().from_status(), FILE_STATUS_SUCCESS);
  EXPECT_EQ(Events(ok).back().run_id(), run);
  EXPECT_EQ(Events(bad).back().from_status(), FILE_STATUS_ERROR);
}

TEST_F(FileVersionsTest, ReprocessFilesUnknownIdChangesNothing) {
  const int64_t ok = FileIn("ok", "SUCCESS");
  ReprocessFilesRequest req;
  req.add_file_ids(ok);
  req.add_file_ids(ok + 1000);
  ReprocessFilesResponse resp;
  grpc::Status s = Reprocess(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(ok + 1000)));
  Details d = DetailsOf(s);
  EXPECT_EQ(d.resource_info.resource_type(), "metad.v1.File");
  EXPECT_EQ(d.resource_info.resource_name(), absl::StrCat(ok + 1000));
  EXPECT_EQ(Get(ok).status(), FILE_STATUS_SUCCESS);
}

TEST_F(FileVersionsTest, ReprocessFilesRefusesNewOrProcessingFiles) {
  const int64_t ok = FileIn("ok", "SUCCESS");
  for (const char* status : {"NEW", "PROCESSING"}) {
    const int64_t other = FileIn(absl::StrCat("other-", status), status);
    ReprocessFilesRequest req;
    req.add_file_ids(ok);
    req.add_file_ids(other);
    ReprocessFilesResponse resp;
    grpc::Status s = Reprocess(req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr(status));
    Details d = DetailsOf(s);
    EXPECT_EQ(d.error_info.reason(), "FILE_NOT_FINAL");
    EXPECT_EQ(d.error_info.metadata().at("file_id"), absl::StrCat(other));
    EXPECT_EQ(d.error_info.metadata().at("status"), status);
    EXPECT_EQ(Get(ok).status(), FILE_STATUS_SUCCESS);  // all or nothing
  }
  EXPECT_EQ(
      Count("SELECT count(*) FROM file_events WHERE kind = 'REPROCESSED'"), 0);
}

TEST_F(FileVersionsTest, ReprocessFilesByFilter) {
  int64_t run_a = 0, run_b = 0;
  const int64_t a_ok = FileIn("a-ok", "SUCCESS", &run_a);
  const int64_t a_bad = FileIn("a-bad", "ERROR");
  const int64_t b_ok = FileIn("b-ok", "SUCCESS", &run_b);
  const int64_t fresh = FileIn("fresh", "NEW");
  const int64_t held = FileIn("held", "PROCESSING");
  Sql(absl::StrCat("UPDATE files SET source = 'other' WHERE id = ", b_ok));
  Sql(absl::StrCat("UPDATE files SET producer_run_id = 77 WHERE id = ", a_bad));
  Sql(absl::StrCat("UPDATE files SET update_time = '2001-01-01' WHERE id = ",
                   a_ok));

  auto take = [&](ReprocessFilesRequest req) {
    ReprocessFilesResponse resp;
    grpc::Status s = Reprocess(req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return std::vector<int64_t>(resp.file_ids().begin(), resp.file_ids().end());
  };
  auto back = [&](std::vector<int64_t> ids, const char* status) {
    for (int64_t id : ids) SetFileState(id, status, "NULL");
  };

  ReprocessFilesRequest by_status;
  by_status.set_status(FILE_STATUS_ERROR);
  EXPECT_THAT(take(by_status), ElementsAre(a_bad));
  back({a_bad}, "ERROR");

  ReprocessFilesRequest by_source;
  by_source.set_source("other");
  EXPECT_THAT(take(by_source), ElementsAre(b_ok));
  back({b_ok}, "SUCCESS");

  ReprocessFilesRequest by_run;
  by_run.set_run_id(run_a);
  EXPECT_THAT(take(by_run), ElementsAre(a_ok));
  back({a_ok}, "SUCCESS");

  ReprocessFilesRequest by_producer;
  by_producer.set_producer_run_id(77);
  EXPECT_THAT(take(by_producer), ElementsAre(a_bad));
  back({a_bad}, "ERROR");
  Sql(absl::StrCat("UPDATE files SET update_time = '2001-01-01' WHERE id = ",
                   a_ok));

  ReprocessFilesRequest old;
  old.mutable_updated_before()->set_seconds(1000000000 + 86400 * 365 * 2);
  EXPECT_THAT(take(old), ElementsAre(a_ok));
  back({a_ok}, "SUCCESS");
  Sql(absl::StrCat("UPDATE files SET update_time = '2001-01-01' WHERE id = ",
                   a_ok));

  ReprocessFilesRequest recent;
  recent.mutable_updated_after()->set_seconds(1000000000 + 86400 * 365 * 2);
  recent.set_status(FILE_STATUS_SUCCESS);
  EXPECT_THAT(take(recent), ElementsAre(b_ok));

  // NEW and PROCESSING files are never touched by a filter.
  EXPECT_EQ(Get(fresh).status(), FILE_STATUS_NEW);
  EXPECT_EQ(Get(held).status(), FILE_STATUS_PROCESSING);
  EXPECT_EQ(Events(fresh).back().kind(), "REGISTERED");
}

TEST_F(FileVersionsTest, ReprocessFilesByFilterPagesWithLimitAndMore) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(FileIn(absl::StrCat("f", i), i % 2 ? "ERROR" : "SUCCESS"));
  }
  ReprocessFilesRequest req;
  req.set_source("src");
  req.set_limit(3);
  req.set_reason("backfill");
  std::vector<int64_t> taken;
  std::vector<bool> mores;
  for (int call = 0; call < 5; ++call) {
    ReprocessFilesResponse resp;
    grpc::Status s = Reprocess(req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(resp.file_ids_size(), 3);
    taken.insert(taken.end(), resp.file_ids().begin(), resp.file_ids().end());
    mores.push_back(resp.more());
    if (!resp.more()) break;
  }
  EXPECT_EQ(taken, ids);  // oldest first, each once
  EXPECT_THAT(mores, ElementsAre(true, true, false));
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = "
                  "'REPROCESSED' AND message = 'backfill'"),
            7);
  // Nothing left: an empty answer.
  ReprocessFilesResponse resp;
  ASSERT_TRUE(Reprocess(req, &resp).ok());
  EXPECT_EQ(resp.file_ids_size(), 0);
  EXPECT_FALSE(resp.more());
}

TEST_F(FileVersionsTest, ReprocessFilesRefusals) {
  const int64_t ok = FileIn("ok", "SUCCESS");
  struct Case {
    std::string name;
    std::function<void(ReprocessFilesRequest*)> fill;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"nothing", [](ReprocessFilesRequest*) {}, "file_ids"},
      {"ids and filter",
       [&](ReprocessFilesRequest* r) {
         r->add_file_ids(ok);
         r->set_source("src");
       },
       "file_ids"},
      {"zero id", [](ReprocessFilesRequest* r) { r->add_file_ids(0); },
       "file_ids[0]"},
      {"too many ids",
       [](ReprocessFilesRequest* r) {
         for (int i = 1; i <= 1001; ++i) r->add_file_ids(i);
       },
       "file_ids"},
      {"status NEW",
       [](ReprocessFilesRequest* r) { r->set_status(FILE_STATUS_NEW); },
       "status"},
      {"status PROCESSING",
       [](ReprocessFilesRequest* r) { r->set_status(FILE_STATUS_PROCESSING); },
       "status"},
      {"unknown status",
       [](ReprocessFilesRequest* r) {
         r->set_status(static_cast<FileStatus>(9));
       },
       "status"},
      {"negative run_id", [](ReprocessFilesRequest* r) { r->set_run_id(-1); },
       "run_id"},
      {"negative producer",
       [](ReprocessFilesRequest* r) { r->set_producer_run_id(-2); },
       "producer_run_id"},
      {"empty range",
       [](ReprocessFilesRequest* r) {
         r->mutable_updated_after()->set_seconds(2000);
         r->mutable_updated_before()->set_seconds(1000);
       },
       "updated_before"},
      {"bad time",
       [](ReprocessFilesRequest* r) {
         r->mutable_updated_after()->set_nanos(-5);
       },
       "updated_after"},
      {"negative limit",
       [](ReprocessFilesRequest* r) {
         r->set_source("src");
         r->set_limit(-1);
       },
       "limit"},
      {"limit too large",
       [](ReprocessFilesRequest* r) {
         r->set_source("src");
         r->set_limit(1001);
       },
       "limit"},
      {"long reason",
       [&](ReprocessFilesRequest* r) {
         r->add_file_ids(ok);
         r->set_reason(std::string(4097, 'x'));
       },
       "reason"},
      {"long source",
       [](ReprocessFilesRequest* r) { r->set_source(std::string(257, 's')); },
       "source"},
  };
  for (const Case& c : cases) {
    ReprocessFilesRequest req;
    c.fill(&req);
    ReprocessFilesResponse resp;
    grpc::Status s = Reprocess(req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field)) << c.name;
  }
  EXPECT_EQ(Get(ok).status(), FILE_STATUS_SUCCESS);
}

TEST(FileVersionsRoles, ReprocessFilesNeedsAdmin) {
  EXPECT_EQ(RequiredRole("ReprocessFiles"), Role::kAdmin);
}

}  // namespace
}  // namespace metad::daemon
