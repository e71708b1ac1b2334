// metad.v1.FileService through a real gRPC channel on a real PostgreSQL:
// every RPC, its validation (each refusal with its code and field), the
// all-or-nothing batch, paging with tokens, and a file's whole life.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/rpc/page_token.h"
#include "daemon/services/file_service.h"
#include "tests/file_test_support.h"
#include "tests/support/test_server.h"

namespace metad::daemon {
namespace {

using ::metad::testing::FileTest;
using ::metad::testing::Spec;
using ::metad::testing::TestServer;
using ::testing::HasSubstr;
using namespace ::metad::v1;  // NOLINT: the whole API under test

class FileServiceTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<FileServiceImpl>();
    server_->Start();
    stub_ = FileService::NewStub(server_->channel());
  }

  // Calls a unary method with a fresh context.
  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (FileService::Stub::*method)(
                        grpc::ClientContext*, const Req&, Resp*),
                    const Req& request, Resp* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    return (stub_.get()->*method)(&context, request, response);
  }

  RegisterFileResponse Register(const FileSpec& spec) {
    RegisterFileRequest req;
    *req.mutable_file() = spec;
    RegisterFileResponse resp;
    grpc::Status s = Call(&FileService::Stub::RegisterFile, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  int64_t NewFile(const std::string& name, const std::string& source = "src") {
    return Register(Spec(source, name)).file().id();
  }

  std::vector<File> Claim(int64_t run, int limit) {
    ClaimFilesRequest req;
    req.set_run_id(run);
    req.set_limit(limit);
    ClaimFilesResponse resp;
    grpc::Status s = Call(&FileService::Stub::ClaimFiles, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.files().begin(), resp.files().end()};
  }

  grpc::Status Complete(int64_t file, int64_t run, FileStatus status,
                        const std::string& message = "") {
    CompleteFileRequest req;
    req.set_file_id(file);
    req.set_run_id(run);
    req.set_status(status);
    req.set_error_message(message);
    CompleteFileResponse resp;
    return Call(&FileService::Stub::CompleteFile, req, &resp);
  }

  // Every page of ListFiles for `filters`, checking each token works.
  std::vector<int64_t> ListAll(ListFilesRequest filters, int page_size,
                               int* pages = nullptr) {
    std::vector<int64_t> ids;
    filters.set_page_size(page_size);
    int n = 0;
    for (;;) {
      ListFilesResponse resp;
      grpc::Status s = Call(&FileService::Stub::ListFiles, filters, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      ++n;
      EXPECT_LE(resp.files_size(), page_size);
      for (const File& f : resp.files()) ids.push_back(f.id());
      if (resp.next_page_token().empty()) break;
      filters.set_page_token(resp.next_page_token());
      EXPECT_LT(n, 10000) << "paging does not end";
    }
    if (pages != nullptr) *pages = n;
    return ids;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FileService::Stub> stub_;
};

void ExpectRefused(const grpc::Status& s, grpc::StatusCode code,
                   const std::string& text) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(text));
}

// ---- RegisterFile / RegisterFiles ----

TEST_F(FileServiceTest, RegisterFileCreatesThenReturnsExistingUnchanged) {
  FileSpec spec = Spec("s3://sales", "sales_report_2024-03.csv");
  spec.set_size_bytes(2048);
  (*spec.mutable_attributes())["month"] = "2024-03";
  RegisterFileResponse first = Register(spec);
  EXPECT_TRUE(first.created());
  EXPECT_EQ(first.file().status(), FILE_STATUS_NEW);
  EXPECT_EQ(first.file().size_bytes(), 2048);
  EXPECT_EQ(first.file().row_count(), -1);
  EXPECT_EQ(first.file().attributes().at("month"), "2024-03");

  // Through its whole life, registering the same content again never
  // changes it (new content: tests/file_versions_pgtest.cc).
  const int64_t run = NewRun();
  ASSERT_EQ(Claim(run, 1).size(), 1u);
  ASSERT_TRUE(Complete(first.file().id(), run, FILE_STATUS_SUCCESS).ok());
  spec.set_size_bytes(0);
  RegisterFileResponse again = Register(spec);
  EXPECT_FALSE(again.created());
  EXPECT_FALSE(again.changed());
  EXPECT_EQ(again.file().id(), first.file().id());
  EXPECT_EQ(again.file().status(), FILE_STATUS_SUCCESS);
  EXPECT_EQ(again.file().size_bytes(), 2048);
  EXPECT_EQ(again.file().version(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind='REGISTERED'"),
            1);
}

TEST_F(FileServiceTest, RegisterFileValidatesEveryField) {
  struct Case {
    std::string name;
    std::function<void(RegisterFileRequest*)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no file", [](RegisterFileRequest* r) { r->clear_file(); },
       "file: required"},
      {"empty source",
       [](RegisterFileRequest* r) { r->mutable_file()->set_source(""); },
       "file.source: must be 1..256 bytes (got 0)"},
      {"long source",
       [](RegisterFileRequest* r) {
         r->mutable_file()->set_source(std::string(257, 's'));
       },
       "file.source: must be 1..256 bytes (got 257)"},
      {"empty name",
       [](RegisterFileRequest* r) { r->mutable_file()->set_file_name(""); },
       "file.file_name: must be 1..1024 bytes (got 0)"},
      {"long name",
       [](RegisterFileRequest* r) {
         r->mutable_file()->set_file_name(std::string(1025, 'n'));
       },
       "file.file_name: must be 1..1024 bytes (got 1025)"},
      {"NUL in name",
       [](RegisterFileRequest* r) {
         r->mutable_file()->set_file_name(std::string("a\0b", 3));
       },
       "file.file_name: must not contain NUL bytes"},
      {"bad UTF-8 source",
       [](RegisterFileRequest* r) { r->mutable_file()->set_source("\xC3("); },
       ""},
      {"long checksum",
       [](RegisterFileRequest* r) {
         r->mutable_file()->set_checksum(std::string(257, 'c'));
       },
       "file.checksum: must be at most 256 bytes (got 257)"},
      {"negative size",
       [](RegisterFileRequest* r) { r->mutable_file()->set_size_bytes(-1); },
       "file.size_bytes: must not be negative (got -1)"},
      {"negative rows",
       [](RegisterFileRequest* r) { r->mutable_file()->set_row_count(-7); },
       "file.row_count: must not be negative (got -7)"},
      {"too many attributes",
       [](RegisterFileRequest* r) {
         for (int i = 0; i < 65; ++i) {
           (*r->mutable_file()->mutable_attributes())[absl::StrCat("k", i)] =
               "v";
         }
       },
       "file.attributes: at most 64 entries (got 65)"},
      {"empty key",
       [](RegisterFileRequest* r) {
         (*r->mutable_file()->mutable_attributes())[""] = "v";
       },
       "file.attributes key: must be 1..256 bytes (got 0)"},
      {"long key",
       [](RegisterFileRequest* r) {
         (*r->mutable_file()->mutable_attributes())[std::string(257, 'k')] =
             "v";
       },
       "file.attributes key: must be 1..256 bytes (got 257)"},
      {"bad UTF-8 key",
       [](RegisterFileRequest* r) {
         (*r->mutable_file()->mutable_attributes())["\xFF"] = "v";
       },
       ""},
      {"long value",
       [](RegisterFileRequest* r) {
         (*r->mutable_file()->mutable_attributes())["k"] =
             std::string(4097, 'v');
       },
       "file.attributes[\"k\"]: must be at most 4096 bytes (got 4097)"},
      {"NUL in value",
       [](RegisterFileRequest* r) {
         (*r->mutable_file()->mutable_attributes())["k"] = std::string("\0", 1);
       },
       "file.attributes[\"k\"]: must not contain NUL bytes"},
      {"long request id",
       [](RegisterFileRequest* r) { r->set_request_id(std::string(129, 'r')); },
       "request_id: must be at most 128 bytes (got 129)"},
  };
  for (const Case& c : cases) {
    RegisterFileRequest req;
    *req.mutable_file() = Spec("src", "a.csv");
    c.mutate(&req);
    RegisterFileResponse resp;
    grpc::Status s = Call(&FileService::Stub::RegisterFile, req, &resp);
    if (c.message.empty()) {
      // Invalid UTF-8 in a proto3 string: protobuf refuses to parse the
      // request, so it never reaches the service (CheckText guards behind).
      EXPECT_FALSE(s.ok()) << c.name;
      continue;
    }
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_THAT(s.error_message(), ::testing::StartsWith(c.message)) << c.name;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 0);

  // The limits themselves are allowed.
  RegisterFileRequest req;
  *req.mutable_file() = Spec(std::string(256, 's'), std::string(1024, 'n'));
  req.mutable_file()->set_checksum(std::string(256, 'c'));
  for (int i = 0; i < 64; ++i) {
    (*req.mutable_file()
          ->mutable_attributes())[absl::StrCat(std::string(250, 'k'), i)] =
        std::string(4096, 'v');
  }
  req.set_request_id(std::string(128, 'r'));
  RegisterFileResponse resp;
  grpc::Status s = Call(&FileService::Stub::RegisterFile, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.created());
  EXPECT_EQ(resp.file().attributes_size(), 64);
}

TEST_F(FileServiceTest, RegisterFilesIsAllOrNothingAndNamesTheItem) {
  RegisterFilesRequest req;
  for (int i = 0; i < 5; ++i) *req.add_files() = Spec("src", absl::StrCat(i));
  req.mutable_files(3)->set_file_name("");
  RegisterFilesResponse resp;
  grpc::Status s = Call(&FileService::Stub::RegisterFiles, req, &resp);
  ExpectRefused(s, grpc::StatusCode::INVALID_ARGUMENT,
                "files[3].file_name: must be 1..1024 bytes (got 0)");
  req.mutable_files(3)->set_file_name("3");
  (*req.mutable_files(4)->mutable_attributes())["k"] = std::string(5000, 'v');
  s = Call(&FileService::Stub::RegisterFiles, req, &resp);
  ExpectRefused(s, grpc::StatusCode::INVALID_ARGUMENT,
                "files[4].attributes[\"k\"]: must be at most 4096 bytes");
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 0);

  // A failure inside the transaction rolls back the items before it too:
  // a file whose row the database refuses (a trigger stands in for any
  // constraint) takes the whole batch with it.
  Sql("CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN IF NEW.file_name = 'poison' THEN RAISE check_violation; END "
      "IF; RETURN NEW; END $$");
  Sql("CREATE TRIGGER refuse_poison BEFORE INSERT ON files FOR EACH ROW "
      "EXECUTE FUNCTION refuse_poison()");
  req.mutable_files(4)->mutable_attributes()->clear();
  req.mutable_files(4)->set_file_name("poison");
  s = Call(&FileService::Stub::RegisterFiles, req, &resp);
  Sql("DROP TRIGGER refuse_poison ON files");
  Sql("DROP FUNCTION refuse_poison()");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 0);

  req.mutable_files(4)->set_file_name("4");
  s = Call(&FileService::Stub::RegisterFiles, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.created_count(), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 5);
}

