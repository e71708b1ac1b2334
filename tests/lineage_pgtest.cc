// Outputs and lineage through real gRPC channels: RecordOutputs and
// FinishRun outputs (producer_run_id, run_outputs, PRODUCED events, created
// flags, dedupe, re-recording, the fence), and GetLineage on a small
// pipeline in each direction and depth, its paging and every refusal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/services/file_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "store/lineage_store.h"
#include "tests/run_fixtures.h"

namespace metad::testing {
namespace {

using ::metad::v1::LINEAGE_DIRECTION_BOTH;
using ::metad::v1::LINEAGE_DIRECTION_DOWNSTREAM;
using ::metad::v1::LINEAGE_DIRECTION_UNSPECIFIED;
using ::metad::v1::LINEAGE_DIRECTION_UPSTREAM;
using ::metad::v1::LineageDirection;
using ::metad::v1::RUN_STATUS_ERROR;
using ::metad::v1::RUN_STATUS_SUCCESS;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

metad::v1::FileSpec Spec(const std::string& source, const std::string& name) {
  metad::v1::FileSpec spec;
  spec.set_source(source);
  spec.set_file_name(name);
  return spec;
}

// The decoded google.rpc.Status details of a refusal.
struct Details {
  std::string reason;
  std::string resource_type;
  std::string resource_name;
  std::string bad_field;
};

Details Decode(const grpc::Status& s) {
  Details d;
  google::rpc::Status status;
  EXPECT_TRUE(status.ParseFromString(s.error_details()));
  for (const google::protobuf::Any& any : status.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::ResourceInfo resource;
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&info)) d.reason = info.reason();
    if (any.UnpackTo(&resource)) {
      d.resource_type = resource.resource_type();
      d.resource_name = resource.resource_name();
    }
    if (any.UnpackTo(&bad) && bad.field_violations_size() > 0) {
      d.bad_field = bad.field_violations(0).field();
    }
  }
  return d;
}

class LineageTest : public RunTest {
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

