// store::FileStore against a real PostgreSQL: dedupe, state transitions and
// their refusals, the events each change appends, filters and paging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/file_store.h"
#include "tests/file_test_support.h"

namespace metad::store {
namespace {

using ::metad::testing::FileTest;
using ::metad::testing::Spec;
using ::metad::v1::File;
using ::metad::v1::FileSpec;
using ::testing::HasSubstr;

class FileStoreTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    store_ = std::make_unique<FileStore>(db());
  }

  RegisteredFile RegisterOne(const FileSpec& spec,
                             const std::string& request_id = "") {
    auto r = store_->Register(TxOptions(), {&spec}, request_id);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0] : RegisteredFile{};
  }

  int64_t NewFile(const std::string& name, const std::string& source = "src") {
    return RegisterOne(Spec(source, name)).file.id();
  }

  std::vector<File> Claim(int64_t run, int limit,
                          const std::string& source = "") {
    auto r = store_->Claim(TxOptions(), run, source, limit);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->files : std::vector<File>{};
  }

  // kind:from->to:run of every event of a file, in order.
  std::vector<std::string> EventTrail(int64_t file_id) {
    auto events = store_->ListEvents(TxOptions(), file_id, 0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    std::vector<std::string> out;
    for (const auto& e : *events) {
      out.push_back(absl::StrCat(e.kind(), ":", e.from_status(), "->",
                                 e.to_status(), ":", e.run_id()));
    }
    return out;
  }

  std::unique_ptr<FileStore> store_;
};

// ---- Register ----

TEST_F(FileStoreTest, RegisterCreatesOnceThenReturnsTheStoredRecord) {
  FileSpec spec = Spec("s3://bucket", "sales_report_2024-03.csv");
  spec.set_checksum("sha256:abc");
  spec.set_size_bytes(1234);
  spec.set_row_count(10);
  RegisteredFile first = RegisterOne(spec, "req-1");
  EXPECT_TRUE(first.created);
  EXPECT_GT(first.file.id(), 0);
  EXPECT_EQ(first.file.status(), v1::FILE_STATUS_NEW);
  EXPECT_EQ(first.file.checksum(), "sha256:abc");
  EXPECT_EQ(first.file.size_bytes(), 1234);
  EXPECT_EQ(first.file.row_count(), 10);
  EXPECT_EQ(first.file.run_id(), 0);
  EXPECT_GT(first.file.create_time().seconds(), 0);

  // The same content (or none given) returns the record unchanged; new
  // content is a new version (tests/file_versions_pgtest.cc).
  spec.set_row_count(0);
  RegisteredFile again = RegisterOne(spec, "req-2");
  EXPECT_FALSE(again.created);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.file.id(), first.file.id());
  EXPECT_EQ(again.file.checksum(), "sha256:abc");  // unchanged
  EXPECT_EQ(again.file.size_bytes(), 1234);
  EXPECT_EQ(again.file.row_count(), 10);
  EXPECT_EQ(again.file.version(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 1);
  EXPECT_EQ(Sql("SELECT request_id FROM files"), "req-1");
  EXPECT_THAT(EventTrail(first.file.id()),
              ::testing::ElementsAre("REGISTERED:0->1:0"));
}

TEST_F(FileStoreTest, RegisteringAgainNeverChangesStatus) {
  const int64_t run = NewRun();
  const int64_t id = NewFile("a.csv");
  ASSERT_EQ(Claim(run, 10).size(), 1u);
  ASSERT_TRUE(
      store_->Complete(TxOptions(), id, run, v1::FILE_STATUS_SUCCESS, "").ok());
  RegisteredFile again = RegisterOne(Spec("src", "a.csv"));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.file.status(), v1::FILE_STATUS_SUCCESS);
  EXPECT_EQ(again.file.run_id(), run);
  EXPECT_EQ(Sql("SELECT status FROM files"), "SUCCESS");
  // A SUCCESS file is never handed out again.
  EXPECT_TRUE(Claim(NewRun(), 10).empty());

  const int64_t processing = NewFile("b.csv");
  ASSERT_EQ(Claim(run, 10).size(), 1u);
  EXPECT_EQ(RegisterOne(Spec("src", "b.csv")).file.status(),
            v1::FILE_STATUS_PROCESSING);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM file_events WHERE "
                               "kind = 'REGISTERED' AND file_id IN (",
                               id, ",", processing, ")")),
            2);
}

