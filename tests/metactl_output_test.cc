// metactl's text and JSON output: tables, records, times, status names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "clients/cpp/args.h"
#include "clients/cpp/output.h"
#include "clients/cpp/status_details.h"
#include "clients/cpp/views.h"
#include "google/rpc/error_details.pb.h"

namespace metad::metactl {
namespace {

using ::testing::HasSubstr;

std::string Print(const Table& t) {
  std::ostringstream out;
  t.Print(out);
  return out.str();
}

TEST(Table, AlignsColumnsToWidestCellAndLeavesLastUnpadded) {
  Table t({"ID", "NAME", "STATUS"});
  t.AddRow({"1", "load_sales", "SUCCESS"});
  t.AddRow({"12345", "x", "NEW"});
  EXPECT_EQ(Print(t),
            "ID     NAME        STATUS\n"
            "1      load_sales  SUCCESS\n"
            "12345  x           NEW\n");
}

TEST(Table, MeasuresUtf8ByCharactersNotBytes) {
  Table t({"A", "B"});
  t.AddRow({"ü€", "x"});
  t.AddRow({"abc", "y"});
  EXPECT_EQ(Print(t),
            "A    B\n"
            "ü€   x\n"
            "abc  y\n");
  EXPECT_EQ(DisplayWidth("ü€"), 2u);
}

TEST(Table, NewlinesInCellsStayOnOneLine) {
  Table t({"MSG"});
  t.AddRow({"line1\nline2"});
  EXPECT_EQ(Print(t), "MSG\nline1\\nline2\n");
}

TEST(Table, ShortRowsArePaddedWithEmptyCells) {
  Table t({"A", "B"});
  t.AddRow({"1"});
  EXPECT_EQ(Print(t), "A  B\n1\n");  // no trailing blanks
}

TEST(Record, AlignsValues) {
  Record r;
  r.Add("id", "7");
  r.Add("file_name", "a.csv");
  std::ostringstream out;
  r.Print(out);
  EXPECT_EQ(out.str(), "id:         7\nfile_name:  a.csv\n");
}

TEST(Time, FormatsUtcSecondsAndDashWhenUnset) {
  google::protobuf::Timestamp t;
  EXPECT_EQ(FormatTime(t), "-");
  t.set_seconds(1709288102);  // 2024-03-01 10:15:02 UTC
  t.set_nanos(500);
  EXPECT_EQ(FormatTime(t), "2024-03-01 10:15:02Z");
}

TEST(Time, ParsesRfc3339AndRefusesOtherText) {
  google::protobuf::Timestamp t =
      ParseTime("--created-after", "2024-03-01T10:15:02Z");
  EXPECT_EQ(t.seconds(), 1709288102);
  EXPECT_THROW(ParseTime("--created-after", "2024-03-01"), UsageError);
}

TEST(Json, KeepsProtoNamesEnumNamesAndDefaults) {
  v1::RegisterFileResponse r;
  r.mutable_file()->set_id(42);
  r.mutable_file()->set_file_name("sales_report_2024-03.csv");
  r.mutable_file()->set_status(v1::FILE_STATUS_NEW);
  std::string json = ToJson(r);
  EXPECT_THAT(json, HasSubstr("\"created\":false"));
  EXPECT_THAT(json, HasSubstr("\"file_name\":\"sales_report_2024-03.csv\""));
  EXPECT_THAT(json, HasSubstr("\"status\":\"FILE_STATUS_NEW\""));
  EXPECT_THAT(json, HasSubstr("\"id\":\"42\""));  // int64 as a string
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

TEST(StatusNames, ShortFormsBothWays) {
  EXPECT_EQ(StatusName(v1::FILE_STATUS_PROCESSING), "PROCESSING");
  EXPECT_EQ(StatusName(v1::FILE_STATUS_UNSPECIFIED), "-");
  EXPECT_EQ(StatusName(v1::RUN_STATUS_ERROR), "ERROR");
  EXPECT_EQ(ParseFileStatus("--status", "success"), v1::FILE_STATUS_SUCCESS);
  EXPECT_EQ(ParseFileStatus("--status", "FILE_STATUS_ERROR"),
            v1::FILE_STATUS_ERROR);
  EXPECT_EQ(ParseRunStatus("--status", "Processing"),
            v1::RUN_STATUS_PROCESSING);
  EXPECT_THROW(ParseRunStatus("--status", "new"), UsageError);
  EXPECT_THROW(ParseFileStatus("--status", "unspecified"), UsageError);
  EXPECT_THROW(ParseFileStatus("--status", ""), UsageError);
}

TEST(Views, FilesTableShowsStatusRunAndUnknownSizes) {
  google::protobuf::RepeatedPtrField<v1::File> files;
  v1::File* f = files.Add();
  f->set_id(3);
  f->set_source("s3://in");
  f->set_file_name("a.csv");
  f->set_status(v1::FILE_STATUS_PROCESSING);
  f->set_run_id(9);
  f->set_size_bytes(-1);
  f->set_row_count(100);
  std::string text = Print(FilesTable(files));
  EXPECT_THAT(text, HasSubstr("3   s3://in  a.csv      PROCESSING  9    -     "
                              "100   -"));
}

TEST(Views, BatchShowsTasksAndCounts) {
  v1::Batch b;
  b.set_batch_id("2024-03");
  b.set_success_runs(1);
  b.set_error_runs(2);
  v1::BatchTask* t = b.add_tasks();
  t->set_task_id(1);
  t->set_task_name("load_sales");
  t->set_status(v1::RUN_STATUS_ERROR);
  t->set_attempts(2);
  t->set_latest_run_id(5);
  t->set_latest_error_message("boom");
  t->mutable_deadline()->set_seconds(1710000000);
  t->set_late(true);
  v1::BatchTask* u = b.add_tasks();
  u->set_task_id(2);
  u->set_task_name("report");
  u->set_status(v1::RUN_STATUS_SUCCESS);
  u->set_attempts(1);
  u->set_latest_run_id(6);
  std::ostringstream out;
  BatchRecord(b).Print(out);
  EXPECT_THAT(out.str(), HasSubstr("0 processing, 1 success, 2 error"));
  EXPECT_EQ(
      Print(BatchTasksTable(b)),
      "TASK_ID  TASK        STATUS   ATTEMPTS  LATEST_RUN  DEADLINE       "
      "       LATE  ERROR\n"
      "1        load_sales  ERROR    2         5           2024-03-09 "
      "16:00:00Z  LATE  boom\n"
      "2        report      SUCCESS  1         6           -             "
      "        -\n");
}

TEST(Views, PlanLayersCountFromZero) {
  google::protobuf::RepeatedPtrField<v1::ExecutionLayer> layers;
  v1::Task* a = layers.Add()->add_tasks();
  a->set_id(1);
  a->set_name("load_sales");
  v1::Task* b = layers.Add()->add_tasks();
  b->set_id(2);
  b->set_name("calculate_profit");
  EXPECT_EQ(Print(PlanTable(layers)),
            "LAYER  ID  NAME\n"
            "0      1   load_sales\n"
            "1      2   calculate_profit\n");
}

TEST(StatusDetails, DescribesEachDetailOnItsOwnLine) {
  google::rpc::Status rpc;
  rpc.set_code(9);
  rpc.set_message("report cannot start");
  google::rpc::ErrorInfo info;
  info.set_reason("PARENTS_NOT_SUCCEEDED");
  info.set_domain("metad.dev");
  (*info.mutable_metadata())["task"] = "report";
  (*info.mutable_metadata())["batch_id"] = "b1";
  rpc.add_details()->PackFrom(info);
  google::rpc::PreconditionFailure failure;
  auto* v = failure.add_violations();
  v->set_type("DEPENDENCY");
  v->set_subject("load_a");
  v->set_description("load_a has no SUCCESS run in batch b1");
  rpc.add_details()->PackFrom(failure);
  google::rpc::BadRequest bad;
  auto* f = bad.add_field_violations();
  f->set_field("file.source");
  f->set_description("must be 1..256 bytes (got 0)");
  rpc.add_details()->PackFrom(bad);
  grpc::Status status(grpc::StatusCode::FAILED_PRECONDITION, rpc.message(),
                      rpc.SerializeAsString());
  EXPECT_THAT(
      DescribeDetails(status),
      ::testing::ElementsAre(
          "reason: PARENTS_NOT_SUCCEEDED (metad.dev) batch_id=b1 task=report",
          "unmet DEPENDENCY load_a: load_a has no SUCCESS run in batch b1",
          "field file.source: must be 1..256 bytes (got 0)"));
  EXPECT_EQ(RpcStatusOf(status).details_size(), 3);
  // JSON for scripts names each detail's type.
  EXPECT_THAT(
      ToJson(RpcStatusOf(status)),
      HasSubstr("\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\""));
}

TEST(StatusDetails, PlainStatusHasNoLinesAndItsCodeInJson) {
  grpc::Status status(grpc::StatusCode::NOT_FOUND, "no such run");
  EXPECT_TRUE(DescribeDetails(status).empty());
  EXPECT_EQ(RpcStatusOf(status).code(), 5);
  EXPECT_EQ(RpcStatusOf(status).message(), "no such run");
}

}  // namespace
}  // namespace metad::metactl