TEST_F(FileServiceTest, RegisterFilesCountsAndReportsDuplicates) {
  NewFile("existing");
  RegisterFilesRequest req;
  *req.add_files() = Spec("src", "b");
  *req.add_files() = Spec("src", "existing");
  *req.add_files() = Spec("src", "b");
  *req.add_files() = Spec("src", "a");
  RegisterFilesResponse resp;
  ASSERT_TRUE(Call(&FileService::Stub::RegisterFiles, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 4);
  EXPECT_TRUE(resp.results(0).created());
  EXPECT_FALSE(resp.results(1).created());
  EXPECT_FALSE(resp.results(2).created());
  EXPECT_TRUE(resp.results(3).created());
  EXPECT_EQ(resp.results(0).file().id(), resp.results(2).file().id());
  EXPECT_EQ(resp.results(3).file().file_name(), "a");
  EXPECT_EQ(resp.created_count(), 2);
  // Again: nothing new.
  ASSERT_TRUE(Call(&FileService::Stub::RegisterFiles, req, &resp).ok());
  EXPECT_EQ(resp.created_count(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM files"), 3);
}

TEST_F(FileServiceTest, RegisterFilesTakesOneToAThousand) {
  RegisterFilesRequest req;
  RegisterFilesResponse resp;
  ExpectRefused(Call(&FileService::Stub::RegisterFiles, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "files: must hold 1..1000 files (got 0)");
  for (int i = 0; i < 1001; ++i) *req.add_files() = Spec("s", absl::StrCat(i));
  ExpectRefused(Call(&FileService::Stub::RegisterFiles, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "files: must hold 1..1000 files (got 1001)");
  req.mutable_files()->RemoveLast();
  ASSERT_TRUE(Call(&FileService::Stub::RegisterFiles, req, &resp).ok());
  EXPECT_EQ(resp.created_count(), 1000);
  ASSERT_EQ(resp.results_size(), 1000);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(resp.results(i).file().file_name(), absl::StrCat(i));
  }
  EXPECT_EQ(Count("SELECT count(DISTINCT file_id) FROM file_events WHERE "
                  "kind = 'REGISTERED'"),
            1000);
}

// ---- GetFile ----

TEST_F(FileServiceTest, GetFileByIdOrByNameAndItsRefusals) {
  const int64_t id = NewFile("a.csv");
  GetFileRequest req;
  File file;
  req.set_id(id);
  ASSERT_TRUE(Call(&FileService::Stub::GetFile, req, &file).ok());
  EXPECT_EQ(file.file_name(), "a.csv");
  req.Clear();
  req.set_source("src");
  req.set_file_name("a.csv");
  ASSERT_TRUE(Call(&FileService::Stub::GetFile, req, &file).ok());
  EXPECT_EQ(file.id(), id);

  req.Clear();
  ExpectRefused(Call(&FileService::Stub::GetFile, req, &file),
                grpc::StatusCode::INVALID_ARGUMENT, "id: required");
  req.set_id(-3);
  ExpectRefused(Call(&FileService::Stub::GetFile, req, &file),
                grpc::StatusCode::INVALID_ARGUMENT,
                "id: must be a positive id (got -3)");
  req.set_id(id);
  req.set_source("src");
  ExpectRefused(Call(&FileService::Stub::GetFile, req, &file),
                grpc::StatusCode::INVALID_ARGUMENT, "not both");
  req.Clear();
  req.set_source("src");
  ExpectRefused(Call(&FileService::Stub::GetFile, req, &file),
                grpc::StatusCode::INVALID_ARGUMENT,
                "file_name: must be 1..1024 bytes (got 0)");
  req.Clear();
  req.set_id(id + 1);
  ExpectRefused(Call(&FileService::Stub::GetFile, req, &file),
                grpc::StatusCode::NOT_FOUND,
                absl::StrCat("file ", id + 1, ": no such file"));
  req.Clear();
  req.set_source("src");
  req.set_file_name("b.csv");
  ExpectRefused(Call(&FileService::Stub::GetFile, req, &file),
                grpc::StatusCode::NOT_FOUND, "no file with that source");
}

// ---- ListFiles ----

TEST_F(FileServiceTest, ListFilesPagesNeverRepeatOrSkip) {
  RegisterFilesRequest reg;
  for (int i = 0; i < 250; ++i) {
    *reg.add_files() = Spec(i % 3 ? "a" : "b", absl::StrCat("f", i));
  }
  RegisterFilesResponse reg_resp;
  ASSERT_TRUE(Call(&FileService::Stub::RegisterFiles, reg, &reg_resp).ok());
  std::vector<int64_t> all_ids;
  for (const auto& r : reg_resp.results()) all_ids.push_back(r.file().id());
  std::sort(all_ids.begin(), all_ids.end());

  for (int page_size : {1, 7, 100, 249, 250, 1000}) {
    int pages = 0;
    EXPECT_EQ(ListAll({}, page_size, &pages), all_ids) << page_size;
    EXPECT_EQ(pages, (250 + page_size - 1) / page_size) << page_size;
  }
  // The default page is 100.
  ListFilesResponse resp;
  ASSERT_TRUE(
      Call(&FileService::Stub::ListFiles, ListFilesRequest(), &resp).ok());
  EXPECT_EQ(resp.files_size(), 100);

  ListFilesRequest by_source;
  by_source.set_source("b");
  std::vector<int64_t> b_ids = ListAll(by_source, 9);
  EXPECT_EQ(b_ids.size(), 84u);
  EXPECT_TRUE(std::is_sorted(b_ids.begin(), b_ids.end()));
  EXPECT_EQ(std::set<int64_t>(b_ids.begin(), b_ids.end()).size(), 84u);
}

TEST_F(FileServiceTest, ListFilesFiltersByStatusRunAndTime) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(NewFile(absl::StrCat(i)));
  const int64_t run = NewRun();
  ASSERT_EQ(Claim(run, 2).size(), 2u);
  ASSERT_TRUE(Complete(ids[0], run, FILE_STATUS_ERROR, "x").ok());
  Sql(
      absl::StrCat("UPDATE files SET create_time = '2021-06-01T00:00:00Z' "
                   "WHERE id = ",
                   ids[5]));
  ListFilesRequest req;
  req.set_status(FILE_STATUS_ERROR);
  EXPECT_THAT(ListAll(req, 10), ::testing::ElementsAre(ids[0]));
  req.set_status(FILE_STATUS_PROCESSING);
  EXPECT_THAT(ListAll(req, 10), ::testing::ElementsAre(ids[1]));
  req.Clear();
  req.set_run_id(run);
  EXPECT_THAT(ListAll(req, 1), ::testing::ElementsAre(ids[0], ids[1]));
  req.Clear();
  req.mutable_created_before()->set_seconds(1622505600 + 1);  // 2021-06-01
  EXPECT_THAT(ListAll(req, 10), ::testing::ElementsAre(ids[5]));
  req.Clear();
  req.mutable_created_after()->set_seconds(1622505600 + 1);
  EXPECT_THAT(ListAll(req, 2),
              ::testing::ElementsAre(ids[0], ids[1], ids[2], ids[3], ids[4]));
}

TEST_F(FileServiceTest, ListFilesRefusesBadArgumentsAndForeignTokens) {
  for (int i = 0; i < 5; ++i) NewFile(absl::StrCat(i));
  ListFilesRequest req;
  ListFilesResponse resp;
  req.set_page_size(2);
  req.set_source("src");
  ASSERT_TRUE(Call(&FileService::Stub::ListFiles, req, &resp).ok());
  const std::string token = resp.next_page_token();
  ASSERT_FALSE(token.empty());

  // The token only works with the filters it was issued for.
  ListFilesRequest other = req;
  other.set_page_token(token);
  other.set_source("elsewhere");
  ExpectRefused(Call(&FileService::Stub::ListFiles, other, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "page_token: was issued for other filters");
  other = req;
  other.set_page_token(token);
  other.set_status(FILE_STATUS_NEW);
  ExpectRefused(Call(&FileService::Stub::ListFiles, other, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "page_token: was issued for other filters");
  // A different page size is fine.
  other = req;
  other.set_page_token(token);
  other.set_page_size(50);
  ASSERT_TRUE(Call(&FileService::Stub::ListFiles, other, &resp).ok());
  EXPECT_EQ(resp.files_size(), 3);

  for (const std::string& forged :
       {std::string("garbage"), std::string("djE6MTpmZg"),
        EncodePageToken(1, 12345), token + "x", std::string(300, 'A')}) {
    other = req;
    other.set_page_token(forged);
    grpc::Status s = Call(&FileService::Stub::ListFiles, other, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << forged;
    EXPECT_THAT(s.error_message(), HasSubstr("page_token:")) << forged;
  }

  struct Case {
    std::function<void(ListFilesRequest*)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](ListFilesRequest* r) { r->set_page_size(-1); },
       "page_size: must be 0 (default 100) or positive; above 1000 counts as "
       "1000 (got -1)"},
      {[](ListFilesRequest* r) { r->set_status(static_cast<FileStatus>(9)); },
       "status: unknown FileStatus value 9"},
      {[](ListFilesRequest* r) { r->set_run_id(-1); },
       "run_id: must be a positive id (got -1)"},
      {[](ListFilesRequest* r) { r->set_source(std::string(257, 'x')); },
       "source: must be 1..256 bytes (got 257)"},
      {[](ListFilesRequest* r) { r->set_source(std::string("a\0", 2)); },
       "source: must not contain NUL bytes"},
      {[](ListFilesRequest* r) { r->mutable_created_after()->set_nanos(-1); },
       "created_after: must be a valid time"},
      {[](ListFilesRequest* r) {
         r->mutable_created_before()->set_seconds(999999999999LL);
       },
       "created_before: must be a valid time"},
  };
  for (const Case& c : cases) {
    ListFilesRequest bad;
    c.mutate(&bad);
    ExpectRefused(Call(&FileService::Stub::ListFiles, bad, &resp),
                  grpc::StatusCode::INVALID_ARGUMENT, c.message);
  }
}

TEST_F(FileServiceTest, ListFilesKeepsBigPagesUnderTheMessageLimit) {
  // 20 files of ~270 KiB each: 100 of them would not fit in a 4 MiB message.
  for (int i = 0; i < 20; ++i) {
    FileSpec spec = Spec("big", absl::StrCat(i));
    for (int k = 0; k < 64; ++k) {
      (*spec.mutable_attributes())[absl::StrCat("k", k)] =
          std::string(4096, 'a' + i % 26);
    }
    Register(spec);
  }
  int pages = 0;
  std::vector<int64_t> ids = ListAll({}, 100, &pages);
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 20u);
  EXPECT_GE(pages, 3);
}

// ---- ClaimFiles ----

TEST_F(FileServiceTest, ClaimFilesValidatesAndRefusesDeadRuns) {
  NewFile("a");
  ClaimFilesRequest req;
  ClaimFilesResponse resp;
  req.set_limit(1);
  ExpectRefused(Call(&FileService::Stub::ClaimFiles, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "run_id: must be a positive id (got 0)");
  const int64_t run = NewRun();
  req.set_run_id(run);
  for (int limit : {0, -1, 1001, 1000000000}) {
    req.set_limit(limit);
    ExpectRefused(Call(&FileService::Stub::ClaimFiles, req, &resp),
                  grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("limit: must be 1..1000 (got ", limit, ")"));
  }
  req.set_limit(10);
  req.set_source(std::string(300, 's'));
  ExpectRefused(Call(&FileService::Stub::ClaimFiles, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT, "source: must be 1..256");
  req.clear_source();
  req.set_run_id(run + 100);
  ExpectRefused(Call(&FileService::Stub::ClaimFiles, req, &resp),
                grpc::StatusCode::NOT_FOUND, "no such run");
  ExpireLease(run);
  req.set_run_id(run);
  ExpectRefused(Call(&FileService::Stub::ClaimFiles, req, &resp),
                grpc::StatusCode::FAILED_PRECONDITION,
                absl::StrCat("run ", run, ": lease expired at"));
  EndRun(run, "ERROR", "lease expired");
  ExpectRefused(Call(&FileService::Stub::ClaimFiles, req, &resp),
                grpc::StatusCode::FAILED_PRECONDITION,
                "has ended as ERROR (lease expired)");
  EXPECT_EQ(Sql("SELECT status FROM files"), "NEW");

  req.set_run_id(NewRun());
  req.set_source("src");
  ASSERT_TRUE(Call(&FileService::Stub::ClaimFiles, req, &resp).ok());
  ASSERT_EQ(resp.files_size(), 1);
  EXPECT_EQ(resp.files(0).status(), FILE_STATUS_PROCESSING);
  EXPECT_EQ(resp.files(0).run_id(), req.run_id());
}

// ---- CompleteFile / ResetFile ----

TEST_F(FileServiceTest, CompleteFileValidatesItsArguments) {
  const int64_t run = NewRun();
  const int64_t id = NewFile("a");
  ASSERT_EQ(Claim(run, 1).size(), 1u);
  ExpectRefused(Complete(0, run, FILE_STATUS_SUCCESS),
                grpc::StatusCode::INVALID_ARGUMENT, "file_id: must be a");
  ExpectRefused(Complete(id, -1, FILE_STATUS_SUCCESS),
                grpc::StatusCode::INVALID_ARGUMENT, "run_id: must be a");
  ExpectRefused(Complete(id, run, FILE_STATUS_NEW),
                grpc::StatusCode::INVALID_ARGUMENT,
                "status: must be FILE_STATUS_SUCCESS or FILE_STATUS_ERROR "
                "(got FILE_STATUS_NEW)");
  ExpectRefused(Complete(id, run, FILE_STATUS_UNSPECIFIED),
                grpc::StatusCode::INVALID_ARGUMENT, "(got FILE_STATUS_UNSPEC");
  ExpectRefused(Complete(id, run, static_cast<FileStatus>(42)),
                grpc::StatusCode::INVALID_ARGUMENT, "(got 42)");
  ExpectRefused(Complete(id, run, FILE_STATUS_SUCCESS, "oops"),
                grpc::StatusCode::INVALID_ARGUMENT,
                "error_message: must be empty when status is");
  ExpectRefused(Complete(id, run, FILE_STATUS_ERROR, std::string(4097, 'e')),
                grpc::StatusCode::INVALID_ARGUMENT,
                "error_message: must be at most 4096 bytes");
  EXPECT_EQ(Sql("SELECT status FROM files"), "PROCESSING");
  ASSERT_TRUE(
      Complete(id, run, FILE_STATUS_ERROR, std::string(4096, 'e')).ok());
}

TEST_F(FileServiceTest, StaleRunCannotCompleteAfterTheFileMovedOn) {
  const int64_t old_run = NewRun();
  const int64_t id = NewFile("a");
  ASSERT_EQ(Claim(old_run, 1).size(), 1u);
  // The old run lost its lease and was ended; the file went back to NEW and
  // a new run claimed it (what the lease reaper and a new worker do).
  ExpireLease(old_run);
  ExpectRefused(Complete(id, old_run, FILE_STATUS_SUCCESS),
                grpc::StatusCode::FAILED_PRECONDITION, "lease expired");
  EndRun(old_run, "ERROR", "lease expired");
  SetFileState(id, "NEW");
  const int64_t new_run = NewRun();
  ASSERT_EQ(Claim(new_run, 1).size(), 1u);
  ExpectRefused(Complete(id, old_run, FILE_STATUS_SUCCESS),
                grpc::StatusCode::FAILED_PRECONDITION,
                absl::StrCat("run ", old_run, ": has ended as ERROR"));
  // A live run that does not hold it is refused too.
  const int64_t bystander = NewRun();
  ExpectRefused(Complete(id, bystander, FILE_STATUS_SUCCESS),
                grpc::StatusCode::FAILED_PRECONDITION,
                absl::StrCat("held by run ", new_run));
  ASSERT_TRUE(Complete(id, new_run, FILE_STATUS_SUCCESS).ok());
  ExpectRefused(Complete(id + 1, new_run, FILE_STATUS_SUCCESS),
                grpc::StatusCode::NOT_FOUND, "no such file");
}

TEST_F(FileServiceTest, ResetFileOnlyFromErrorAndItsRefusals) {
  const int64_t run = NewRun();
  const int64_t id = NewFile("a");
  ResetFileRequest req;
  ResetFileResponse resp;
  req.set_file_id(id);
  ExpectRefused(Call(&FileService::Stub::ResetFile, req, &resp),
                grpc::StatusCode::FAILED_PRECONDITION,
                absl::StrCat("file ", id, ": is NEW; only an ERROR file"));
  ASSERT_EQ(Claim(run, 1).size(), 1u);
  ExpectRefused(Call(&FileService::Stub::ResetFile, req, &resp),
                grpc::StatusCode::FAILED_PRECONDITION, "is PROCESSING");
  ASSERT_TRUE(Complete(id, run, FILE_STATUS_ERROR, "bad").ok());
  req.set_reason(std::string(4097, 'r'));
  ExpectRefused(Call(&FileService::Stub::ResetFile, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "reason: must be at most 4096 bytes (got 4097)");
  req.set_reason("retry after fix");
  ASSERT_TRUE(Call(&FileService::Stub::ResetFile, req, &resp).ok());
  EXPECT_EQ(resp.file().status(), FILE_STATUS_NEW);
  EXPECT_EQ(resp.file().run_id(), 0);
  ExpectRefused(Call(&FileService::Stub::ResetFile, req, &resp),
                grpc::StatusCode::FAILED_PRECONDITION, "is NEW");
  req.set_file_id(-5);
  ExpectRefused(Call(&FileService::Stub::ResetFile, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT, "file_id: must be");
  req.set_file_id(id + 7);
  ExpectRefused(Call(&FileService::Stub::ResetFile, req, &resp),
                grpc::StatusCode::NOT_FOUND, "no such file");
}

// ---- ListFileEvents: a whole life, told by its events ----

TEST_F(FileServiceTest, EveryChangeAppearsInTheEventTrail) {
  const int64_t id = NewFile("life.csv");
  NewFile("other.csv");
  const int64_t run1 = NewRun();
  ASSERT_EQ(Claim(run1, 1).size(), 1u);
  ASSERT_TRUE(Complete(id, run1, FILE_STATUS_ERROR, "bad header").ok());
  ResetFileRequest reset;
  reset.set_file_id(id);
  reset.set_reason("parser fixed");
  ResetFileResponse reset_resp;
  ASSERT_TRUE(Call(&FileService::Stub::ResetFile, reset, &reset_resp).ok());
  const int64_t run2 = NewRun();
  // other.csv has a higher id than life.csv's reset... claim both.
  ASSERT_EQ(Claim(run2, 10).size(), 2u);
  ASSERT_TRUE(Complete(id, run2, FILE_STATUS_SUCCESS).ok());
  Register(Spec("src", "life.csv"));  // no event: nothing changed

  ListFileEventsRequest req;
  req.set_file_id(id);
  req.set_page_size(2);
  std::vector<FileEvent> events;
  for (;;) {
    ListFileEventsResponse resp;
    ASSERT_TRUE(Call(&FileService::Stub::ListFileEvents, req, &resp).ok());
    events.insert(events.end(), resp.events().begin(), resp.events().end());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  std::vector<std::string> trail;
  for (const FileEvent& e : events) {
    EXPECT_EQ(e.file_id(), id);
    EXPECT_GT(e.event_time().seconds(), 0);
    trail.push_back(absl::StrCat(
        e.kind(), " ", FileStatus_Name(e.from_status()), "->",
        FileStatus_Name(e.to_status()), " run=", e.run_id(), " ", e.message()));
  }
  EXPECT_THAT(
      trail,
      ::testing::ElementsAre(
          "REGISTERED FILE_STATUS_UNSPECIFIED->FILE_STATUS_NEW run=0 ",
          absl::StrCat("CLAIMED FILE_STATUS_NEW->FILE_STATUS_PROCESSING run=",
                       run1, " "),
          absl::StrCat(
              "COMPLETED FILE_STATUS_PROCESSING->FILE_STATUS_ERROR run=", run1,
              " bad header"),
          "RESET FILE_STATUS_ERROR->FILE_STATUS_NEW run=0 parser fixed",
          absl::StrCat("CLAIMED FILE_STATUS_NEW->FILE_STATUS_PROCESSING run=",
                       run2, " "),
          absl::StrCat(
              "COMPLETED FILE_STATUS_PROCESSING->FILE_STATUS_SUCCESS run=",
              run2, " ")));

  // All files: both files' events, in order; tokens are bound to file_id.
  ListFileEventsRequest all;
  all.set_page_size(3);
  ListFileEventsResponse resp;
  ASSERT_TRUE(Call(&FileService::Stub::ListFileEvents, all, &resp).ok());
  ASSERT_EQ(resp.events_size(), 3);
  ListFileEventsRequest wrong = all;
  wrong.set_page_token(resp.next_page_token());
  wrong.set_file_id(id);
  ExpectRefused(Call(&FileService::Stub::ListFileEvents, wrong, &resp),
                grpc::StatusCode::INVALID_ARGUMENT,
                "page_token: was issued for other filters");
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 8);

  ListFileEventsRequest bad;
  bad.set_file_id(-1);
  ExpectRefused(Call(&FileService::Stub::ListFileEvents, bad, &resp),
                grpc::StatusCode::INVALID_ARGUMENT, "file_id: must be");
  bad.set_file_id(id + 1000);
  ExpectRefused(Call(&FileService::Stub::ListFileEvents, bad, &resp),
                grpc::StatusCode::NOT_FOUND, "no such file");
  bad.set_file_id(0);
  bad.set_page_size(-5000);
  ExpectRefused(Call(&FileService::Stub::ListFileEvents, bad, &resp),
                grpc::StatusCode::INVALID_ARGUMENT, "page_size:");
}

}  // namespace
}  // namespace metad::daemon
