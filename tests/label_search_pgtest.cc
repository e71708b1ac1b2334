// Label and attribute search (issue 15): ListRuns' label_selector and
// ListFiles' attribute_selector with AND semantics, combined with the other
// filters and keyset paging, the selector bound into the page token, each
// refusal naming its term, and the GIN indexes that serve them (the plan of
// the statement the store runs, over 100,000 rows, must use the index).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/services/file_service.h"
#include "metad/v1/files.grpc.pb.h"
#include "store/queries/file.sql.h"
#include "store/queries/run.sql.h"
#include "store/string_map_json.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class LabelSearchTest : public RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    server_ = std::make_unique<TestServer>(db());
    server_->Add<daemon::TaskLogServiceImpl>();
    server_->Add<daemon::FileServiceImpl>();
    server_->Start();
    runs_ = metad::v1::TaskLogService::NewStub(server_->channel());
    files_ = metad::v1::FileService::NewStub(server_->channel());
  }
  void TearDown() override {
    runs_.reset();
    files_.reset();
    server_.reset();
  }

  int64_t StartLabelled(const std::string& task, const std::string& batch,
                        const std::map<std::string, std::string>& labels) {
    metad::v1::StartRunRequest request;
    request.set_task(task);
    request.set_batch_id(batch);
    for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
    metad::v1::StartRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = runs_->StartRun(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  // The ids of every page of ListRuns for `request`, page by page.
  grpc::Status ListRunIds(metad::v1::ListRunsRequest request,
                          std::vector<int64_t>* ids) {
    ids->clear();
    for (int pages = 0; pages < 100; ++pages) {
      metad::v1::ListRunsResponse response;
      grpc::ClientContext context;
      grpc::Status status = runs_->ListRuns(&context, request, &response);
      if (!status.ok()) return status;
      for (const auto& run : response.runs()) ids->push_back(run.id());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return grpc::Status::OK;
  }

  std::vector<int64_t> RunIds(const std::string& selector, int page_size = 0,
                              const std::string& task = "") {
    metad::v1::ListRunsRequest request;
    request.set_label_selector(selector);
    request.set_page_size(page_size);
    request.set_task(task);
    std::vector<int64_t> ids;
    grpc::Status status = ListRunIds(request, &ids);
    EXPECT_TRUE(status.ok()) << selector << ": " << status.error_message();
    return ids;
  }

  grpc::Status ListFileIds(metad::v1::ListFilesRequest request,
                           std::vector<int64_t>* ids) {
    ids->clear();
    for (int pages = 0; pages < 100; ++pages) {
      metad::v1::ListFilesResponse response;
      grpc::ClientContext context;
      grpc::Status status = files_->ListFiles(&context, request, &response);
      if (!status.ok()) return status;
      for (const auto& file : response.files()) ids->push_back(file.id());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return grpc::Status::OK;
  }

  std::vector<int64_t> FileIds(const std::string& selector, int page_size = 0,
                               const std::string& source = "") {
    metad::v1::ListFilesRequest request;
    request.set_attribute_selector(selector);
    request.set_page_size(page_size);
    request.set_source(source);
    std::vector<int64_t> ids;
    grpc::Status status = ListFileIds(request, &ids);
    EXPECT_TRUE(status.ok()) << selector << ": " << status.error_message();
    return ids;
  }

  int64_t AddFileWith(const std::string& source, const std::string& name,
                      const std::string& attributes_json) {
    return std::stoll(Sql(absl::StrCat(
        "INSERT INTO files (source, file_name, attributes) VALUES ('", source,
        "', '", name, "', '", attributes_json, "') RETURNING id")));
  }

  // The plan of `query` (a store statement) for `args` (SQL literals), in a
  // custom plan as the store makes it (file.force_custom_plan).
  std::string Plan(const store::Query& query, const std::string& args) {
    pqxx::connection conn(url());
    pqxx::work tx(conn);
    tx.exec("SET LOCAL plan_cache_mode = force_custom_plan");
    tx.exec(absl::StrCat("PREPARE q AS ", query.sql));
    std::string plan;
    for (const auto& row :
         tx.exec(absl::StrCat("EXPLAIN EXECUTE q(", args, ")"))) {
      absl::StrAppend(&plan, row[0].c_str(), "\n");
    }
    return plan;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<metad::v1::TaskLogService::Stub> runs_;
  std::unique_ptr<metad::v1::FileService::Stub> files_;
};

TEST_F(LabelSearchTest, ListRunsMatchesEveryTerm) {
  CreateTask("load");
  CreateTask("other");
  const int64_t a =
      StartLabelled("load", "b1", {{"env", "prod"}, {"sha", "1"}});
  const int64_t b = StartLabelled("load", "b2", {{"env", "prod"}});
  const int64_t c = StartLabelled("load", "b3", {{"env", "dev"}, {"sha", "2"}});
  const int64_t d = StartLabelled("other", "b1", {{"env", "prod"}, {"e", ""}});
  StartLabelled("other", "b2", {});
  EXPECT_THAT(RunIds("env=prod"), ElementsAre(a, b, d));
  EXPECT_THAT(RunIds("env=prod,sha"), ElementsAre(a));
  EXPECT_THAT(RunIds("sha"), ElementsAre(a, c));
  EXPECT_THAT(RunIds(" sha , env=dev "), ElementsAre(c));
  EXPECT_THAT(RunIds("sha=1,env=dev"), ElementsAre());
  EXPECT_THAT(RunIds("e="), ElementsAre(d));
  EXPECT_THAT(RunIds("nope"), ElementsAre());
  // Combined with the other filters, and paged one run at a time.
  EXPECT_THAT(RunIds("env=prod", 0, "load"), ElementsAre(a, b));
  EXPECT_THAT(RunIds("env=prod", 1), ElementsAre(a, b, d));
}

TEST_F(LabelSearchTest, ListFilesMatchesEveryTermWithEscapes) {
  const int64_t a = AddFileWith("s1", "a", R"({"region": "eu", "fmt": "csv"})");
  const int64_t b = AddFileWith("s1", "b", R"({"region": "eu"})");
  const int64_t c = AddFileWith("s2", "c", R"({"region": "us", "fmt": "csv"})");
  const int64_t d = AddFileWith("s2", "d", R"({"a,b": "x=y", "sp": " v "})");
  EXPECT_THAT(FileIds("region=eu"), ElementsAre(a, b));
  EXPECT_THAT(FileIds("region=eu,fmt=csv"), ElementsAre(a));
  EXPECT_THAT(FileIds("fmt"), ElementsAre(a, c));
  EXPECT_THAT(FileIds("fmt", 0, "s2"), ElementsAre(c));
  EXPECT_THAT(FileIds("region", 1), ElementsAre(a, b, c));
  EXPECT_THAT(FileIds(R"(a\,b=x\=y)"), ElementsAre(d));
  EXPECT_THAT(FileIds(R"(sp=\ v\ )"), ElementsAre(d));
  EXPECT_THAT(FileIds("sp=v"), ElementsAre());
}

TEST_F(LabelSearchTest, PageTokenIsBoundToTheSelector) {
  CreateTask("t");
  for (int i = 0; i < 3; ++i) {
    StartLabelled("t", absl::StrCat("b", i), {{"env", "prod"}});
  }
  metad::v1::ListRunsRequest request;
  request.set_label_selector("env=prod");
  request.set_page_size(1);
  metad::v1::ListRunsResponse first;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(runs_->ListRuns(&context, request, &first).ok());
    ASSERT_FALSE(first.next_page_token().empty());
  }
  request.set_page_token(first.next_page_token());
  request.set_label_selector("env=dev");
  metad::v1::ListRunsResponse next;
  grpc::ClientContext context;
  grpc::Status status = runs_->ListRuns(&context, request, &next);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));

  AddFileWith("s", "f1", R"({"k": "v"})");
  AddFileWith("s", "f2", R"({"k": "v"})");
  metad::v1::ListFilesRequest files_request;
  files_request.set_attribute_selector("k=v");
  files_request.set_page_size(1);
  metad::v1::ListFilesResponse files_first, files_next;
  {
    grpc::ClientContext c1;
    ASSERT_TRUE(files_->ListFiles(&c1, files_request, &files_first).ok());
  }
  files_request.set_page_token(files_first.next_page_token());
  files_request.set_attribute_selector("k");
  grpc::ClientContext c2;
  EXPECT_EQ(files_->ListFiles(&c2, files_request, &files_next).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(LabelSearchTest, BadSelectorsNameTheTerm) {
  std::string many;
  for (int i = 0; i < 17; ++i) absl::StrAppend(&many, i ? "," : "", "k", i);
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"env=prod,,x", "label_selector: term 2 \"\": is empty"},
      {"env=prod,", "label_selector: term 2 \"\": is empty"},
      {"bad key=1", "term 1 \"bad key=1\": key \"bad key\" must be"},
      {"=v", "term 1 \"=v\": key must be 1..128 bytes (got 0)"},
      {"-k", "term 1 \"-k\": key \"-k\" must start with a letter or digit"},
      {"k=1,k=2", "term 2 \"k=2\": names a key an earlier term already names"},
      {"k=v\\", "label_selector: ends in a '\\' that escapes nothing"},
      {many, "label_selector: at most 16 terms"},
      {"k=" + std::string(257, 'v'),
       "term 1: value must be at most 256 bytes (got 257)"},
      {std::string(8193, 'k'), "label_selector: must be at most 8192 bytes"},
  };
  for (const auto& [selector, message] : runs) {
    metad::v1::ListRunsRequest request;
    request.set_label_selector(selector);
    std::vector<int64_t> ids;
    grpc::Status status = ListRunIds(request, &ids);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << selector;
    EXPECT_THAT(status.error_message(), HasSubstr(message));
  }
  const std::vector<std::pair<std::string, std::string>> files = {
      {"a=1,", "attribute_selector: term 2 \"\": is empty"},
      {"k=" + std::string(4097, 'v'),
       "attribute_selector: term 1: value must be at most 4096 bytes"},
      {std::string(257, 'k'), "term 1: key must be 1..256 bytes (got 257)"},
  };
  for (const auto& [selector, message] : files) {
    metad::v1::ListFilesRequest request;
    request.set_attribute_selector(selector);
    std::vector<int64_t> ids;
    grpc::Status status = ListFileIds(request, &ids);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << selector;
    EXPECT_THAT(status.error_message(), HasSubstr(message));
  }
}

// A key=value selector is answered from its matches, sorted, while they
// are at most store::kSelectorProbeLimit above the page's cursor, and by
// the key walk past that: pages agree with the data on both sides of the
// limit and where a walk crosses it.
TEST_F(LabelSearchTest, PagesAgreeAcrossTheProbeLimit) {
  ASSERT_EQ(store::kSelectorProbeLimit, 5000);
  Sql("INSERT INTO files (source, file_name, attributes) "
      "SELECT 's', 'f' || i, CASE WHEN i % 5 = 0 THEN '{}'::jsonb ELSE "
      "jsonb_build_object('k', 'v', 'n', (i % 3)::text) END "
      "FROM generate_series(1, 15000) i");
  CreateTask("t");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, end_time, labels) "
      "SELECT t.id, 'b' || i, 'ERROR', 1, 60, now(), CASE WHEN i % 5 = 0 "
      "THEN '{}'::jsonb ELSE jsonb_build_object('k', 'v', 'n', "
      "(i % 3)::text) END FROM tasks t, generate_series(1, 15000) i");
  // New versions of the oldest 4,000 rows, at the end of each heap: a scan
  // in physical order then meets higher ids first, so an answer that took
  // the first matches it met without sorting them all would miss these.
  Sql("UPDATE files SET size_bytes = 1 "
      "WHERE id < (SELECT min(id) + 4000 FROM files)");
  Sql("UPDATE task_log SET attempt = 2 "
      "WHERE id < (SELECT min(id) + 4000 FROM task_log)");
  Sql("ANALYZE files");
  Sql("ANALYZE task_log");
  auto expected = [this](const std::string& table, const std::string& column,
                         const std::string& json) {
    std::vector<int64_t> ids;
    for (const std::string& id : std::vector<std::string>(absl::StrSplit(
             Sql(absl::StrCat("SELECT string_agg(id::text, ',' ORDER BY id) "
                              "FROM ",
                              table, " WHERE ", column, " @> '", json, "'")),
             ','))) {
      ids.push_back(std::stoll(id));
    }
    return ids;
  };
  // 12,000 matches: the first pages by the walk, the last ones (fewer
  // than 5,000 left above the cursor) from the matches; 4,000: all from
  // the matches.
  const std::vector<int64_t> dense =
      expected("files", "attributes", R"({"k": "v"})");
  const std::vector<int64_t> sparse =
      expected("files", "attributes", R"({"k": "v", "n": "1"})");
  ASSERT_EQ(dense.size(), 12000u);
  ASSERT_EQ(sparse.size(), 4000u);
  EXPECT_EQ(FileIds("k=v", 1000), dense);
  EXPECT_EQ(FileIds("k=v,n=1", 1000), sparse);
  EXPECT_EQ(FileIds("k=v,n", 1000), dense);
  EXPECT_EQ(RunIds("k=v", 1000),
            expected("task_log", "labels", R"({"k": "v"})"));
  EXPECT_EQ(RunIds("k=v,n=2", 1000),
            expected("task_log", "labels", R"({"k": "v", "n": "2"})"));
}