TEST_F(FileStoreTest, SameNameInOtherSourceIsAnotherFile) {
  RegisteredFile a = RegisterOne(Spec("s1", "x.csv"));
  RegisteredFile b = RegisterOne(Spec("s2", "x.csv"));
  EXPECT_TRUE(a.created);
  EXPECT_TRUE(b.created);
  EXPECT_NE(a.file.id(), b.file.id());
}

TEST_F(FileStoreTest, BatchReportsPerItemInRequestOrderWithDuplicates) {
  const int64_t existing = NewFile("old.csv");
  std::vector<FileSpec> specs = {Spec("src", "z.csv"), Spec("src", "old.csv"),
                                 Spec("src", "a.csv"), Spec("src", "z.csv"),
                                 Spec("other", "a.csv")};
  specs[0].set_checksum("first");
  specs[3].set_checksum("second");
  std::vector<const FileSpec*> ptrs;
  for (const auto& s : specs) ptrs.push_back(&s);
  auto r = store_->Register(TxOptions(), ptrs, "");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 5u);
  std::vector<bool> created;
  for (const auto& x : *r) created.push_back(x.created);
  EXPECT_THAT(created, ::testing::ElementsAre(true, false, true, false, true));
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ((*r)[i].file.source(), specs[i].source()) << i;
    EXPECT_EQ((*r)[i].file.file_name(), specs[i].file_name()) << i;
  }
  EXPECT_EQ((*r)[1].file.id(), existing);
  EXPECT_EQ((*r)[0].file.id(), (*r)[3].file.id());
  // The first occurrence is the one stored; a later one with other content
  // is its next version.
  EXPECT_EQ((*r)[0].file.checksum(), "first");
  EXPECT_EQ((*r)[3].file.checksum(), "second");
  EXPECT_TRUE((*r)[3].changed);
  EXPECT_EQ((*r)[3].file.version(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind='REGISTERED'"),
            4);
}

TEST_F(FileStoreTest, UnknownSizesAreNullAndReadBackAsMinusOne) {
  RegisteredFile f = RegisterOne(Spec("src", "a.csv"));
  EXPECT_EQ(f.file.size_bytes(), -1);
  EXPECT_EQ(f.file.row_count(), -1);
  EXPECT_EQ(Sql("SELECT size_bytes IS NULL AND row_count IS NULL FROM files"),
            "t");
}

TEST_F(FileStoreTest, AttributesAndHostileTextRoundTripVerbatim) {
  const std::vector<std::string> tricky = {
      "'; DROP TABLE files; --",
      "Robert'); DELETE FROM file_events WHERE ('1'='1",
      "$1::text",
      "{\"a\": 1}",
      "back\\slash \\\" \\u0000 \\n",
      "quote\" and 'single'",
      "{a,b,\"c\"}",
      "NULL",
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80",
      "tab\tnew\nline \x7F",
      ""};
  FileSpec spec = Spec(tricky[0], tricky[1]);
  spec.set_checksum(tricky[4]);
  for (size_t i = 0; i < tricky.size(); ++i) {
    (*spec.mutable_attributes())[absl::StrCat("k", i, tricky[i])] = tricky[i];
  }
  (*spec.mutable_attributes())["\xF0\x9F\x98\x80 key \"\\"] = "v";
  RegisteredFile f = RegisterOne(spec);
  ASSERT_TRUE(f.created);
  EXPECT_EQ(f.file.source(), tricky[0]);
  EXPECT_EQ(f.file.file_name(), tricky[1]);
  EXPECT_EQ(f.file.checksum(), tricky[4]);
  EXPECT_EQ(f.file.attributes().size(), spec.attributes().size());
  for (const auto& [k, v] : spec.attributes()) {
    ASSERT_EQ(f.file.attributes().count(k), 1u) << k;
    EXPECT_EQ(f.file.attributes().at(k), v) << k;
  }
  // Stored as a JSON object of strings, readable from SQL.
  EXPECT_EQ(Sql("SELECT attributes ->> 'k0''; DROP TABLE files; --' FROM "
                "files"),
            tricky[0]);
  EXPECT_EQ(Sql("SELECT jsonb_typeof(attributes) FROM files"), "object");
  // And read back the same by name.
  auto again = store_->GetByName(TxOptions(), tricky[0], tricky[1]);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), f.file.id());
  EXPECT_EQ(again->attributes().at("k5quote\" and 'single'"),
            "quote\" and 'single'");
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 1);  // nothing dropped
}

