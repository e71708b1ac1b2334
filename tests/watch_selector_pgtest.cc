// WatchRuns' label_selector and WatchFiles' attribute_selector (issue 15):
// a stream carries only the events of runs (files) the selector matches,
// and refuses a bad selector naming the term.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/support/pg_test_base.h"
#include "tests/watch_test_support.h"

namespace metad::testing {
namespace {

using ::testing::HasSubstr;

class WatchSelectorTest : public PgTest {
 protected:
  daemon::WatchOptions Options() {
    daemon::WatchOptions options;
    options.mode = daemon::WatchMode::kPoll;
    options.poll_interval = absl::Milliseconds(50);
    return options;
  }

  std::vector<int64_t> Ids(const std::string& sql) {
    std::vector<int64_t> ids;
    for (absl::string_view part : absl::StrSplit(
             Sql(absl::StrCat("SELECT coalesce(string_agg(id::text, ',' "
                              "ORDER BY id), '') FROM (",
                              sql, ") q")),
             ',', absl::SkipEmpty())) {
      ids.push_back(std::stoll(std::string(part)));
    }
    return ids;
  }

  int64_t Start(std::shared_ptr<grpc::Channel> channel,
                const std::string& batch,
                const std::map<std::string, std::string>& labels) {
    auto stub = metad::v1::TaskLogService::NewStub(channel);
    metad::v1::StartRunRequest request;
    request.set_task("t");
    request.set_batch_id(batch);
    for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
    metad::v1::StartRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->StartRun(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }
};

TEST_F(WatchSelectorTest, RunEventsOfMatchingRunsOnly) {
  WatchServer server(db(), Options());
  Sql("INSERT INTO tasks (name) VALUES ('t')");
  // Matching, not matching, matching: without the filter the second event
  // of the stream would be the middle run's.
  const int64_t a = Start(server.channel(), "b1", {{"env", "prod"}, {"x", ""}});
  Start(server.channel(), "b2", {{"env", "dev"}, {"x", ""}});
  Start(server.channel(), "b3", {{"env", "prod"}});
  const int64_t c =
      Start(server.channel(), "b4", {{"env", "prod"}, {"x", "1"}});
  metad::v1::WatchRunsRequest request;
  request.set_after_event_id(-1);
  request.set_label_selector("env=prod,x");
  auto stream = WatchRuns(server.channel(), request);
  ASSERT_TRUE(stream->WaitFor(2));
  EXPECT_EQ(stream->ids(),
            Ids(absl::StrCat("SELECT id FROM run_events WHERE run_id IN (", a,
                             ", ", c, ")")));
}

TEST_F(WatchSelectorTest, FileEventsOfMatchingFilesOnly) {
  WatchServer server(db(), Options());
  const std::vector<std::string> attributes = {
      R"({"region": "eu"})", R"({"region": "us"})", R"({"region": "eu"})"};
  for (size_t i = 0; i < attributes.size(); ++i) {
    Sql(
        absl::StrCat("WITH f AS (INSERT INTO files (source, file_name, "
                     "attributes) VALUES ('s', 'f",
                     i, "', '", attributes[i],
                     "') RETURNING id) INSERT INTO file_events (file_id, kind, "
                     "to_status) SELECT id, 'REGISTERED', 'NEW' FROM f"));
  }
  metad::v1::WatchFilesRequest request;
  request.set_after_event_id(-1);
  request.set_attribute_selector("region=eu");
  auto stream = WatchFiles(server.channel(), request);
  ASSERT_TRUE(stream->WaitFor(2));
  EXPECT_EQ(stream->ids(),
            Ids("SELECT e.id FROM file_events e JOIN files f ON f.id = "
                "e.file_id WHERE f.attributes->>'region' = 'eu'"));
}

TEST_F(WatchSelectorTest, BadSelectorIsInvalidArgumentNamingTheTerm) {
  WatchServer server(db(), Options());
  metad::v1::WatchRunsRequest runs;
  runs.set_label_selector("env=prod,bad key");
  auto run_stream = WatchRuns(server.channel(), runs);
  grpc::Status status = run_stream->Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("label_selector: term 2 \"bad key\""));
  metad::v1::WatchFilesRequest files;
  files.set_attribute_selector("a=1,a");
  auto file_stream = WatchFiles(server.channel(), files);
  status = file_stream->Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("attribute_selector: term 2 \"a\""));
}

}  // namespace
}  // namespace metad::testing
