// The status page's JSON API and page through the real binary: rows made
// over gRPC come back from /status/api/*, hostile text round-trips exactly
// and never appears raw (no '<', '>' or '&' in a JSON body), lists are
// bounded, bad requests are 400s, and the page carries a nonce'd CSP.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// A batch id, worker id and messages an attacker would pick: markup, quotes,
// a backslash, control characters (messages only: ids refuse them) and
// non-ASCII text.
const std::string kBatch = "b<img src=x onerror=alert(1)>\"'\\&\xc3\xa9";
const std::string kWorker = "w</script><script>alert(2)</script>";
const std::string kRunMessage =
    "boom </script><b>bold</b> & \"q\" \\\n\t\xe2\x80\xa8 end";
const std::string kFileMessage = "bad row <td> & more";

std::string UrlEncode(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class StatusPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http_port_ = FreePort();
    ASSERT_TRUE(daemon_.Spawn(
        CreateEmptyDatabase("status_page"),
        {"--metrics_listen", "127.0.0.1:" + std::to_string(http_port_)}));
    ASSERT_TRUE(daemon_.WaitServing()) << daemon_.ReadLog();
    tasks_ = v1::TaskService::NewStub(daemon_.channel());
    runs_ = v1::TaskLogService::NewStub(daemon_.channel());
    files_ = v1::FileService::NewStub(daemon_.channel());
    deps_ = v1::DependencyService::NewStub(daemon_.channel());
  }
  void TearDown() override { daemon_.Stop(SIGTERM); }

  int64_t RegisterTask(const std::string& name, int max_attempts) {
    grpc::ClientContext ctx;
    v1::RegisterTaskRequest req;
    req.set_name(name);
    req.set_description("<i>" + name + "</i>");
    req.set_max_attempts(max_attempts);
    v1::RegisterTaskResponse resp;
    EXPECT_TRUE(tasks_->RegisterTask(&ctx, req, &resp).ok());
    return resp.task().id();
  }
  void AddDependency(const std::string& parent, const std::string& child) {
    grpc::ClientContext ctx;
    v1::AddDependencyRequest req;
    req.set_parent_task(parent);
    req.set_child_task(child);
    v1::AddDependencyResponse resp;
    EXPECT_TRUE(deps_->AddDependency(&ctx, req, &resp).ok());
  }
  int64_t StartRun(const std::string& task, const std::string& batch) {
    grpc::ClientContext ctx;
    v1::StartRunRequest req;
    req.set_task(task);
    req.set_batch_id(batch);
    req.set_worker_id(kWorker);
    req.set_lease_seconds(600);
    v1::StartRunResponse resp;
    grpc::Status s = runs_->StartRun(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.run().id();
  }
  void FinishRun(int64_t run_id, v1::RunStatus status,
                 const std::string& message) {
    grpc::ClientContext ctx;
    v1::FinishRunRequest req;
    req.set_run_id(run_id);
    req.set_status(status);
    req.set_error_message(message);
    v1::FinishRunResponse resp;
    grpc::Status s = runs_->FinishRun(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  // GETs `target`, checks the status and that the body is HTML-safe JSON,
  // and parses it.
  Struct GetJson(const std::string& target, int want_status = 200) {
    HttpResult r = HttpGet(http_port_, target);
    EXPECT_EQ(r.status, want_status) << target << "\n" << r.body;
    EXPECT_NE(r.headers.find("application/json"), std::string::npos);
    EXPECT_EQ(r.body.find_first_of("<>&"), std::string::npos) << r.body;
    Struct out;
    auto parsed = google::protobuf::util::JsonStringToMessage(r.body, &out);
    EXPECT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << r.body;
    return out;
  }

  int http_port_ = 0;
  DaemonProcess daemon_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
  std::unique_ptr<v1::TaskLogService::Stub> runs_;
  std::unique_ptr<v1::FileService::Stub> files_;
  std::unique_ptr<v1::DependencyService::Stub> deps_;
};

const Value& Field(const Struct& s, const std::string& key) {
  static const Value kMissing;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kMissing : it->second;
}
const Struct& Obj(const Value& v) { return v.struct_value(); }
const ListValue& List(const Value& v) { return v.list_value(); }
double Num(const Struct& s, const std::string& key) {
  return Field(s, key).number_value();
}
std::string Str(const Struct& s, const std::string& key) {
  return Field(s, key).string_value();
}

// The task named `name` in a batch response.
Struct TaskIn(const Struct& batch, const std::string& name) {
  for (const Value& t : List(Field(batch, "tasks")).values()) {
    if (Str(Obj(t), "name") == name) return Obj(t);
  }
  ADD_FAILURE() << "no task " << name;
  return Struct();
}

TEST_F(StatusPageTest, OverviewAndBatchShowWhatGrpcMade) {
  const int64_t load = RegisterTask("load", 2);
  const int64_t profit = RegisterTask("profit", 1);
  AddDependency("load", "profit");

  // load fails once (hostile message), then runs again: attempt 2.
  FinishRun(StartRun("load", kBatch), v1::RUN_STATUS_ERROR, kRunMessage);
  const int64_t second = StartRun("load", kBatch);
  // A file claimed by that run fails with a hostile message.
  {
    grpc::ClientContext ctx;
    v1::RegisterFileRequest req;
    req.mutable_file()->set_source("src<&>");
    req.mutable_file()->set_file_name("f<1>.csv");
    v1::RegisterFileResponse resp;
    ASSERT_TRUE(files_->RegisterFile(&ctx, req, &resp).ok());
  }
  int64_t file_id = 0;
  {
    grpc::ClientContext ctx;
    v1::ClaimFilesRequest req;
    req.set_run_id(second);
    req.set_limit(10);
    v1::ClaimFilesResponse resp;
    ASSERT_TRUE(files_->ClaimFiles(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.files_size(), 1);
    file_id = resp.files(0).id();
  }
  {
    grpc::ClientContext ctx;
    v1::CompleteFileRequest req;
    req.set_file_id(file_id);
    req.set_run_id(second);
    req.set_status(v1::FILE_STATUS_ERROR);
    req.set_error_message(kFileMessage);
    v1::CompleteFileResponse resp;
    grpc::Status s = files_->CompleteFile(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  Struct o = GetJson("/status/api/overview");
  EXPECT_EQ(Num(Obj(Field(o, "files_by_status")), "ERROR"), 1);
  EXPECT_EQ(Num(Obj(Field(o, "files_by_status")), "NEW"), 0);
  EXPECT_EQ(Num(Obj(Field(o, "runs_by_status")), "ERROR"), 1);
  EXPECT_EQ(Num(Obj(Field(o, "runs_by_status")), "PROCESSING"), 1);
  EXPECT_EQ(Num(o, "tasks"), 2);
  EXPECT_EQ(Num(o, "dependencies"), 1);
  EXPECT_GT(Num(o, "now_us"), 0);
  ASSERT_EQ(List(Field(o, "batches")).values_size(), 1);
  const Struct& b = Obj(List(Field(o, "batches")).values(0));
  EXPECT_EQ(Str(b, "batch_id"), kBatch);
  EXPECT_EQ(Num(b, "processing_tasks"), 1);
  EXPECT_EQ(Num(b, "error_tasks"), 0);  // load's latest run is PROCESSING
  EXPECT_EQ(Num(b, "runs"), 2);
  ASSERT_EQ(List(Field(o, "failed_runs")).values_size(), 1);
  const Struct& fr = Obj(List(Field(o, "failed_runs")).values(0));
  EXPECT_EQ(Str(fr, "error_message"), kRunMessage);
  EXPECT_EQ(Str(fr, "batch_id"), kBatch);
  EXPECT_EQ(Str(fr, "worker_id"), kWorker);
  EXPECT_EQ(Str(fr, "task"), "load");
  EXPECT_EQ(Num(fr, "attempt"), 1);
  ASSERT_EQ(List(Field(o, "failed_files")).values_size(), 1);
  const Struct& ff = Obj(List(Field(o, "failed_files")).values(0));
  EXPECT_EQ(Str(ff, "error_message"), kFileMessage);
  EXPECT_EQ(Str(ff, "source"), "src<&>");
  EXPECT_EQ(Str(ff, "file_name"), "f<1>.csv");
  EXPECT_EQ(Num(ff, "run_id"), second);

  const std::string batch_url =
      "/status/api/batch?batch_id=" + UrlEncode(kBatch);
  Struct g = GetJson(batch_url);
  EXPECT_EQ(Str(g, "batch_id"), kBatch);
  EXPECT_FALSE(Field(g, "truncated").bool_value());
  ASSERT_EQ(List(Field(g, "tasks")).values_size(), 2);
  Struct t = TaskIn(g, "load");
  EXPECT_EQ(Num(t, "id"), load);
  EXPECT_EQ(Str(t, "description"), "<i>load</i>");
  EXPECT_EQ(Num(t, "attempts"), 2);
  EXPECT_EQ(Num(t, "max_attempts"), 2);
  EXPECT_FALSE(Field(t, "ready").bool_value());  // a live run holds it
  EXPECT_EQ(Str(Obj(Field(t, "latest")), "status"), "PROCESSING");
  EXPECT_EQ(Num(Obj(Field(t, "latest")), "run_id"), second);
  EXPECT_EQ(Num(Obj(Field(t, "latest")), "attempt"), 2);
  EXPECT_GT(Num(Obj(Field(t, "latest")), "lease_expire_us"), Num(g, "now_us"));
  t = TaskIn(g, "profit");
  EXPECT_EQ(Field(t, "latest").kind_case(), Value::kNullValue);
  EXPECT_FALSE(Field(t, "ready").bool_value());  // load has not succeeded
  ASSERT_EQ(List(Field(g, "edges")).values_size(), 1);
  const ListValue& edge = List(List(Field(g, "edges")).values(0));
  EXPECT_EQ(edge.values(0).number_value(), load);
  EXPECT_EQ(edge.values(1).number_value(), profit);
  ASSERT_EQ(List(Field(g, "runs")).values_size(), 2);
  EXPECT_EQ(Num(Obj(List(Field(g, "runs")).values(0)), "run_id"), second);
  EXPECT_EQ(Str(Obj(List(Field(g, "runs")).values(1)), "error_message"),
            kRunMessage);

  // The page sees the change on its next poll.
  FinishRun(second, v1::RUN_STATUS_SUCCESS, "");
  g = GetJson(batch_url);
  EXPECT_EQ(Str(Obj(Field(TaskIn(g, "load"), "latest")), "status"), "SUCCESS");
  EXPECT_TRUE(Field(TaskIn(g, "profit"), "ready").bool_value());
  o = GetJson("/status/api/overview");
  EXPECT_EQ(Num(Obj(List(Field(o, "batches")).values(0)), "success_tasks"), 1);
  EXPECT_EQ(Num(Obj(List(Field(o, "batches")).values(0)), "processing_tasks"),
            0);

  // A batch without runs: nothing failed, the roots are ready.
  g = GetJson("/status/api/batch?batch_id=never-ran");
  EXPECT_EQ(List(Field(g, "runs")).values_size(), 0);
  EXPECT_TRUE(Field(TaskIn(g, "load"), "ready").bool_value());
  EXPECT_FALSE(Field(TaskIn(g, "profit"), "ready").bool_value());
}

TEST_F(StatusPageTest, ListsAreBounded) {
  RegisterTask("t", 1);
  for (int i = 0; i < 55; ++i) {
    const int64_t run = StartRun("t", "batch-" + std::to_string(i));
    FinishRun(run, v1::RUN_STATUS_ERROR, "failed " + std::to_string(i));
  }
  Struct o = GetJson("/status/api/overview");
  EXPECT_EQ(List(Field(o, "batches")).values_size(), 50);
  // Newest activity first.
  EXPECT_EQ(Str(Obj(List(Field(o, "batches")).values(0)), "batch_id"),
            "batch-54");
  EXPECT_EQ(List(Field(o, "failed_runs")).values_size(), 20);
  EXPECT_EQ(Str(Obj(List(Field(o, "failed_runs")).values(0)), "error_message"),
            "failed 54");
}

TEST_F(StatusPageTest, BadBatchRequestsAre400) {
  Struct e = GetJson("/status/api/batch", 400);
  EXPECT_EQ(Str(e, "error"), "batch_id: required");
  e = GetJson("/status/api/batch?batch_id=", 400);
  EXPECT_EQ(Str(e, "error"), "batch_id: required");
  e = GetJson("/status/api/batch?batch_id=" + std::string(129, 'x'), 400);
  EXPECT_EQ(Str(e, "error"), "batch_id: at most 128 bytes");
  e = GetJson("/status/api/batch?batch_id=a%00b", 400);
  EXPECT_EQ(Str(e, "error"), "batch_id: must not contain NUL");
  // Not UTF-8: the database refuses it; the answer is still a 400.
  GetJson("/status/api/batch?batch_id=%FF%FE", 400);
  EXPECT_EQ(HttpGet(http_port_, "/status/api/nothing").status, 404);
}

TEST_F(StatusPageTest, PageIsSelfContainedWithNonceCsp) {
  for (const char* path : {"/", "/status"}) {
    HttpResult r = HttpGet(http_port_, path);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_NE(r.headers.find("Content-Type: text/html"), std::string::npos);
    size_t csp = r.headers.find("Content-Security-Policy: default-src 'none'");
    ASSERT_NE(csp, std::string::npos) << r.headers;
    // The script's nonce is the header's, and it differs per response.
    size_t at = r.headers.find("script-src 'nonce-", csp);
    ASSERT_NE(at, std::string::npos);
    at += std::string("script-src 'nonce-").size();
    const std::string nonce =
        r.headers.substr(at, r.headers.find('\'', at) - at);
    EXPECT_GE(nonce.size(), 16u);
    EXPECT_NE(r.body.find("<script nonce=\"" + nonce + "\">"),
              std::string::npos);
    EXPECT_EQ(r.body.find("__CSP_NONCE__"), std::string::npos);
    HttpResult again = HttpGet(http_port_, path);
    EXPECT_EQ(again.headers.find(nonce), std::string::npos);
    // Nothing is loaded from elsewhere.
    EXPECT_EQ(r.body.find("src=\"http"), std::string::npos);
    EXPECT_EQ(r.body.find("href=\"http"), std::string::npos);
    EXPECT_NE(r.body.find("/status/api/overview"), std::string::npos);
  }
}

// A failed file shows the run that produced it and the runs that claimed
// it, each with its task and batch (the page links them to the batch).
TEST_F(StatusPageTest, AFailedFileLinksToItsProducerAndConsumers) {
  RegisterTask("make", 1);
  RegisterTask("use", 1);
  const int64_t producer = StartRun("make", "lb1");
  int64_t file_id = 0;
  {
    grpc::ClientContext ctx;
    v1::FinishRunRequest req;
    req.set_run_id(producer);
    req.set_status(v1::RUN_STATUS_SUCCESS);
    req.add_outputs()->set_source("made");
    req.mutable_outputs(0)->set_file_name("m.csv");
    v1::FinishRunResponse resp;
    grpc::Status s = runs_->FinishRun(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    file_id = resp.outputs(0).file().id();
  }
  const int64_t consumer = StartRun("use", "lb2");
  {
    grpc::ClientContext ctx;
    v1::ClaimFilesRequest req;
    req.set_run_id(consumer);
    req.set_source("made");
    req.set_limit(10);
    v1::ClaimFilesResponse resp;
    ASSERT_TRUE(files_->ClaimFiles(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.files_size(), 1);
  }
  {
    grpc::ClientContext ctx;
    v1::CompleteFileRequest req;
    req.set_file_id(file_id);
    req.set_run_id(consumer);
    req.set_status(v1::FILE_STATUS_ERROR);
    req.set_error_message("bad rows");
    v1::CompleteFileResponse resp;
    ASSERT_TRUE(files_->CompleteFile(&ctx, req, &resp).ok());
  }
  Struct o = GetJson("/status/api/overview");
  ASSERT_EQ(List(Field(o, "failed_files")).values_size(), 1);
  const Struct& ff = Obj(List(Field(o, "failed_files")).values(0));
  EXPECT_EQ(Num(ff, "file_id"), file_id);
  const Struct& made_by = Obj(Field(ff, "producer"));
  EXPECT_EQ(Num(made_by, "run_id"), producer);
  EXPECT_EQ(Str(made_by, "task"), "make");
  EXPECT_EQ(Str(made_by, "batch_id"), "lb1");
  ASSERT_EQ(List(Field(ff, "consumers")).values_size(), 1);
  const Struct& used_by = Obj(List(Field(ff, "consumers")).values(0));
  EXPECT_EQ(Num(used_by, "run_id"), consumer);
  EXPECT_EQ(Str(used_by, "task"), "use");
  EXPECT_EQ(Str(used_by, "batch_id"), "lb2");
}

}  // namespace
}  // namespace metad::testing