  // Starts a run of a new task `task` in batch b1; returns its id.
  int64_t StartRun(const std::string& task) {
    CreateTask(task);
    metad::v1::StartRunRequest request;
    request.set_task(task);
    request.set_batch_id("b1");
    request.set_worker_id("w1");
    metad::v1::StartRunResponse response;
    grpc::ClientContext context;
    grpc::Status status = runs_->StartRun(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  grpc::Status Record(int64_t run_id,
                      const std::vector<metad::v1::FileSpec>& outputs,
                      metad::v1::RecordOutputsResponse* out = nullptr) {
    metad::v1::RecordOutputsRequest request;
    request.set_run_id(run_id);
    for (const auto& spec : outputs) *request.add_outputs() = spec;
    metad::v1::RecordOutputsResponse response;
    grpc::ClientContext context;
    return runs_->RecordOutputs(&context, request, out ? out : &response);
  }

  grpc::Status Finish(int64_t run_id, metad::v1::RunStatus status,
                      const std::vector<metad::v1::FileSpec>& outputs,
                      metad::v1::FinishRunResponse* out = nullptr,
                      const std::string& message = "") {
    metad::v1::FinishRunRequest request;
    request.set_run_id(run_id);
    request.set_status(status);
    request.set_error_message(message);
    for (const auto& spec : outputs) *request.add_outputs() = spec;
    // As a worker does: name the files its claims brought.
    for (int64_t id : received_[run_id]) request.add_file_ids(id);
    metad::v1::FinishRunResponse response;
    grpc::ClientContext context;
    return runs_->FinishRun(&context, request, out ? out : &response);
  }

  // Claims up to 100 NEW files of `source` for the run; returns their ids.
  std::vector<int64_t> Claim(int64_t run_id, const std::string& source) {
    metad::v1::ClaimFilesRequest request;
    request.set_run_id(run_id);
    request.set_source(source);
    request.set_limit(100);
    metad::v1::ClaimFilesResponse response;
    grpc::ClientContext context;
    grpc::Status status = files_->ClaimFiles(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<int64_t> ids;
    for (const auto& f : response.files()) ids.push_back(f.id());
    received_[run_id].insert(received_[run_id].end(), ids.begin(), ids.end());
    return ids;
  }

  // Per run, the files its claims brought (named by Finish).
  std::map<int64_t, std::vector<int64_t>> received_;

  int64_t Register(const std::string& source, const std::string& name) {
    metad::v1::RegisterFileRequest request;
    *request.mutable_file() = Spec(source, name);
    metad::v1::RegisterFileResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(files_->RegisterFile(&context, request, &response).ok());
    return response.file().id();
  }

  grpc::Status Lineage(const metad::v1::GetLineageRequest& request,
                       metad::v1::GetLineageResponse* response,
                       grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    return files_->GetLineage(context ? context : &own, request, response);
  }

  metad::v1::GetLineageRequest FromFile(int64_t file_id, LineageDirection d,
                                        int32_t depth) {
    metad::v1::GetLineageRequest request;
    request.set_file_id(file_id);
    request.set_direction(d);
    request.set_max_depth(depth);
    return request;
  }

  metad::v1::GetLineageRequest FromRun(int64_t run_id, LineageDirection d,
                                       int32_t depth) {
    metad::v1::GetLineageRequest request;
    request.set_run_id(run_id);
    request.set_direction(d);
    request.set_max_depth(depth);
    return request;
  }

  // Every page of the walk, edges as "depth:KIND:run:file" with the names
  // of the pipeline (a run as its task, a file as its name).
  std::vector<std::string> Walk(metad::v1::GetLineageRequest request,
                                int32_t page_size = 0) {
    request.set_page_size(page_size);
    std::vector<std::string> edges;
    for (int page = 0; page < 1000; ++page) {
      metad::v1::GetLineageResponse response;
      grpc::Status status = Lineage(request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const auto& e : response.edges()) {
        edges.push_back(absl::StrCat(
            e.depth(), ":",
            e.kind() == metad::v1::LINEAGE_EDGE_KIND_INPUT ? "IN" : "OUT", ":",
            Name(response, e.run_id(), true), ":",
            Name(response, e.file_id(), false)));
      }
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return edges;
  }

  // The name of a run (its task) or file the page carries; "?" if absent.
  static std::string Name(const metad::v1::GetLineageResponse& response,
                          int64_t id, bool run) {
    if (run) {
      for (const auto& r : response.runs()) {
        if (r.id() == id) return r.task_name();
      }
    } else {
      for (const auto& f : response.files()) {
        if (f.id() == id) return f.file_name();
      }
    }
    return "?";
  }

  // raw/in0, raw/in1 -> run A (task "a") -> mid/mid0, mid/mid1 -> run B
  // (task "b") -> out/out0. Returns nothing; ids in the members below.
  void BuildPipeline() {
    in0_ = Register("raw", "in0");
    in1_ = Register("raw", "in1");
    a_ = StartRun("a");
    ASSERT_EQ(Claim(a_, "raw").size(), 2u);
    metad::v1::FinishRunResponse fa;
    ASSERT_TRUE(Finish(a_, RUN_STATUS_SUCCESS,
                       {Spec("mid", "mid0"), Spec("mid", "mid1")}, &fa)
                    .ok());
    mid0_ = fa.outputs(0).file().id();
    mid1_ = fa.outputs(1).file().id();
    b_ = StartRun("b");
    ASSERT_EQ(Claim(b_, "mid").size(), 2u);
    metad::v1::FinishRunResponse fb;
    ASSERT_TRUE(
        Finish(b_, RUN_STATUS_SUCCESS, {Spec("out", "out0")}, &fb).ok());
    out0_ = fb.outputs(0).file().id();
  }

  int64_t CountFiles() { return Count("SELECT count(*) FROM files"); }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<metad::v1::TaskLogService::Stub> runs_;
  std::unique_ptr<metad::v1::FileService::Stub> files_;
  int64_t in0_ = 0, in1_ = 0, a_ = 0, mid0_ = 0, mid1_ = 0, b_ = 0, out0_ = 0;
};

// --- RecordOutputs ----------------------------------------------------------

TEST_F(LineageTest, RecordOutputsRegistersNewFilesProducedByTheRun) {
  const int64_t run = StartRun("t");
  metad::v1::RecordOutputsResponse response;
  auto spec = Spec("out", "a.csv");
  spec.set_checksum("c1");
  spec.set_size_bytes(10);
  (*spec.mutable_attributes())["k"] = "v";
  ASSERT_TRUE(Record(run, {spec, Spec("out", "b.csv")}, &response).ok());
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_TRUE(response.outputs(0).created());
  EXPECT_TRUE(response.outputs(1).created());
  const auto& a = response.outputs(0).file();
  EXPECT_EQ(a.file_name(), "a.csv");
  EXPECT_EQ(a.checksum(), "c1");
  EXPECT_EQ(a.size_bytes(), 10);
  EXPECT_EQ(a.attributes().at("k"), "v");
  EXPECT_EQ(a.status(), metad::v1::FILE_STATUS_NEW);
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(producer_run_id::text, ',' "
                             "ORDER BY id) FROM files")),
            absl::StrCat(run, ",", run));
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(file_id::text, ',' ORDER BY "
                             "file_id) FROM run_outputs WHERE run_id = ",
                             run)),
            absl::StrCat(a.id(), ",", response.outputs(1).file().id()));
  EXPECT_EQ(Sql(absl::StrCat(
                "SELECT string_agg(kind || ':' || coalesce(run_id::text, '-') "
                "|| ':' || coalesce(from_status, '-') || '>' || to_status, "
                "',' ORDER BY id) FROM file_events WHERE file_id = ",
                a.id())),
            absl::StrCat("REGISTERED:-:->NEW,PRODUCED:", run, ":NEW>NEW"));
  // The run is untouched: still PROCESSING, still holding its lease.
  EXPECT_EQ(RunState(run), "PROCESSING::false:false");
}