TEST_F(FileStoreTest, SchemaRefusesNegativeSizesEvenIfValidationMissed) {
  FileSpec bad = Spec("src", "a.csv");
  bad.set_size_bytes(-5);
  auto r = store_->Register(TxOptions(), {&bad}, "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 0);
}

// ---- Get / List ----

TEST_F(FileStoreTest, GetByIdAndByNameOrNotFound) {
  const int64_t id = NewFile("a.csv");
  auto byid = store_->Get(TxOptions(), id);
  ASSERT_TRUE(byid.ok());
  EXPECT_EQ(byid->file_name(), "a.csv");
  auto byname = store_->GetByName(TxOptions(), "src", "a.csv");
  ASSERT_TRUE(byname.ok());
  EXPECT_EQ(byname->id(), id);
  EXPECT_EQ(store_->Get(TxOptions(), id + 1).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetByName(TxOptions(), "src", "b.csv").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetByName(TxOptions(), "other", "a.csv").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FileStoreTest, ListFiltersCombine) {
  const int64_t run = NewRun();
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(NewFile(absl::StrCat("f", i), i % 2 ? "odd" : "even"));
  }
  // f0 (even) and f1 (odd) go to the run.
  SetFileState(ids[0], "PROCESSING", std::to_string(run));
  SetFileState(ids[1], "PROCESSING", std::to_string(run));
  SetFileState(ids[2], "ERROR");
  Sql(
      absl::StrCat("UPDATE files SET create_time = '2020-01-01T00:00:00Z' "
                   "WHERE id IN (",
                   ids[4], ",", ids[5], ")"));
  auto list = [&](const FileFilter& f) {
    auto r = store_->List(TxOptions(), f, 0, 100);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<int64_t> out;
    for (const auto& x : *r) out.push_back(x.id());
    return out;
  };
  using ::testing::ElementsAre;
  EXPECT_EQ(list({}), ids);
  FileFilter f;
  f.status = v1::FILE_STATUS_NEW;
  EXPECT_THAT(list(f), ElementsAre(ids[3], ids[4], ids[5]));
  f.source = "odd";
  EXPECT_THAT(list(f), ElementsAre(ids[3], ids[5]));
  f = {};
  f.run_id = run;
  EXPECT_THAT(list(f), ElementsAre(ids[0], ids[1]));
  f.source = "even";
  EXPECT_THAT(list(f), ElementsAre(ids[0]));
  f = {};
  f.created_before_us = 1577836800000000LL + 1;  // 2020-01-01 + 1 us
  EXPECT_THAT(list(f), ElementsAre(ids[4], ids[5]));
  f.created_after_us = 1577836800000000LL + 1;  // inclusive lower bound
  EXPECT_THAT(list(f), ElementsAre());
  f = {};
  f.created_after_us = 1577836800000000LL;
  f.created_before_us = 1577836800000000LL;  // exclusive upper bound
  EXPECT_THAT(list(f), ElementsAre());
  f.created_before_us.reset();
  EXPECT_EQ(list(f), ids);
  f = {};
  f.status = v1::FILE_STATUS_SUCCESS;
  EXPECT_THAT(list(f), ElementsAre());

  // Keyset: after_id continues strictly after.
  auto page = store_->List(TxOptions(), {}, ids[2], 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id(), ids[3]);
  EXPECT_EQ((*page)[1].id(), ids[4]);
}

// ---- Claim ----

TEST_F(FileStoreTest, ClaimTakesOnlyNewFilesOldestFirstUpToTheLimit) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(NewFile(absl::StrCat("f", i)));
  const int64_t other = NewRun();
  SetFileState(ids[0], "PROCESSING", std::to_string(other));
  SetFileState(ids[1], "SUCCESS", std::to_string(other));
  SetFileState(ids[2], "ERROR", std::to_string(other));
  const int64_t run = NewRun();

  std::vector<File> got = Claim(run, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].id(), ids[3]);
  EXPECT_EQ(got[1].id(), ids[4]);
  EXPECT_EQ(got[2].id(), ids[5]);
  for (const File& f : got) {
    EXPECT_EQ(f.status(), v1::FILE_STATUS_PROCESSING);
    EXPECT_EQ(f.run_id(), run);
    EXPECT_THAT(EventTrail(f.id()),
                ::testing::ElementsAre("REGISTERED:0->1:0",
                                       absl::StrCat("CLAIMED:1->2:", run)));
  }
  got = Claim(run, 1000);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id(), ids[6]);
  EXPECT_EQ(got[1].id(), ids[7]);
  EXPECT_TRUE(Claim(run, 1000).empty());
  // The files of the other run were never touched.
  EXPECT_EQ(
      Count(absl::StrCat("SELECT count(*) FROM files WHERE run_id = ", other)),
      3);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'CLAIMED'"),
            5);
}