// The statements the stores run, over 100,000 files and runs: a
// selective selector must be answered through a GIN index, not by
// scanning the table: key=value terms through the jsonb_path_ops index
// (files_attribute_pairs, task_log_label_pairs; migration 0016), key terms
// through the jsonb_ops one (files_attributes). Dropping the indexes makes
// the same check fail.
TEST_F(LabelSearchTest, SelectorsUseTheGinIndexes) {
  Sql("INSERT INTO files (source, file_name, attributes) "
      "SELECT 's' || (i % 10), 'f' || i, jsonb_build_object("
      "'shard', (i % 1000)::text, 'fmt', 'csv') "
      "  || CASE WHEN i % 20000 = 0 THEN '{\"rare\": \"y\"}'::jsonb "
      "          ELSE '{}'::jsonb END "
      "FROM generate_series(1, 100000) i");
  CreateTask("t");
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, end_time, labels) "
      "SELECT t.id, 'b' || i, 'ERROR', 1, 60, now(), jsonb_build_object("
      "'shard', (i % 1000)::text, 'env', 'prod', 'sha', md5(i::text)) "
      "FROM tasks t, generate_series(1, 100000) i");
  // GIN's fast-update pending list (up to 4 MB) holds the new rows until
  // autovacuum merges them; here it would be most of the small task_log,
  // and the planner rightly prices scanning it. Merge it as autovacuum
  // would, then take statistics.
  Sql("SELECT gin_clean_pending_list('files_attributes'::regclass), "
      "gin_clean_pending_list('task_log_labels'::regclass), "
      "gin_clean_pending_list('files_attribute_pairs'::regclass), "
      "gin_clean_pending_list('task_log_label_pairs'::regclass)");
  // With the default target ANALYZE samples 30,000 of the 100,000 rows,
  // and the jsonb estimate of `@>` is the share of the sampled histogram
  // that matches: when shard 7 lands in the histogram (about one run in
  // ten) it reads 1%, and the planner rightly walks files_pkey under the
  // LIMIT instead. Sampling every row makes the estimate the true 0.1%,
  // the same on every run: the question here is which plan the statement
  // gets with true statistics, not how lucky a sample was.
  Sql("ALTER TABLE files ALTER COLUMN attributes SET STATISTICS 10000");
  Sql("ALTER TABLE task_log ALTER COLUMN labels SET STATISTICS 10000");
  Sql("ANALYZE files");
  Sql("ANALYZE task_log");
  // file.list: after_id, status, source, run_id, created after/before,
  // limit, contains, has_keys.
  const std::string shard =
      "0, NULL, NULL, NULL, NULL, NULL, 101, '{\"shard\": \"7\"}', NULL";
  const std::string rare =
      "0, NULL, NULL, NULL, NULL, NULL, 101, NULL, '{rare}'";
  for (const auto& [args, index] :
       {std::pair<std::string, std::string>{shard, "files_attribute_pairs"},
        {rare, "files_attributes"}}) {
    const std::string plan = Plan(store::sql::kFileList, args);
    EXPECT_THAT(plan, HasSubstr(index)) << plan;
    EXPECT_THAT(plan, Not(HasSubstr("Seq Scan on files"))) << plan;
  }
  // run.list: after_id, task, batch, status, started after/before, limit,
  // contains, has_keys.
  const std::string run_args =
      "0, '', '', '', NULL, NULL, 101, '{\"shard\": \"7\"}', NULL";
  const std::string run_plan = Plan(store::sql::kRunList, run_args);
  EXPECT_THAT(run_plan, HasSubstr("task_log_label_pairs")) << run_plan;
  EXPECT_THAT(run_plan, Not(HasSubstr("Seq Scan on task_log"))) << run_plan;

  // The selective form (a key=value term) finds the matches through the
  // path_ops index whatever the estimate, and never walks the primary key
  // testing every row.
  const std::string probe_plan =
      Plan(store::sql::kRunListSelected, run_args + ", 5000");
  EXPECT_THAT(probe_plan,
              HasSubstr("Bitmap Index Scan on task_log_label_pairs"))
      << probe_plan;
  EXPECT_THAT(probe_plan, Not(HasSubstr("Filter: ((labels @>"))) << probe_plan;

  // The results through the API agree with the data.
  EXPECT_EQ(FileIds("shard=7").size(), 100u);
  EXPECT_EQ(FileIds("rare").size(), 5u);
  EXPECT_EQ(RunIds("shard=7,env=prod").size(), 100u);

  // Without the indexes the check above fails: the plan scans.
  Sql("DROP INDEX files_attributes, files_attribute_pairs");
  EXPECT_THAT(Plan(store::sql::kFileList, shard),
              Not(HasSubstr("files_attribute")));
}

}  // namespace
}  // namespace metad::testing