TEST_F(LineageTest, RecordOutputsOfAKnownFileLinksItButKeepsItsProducer) {
  const int64_t first = StartRun("first");
  const int64_t second = StartRun("second");
  const int64_t plain = Register("out", "plain.csv");
  metad::v1::RecordOutputsResponse r1, r2;
  ASSERT_TRUE(Record(first, {Spec("out", "x.csv")}, &r1).ok());
  ASSERT_TRUE(
      Record(second, {Spec("out", "x.csv"), Spec("out", "plain.csv")}, &r2)
          .ok());
  EXPECT_FALSE(r2.outputs(0).created());
  EXPECT_FALSE(r2.outputs(1).created());
  const int64_t x = r1.outputs(0).file().id();
  EXPECT_EQ(r2.outputs(0).file().id(), x);
  EXPECT_EQ(r2.outputs(1).file().id(), plain);
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT producer_run_id FROM files WHERE id = ", x)),
      absl::StrCat(first));
  EXPECT_EQ(Sql(absl::StrCat("SELECT coalesce(producer_run_id::text, 'null') "
                             "FROM files WHERE id = ",
                             plain)),
            "null");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM run_outputs WHERE "
                               "file_id = ",
                               x)),
            2);
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(run_id::text, ',' ORDER BY "
                             "id) FROM file_events WHERE kind = 'PRODUCED' "
                             "AND file_id = ",
                             x)),
            absl::StrCat(first, ",", second));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM file_events WHERE "
                               "kind = 'REGISTERED' AND file_id = ",
                               x)),
            1);
}

TEST_F(LineageTest, RecordingTheSameOutputsAgainChangesNothing) {
  const int64_t run = StartRun("t");
  metad::v1::RecordOutputsResponse first, again;
  ASSERT_TRUE(Record(run, {Spec("out", "a"), Spec("out", "b")}, &first).ok());
  const std::string before =
      Sql("SELECT (SELECT count(*) FROM run_outputs) || '/' || "
          "(SELECT count(*) FROM file_events) || '/' || "
          "(SELECT count(*) FROM files)");
  ASSERT_TRUE(Record(run, {Spec("out", "b"), Spec("out", "a")}, &again).ok());
  EXPECT_FALSE(again.outputs(0).created());
  EXPECT_FALSE(again.outputs(1).created());
  EXPECT_EQ(again.outputs(0).file().id(), first.outputs(1).file().id());
  EXPECT_EQ(again.outputs(1).file().id(), first.outputs(0).file().id());
  EXPECT_EQ(Sql("SELECT (SELECT count(*) FROM run_outputs) || '/' || "
                "(SELECT count(*) FROM file_events) || '/' || "
                "(SELECT count(*) FROM files)"),
            before);
  EXPECT_EQ(before, "2/4/2");
}