TEST_F(FileStoreTest, ClaimFiltersBySource) {
  const int64_t a1 = NewFile("1", "a");
  NewFile("2", "b");
  const int64_t a3 = NewFile("3", "a");
  const int64_t run = NewRun();
  std::vector<File> got = Claim(run, 10, "a");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id(), a1);
  EXPECT_EQ(got[1].id(), a3);
  EXPECT_TRUE(Claim(run, 10, "a").empty());
  EXPECT_TRUE(Claim(run, 10, "nope").empty());
  EXPECT_EQ(Claim(run, 10).size(), 1u);
}

TEST_F(FileStoreTest, ClaimRefusesUnknownEndedAndExpiredRuns) {
  NewFile("a.csv");
  auto unknown = store_->Claim(TxOptions(), 999, "", 10);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("run 999: no such run"));

  const int64_t done = NewRun();
  EndRun(done, "SUCCESS");
  auto ended = store_->Claim(TxOptions(), done, "", 10);
  EXPECT_EQ(ended.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ended.status().message()),
              HasSubstr("has ended as SUCCESS"));

  const int64_t failed = NewRun();
  EndRun(failed, "ERROR", "lease expired");
  auto failed_claim = store_->Claim(TxOptions(), failed, "", 10);
  EXPECT_EQ(failed_claim.status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(failed_claim.status().message()),
              HasSubstr("has ended as ERROR (lease expired)"));

  const int64_t lapsed = NewRun();
  ExpireLease(lapsed);
  auto expired = store_->Claim(TxOptions(), lapsed, "", 10);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(expired.status().message()),
              HasSubstr("lease expired at"));

  EXPECT_EQ(Sql("SELECT status FROM files"), "NEW");
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 1);
}

// ---- Complete ----

TEST_F(FileStoreTest, CompleteRecordsTheOutcomeAndAnEvent) {
  const int64_t ok_id = NewFile("ok.csv");
  const int64_t bad_id = NewFile("bad.csv");
  const int64_t run = NewRun();
  ASSERT_EQ(Claim(run, 10).size(), 2u);
  auto ok =
      store_->Complete(TxOptions(), ok_id, run, v1::FILE_STATUS_SUCCESS, "");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->file.status(), v1::FILE_STATUS_SUCCESS);
  EXPECT_EQ(ok->file.run_id(), run);
  auto bad = store_->Complete(TxOptions(), bad_id, run, v1::FILE_STATUS_ERROR,
                              "bad row 7");
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->file.status(), v1::FILE_STATUS_ERROR);
  EXPECT_EQ(bad->file.error_message(), "bad row 7");
  EXPECT_THAT(EventTrail(bad_id),
              ::testing::ElementsAre("REGISTERED:0->1:0",
                                     absl::StrCat("CLAIMED:1->2:", run),
                                     absl::StrCat("COMPLETED:2->4:", run)));
  EXPECT_EQ(Sql(absl::StrCat("SELECT message FROM file_events WHERE kind = "
                             "'COMPLETED' AND file_id = ",
                             bad_id)),
            "bad row 7");

  // Completing again is refused: the file is no longer PROCESSING.
  auto twice =
      store_->Complete(TxOptions(), ok_id, run, v1::FILE_STATUS_ERROR, "late");
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(twice.status().message()),
              HasSubstr("is SUCCESS, not PROCESSING"));
  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM files WHERE id = ", ok_id)),
            "SUCCESS");
}

