// Run labels (issue 15): StartRun stores them, every read of the run returns
// them, a retried request_id answers the first run's, and each rule of
// CheckRunLabels refuses with INVALID_ARGUMENT naming the label.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using Labels = std::map<std::string, std::string>;

class RunLabelsTest : public RunServiceTest {
 protected:
  grpc::Status StartLabelled(const std::string& task, const std::string& batch,
                             const Labels& labels,
                             metad::v1::StartRunResponse* response,
                             const std::string& request_id = "") {
    metad::v1::StartRunRequest request;
    request.set_task(task);
    request.set_batch_id(batch);
    request.set_request_id(request_id);
    for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
    grpc::ClientContext context;
    return stub_->StartRun(&context, request, response);
  }

  static Labels AsMap(
      const google::protobuf::Map<std::string, std::string>& m) {
    return Labels(m.begin(), m.end());
  }
};

TEST_F(RunLabelsTest, StoredAndReturnedByEveryRead) {
  CreateTask("load");
  const Labels labels = {{"git_sha", "4f2a9c1"},
                         {"partition.date", "2026-12-01"},
                         {"team/owner", "data eng, \"core\" \\ ü"},
                         {"empty", ""}};
  metad::v1::StartRunResponse started;
  ASSERT_TRUE(StartLabelled("load", "b1", labels, &started).ok());
  EXPECT_EQ(AsMap(started.run().labels()), labels);
  const int64_t id = started.run().id();
  EXPECT_EQ(
      Sql(absl::StrCat(
          "SELECT labels->>'partition.date' FROM task_log WHERE id = ", id)),
      "2026-12-01");

  metad::v1::Run got;
  {
    metad::v1::GetRunRequest request;
    request.set_run_id(id);
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->GetRun(&context, request, &got).ok());
    EXPECT_EQ(AsMap(got.labels()), labels);
  }
  {
    metad::v1::ListRunsRequest request;
    metad::v1::ListRunsResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListRuns(&context, request, &response).ok());
    ASSERT_EQ(response.runs_size(), 1);
    EXPECT_EQ(AsMap(response.runs(0).labels()), labels);
  }
  metad::v1::HeartbeatResponse beat;
  ASSERT_TRUE(Beat(id, 0, &beat).ok());
  EXPECT_EQ(AsMap(beat.run().labels()), labels);
  metad::v1::FinishRunResponse finished;
  ASSERT_TRUE(Finish(id, metad::v1::RUN_STATUS_SUCCESS, "", &finished).ok());
  EXPECT_EQ(AsMap(finished.run().labels()), labels);
}

TEST_F(RunLabelsTest, NoLabelsIsAnEmptyMap) {
  CreateTask("t");
  metad::v1::StartRunResponse started;
  ASSERT_TRUE(Start("t", "b1", &started).ok());
  EXPECT_TRUE(started.run().labels().empty());
  EXPECT_EQ(Sql(absl::StrCat("SELECT labels::text FROM task_log WHERE id = ",
                             started.run().id())),
            "{}");
}

TEST_F(RunLabelsTest, RetriedRequestIdReturnsTheFirstRunWithItsLabels) {
  CreateTask("t");
  metad::v1::StartRunResponse first, again;
  ASSERT_TRUE(StartLabelled("t", "b1", {{"k", "1"}}, &first, "req-1").ok());
  ASSERT_TRUE(first.created());
  ASSERT_TRUE(StartLabelled("t", "b1", {{"k", "1"}}, &again, "req-1").ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.run().id(), first.run().id());
  EXPECT_THAT(again.run().labels(), UnorderedElementsAre(Pair("k", "1")));
  // The same request_id with other labels is still the same request: the
  // first run, with the labels it was started with.
  ASSERT_TRUE(StartLabelled("t", "b1", {{"k", "2"}}, &again, "req-1").ok());
  EXPECT_EQ(again.run().id(), first.run().id());
  EXPECT_THAT(again.run().labels(), UnorderedElementsAre(Pair("k", "1")));
}

// Concurrent calls share a group-commit statement (metad_start_runs): each
// run must get its own caller's labels.
TEST_F(RunLabelsTest, ConcurrentStartsKeepTheirOwnLabels) {
  constexpr int kCalls = 16;
  for (int i = 0; i < kCalls; ++i) CreateTask(absl::StrCat("t", i));
  std::vector<metad::v1::StartRunResponse> responses(kCalls);
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] = StartLabelled(absl::StrCat("t", i), "b1",
                                  {{"i", absl::StrCat(i)}}, &responses[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(responses[i].run().task_name(), absl::StrCat("t", i));
    EXPECT_THAT(responses[i].run().labels(),
                UnorderedElementsAre(Pair("i", absl::StrCat(i))));
  }
}

TEST_F(RunLabelsTest, RefusesBadLabelsNamingTheLabelAndTheRule) {
  CreateTask("t");
  struct Case {
    Labels labels;
    std::string message;  // a part of the expected message
  };
  Labels too_many;
  for (int i = 0; i < 65; ++i) too_many[absl::StrCat("k", i)] = "v";
  const std::vector<Case> cases = {
      {too_many, "labels: at most 64 entries (got 65)"},
      {{{"", "v"}}, "labels: key must be 1..128 bytes (got 0)"},
      {{{std::string(129, 'k'), "v"}},
       "labels: key must be 1..128 bytes (got 129)"},
      {{{"a b", "v"}}, "labels: key \"a b\" must be [A-Za-z0-9._/-] only"},
      {{{"a=b", "v"}}, "key \"a=b\" must be [A-Za-z0-9._/-] only"},
      {{{"a,b", "v"}}, "key \"a,b\" must be [A-Za-z0-9._/-] only"},
      {{{"-a", "v"}}, "key \"-a\" must start with a letter or digit"},
      {{{"k", std::string(257, 'v')}}, "labels[\"k\"]: must be at most 256 bytes"},
      {{{"k", "line\nbreak"}}, "labels[\"k\"]"},
  };
  for (const Case& c : cases) {
    metad::v1::StartRunResponse response;
    grpc::Status status = StartLabelled("t", "b1", c.labels, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.message;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM task_log"), 0);
  // The limits themselves are accepted.
  Labels most;
  for (int i = 0; i < 63; ++i) most[absl::StrCat("k", i)] = "v";
  most[std::string(128, 'k')] = std::string(256, 'v');
  metad::v1::StartRunResponse response;
  grpc::Status status = StartLabelled("t", "b1", most, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.run().labels_size(), 64);
}

}  // namespace
}  // namespace metad::testing