TEST_F(LineageTest, ANameRepeatedInOneCallIsCreatedOnceAndLinkedOnce) {
  const int64_t run = StartRun("t");
  metad::v1::RecordOutputsResponse response;
  ASSERT_TRUE(
      Record(run, {Spec("out", "a"), Spec("out", "a")}, &response).ok());
  EXPECT_TRUE(response.outputs(0).created());
  EXPECT_FALSE(response.outputs(1).created());
  EXPECT_EQ(response.outputs(0).file().id(), response.outputs(1).file().id());
  EXPECT_EQ(Count("SELECT count(*) FROM run_outputs"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'PRODUCED'"),
            1);
}

TEST_F(LineageTest, RecordOutputsOfARunWhoseLeaseLapsedIsRefused) {
  const int64_t run = StartRun("t");
  LapseLease(run);
  grpc::Status status = Record(run, {Spec("out", "a")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("lease expired"));
  EXPECT_THAT(status.error_message(), HasSubstr("record outputs"));
  EXPECT_EQ(Decode(status).reason, "LEASE_EXPIRED");
  EXPECT_EQ(CountFiles(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM run_outputs"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 0);
}

TEST_F(LineageTest, RecordOutputsOfAnEndedRunIsRefused) {
  const int64_t run = StartRun("t");
  ASSERT_TRUE(Finish(run, RUN_STATUS_SUCCESS, {}).ok());
  grpc::Status status = Record(run, {Spec("out", "a")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Decode(status).reason, "RUN_ENDED");
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(LineageTest, RecordOutputsOfAnUnknownRunIsNotFound) {
  grpc::Status status = Record(4242, {Spec("out", "a")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const Details d = Decode(status);
  EXPECT_EQ(d.resource_type, "metad.v1.Run");
  EXPECT_EQ(d.resource_name, "4242");
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(LineageTest, RecordOutputsValidatesRunIdAndEveryOutput) {
  const int64_t run = StartRun("t");
  struct Case {
    int64_t run_id;
    std::vector<metad::v1::FileSpec> outputs;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({0, {Spec("out", "a")}, "run_id"});
  cases.push_back({-3, {Spec("out", "a")}, "run_id"});
  cases.push_back({run, {}, "outputs"});
  cases.push_back(
      {run, std::vector<metad::v1::FileSpec>(1001, Spec("o", "a")), "outputs"});
  cases.push_back(
      {run, {Spec("out", "a"), Spec("out", "")}, "outputs[1].file_name"});
  cases.push_back({run, {Spec("", "a")}, "outputs[0].source"});
  auto negative = Spec("out", "a");
  negative.set_size_bytes(-1);
  cases.push_back({run, {negative}, "outputs[0].size_bytes"});
  for (const Case& c : cases) {
    grpc::Status status = Record(c.run_id, c.outputs);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field;
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ":"));
    EXPECT_EQ(Decode(status).bad_field, c.field);
  }
  EXPECT_EQ(CountFiles(), 0);
}

// --- FinishRun with outputs -------------------------------------------------

TEST_F(LineageTest, FinishRunRecordsOutputsAndEndsTheRunInOneCall) {
  const int64_t input = Register("raw", "in");
  const int64_t run = StartRun("t");
  ASSERT_EQ(Claim(run, "raw").size(), 1u);
  metad::v1::FinishRunResponse response;
  grpc::Status status =
      Finish(run, RUN_STATUS_SUCCESS, {Spec("out", "o1"), Spec("raw", "in")},
             &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.run().status(), RUN_STATUS_SUCCESS);
  EXPECT_EQ(response.files_finished(), 1);
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_TRUE(response.outputs(0).created());
  EXPECT_FALSE(response.outputs(1).created());  // its own input: known
  EXPECT_EQ(response.outputs(1).file().id(), input);
  // Answered as it is after the end, which finished it with the run.
  EXPECT_EQ(response.outputs(1).file().status(),
            metad::v1::FILE_STATUS_SUCCESS);
  const int64_t o1 = response.outputs(0).file().id();
  EXPECT_EQ(RunState(run), "SUCCESS::true:true");
  EXPECT_EQ(FileStatus(input), absl::StrCat("SUCCESS/", run));
  EXPECT_EQ(FileStatus(o1), "NEW/null");
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT producer_run_id FROM files WHERE id = ", o1)),
      absl::StrCat(run));
  EXPECT_EQ(Sql(absl::StrCat("SELECT coalesce(producer_run_id::text, 'null') "
                             "FROM files WHERE id = ",
                             input)),
            "null");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM run_outputs WHERE "
                               "run_id = ",
                               run)),
            2);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM file_events WHERE "
                               "kind = 'PRODUCED' AND run_id = ",
                               run)),
            2);
  EXPECT_EQ(Sql(absl::StrCat("SELECT string_agg(kind, ',' ORDER BY id) FROM "
                             "run_events WHERE run_id = ",
                             run)),
            "STARTED,FINISHED");
}

TEST_F(LineageTest, FinishRunWithOutputsAndErrorStatusIsInvalid) {
  const int64_t run = StartRun("t");
  grpc::Status status =
      Finish(run, RUN_STATUS_ERROR, {Spec("out", "a")}, nullptr, "boom");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("outputs:"));
  EXPECT_EQ(Decode(status).bad_field, "outputs");
  EXPECT_EQ(RunState(run), "PROCESSING::false:false");
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(LineageTest, FinishRunWithOutputsValidatesThem) {
  const int64_t run = StartRun("t");
  grpc::Status status =
      Finish(run, RUN_STATUS_SUCCESS, {Spec("out", "a"), Spec("out", "")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("outputs[1].file_name:"));
  status = Finish(run, RUN_STATUS_SUCCESS,
                  std::vector<metad::v1::FileSpec>(1001, Spec("o", "a")));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("outputs:"));
  metad::v1::FinishRunRequest request;
  request.set_run_id(run);
  request.set_status(static_cast<metad::v1::RunStatus>(9));
  *request.add_outputs() = Spec("out", "a");
  metad::v1::FinishRunResponse response;
  grpc::ClientContext context;
  status = runs_->FinishRun(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("status:"));
  EXPECT_EQ(RunState(run), "PROCESSING::false:false");
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(LineageTest, FinishRunWithOutputsOfALapsedRunRecordsNothing) {
  const int64_t input = Register("raw", "in");
  const int64_t run = StartRun("t");
  ASSERT_EQ(Claim(run, "raw").size(), 1u);
  LapseLease(run);
  grpc::Status status = Finish(run, RUN_STATUS_SUCCESS, {Spec("out", "a")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Decode(status).reason, "LEASE_EXPIRED");
  // Ended as expired on the way, as FinishRun without outputs does; its
  // input is free again and no output exists.
  EXPECT_EQ(RunState(run), "ERROR:lease expired:true:true");
  EXPECT_EQ(FileStatus(input), "NEW/null");
  EXPECT_EQ(CountFiles(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM run_outputs"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events WHERE kind = 'PRODUCED'"),
            0);
}

TEST_F(LineageTest, FinishRunWithOutputsOfAnEndedRunRecordsNothing) {
  const int64_t run = StartRun("t");
  ASSERT_TRUE(Finish(run, RUN_STATUS_ERROR, {}, nullptr, "bad").ok());
  grpc::Status status = Finish(run, RUN_STATUS_SUCCESS, {Spec("out", "a")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Decode(status).reason, "RUN_ENDED");
  EXPECT_EQ(RunState(run), "ERROR:bad:true:true");
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(LineageTest, FinishRunWithOutputsOfAnUnknownRunIsNotFound) {
  grpc::Status status = Finish(777, RUN_STATUS_SUCCESS, {Spec("out", "a")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Decode(status).resource_type, "metad.v1.Run");
  EXPECT_EQ(CountFiles(), 0);
}

// RecordOutputs racing the run's end: either the outputs commit before the
// end (linked, and the run ended after them) or they are refused and
// nothing of them exists; never outputs of an ended run.
TEST_F(LineageTest, RecordOutputsRacingFinishRunNeverOutlivesTheEnd) {
  int recorded = 0, refused = 0;
  for (int i = 0; i < 30; ++i) {
    const int64_t run = StartRun(absl::StrCat("race", i));
    const std::string name = absl::StrCat("out", i);
    grpc::Status record_status, finish_status;
    std::thread recorder(
        [&] { record_status = Record(run, {Spec("race", name)}); });
    std::thread finisher(
        [&] { finish_status = Finish(run, RUN_STATUS_SUCCESS, {}); });
    recorder.join();
    finisher.join();
    ASSERT_TRUE(finish_status.ok()) << finish_status.error_message();
    const int64_t files = Count(absl::StrCat(
        "SELECT count(*) FROM files WHERE source = 'race' AND file_name = '",
        name, "'"));
    if (record_status.ok()) {
      ++recorded;
      EXPECT_EQ(files, 1);
      // Written before the end: the link's transaction id is older than
      // that of the run's ending update (a fresh database: no wraparound;
      // times would not do, the end's now() may predate its wait).
      EXPECT_EQ(Count(absl::StrCat(
                    "SELECT count(*) FROM run_outputs o JOIN task_log l ON "
                    "l.id = o.run_id WHERE o.run_id = ",
                    run, " AND o.xmin::text::bigint < l.xmin::text::bigint")),
                1);
    } else {
      ++refused;
      EXPECT_EQ(record_status.error_code(),
                grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_EQ(Decode(record_status).reason, "RUN_ENDED");
      EXPECT_EQ(files, 0);
    }
  }
  EXPECT_EQ(recorded + refused, 30);
}

// --- GetLineage
// ---------------------------------------------------------------

TEST_F(LineageTest, UpstreamOfAFileGrowsOneStepPerDepth) {
  BuildPipeline();
  EXPECT_THAT(Walk(FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 1)),
              ElementsAre("1:OUT:b:out0"));
  EXPECT_THAT(Walk(FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 2)),
              ElementsAre("1:OUT:b:out0", "2:IN:b:mid0", "2:IN:b:mid1"));
  EXPECT_THAT(Walk(FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 3)),
              ElementsAre("1:OUT:b:out0", "2:IN:b:mid0", "2:IN:b:mid1",
                          "3:OUT:a:mid0", "3:OUT:a:mid1"));
  const std::vector<std::string> all = {
      "1:OUT:b:out0", "2:IN:b:mid0", "2:IN:b:mid1", "3:OUT:a:mid0",
      "3:OUT:a:mid1", "4:IN:a:in0",  "4:IN:a:in1"};
  EXPECT_EQ(Walk(FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 4)), all);
  EXPECT_EQ(Walk(FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 16)), all);
  // Nothing is downstream of the last output.
  EXPECT_TRUE(Walk(FromFile(out0_, LINEAGE_DIRECTION_DOWNSTREAM, 16)).empty());
}

TEST_F(LineageTest, DownstreamOfAFileGrowsOneStepPerDepth) {
  BuildPipeline();
  EXPECT_THAT(Walk(FromFile(in0_, LINEAGE_DIRECTION_DOWNSTREAM, 1)),
              ElementsAre("1:IN:a:in0"));
  EXPECT_THAT(Walk(FromFile(in0_, LINEAGE_DIRECTION_DOWNSTREAM, 2)),
              ElementsAre("1:IN:a:in0", "2:OUT:a:mid0", "2:OUT:a:mid1"));
  EXPECT_THAT(Walk(FromFile(in0_, LINEAGE_DIRECTION_DOWNSTREAM, 3)),
              ElementsAre("1:IN:a:in0", "2:OUT:a:mid0", "2:OUT:a:mid1",
                          "3:IN:b:mid0", "3:IN:b:mid1"));
  EXPECT_THAT(Walk(FromFile(in0_, LINEAGE_DIRECTION_DOWNSTREAM, 4)),
              ElementsAre("1:IN:a:in0", "2:OUT:a:mid0", "2:OUT:a:mid1",
                          "3:IN:b:mid0", "3:IN:b:mid1", "4:OUT:b:out0"));
  EXPECT_TRUE(Walk(FromFile(in0_, LINEAGE_DIRECTION_UPSTREAM, 16)).empty());
}

TEST_F(LineageTest, BothWaysFromAFileAndTheDefaults) {
  BuildPipeline();
  const std::vector<std::string> both = {"1:IN:b:mid0", "1:OUT:a:mid0",
                                         "2:IN:a:in0", "2:IN:a:in1",
                                         "2:OUT:b:out0"};
  EXPECT_EQ(Walk(FromFile(mid0_, LINEAGE_DIRECTION_BOTH, 2)), both);
  // Unspecified direction is BOTH; max_depth 0 is 3 (nothing more at 3).
  EXPECT_EQ(Walk(FromFile(mid0_, LINEAGE_DIRECTION_UNSPECIFIED, 0)), both);
}

TEST_F(LineageTest, FromARunItsInputsUpstreamAndOutputsDownstream) {
  BuildPipeline();
  EXPECT_THAT(Walk(FromRun(a_, LINEAGE_DIRECTION_UPSTREAM, 5)),
              ElementsAre("1:IN:a:in0", "1:IN:a:in1"));
  EXPECT_THAT(Walk(FromRun(a_, LINEAGE_DIRECTION_DOWNSTREAM, 1)),
              ElementsAre("1:OUT:a:mid0", "1:OUT:a:mid1"));
  EXPECT_THAT(Walk(FromRun(a_, LINEAGE_DIRECTION_DOWNSTREAM, 3)),
              ElementsAre("1:OUT:a:mid0", "1:OUT:a:mid1", "2:IN:b:mid0",
                          "2:IN:b:mid1", "3:OUT:b:out0"));
  EXPECT_THAT(Walk(FromRun(b_, LINEAGE_DIRECTION_BOTH, 2)),
              ElementsAre("1:IN:b:mid0", "1:IN:b:mid1", "1:OUT:b:out0",
                          "2:OUT:a:mid0", "2:OUT:a:mid1"));
}

TEST_F(LineageTest, APageCarriesTheFilesAndRunsItNamesAndTheStart) {
  BuildPipeline();
  metad::v1::GetLineageResponse response;
  ASSERT_TRUE(
      Lineage(FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 1), &response).ok());
  ASSERT_EQ(response.edges_size(), 1);
  EXPECT_EQ(response.edges(0).run_id(), b_);
  EXPECT_EQ(response.edges(0).file_id(), out0_);
  EXPECT_EQ(response.edges(0).kind(), metad::v1::LINEAGE_EDGE_KIND_OUTPUT);
  EXPECT_EQ(response.edges(0).depth(), 1);
  ASSERT_EQ(response.files_size(), 1);
  EXPECT_EQ(response.files(0).file_name(), "out0");
  ASSERT_EQ(response.runs_size(), 1);
  EXPECT_EQ(response.runs(0).id(), b_);
  EXPECT_EQ(response.runs(0).status(), RUN_STATUS_SUCCESS);
  EXPECT_TRUE(response.next_page_token().empty());

  // A start with no edges still comes back, alone.
  const int64_t lonely = Register("raw", "lonely");
  metad::v1::GetLineageResponse alone;
  ASSERT_TRUE(
      Lineage(FromFile(lonely, LINEAGE_DIRECTION_BOTH, 0), &alone).ok());
  EXPECT_EQ(alone.edges_size(), 0);
  ASSERT_EQ(alone.files_size(), 1);
  EXPECT_EQ(alone.files(0).id(), lonely);
  EXPECT_EQ(alone.runs_size(), 0);
  const int64_t idle = StartRun("idle");
  ASSERT_TRUE(Lineage(FromRun(idle, LINEAGE_DIRECTION_BOTH, 0), &alone).ok());
  ASSERT_EQ(alone.runs_size(), 1);
  EXPECT_EQ(alone.runs(0).id(), idle);
}

TEST_F(LineageTest, PagingGivesTheSameEdgesAsOneBigPage) {
  BuildPipeline();
  for (LineageDirection d :
       {LINEAGE_DIRECTION_UPSTREAM, LINEAGE_DIRECTION_DOWNSTREAM,
        LINEAGE_DIRECTION_BOTH}) {
    for (auto request : {FromFile(mid1_, d, 16), FromRun(b_, d, 16),
                         FromFile(in1_, d, 16), FromFile(out0_, d, 16)}) {
      const std::vector<std::string> whole = Walk(request, 5000);
      for (int size : {1, 2, 3}) {
        EXPECT_EQ(Walk(request, size), whole) << size;
      }
    }
  }
  // The start comes with the first page only; each page its own names.
  auto request = FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 16);
  request.set_page_size(2);
  metad::v1::GetLineageResponse first, second;
  ASSERT_TRUE(Lineage(request, &first).ok());
  ASSERT_EQ(first.edges_size(), 2);  // 1:OUT:b:out0, 2:IN:b:mid0
  EXPECT_EQ(first.files_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  ASSERT_TRUE(Lineage(request, &second).ok());
  ASSERT_EQ(second.edges_size(), 2);  // 2:IN:b:mid1, 3:OUT:a:mid0
  std::set<int64_t> files;
  for (const auto& f : second.files()) files.insert(f.id());
  EXPECT_EQ(files, (std::set<int64_t>{mid0_, mid1_}));
  EXPECT_EQ(second.runs_size(), 2);
}

TEST_F(LineageTest, CyclesEndAndEachEdgeComesOnce) {
  // A run that claimed a file and recorded the same file as its output.
  const int64_t f = Register("raw", "self");
  const int64_t run = StartRun("t");
  ASSERT_EQ(Claim(run, "raw").size(), 1u);
  ASSERT_TRUE(Record(run, {Spec("raw", "self")}).ok());
  (void)f;
  EXPECT_THAT(Walk(FromFile(f, LINEAGE_DIRECTION_BOTH, 16)),
              ElementsAre("1:IN:t:self", "1:OUT:t:self"));
  EXPECT_THAT(Walk(FromRun(run, LINEAGE_DIRECTION_BOTH, 16)),
              ElementsAre("1:IN:t:self", "1:OUT:t:self"));
}

TEST_F(LineageTest, GetLineageRefusesBadRequests) {
  BuildPipeline();
  struct Case {
    metad::v1::GetLineageRequest request;
    std::string field;
    std::string says;
  };
  std::vector<Case> cases;
  cases.push_back({FromFile(in0_, LINEAGE_DIRECTION_BOTH, 1000000000),
                   "max_depth", "1..16"});
  cases.push_back(
      {FromFile(in0_, LINEAGE_DIRECTION_BOTH, 17), "max_depth", "got 17"});
  cases.push_back(
      {FromFile(in0_, LINEAGE_DIRECTION_BOTH, -1), "max_depth", "got -1"});
  cases.push_back(
      {FromFile(0, LINEAGE_DIRECTION_BOTH, 1), "file_id", "neither"});
  auto both = FromFile(in0_, LINEAGE_DIRECTION_BOTH, 1);
  both.set_run_id(a_);
  cases.push_back({both, "file_id", "not both"});
  cases.push_back({FromFile(-5, LINEAGE_DIRECTION_BOTH, 1), "file_id", ""});
  cases.push_back({FromRun(-5, LINEAGE_DIRECTION_BOTH, 1), "run_id", ""});
  cases.push_back(
      {FromFile(in0_, static_cast<LineageDirection>(9), 1), "direction", "9"});
  auto negative = FromFile(in0_, LINEAGE_DIRECTION_BOTH, 1);
  negative.set_page_size(-1);
  cases.push_back({negative, "page_size", "5000"});
  auto garbage = FromFile(in0_, LINEAGE_DIRECTION_BOTH, 1);
  garbage.set_page_token("not-a-token");
  cases.push_back({garbage, "page_token", "not a page token"});
  for (const Case& c : cases) {
    metad::v1::GetLineageResponse response;
    grpc::Status status = Lineage(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.field << " " << c.request.ShortDebugString();
    EXPECT_THAT(status.error_message(), StartsWith(c.field + ":"));
    EXPECT_THAT(status.error_message(), HasSubstr(c.says));
    EXPECT_EQ(Decode(status).bad_field, c.field);
  }
}

TEST_F(LineageTest, APageTokenOnlyPagesTheWalkItCameFrom) {
  BuildPipeline();
  auto request = FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 16);
  request.set_page_size(1);
  metad::v1::GetLineageResponse first;
  ASSERT_TRUE(Lineage(request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  std::vector<metad::v1::GetLineageRequest> others = {
      FromFile(out0_, LINEAGE_DIRECTION_DOWNSTREAM, 16),
      FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 15),
      FromFile(mid0_, LINEAGE_DIRECTION_UPSTREAM, 16),
      FromRun(out0_, LINEAGE_DIRECTION_UPSTREAM, 16)};
  for (auto other : others) {
    other.set_page_token(first.next_page_token());
    metad::v1::GetLineageResponse response;
    grpc::Status status = Lineage(other, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << other.ShortDebugString();
    EXPECT_THAT(status.error_message(), StartsWith("page_token:"));
  }
  // The same walk spelled with its defaults is the same walk.
  auto spelled = FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 3);
  spelled.set_page_size(1);
  ASSERT_TRUE(Lineage(spelled, &first).ok());
  auto defaulted = FromFile(out0_, LINEAGE_DIRECTION_UPSTREAM, 0);
  defaulted.set_page_token(first.next_page_token());
  metad::v1::GetLineageResponse response;
  EXPECT_TRUE(Lineage(defaulted, &response).ok());
}

TEST_F(LineageTest, AnUnknownStartIsNotFound) {
  metad::v1::GetLineageResponse response;
  grpc::Status status =
      Lineage(FromFile(999, LINEAGE_DIRECTION_BOTH, 0), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  Details d = Decode(status);
  EXPECT_EQ(d.resource_type, "metad.v1.File");
  EXPECT_EQ(d.resource_name, "999");
  status = Lineage(FromRun(998, LINEAGE_DIRECTION_BOTH, 0), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  d = Decode(status);
  EXPECT_EQ(d.resource_type, "metad.v1.Run");
  EXPECT_EQ(d.resource_name, "998");
}

TEST_F(LineageTest, AnUntruncatedWalkHasNoTruncatedTrailer) {
  BuildPipeline();
  grpc::ClientContext context;
  metad::v1::GetLineageResponse response;
  ASSERT_TRUE(
      Lineage(FromFile(in0_, LINEAGE_DIRECTION_BOTH, 16), &response, &context)
          .ok());
  EXPECT_EQ(context.GetServerTrailingMetadata().count(
                daemon::kLineageTruncatedTrailer),
            0u);
}

// The edge cap, against the store (100000 edges through the service would
// be slow): the walk stops at the cap, says so, and keeps the first edges of
// the last level in (kind, run_id, file_id) order on every page.
TEST_F(LineageTest, TheWalkStopsAtTheEdgeCapAndSaysSo) {
  BuildPipeline();
  store::LineageStore lineage(db());
  store::LineageQuery query;
  query.file_id = out0_;
  query.downstream = false;
  query.max_depth = 16;
  query.max_edges = 4;  // of 7: depth 3 is cut after its first edge
  absl::StatusOr<store::LineagePage> page =
      lineage.GetLineage({}, query, {}, 100, true);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->truncated);
  EXPECT_FALSE(page->more);
  ASSERT_EQ(page->edges.size(), 4u);
  EXPECT_EQ(page->edges[3].depth(), 3);
  EXPECT_EQ(page->edges[3].run_id(), a_);
  EXPECT_EQ(page->edges[3].file_id(), std::min(mid0_, mid1_));
  // Paged, the same four.
  store::LineageKey after;
  std::vector<int64_t> files;
  for (int i = 0; i < 10; ++i) {
    page = lineage.GetLineage({}, query, after, 1, i == 0);
    ASSERT_TRUE(page.ok());
    EXPECT_TRUE(page->truncated);
    if (page->edges.empty()) break;
    const auto& e = page->edges[0];
    files.push_back(e.file_id());
    after = {e.depth(), e.kind(), e.run_id(), e.file_id()};
    if (!page->more) break;
  }
  EXPECT_EQ(files, (std::vector<int64_t>{out0_, mid0_, mid1_,
                                         std::min(mid0_, mid1_)}));
  query.max_edges = 7;
  page = lineage.GetLineage({}, query, {}, 100, true);
  ASSERT_TRUE(page.ok());
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(page->edges.size(), 7u);
}

// Files with large attributes: a page stops before 2 MiB of files (gRPC's
// default receive limit is 4 MiB) and the next one goes on from there.
TEST_F(LineageTest, APageOfLargeFilesStopsEarlyAndPagingGoesOn) {
  const int64_t run = StartRun("big");
  // 20 outputs of 64 attributes of 4000 bytes each: ~256 KiB a file.
  Sql(absl::StrCat(
      "WITH f AS (INSERT INTO files (source, file_name, producer_run_id, "
      "attributes) SELECT 'big', 'f' || g, ",
      run,
      ", (SELECT jsonb_object_agg('k' || a, repeat('x', 4000)) FROM "
      "generate_series(1, 64) a) FROM generate_series(1, 20) g RETURNING id) "
      "INSERT INTO run_outputs (run_id, file_id) SELECT ",
      run, ", id FROM f"));
  auto request = FromRun(run, LINEAGE_DIRECTION_DOWNSTREAM, 1);
  request.set_page_size(100);
  metad::v1::GetLineageResponse first;
  ASSERT_TRUE(Lineage(request, &first).ok());
  EXPECT_GT(first.edges_size(), 1);
  EXPECT_LT(first.edges_size(), 20);
  EXPECT_LT(first.ByteSizeLong(), size_t{3} << 20);
  EXPECT_EQ(first.files_size(), first.edges_size());
  ASSERT_EQ(first.runs_size(), 1);  // the start, which every edge names
  EXPECT_FALSE(first.next_page_token().empty());
  std::vector<std::string> paged = Walk(request, 100);
  EXPECT_EQ(paged.size(), 20u);
  EXPECT_EQ(std::set<std::string>(paged.begin(), paged.end()).size(), 20u);
}

// Past the service's cap (100000 edges) the answer says the graph is cut.
TEST_F(LineageTest, AWalkPastTheEdgeCapCarriesTheTruncatedTrailer) {
  const int64_t run = StartRun("wide");
  Sql(absl::StrCat(
      "WITH f AS (INSERT INTO files (source, file_name, producer_run_id) "
      "SELECT 'wide', 'f' || g, ",
      run,
      " FROM generate_series(1, 100001) g RETURNING id) "
      "INSERT INTO run_outputs (run_id, file_id) SELECT ",
      run, ", id FROM f"));
  grpc::ClientContext context;
  auto request = FromRun(run, LINEAGE_DIRECTION_DOWNSTREAM, 1);
  request.set_page_size(1);
  metad::v1::GetLineageResponse response;
  grpc::Status status = Lineage(request, &response, &context);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.edges_size(), 1);
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(daemon::kLineageTruncatedTrailer);
  ASSERT_NE(it, trailers.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "true");
}

}  // namespace
}  // namespace metad::testing