TEST_F(FileStoreTest, CompleteRefusesEveryIllegalCase) {
  const int64_t run = NewRun();
  const int64_t other = NewRun();
  const int64_t held = NewFile("held.csv");
  ASSERT_EQ(Claim(run, 1).size(), 1u);
  const int64_t fresh = NewFile("new.csv");
  auto code = [&](int64_t file, int64_t r) {
    return store_->Complete(TxOptions(), file, r, v1::FILE_STATUS_SUCCESS, "")
        .status();
  };

  absl::Status s = code(12345, run);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("file 12345: no such file"));
  s = code(held, 777);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("run 777"));
  s = code(fresh, run);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("is NEW, not PROCESSING"));
  s = code(held, other);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr(absl::StrCat("held by run ", run, ", not run ", other)));

  ExpireLease(run);
  s = code(held, run);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("lease expired at"));

  EndRun(run, "ERROR", "lease expired");
  s = code(held, run);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("has ended as ERROR"));

  EXPECT_EQ(Sql(absl::StrCat("SELECT status FROM files WHERE id = ", held)),
            "PROCESSING");
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind='COMPLETED'"),
            0);
}

// ---- Reset ----

TEST_F(FileStoreTest, ResetSendsAnErrorFileBackToNew) {
  const int64_t id = NewFile("a.csv");
  const int64_t run = NewRun();
  ASSERT_EQ(Claim(run, 1).size(), 1u);
  ASSERT_TRUE(
      store_->Complete(TxOptions(), id, run, v1::FILE_STATUS_ERROR, "boom")
          .ok());
  auto reset = store_->Reset(TxOptions(), id, "fixed the parser");
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->status(), v1::FILE_STATUS_NEW);
  EXPECT_EQ(reset->run_id(), 0);
  EXPECT_EQ(reset->error_message(), "");
  EXPECT_EQ(Sql("SELECT run_id IS NULL FROM files"), "t");
  EXPECT_THAT(EventTrail(id),
              ::testing::ElementsAre(
                  "REGISTERED:0->1:0", absl::StrCat("CLAIMED:1->2:", run),
                  absl::StrCat("COMPLETED:2->4:", run), "RESET:4->1:0"));
  EXPECT_EQ(Sql("SELECT message FROM file_events WHERE kind = 'RESET'"),
            "fixed the parser");
  // Claimable again.
  const int64_t run2 = NewRun();
  std::vector<File> again = Claim(run2, 10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id(), id);
}

TEST_F(FileStoreTest, ResetRefusesEveryStatusButError) {
  const int64_t run = NewRun();
  const int64_t id = NewFile("a.csv");
  for (const char* status : {"NEW", "PROCESSING", "SUCCESS"}) {
    SetFileState(id, status,
                 std::string(status) == "NEW" ? "NULL" : std::to_string(run));
    auto r = store_->Reset(TxOptions(), id, "");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
        << status;
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr(absl::StrCat("is ", status,
                                       "; only an ERROR file can be reset")));
    EXPECT_EQ(Sql("SELECT status FROM files"), status);
  }
  EXPECT_EQ(store_->Reset(TxOptions(), id + 1, "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'RESET'"), 0);
}

// ---- Events ----

TEST_F(FileStoreTest, ListEventsOfOneFileOrAllPagedById) {
  const int64_t a = NewFile("a");
  const int64_t b = NewFile("b");
  const int64_t run = NewRun();
  ASSERT_EQ(Claim(run, 10).size(), 2u);
  auto all = store_->ListEvents(TxOptions(), 0, 0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  for (size_t i = 1; i < all->size(); ++i) {
    EXPECT_LT((*all)[i - 1].id(), (*all)[i].id());
  }
  auto of_b = store_->ListEvents(TxOptions(), b, 0, 100);
  ASSERT_TRUE(of_b.ok());
  ASSERT_EQ(of_b->size(), 2u);
  for (const auto& e : *of_b) EXPECT_EQ(e.file_id(), b);
  EXPECT_GT((*of_b)[0].event_time().seconds(), 0);
  auto page = store_->ListEvents(TxOptions(), 0, (*all)[1].id(), 1);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id(), (*all)[2].id());
  EXPECT_EQ(store_->ListEvents(TxOptions(), b + a + 100, 0, 10).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace metad::store
