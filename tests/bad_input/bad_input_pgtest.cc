// Bad input (issue 3): a table of malformed and hostile requests sent to the
// built metad binary over a real channel, covering every metad.v1 RPC. Each
// case names the code it must get and a substring its message must hold (the
// field or rule); no case may get INTERNAL or leak SQL, and afterwards the
// daemon must still be SERVING and answer a normal call. A second test sends
// seeded random and mutated bytes to every RPC.
//
// Requests go through grpc::GenericStub as bytes, so a case can also send
// what no generated client would: invalid UTF-8 in proto3 strings, broken
// protobuf encodings, unknown methods.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "daemon/rpc/page_token.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "metad/v1/watch.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity
using google::protobuf::Message;
using Code = grpc::StatusCode;

// ---- calling any RPC with bytes -----------------------------------------

struct Reply {
  grpc::Status status;
  std::string bytes;  // the serialized response when OK
};

Reply CallBytes(grpc::GenericStub* stub, const std::string& method,
                const std::string& request, int deadline_seconds = 30) {
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(deadline_seconds));
  std::promise<grpc::Status> done;
  stub->UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                  [&done](grpc::Status s) { done.set_value(std::move(s)); });
  Reply reply;
  reply.status = done.get_future().get();
  if (reply.status.ok()) {
    std::vector<grpc::Slice> slices;
    if (out.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        reply.bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
  }
  return reply;
}

// A server-streaming call with `request` as its one message. Only for
// requests the server refuses: a stream it accepts never ends by itself
// (the deadline would end it).
Reply CallStreamBytes(grpc::GenericStub* stub, const std::string& method,
                      const std::string& request, int deadline_seconds = 30) {
  // Deletes itself when the call is done, after handing over the status.
  class Reactor
      : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Reactor(const std::string& request) {
      grpc::Slice slice(request);
      in_ = grpc::ByteBuffer(&slice, 1);
    }
    std::future<grpc::Status> Start() {
      std::future<grpc::Status> done = done_.get_future();
      StartWrite(&in_);
      StartWritesDone();
      StartRead(&out_);
      StartCall();
      return done;
    }
    void OnReadDone(bool ok) override {
      if (ok) StartRead(&out_);
    }
    void OnDone(const grpc::Status& status) override {
      done_.set_value(status);
      delete this;
    }

   private:
    grpc::ByteBuffer in_, out_;
    std::promise<grpc::Status> done_;
  };
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(deadline_seconds));
  auto* reactor = new Reactor(request);
  stub->PrepareBidiStreamingCall(&context, method, grpc::StubOptions(),
                                 reactor);
  Reply reply;
  reply.status = reactor->Start().get();
  return reply;
}

// "FileService/RegisterFile" -> its method descriptor.
const google::protobuf::MethodDescriptor* MethodOf(const std::string& rpc) {
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
      "metad.v1." + absl::StrReplaceAll(rpc, {{"/", "."}}));
}

std::unique_ptr<Message> NewResponse(const std::string& rpc) {
  const auto* method = MethodOf(rpc);
  if (method == nullptr) return nullptr;
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()
          ->GetPrototype(method->output_type())
          ->New());
}

const char* CodeName(Code code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "?";
}

// Text a status message must never carry: SQL errors or driver internals.
const std::vector<std::string>& HostileStrings();

bool LeaksSql(const std::string& message) {
  // A message may quote the caller's own value back (a batch_id that reads
  // "1; SELECT pg_sleep(30)"): that is no leak, so the hostile inputs are
  // taken out before looking.
  std::string text = message;
  for (const std::string& echo : HostileStrings()) {
    if (echo.size() > 3) absl::StrReplaceAll({{echo, ""}}, &text);
  }
  for (const char* bad : {"pqxx", "SQLSTATE", "syntax error",
                          "ERROR:  ", "relation \"", "violates", "SELECT ",
                          "INSERT INTO", "UPDATE files", "UPDATE task_log"}) {
    if (absl::StrContains(text, bad)) return true;
  }
  return false;
}

std::string Printable(const std::string& s, size_t max = 160) {
  std::string out = absl::CHexEscape(s.substr(0, max));
  if (s.size() > max) absl::StrAppend(&out, "...(", s.size(), " bytes)");
  return out;
}

// Protobuf logs an ERROR line for every string with invalid UTF-8 it
// serializes; this suite does that on purpose.
void QuietUtf8Serialization() {
  static google::protobuf::LogHandler* previous = nullptr;
  previous = google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line,
         const std::string& message) {
        if (absl::StrContains(message, "invalid UTF-8 data when serializing")) {
          return;
        }
        if (previous != nullptr) previous(level, file, line, message);
      });
}

// ---- the table -----------------------------------------------------------

struct Case {
  Case(std::string rpc, std::string what,
       std::function<std::unique_ptr<Message>()> request, Code code,
       std::string message,
       std::function<void(const Message& response)> check = nullptr,
       std::string raw = "")
      : rpc(std::move(rpc)),
        what(std::move(what)),
        request(std::move(request)),
        code(code),
        message(std::move(message)),
        check(std::move(check)),
        raw(std::move(raw)) {}

  std::string rpc;   // "FileService/RegisterFile"
  std::string what;  // what is wrong with the request
  // Builds the request when the case runs (state from earlier cases may
  // matter). Unused when `raw` is set.
  std::function<std::unique_ptr<Message>()> request;
  Code code;
  std::string message;  // must occur in the status message ("" for OK)
  // Further checks of an OK response.
  std::function<void(const Message& response)> check;
  std::string raw;  // bytes to send instead of request() when not empty
};

template <typename M>
std::function<std::unique_ptr<Message>()> Req(std::function<void(M&)> fill) {
  return [fill] {
    auto m = std::make_unique<M>();
    fill(*m);
    return std::unique_ptr<Message>(std::move(m));
  };
}

template <typename M>
std::function<void(const Message&)> Check(std::function<void(const M&)> f) {
  return [f](const Message& m) { f(static_cast<const M&>(m)); };
}

constexpr int64_t kUnknownId = 999999999;
const std::string kBadUtf8 = "ok\xff\xfe";  // 0xFF never occurs in UTF-8
const std::string kOverlong = "\xc0\xaf";   // overlong '/'
const std::string kSurrogate = "\xed\xa0\x80";
const std::string kNul = std::string("a\0b", 3);

// Strings that break naive SQL, array-literal, LIKE or JSON handling. All
// are valid UTF-8 without NUL, so the daemon must store them verbatim.
const std::vector<std::string>& HostileStrings() {
  static const auto* strings = new std::vector<std::string>{
      "'; DROP TABLE files; --",
      "Robert'); DROP TABLE students;--",
      "\" OR \"1\"=\"1",
      "1; SELECT pg_sleep(30)",
      "$1",
      "E'\\\\x00'",
      "%",
      "_",
      "\\",
      "a\\",
      "NULL",
      "null",
      "{}",
      "{\"a\",\"b\"}",
      "a,b",
      "\"",
      " padded ",
      "{\"json\": [1, 2, {\"k\": null}]}",
      "\\u0000",
      "日本語 ✓ 🚀",
      "line\nbreak\ttab",
      "$$ LANGUAGE plpgsql $$",
      "--",
      "/* comment */",
  };
  return *strings;
}

// The state the table works on, made through the API before it runs.
struct Env {
  int64_t file_new = 0, file_held = 0, file_lost = 0, file_err = 0;
  int64_t live_run = 0, lost_run = 0, ended_run = 0;
  std::string tasks_token;  // ListTasks page 1 (size 1): after bi_solo
  std::string files_token;  // ListFiles page 1 (size 1), no filters
};

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    QuietUtf8Serialization();
    url_ = new std::string(CreateEmptyDatabase("bad_input"));
    daemon_ = new DaemonProcess();
    // A long reaper interval: the lost-lease cases must meet the calls' own
    // lease checks, deterministically, not a sweep that got there first.
    ASSERT_TRUE(daemon_->Spawn(*url_, {"--reaper_interval", "3600"}));
    ASSERT_TRUE(daemon_->WaitServing()) << daemon_->ReadLog();
    stub_ = new grpc::GenericStub(daemon_->channel());
  }
  static void TearDownTestSuite() {
    delete stub_;
    delete daemon_;
    delete url_;
  }

  // Calls `rpc` with `request` and expects OK.
  template <typename Response>
  static Response Must(const std::string& rpc, const Message& request) {
    Reply reply =
        CallBytes(stub_, "/metad.v1." + rpc, request.SerializeAsString());
    Response response;
    EXPECT_TRUE(reply.status.ok())
        << rpc << ": " << reply.status.error_message();
    EXPECT_TRUE(response.ParseFromString(reply.bytes));
    return response;
  }

  static void MakeEnv(Env* env);
  static std::vector<Case> Table(Env* env);

  // Health SERVING, and a registration plus a read answered.
  static void ExpectHealthy() {
    auto health = grpc::health::v1::Health::NewStub(daemon_->channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
    static int n = 0;
    RegisterFileRequest reg;
    reg.mutable_file()->set_source("health");
    reg.mutable_file()->set_file_name(absl::StrCat("after-", n++, ".csv"));
    auto registered =
        Must<RegisterFileResponse>("FileService/RegisterFile", reg);
    EXPECT_TRUE(registered.created());
    GetFileRequest get;
    get.set_id(registered.file().id());
    auto file = Must<File>("FileService/GetFile", get);
    EXPECT_EQ(file.file_name(), reg.file().file_name());
    EXPECT_EQ(file.status(), FILE_STATUS_NEW);
  }

  static std::string* url_;
  static DaemonProcess* daemon_;
  static grpc::GenericStub* stub_;
};

std::string* BadInputTest::url_ = nullptr;
DaemonProcess* BadInputTest::daemon_ = nullptr;
grpc::GenericStub* BadInputTest::stub_ = nullptr;

void BadInputTest::MakeEnv(Env* env) {
  // bi_solo first, so that a page of one task ends at it.
  for (const char* name :
       {"bi_solo", "bi_a", "bi_b", "bi_c", "bi_lost", "bi_free", "biXa"}) {
    RegisterTaskRequest r;
    r.set_name(name);
    Must<RegisterTaskResponse>("TaskService/RegisterTask", r);
  }
  for (auto [parent, child] : {std::pair{"bi_a", "bi_b"}, {"bi_b", "bi_c"}}) {
    AddDependencyRequest r;
    r.set_parent_task(parent);
    r.set_child_task(child);
    Must<AddDependencyResponse>("DependencyService/AddDependency", r);
  }
  auto register_file = [](const std::string& source) {
    RegisterFileRequest r;
    r.mutable_file()->set_source(source);
    r.mutable_file()->set_file_name(source + ".csv");
    return Must<RegisterFileResponse>("FileService/RegisterFile", r)
        .file()
        .id();
  };
  env->file_new = register_file("bi-new");
  env->file_held = register_file("bi-held");
  env->file_lost = register_file("bi-lost");
  env->file_err = register_file("bi-err");

  auto start = [](const std::string& task, const std::string& batch) {
    StartRunRequest r;
    r.set_task(task);
    r.set_batch_id(batch);
    r.set_worker_id("bad-input");
    r.set_lease_seconds(3600);
    return Must<StartRunResponse>("TaskLogService/StartRun", r).run().id();
  };
  auto claim = [](int64_t run, const std::string& source) {
    ClaimFilesRequest r;
    r.set_run_id(run);
    r.set_source(source);
    r.set_limit(1);
    auto files = Must<ClaimFilesResponse>("FileService/ClaimFiles", r);
    EXPECT_EQ(files.files_size(), 1) << source;
  };
  env->live_run = start("bi_a", "bi-batch");
  claim(env->live_run, "bi-held");
  claim(env->live_run, "bi-err");
  {
    CompleteFileRequest r;
    r.set_file_id(env->file_err);
    r.set_run_id(env->live_run);
    r.set_status(FILE_STATUS_ERROR);
    r.set_error_message("bad rows");
    Must<CompleteFileResponse>("FileService/CompleteFile", r);
  }
  env->lost_run = start("bi_lost", "bi-batch");
  claim(env->lost_run, "bi-lost");
  QueryValue(*url_, absl::StrCat("UPDATE task_log SET lease_expire_time = "
                                 "now() - interval '1 second' WHERE id = ",
                                 env->lost_run));
  env->ended_run = start("bi_a", "bi-batch-2");
  {
    FinishRunRequest r;
    r.set_run_id(env->ended_run);
    r.set_status(RUN_STATUS_SUCCESS);
    Must<FinishRunResponse>("TaskLogService/FinishRun", r);
  }
  {
    ListTasksRequest r;
    r.set_page_size(1);
    auto page = Must<ListTasksResponse>("TaskService/ListTasks", r);
    EXPECT_EQ(page.tasks(0).name(), "bi_solo");
    env->tasks_token = page.next_page_token();
  }
  {
    ListFilesRequest r;
    r.set_page_size(1);
    env->files_token =
        Must<ListFilesResponse>("FileService/ListFiles", r).next_page_token();
  }
}

std::vector<Case> BadInputTest::Table(Env* env) {
  const std::string big(10 << 20, 'x');   // past the 8 MiB request limit
  const std::string large(5 << 20, 'x');  // under it, past every field limit
  const std::string s129(129, 'r');
  const std::string s257(257, 'w');
  const std::string s4097(4097, 'm');
  const int32_t kBillion = 1000000000;
  const uint64_t no_filters = daemon::FilterFingerprint(ListFilesRequest());
  std::vector<Case> t;

  // ---- FileService/RegisterFile ----
  const std::string rf = "FileService/RegisterFile";
  t.push_back({rf, "no file", Req<RegisterFileRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT, "file: required"});
  t.push_back({rf, "empty source", Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_file_name("a.csv");
               }),
               Code::INVALID_ARGUMENT, "file.source: must be 1..256 bytes"});
  t.push_back({rf, "10 MiB file_name (past the 8 MiB request limit)",
               Req<RegisterFileRequest>([big](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name(big);
               }),
               Code::RESOURCE_EXHAUSTED, "larger than max"});
  t.push_back({rf, "5 MiB file_name (under the request limit)",
               Req<RegisterFileRequest>([large](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name(large);
               }),
               Code::INVALID_ARGUMENT,
               "file.file_name: must be 1..1024 bytes (got 5242880)"});
  t.push_back({rf, "invalid UTF-8 in file_name",
               Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name(kBadUtf8);
               }),
               Code::INVALID_ARGUMENT, "file.file_name: must be valid UTF-8"});
  t.push_back({rf, "overlong UTF-8 in source",
               Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source(kOverlong);
                 r.mutable_file()->set_file_name("a.csv");
               }),
               Code::INVALID_ARGUMENT, "file.source: must be valid UTF-8"});
  t.push_back({rf, "NUL byte in source", Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source(kNul);
                 r.mutable_file()->set_file_name("a.csv");
               }),
               Code::INVALID_ARGUMENT, "file.source: must not contain NUL"});
  t.push_back({rf, "NUL byte in an attribute value",
               Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name("a.csv");
                 (*r.mutable_file()->mutable_attributes())["k"] = kNul;
               }),
               Code::INVALID_ARGUMENT,
               "file.attributes[\"k\"]: must not contain NUL"});
  t.push_back({rf, "negative size_bytes", Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name("a.csv");
                 r.mutable_file()->set_size_bytes(-1);
               }),
               Code::INVALID_ARGUMENT,
               "file.size_bytes: must not be negative"});
  t.push_back(
      {rf, "65 attributes", Req<RegisterFileRequest>([](auto& r) {
         r.mutable_file()->set_source("s");
         r.mutable_file()->set_file_name("a.csv");
         for (int i = 0; i < 65; ++i) {
           (*r.mutable_file()->mutable_attributes())[absl::StrCat("k", i)] =
               "v";
         }
       }),
       Code::INVALID_ARGUMENT, "file.attributes: at most 64 entries"});
  t.push_back({rf, "empty attribute key", Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name("a.csv");
                 (*r.mutable_file()->mutable_attributes())[""] = "v";
               }),
               Code::INVALID_ARGUMENT, "file.attributes key: must be 1..256"});
  t.push_back({rf, "invalid UTF-8 in an attribute value",
               Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name("a.csv");
                 (*r.mutable_file()->mutable_attributes())["k"] = kSurrogate;
               }),
               Code::INVALID_ARGUMENT,
               "file.attributes value: must be valid UTF-8"});
  t.push_back({rf, "request_id of 129 bytes",
               Req<RegisterFileRequest>([s129](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name("a.csv");
                 r.set_request_id(s129);
               }),
               Code::INVALID_ARGUMENT,
               "request_id: must be at most 128 bytes (got 129)"});
  t.push_back({rf, "newline in request_id",
               Req<RegisterFileRequest>([](auto& r) {
                 r.mutable_file()->set_source("s");
                 r.mutable_file()->set_file_name("a.csv");
                 r.set_request_id("a\nb");
               }),
               Code::INVALID_ARGUMENT,
               "request_id: must not contain control characters"});
  for (size_t i = 0; i < HostileStrings().size(); i += 6) {
    // SQL-looking names, checksum and attributes are stored verbatim.
    const std::string& a = HostileStrings()[i];
    const std::string& b = HostileStrings()[(i + 1) % HostileStrings().size()];
    const std::string& c = HostileStrings()[(i + 2) % HostileStrings().size()];
    t.push_back({rf,
                 absl::StrCat("SQL-looking strings stored verbatim: ",
                              Printable(a, 40)),
                 Req<RegisterFileRequest>([a, b, c](auto& r) {
                   r.mutable_file()->set_source(a);
                   r.mutable_file()->set_file_name(b);
                   r.mutable_file()->set_checksum(c);
                   (*r.mutable_file()->mutable_attributes())[a] = b;
                   (*r.mutable_file()->mutable_attributes())[c] = a;
                 }),
                 Code::OK, "",
                 Check<RegisterFileResponse>([a, b, c](const auto& resp) {
                   EXPECT_TRUE(resp.created());
                   EXPECT_EQ(resp.file().source(), a);
                   EXPECT_EQ(resp.file().file_name(), b);
                   EXPECT_EQ(resp.file().checksum(), c);
                   EXPECT_EQ(resp.file().attributes().at(a), b);
                   EXPECT_EQ(resp.file().attributes().at(c), a);
                   // And read back by name, from the database.
                   GetFileRequest get;
                   get.set_source(a);
                   get.set_file_name(b);
                   File stored = Must<File>("FileService/GetFile", get);
                   EXPECT_EQ(stored.id(), resp.file().id());
                   EXPECT_EQ(stored.checksum(), c);
                   EXPECT_EQ(stored.attributes().at(a), b);
                 })});
  }

  // ---- FileService/RegisterFiles ----
  const std::string rfs = "FileService/RegisterFiles";
  t.push_back({rfs, "no files", Req<RegisterFilesRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "files: must hold 1..1000 files (got 0)"});
  t.push_back({rfs, "1001 files", Req<RegisterFilesRequest>([](auto& r) {
                 for (int i = 0; i < 1001; ++i) {
                   auto* f = r.add_files();
                   f->set_source("many");
                   f->set_file_name(absl::StrCat(i));
                 }
               }),
               Code::INVALID_ARGUMENT,
               "files: must hold 1..1000 files (got 1001)"});
  t.push_back({rfs, "third file without a name",
               Req<RegisterFilesRequest>([](auto& r) {
                 for (const char* name : {"x1", "x2", ""}) {
                   auto* f = r.add_files();
                   f->set_source("batch");
                   f->set_file_name(name);
                 }
               }),
               Code::INVALID_ARGUMENT, "files[2].file_name: must be 1..1024"});
  t.push_back({rfs, "invalid UTF-8 in the second file's source",
               Req<RegisterFilesRequest>([](auto& r) {
                 r.add_files()->set_source("ok");
                 r.mutable_files(0)->set_file_name("f");
                 r.add_files()->set_source(kBadUtf8);
                 r.mutable_files(1)->set_file_name("f");
               }),
               Code::INVALID_ARGUMENT, "files[].source: must be valid UTF-8"});
  t.push_back({rfs, "array-literal and SQL-looking names stored verbatim",
               Req<RegisterFilesRequest>([](auto& r) {
                 for (const std::string& s : HostileStrings()) {
                   auto* f = r.add_files();
                   f->set_source("hostile-batch");
                   f->set_file_name(s);
                   f->set_checksum(s);
                 }
                 // The same file twice: the later is not new.
                 *r.add_files() = r.files(0);
               }),
               Code::OK, "", Check<RegisterFilesResponse>([](const auto& resp) {
                 const auto& strings = HostileStrings();
                 ASSERT_EQ(resp.results_size(), int(strings.size()) + 1);
                 EXPECT_EQ(resp.created_count(), int(strings.size()));
                 for (size_t i = 0; i < strings.size(); ++i) {
                   EXPECT_TRUE(resp.results(i).created());
                   GetFileRequest get;
                   get.set_id(resp.results(i).file().id());
                   File stored = Must<File>("FileService/GetFile", get);
                   EXPECT_EQ(stored.file_name(), strings[i]);
                   EXPECT_EQ(stored.checksum(), strings[i]);
                 }
                 EXPECT_FALSE(resp.results(strings.size()).created());
                 EXPECT_EQ(resp.results(strings.size()).file().id(),
                           resp.results(0).file().id());
               })});

  // ---- FileService/GetFile ----
  const std::string gf = "FileService/GetFile";
  t.push_back({gf, "negative id",
               Req<GetFileRequest>([](auto& r) { r.set_id(-1); }),
               Code::INVALID_ARGUMENT, "id: must be a positive id (got -1)"});
  t.push_back({gf, "INT64_MIN id",
               Req<GetFileRequest>([](auto& r) { r.set_id(INT64_MIN); }),
               Code::INVALID_ARGUMENT, "id: must be a positive id"});
  t.push_back({gf, "unknown id",
               Req<GetFileRequest>([](auto& r) { r.set_id(kUnknownId); }),
               Code::NOT_FOUND, "file 999999999: no such file"});
  t.push_back({gf, "id and name together", Req<GetFileRequest>([](auto& r) {
                 r.set_id(1);
                 r.set_source("s");
               }),
               Code::INVALID_ARGUMENT, "not both"});
  t.push_back({gf, "neither id nor name", Req<GetFileRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT, "id: required"});
  t.push_back({gf, "NUL in file_name", Req<GetFileRequest>([](auto& r) {
                 r.set_source("s");
                 r.set_file_name(kNul);
               }),
               Code::INVALID_ARGUMENT, "file_name: must not contain NUL"});
  t.push_back({gf, "unknown name", Req<GetFileRequest>([](auto& r) {
                 r.set_source("'; DROP TABLE files; --");
                 r.set_file_name("nope");
               }),
               Code::NOT_FOUND, "no file with that source and file_name"});
  t.push_back({gf, "bytes that are not protobuf", nullptr,
               Code::INVALID_ARGUMENT,
               "request: is not a valid metad.v1.GetFileRequest", nullptr,
               std::string("\xff\xff\xff\xff\xff", 5)});
  t.push_back({gf, "wrong wire type for id (ignored as unknown)", nullptr,
               Code::INVALID_ARGUMENT, "id: required", nullptr,
               std::string("\x0a\x03"
                           "abc",
                           5)});

  // ---- FileService/ListFiles ----
  const std::string lf = "FileService/ListFiles";
  t.push_back({lf, "page_size -1",
               Req<ListFilesRequest>([](auto& r) { r.set_page_size(-1); }),
               Code::INVALID_ARGUMENT,
               "page_size: must be 0 (default 100) or positive; above 1000 "
               "counts as 1000 (got -1)"});
  // AIP-158: above the maximum counts as the maximum.
  t.push_back(
      {lf, "page_size 10^9 counts as 1000",
       Req<ListFilesRequest>([=](auto& r) { r.set_page_size(kBillion); }),
       Code::OK, "", Check<ListFilesResponse>([](const auto& resp) {
         EXPECT_GT(resp.files_size(), 0);
         EXPECT_LE(resp.files_size(), 1000);
       })});
  t.push_back({lf, "page_size 0 means 100", Req<ListFilesRequest>([](auto&) {}),
               Code::OK, "", Check<ListFilesResponse>([](const auto& resp) {
                 EXPECT_GT(resp.files_size(), 0);
                 EXPECT_LE(resp.files_size(), 100);
               })});
  t.push_back({lf, "unknown status 99", Req<ListFilesRequest>([](auto& r) {
                 r.set_status(static_cast<FileStatus>(99));
               }),
               Code::INVALID_ARGUMENT, "status: unknown FileStatus value 99"});
  t.push_back(
      {lf, "forged token (not base64)",
       Req<ListFilesRequest>([](auto& r) { r.set_page_token("not a token!"); }),
       Code::INVALID_ARGUMENT,
       "page_token: is not a page token issued by metad"});
  t.push_back({lf, "forged token with a negative id",
               Req<ListFilesRequest>([no_filters](auto& r) {
                 r.set_page_token(absl::WebSafeBase64Escape(
                     absl::StrCat("v1:-5:", absl::Hex(no_filters))));
               }),
               Code::INVALID_ARGUMENT,
               "page_token: is not a page token issued by metad"});
  t.push_back({lf, "forged token with a wrong fingerprint",
               Req<ListFilesRequest>([](auto& r) {
                 r.set_page_token(absl::WebSafeBase64Escape("v1:1:0"));
               }),
               Code::INVALID_ARGUMENT,
               "page_token: was issued for other filters"});
  t.push_back({lf, "token of 300 bytes", Req<ListFilesRequest>([](auto& r) {
                 r.set_page_token(std::string(300, 'A'));
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});
  t.push_back({lf, "real token reused with another filter",
               Req<ListFilesRequest>([env](auto& r) {
                 r.set_page_token(env->files_token);
                 r.set_source("bi-held");
               }),
               Code::INVALID_ARGUMENT,
               "page_token: was issued for other filters"});
  t.push_back({lf, "token positioned past every id (a position, not a secret)",
               Req<ListFilesRequest>([no_filters](auto& r) {
                 r.set_page_token(
                     daemon::EncodePageToken(INT64_MAX, no_filters));
               }),
               Code::OK, "", Check<ListFilesResponse>([](const auto& resp) {
                 EXPECT_EQ(resp.files_size(), 0);
                 EXPECT_EQ(resp.next_page_token(), "");
               })});
  t.push_back({lf, "negative run_id",
               Req<ListFilesRequest>([](auto& r) { r.set_run_id(-3); }),
               Code::INVALID_ARGUMENT,
               "run_id: must be a positive id (got -3)"});
  t.push_back({lf, "created_after with negative nanos",
               Req<ListFilesRequest>(
                   [](auto& r) { r.mutable_created_after()->set_nanos(-1); }),
               Code::INVALID_ARGUMENT, "created_after: must be a valid time"});
  t.push_back({lf, "created_before in year 300000",
               Req<ListFilesRequest>([](auto& r) {
                 r.mutable_created_before()->set_seconds(9000000000000LL);
               }),
               Code::INVALID_ARGUMENT, "created_before: must be a valid time"});
  t.push_back({lf, "unknown field 999 (ignored)", nullptr, Code::OK, "",
               nullptr, std::string("\xb8\x3e\x01", 3)});

  // ---- FileService/ClaimFiles ----
  const std::string cf = "FileService/ClaimFiles";
  t.push_back({cf, "limit 0", Req<ClaimFilesRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
               }),
               Code::INVALID_ARGUMENT, "limit: must be 1..1000 (got 0)"});
  t.push_back({cf, "limit 10^9", Req<ClaimFilesRequest>([=](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_limit(kBillion);
               }),
               Code::INVALID_ARGUMENT,
               "limit: must be 1..1000 (got 1000000000)"});
  t.push_back(
      {cf, "run_id 0", Req<ClaimFilesRequest>([](auto& r) { r.set_limit(1); }),
       Code::INVALID_ARGUMENT, "run_id: must be a positive id (got 0)"});
  t.push_back({cf, "unknown run", Req<ClaimFilesRequest>([](auto& r) {
                 r.set_run_id(kUnknownId);
                 r.set_limit(1);
               }),
               Code::NOT_FOUND, "run 999999999: no such run"});
  t.push_back({cf, "run whose lease was lost",
               Req<ClaimFilesRequest>([env](auto& r) {
                 r.set_run_id(env->lost_run);
                 r.set_limit(1);
               }),
               Code::FAILED_PRECONDITION, "lease expired"});
  t.push_back({cf, "ended run", Req<ClaimFilesRequest>([env](auto& r) {
                 r.set_run_id(env->ended_run);
                 r.set_limit(1);
               }),
               Code::FAILED_PRECONDITION, "has ended as SUCCESS"});
  t.push_back({cf, "NUL in source", Req<ClaimFilesRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_limit(1);
                 r.set_source(kNul);
               }),
               Code::INVALID_ARGUMENT, "source: must not contain NUL"});

  // ---- FileService/CompleteFile ----
  const std::string cpf = "FileService/CompleteFile";
  t.push_back({cpf, "status UNSPECIFIED",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_held);
                 r.set_run_id(env->live_run);
               }),
               Code::INVALID_ARGUMENT,
               "status: must be FILE_STATUS_SUCCESS or FILE_STATUS_ERROR (got "
               "FILE_STATUS_UNSPECIFIED)"});
  t.push_back({cpf, "unknown status 42",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_held);
                 r.set_run_id(env->live_run);
                 r.set_status(static_cast<FileStatus>(42));
               }),
               Code::INVALID_ARGUMENT, "(got 42)"});
  t.push_back({cpf, "status NEW (not an outcome)",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_held);
                 r.set_run_id(env->live_run);
                 r.set_status(FILE_STATUS_NEW);
               }),
               Code::INVALID_ARGUMENT, "(got FILE_STATUS_NEW)"});
  t.push_back({cpf, "SUCCESS with an error_message",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_held);
                 r.set_run_id(env->live_run);
                 r.set_status(FILE_STATUS_SUCCESS);
                 r.set_error_message("but it failed");
               }),
               Code::INVALID_ARGUMENT, "error_message: must be empty"});
  t.push_back({cpf, "file of a run whose lease was lost",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_lost);
                 r.set_run_id(env->lost_run);
                 r.set_status(FILE_STATUS_SUCCESS);
               }),
               Code::FAILED_PRECONDITION, "lease expired"});
  t.push_back({cpf, "NEW file never claimed (out of order)",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_run_id(env->live_run);
                 r.set_status(FILE_STATUS_SUCCESS);
               }),
               Code::FAILED_PRECONDITION, "is NEW, not PROCESSING"});
  t.push_back({cpf, "unknown file", Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(kUnknownId);
                 r.set_run_id(env->live_run);
                 r.set_status(FILE_STATUS_SUCCESS);
               }),
               Code::NOT_FOUND, "file 999999999: no such file"});
  t.push_back({cpf, "invalid UTF-8 in error_message",
               Req<CompleteFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_held);
                 r.set_run_id(env->live_run);
                 r.set_status(FILE_STATUS_ERROR);
                 r.set_error_message(kBadUtf8);
               }),
               Code::INVALID_ARGUMENT, "error_message: must be valid UTF-8"});
  t.push_back({cpf, "error_message of 4097 bytes",
               Req<CompleteFileRequest>([env, s4097](auto& r) {
                 r.set_file_id(env->file_held);
                 r.set_run_id(env->live_run);
                 r.set_status(FILE_STATUS_ERROR);
                 r.set_error_message(s4097);
               }),
               Code::INVALID_ARGUMENT,
               "error_message: must be at most 4096 bytes (got 4097)"});

  // ---- FileService/ResetFile ----
  const std::string rsf = "FileService/ResetFile";
  t.push_back(
      {rsf, "NEW file (only ERROR files reset)",
       Req<ResetFileRequest>([env](auto& r) { r.set_file_id(env->file_new); }),
       Code::FAILED_PRECONDITION, "is NEW; only an ERROR file can be reset"});
  t.push_back({rsf, "PROCESSING file", Req<ResetFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_held);
               }),
               Code::FAILED_PRECONDITION, "is PROCESSING; only an ERROR file"});
  t.push_back({rsf, "ERROR file with a SQL-looking reason",
               Req<ResetFileRequest>([env](auto& r) {
                 r.set_file_id(env->file_err);
                 r.set_reason("'); DELETE FROM file_events; --");
               }),
               Code::OK, "", Check<ResetFileResponse>([env](const auto& resp) {
                 EXPECT_EQ(resp.file().status(), FILE_STATUS_NEW);
                 ListFileEventsRequest events;
                 events.set_file_id(env->file_err);
                 auto page = Must<ListFileEventsResponse>(
                     "FileService/ListFileEvents", events);
                 ASSERT_GT(page.events_size(), 0);
                 EXPECT_EQ(page.events(page.events_size() - 1).message(),
                           "'); DELETE FROM file_events; --");
               })});
  t.push_back(
      {rsf, "the same file again (now NEW)",
       Req<ResetFileRequest>([env](auto& r) { r.set_file_id(env->file_err); }),
       Code::FAILED_PRECONDITION, "only an ERROR file can be reset"});
  t.push_back({rsf, "negative file_id",
               Req<ResetFileRequest>([](auto& r) { r.set_file_id(-1); }),
               Code::INVALID_ARGUMENT, "file_id: must be a positive id"});
  t.push_back({rsf, "unknown file_id", Req<ResetFileRequest>([](auto& r) {
                 r.set_file_id(kUnknownId);
               }),
               Code::NOT_FOUND, "file 999999999: no such file"});
  t.push_back({rsf, "reason of 4097 bytes",
               Req<ResetFileRequest>([env, s4097](auto& r) {
                 r.set_file_id(env->file_err);
                 r.set_reason(s4097);
               }),
               Code::INVALID_ARGUMENT, "reason: must be at most 4096 bytes"});

  // ---- FileService/ReprocessFiles ----
  const std::string rpf = "FileService/ReprocessFiles";
  t.push_back({rpf, "no ids and no filter",
               Req<ReprocessFilesRequest>([](auto&) {}), Code::INVALID_ARGUMENT,
               "file_ids: required"});
  t.push_back({rpf, "ids and a filter", Req<ReprocessFilesRequest>([](auto& r) {
                 r.add_file_ids(1);
                 r.set_source("src");
               }),
               Code::INVALID_ARGUMENT, "not both"});
  t.push_back({rpf, "unknown id", Req<ReprocessFilesRequest>([](auto& r) {
                 r.add_file_ids(kUnknownId);
               }),
               Code::NOT_FOUND, "file 999999999: no such file"});
  t.push_back({rpf, "a NEW file", Req<ReprocessFilesRequest>([env](auto& r) {
                 r.add_file_ids(env->file_new);
               }),
               Code::FAILED_PRECONDITION, "is NEW; only SUCCESS or ERROR"});
  t.push_back({rpf, "status filter NEW",
               Req<ReprocessFilesRequest>(
                   [](auto& r) { r.set_status(FILE_STATUS_NEW); }),
               Code::INVALID_ARGUMENT, "status: must be FILE_STATUS_SUCCESS"});
  t.push_back({rpf, "limit 1001", Req<ReprocessFilesRequest>([](auto& r) {
                 r.set_source("src");
                 r.set_limit(1001);
               }),
               Code::INVALID_ARGUMENT, "limit: must be 0..1000"});

  // ---- FileService/ListFileEvents ----
  const std::string lfe = "FileService/ListFileEvents";
  t.push_back({lfe, "negative file_id",
               Req<ListFileEventsRequest>([](auto& r) { r.set_file_id(-2); }),
               Code::INVALID_ARGUMENT, "file_id: must be a positive id"});
  t.push_back({lfe, "unknown file_id", Req<ListFileEventsRequest>([](auto& r) {
                 r.set_file_id(kUnknownId);
               }),
               Code::NOT_FOUND, "file 999999999: no such file"});
  t.push_back(
      {lfe, "page_size 1001 counts as 1000",
       Req<ListFileEventsRequest>([](auto& r) { r.set_page_size(1001); }),
       Code::OK, "", Check<ListFileEventsResponse>([](const auto& resp) {
         EXPECT_LE(resp.events_size(), 1000);
       })});
  t.push_back({lfe, "page_size -1",
               Req<ListFileEventsRequest>([](auto& r) { r.set_page_size(-1); }),
               Code::INVALID_ARGUMENT,
               "page_size: must be 0 (default 100) or positive"});
  t.push_back({lfe, "forged token", Req<ListFileEventsRequest>([](auto& r) {
                 r.set_page_token("djE6MTI6enp6");  // "v1:12:zzz"
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});

  // ---- TaskService/RegisterTask ----
  const std::string rt = "TaskService/RegisterTask";
  t.push_back({rt, "empty name", Req<RegisterTaskRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "name: must be 1..128 characters (got 0)"});
  t.push_back({rt, "SQL in the name", Req<RegisterTaskRequest>([](auto& r) {
                 r.set_name("x'; DROP TABLE tasks; --");
               }),
               Code::INVALID_ARGUMENT,
               "name: may contain only letters, digits and _ . : -"});
  t.push_back({rt, "name of 129 characters",
               Req<RegisterTaskRequest>([s129](auto& r) { r.set_name(s129); }),
               Code::INVALID_ARGUMENT,
               "name: must be 1..128 characters (got 129)"});
  t.push_back({rt, "invalid UTF-8 in the name",
               Req<RegisterTaskRequest>([](auto& r) { r.set_name(kBadUtf8); }),
               Code::INVALID_ARGUMENT, "name: must be valid UTF-8"});
  t.push_back({rt, "max_attempts -1", Req<RegisterTaskRequest>([](auto& r) {
                 r.set_name("bi_x");
                 r.set_max_attempts(-1);
               }),
               Code::INVALID_ARGUMENT, "max_attempts: must be 0"});
  t.push_back({rt, "max_attempts 10^9", Req<RegisterTaskRequest>([=](auto& r) {
                 r.set_name("bi_x");
                 r.set_max_attempts(kBillion);
               }),
               Code::INVALID_ARGUMENT,
               "max_attempts: must be 0 (the default 1, "
               "or keep on update) or 1..1000"});
  t.push_back({rt, "default_lease_seconds 86401",
               Req<RegisterTaskRequest>([](auto& r) {
                 r.set_name("bi_x");
                 r.set_default_lease_seconds(86401);
               }),
               Code::INVALID_ARGUMENT, "default_lease_seconds: must be 0"});
  t.push_back({rt, "description of 4097 bytes",
               Req<RegisterTaskRequest>([s4097](auto& r) {
                 r.set_name("bi_x");
                 r.set_description(s4097);
               }),
               Code::INVALID_ARGUMENT,
               "description: must be at most 4096 bytes"});
  t.push_back(
      {rt, "SQL-looking description stored verbatim",
       Req<RegisterTaskRequest>([](auto& r) {
         r.set_name("bi_desc");
         r.set_description(HostileStrings()[0] + HostileStrings()[13] +
                           HostileStrings()[20]);
       }),
       Code::OK, "", Check<RegisterTaskResponse>([](const auto& resp) {
         const std::string want =
             HostileStrings()[0] + HostileStrings()[13] + HostileStrings()[20];
         EXPECT_EQ(resp.task().description(), want);
         GetTaskRequest get;
         get.set_name("bi_desc");
         EXPECT_EQ(Must<Task>("TaskService/GetTask", get).description(), want);
       })});

  // ---- TaskService/UpdateTask ----
  const std::string ut = "TaskService/UpdateTask";
  t.push_back({ut, "no task name", Req<UpdateTaskRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "task.name: must be 1..128 characters (got 0)"});
  t.push_back({ut, "SQL in the name", Req<UpdateTaskRequest>([](auto& r) {
                 r.mutable_task()->set_name("x'; DROP TABLE tasks; --");
                 r.mutable_update_mask()->add_paths("description");
               }),
               Code::INVALID_ARGUMENT, "task.name: may contain only"});
  t.push_back({ut, "mask names the immutable name",
               Req<UpdateTaskRequest>([](auto& r) {
                 r.mutable_task()->set_name("bi_solo");
                 r.mutable_update_mask()->add_paths("name");
               }),
               Code::INVALID_ARGUMENT,
               "update_mask.paths[0]: \"name\" cannot be changed"});
  t.push_back(
      {ut, "mask names an unknown field", Req<UpdateTaskRequest>([](auto& r) {
         r.mutable_task()->set_name("bi_solo");
         r.mutable_update_mask()->add_paths("description");
         r.mutable_update_mask()->add_paths("'; DROP TABLE tasks; --");
       }),
       Code::INVALID_ARGUMENT, "update_mask.paths[1]: no updatable field"});
  t.push_back({ut, "mask path of 4097 bytes",
               Req<UpdateTaskRequest>([s4097](auto& r) {
                 r.mutable_task()->set_name("bi_solo");
                 r.mutable_update_mask()->add_paths(s4097);
               }),
               Code::INVALID_ARGUMENT,
               "update_mask.paths[0]: no updatable field of that name"});
  t.push_back({ut, "masked max_attempts 10^9",
               Req<UpdateTaskRequest>([=](auto& r) {
                 r.mutable_task()->set_name("bi_solo");
                 r.mutable_task()->set_max_attempts(kBillion);
                 r.mutable_update_mask()->add_paths("max_attempts");
               }),
               Code::INVALID_ARGUMENT, "task.max_attempts: must be 1..1000"});
  t.push_back({ut, "masked max_attempts 0 (no 'keep' here)",
               Req<UpdateTaskRequest>([](auto& r) {
                 r.mutable_task()->set_name("bi_solo");
                 r.mutable_update_mask()->add_paths("max_attempts");
               }),
               Code::INVALID_ARGUMENT, "task.max_attempts: must be 1..1000"});
  t.push_back({ut, "etag of 129 bytes", Req<UpdateTaskRequest>([s129](auto& r) {
                 r.mutable_task()->set_name("bi_solo");
                 r.set_etag(s129);
               }),
               Code::INVALID_ARGUMENT, "etag: at most 128 bytes"});
  t.push_back({ut, "unknown task", Req<UpdateTaskRequest>([](auto& r) {
                 r.mutable_task()->set_name("bi_nope");
                 r.mutable_task()->set_max_attempts(2);
               }),
               Code::NOT_FOUND, "task \"bi_nope\": not found"});
  t.push_back({ut, "stale etag", Req<UpdateTaskRequest>([](auto& r) {
                 r.mutable_task()->set_name("bi_solo");
                 r.mutable_task()->set_description("never stored");
                 r.set_etag("0-0");
               }),
               Code::ABORTED, "changed since it was read"});

  // ---- TaskService/GetTask ----
  const std::string gt = "TaskService/GetTask";
  t.push_back({gt, "neither id nor name", Req<GetTaskRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT, "key: set either id or name"});
  t.push_back({gt, "id set to 0",
               Req<GetTaskRequest>([](auto& r) { r.set_id(0); }),
               Code::INVALID_ARGUMENT, "id: must be a positive id (got 0)"});
  t.push_back({gt, "unknown id",
               Req<GetTaskRequest>([](auto& r) { r.set_id(kUnknownId); }),
               Code::NOT_FOUND, "task 999999999: not found"});
  t.push_back({gt, "LIKE wildcard as the name",
               Req<GetTaskRequest>([](auto& r) { r.set_name("%"); }),
               Code::INVALID_ARGUMENT, "name: may contain only"});

  // ---- TaskService/ListTasks ----
  const std::string lt = "TaskService/ListTasks";
  t.push_back({lt, "name_prefix with '_' is literal, not a LIKE wildcard",
               Req<ListTasksRequest>([](auto& r) { r.set_name_prefix("bi_"); }),
               Code::OK, "", Check<ListTasksResponse>([](const auto& resp) {
                 EXPECT_GT(resp.tasks_size(), 3);
                 for (const Task& task : resp.tasks()) {
                   EXPECT_TRUE(absl::StartsWith(task.name(), "bi_"))
                       << task.name();  // biXa must not match
                 }
               })});
  t.push_back({lt, "name_prefix '%' matches no task",
               Req<ListTasksRequest>([](auto& r) { r.set_name_prefix("%"); }),
               Code::OK, "", Check<ListTasksResponse>([](const auto& resp) {
                 EXPECT_EQ(resp.tasks_size(), 0);
               })});
  t.push_back(
      {lt, "name_prefix ending in a backslash",
       Req<ListTasksRequest>([](auto& r) { r.set_name_prefix("bi\\"); }),
       Code::OK, "", Check<ListTasksResponse>([](const auto& resp) {
         EXPECT_EQ(resp.tasks_size(), 0);
       })});
  t.push_back(
      {lt, "name_prefix of 129 bytes",
       Req<ListTasksRequest>([s129](auto& r) { r.set_name_prefix(s129); }),
       Code::INVALID_ARGUMENT, "name_prefix: must be at most 128 bytes"});
  t.push_back(
      {lt, "control character in name_prefix",
       Req<ListTasksRequest>([](auto& r) { r.set_name_prefix("bi\x01"); }),
       Code::INVALID_ARGUMENT,
       "name_prefix: must not contain control characters"});
  t.push_back(
      {lt, "page_size 10^9 counts as 1000",
       Req<ListTasksRequest>([=](auto& r) { r.set_page_size(kBillion); }),
       Code::OK, "", Check<ListTasksResponse>([](const auto& resp) {
         EXPECT_GT(resp.tasks_size(), 0);
         EXPECT_LE(resp.tasks_size(), 1000);
       })});
  t.push_back({lt, "page_size -10^9", Req<ListTasksRequest>([=](auto& r) {
                 r.set_page_size(-kBillion);
               }),
               Code::INVALID_ARGUMENT, "page_size"});
  t.push_back({lt, "ListFiles token given to ListTasks",
               Req<ListTasksRequest>(
                   [env](auto& r) { r.set_page_token(env->files_token); }),
               Code::INVALID_ARGUMENT, "page_token: was issued for other"});

  // ---- TaskService/DeleteTask ----
  const std::string dt = "TaskService/DeleteTask";
  t.push_back({dt, "neither id nor name", Req<DeleteTaskRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT, "key: set either id or name"});
  t.push_back({dt, "negative id",
               Req<DeleteTaskRequest>([](auto& r) { r.set_id(-7); }),
               Code::INVALID_ARGUMENT, "id: must be a positive id (got -7)"});
  t.push_back({dt, "unknown name",
               Req<DeleteTaskRequest>([](auto& r) { r.set_name("bi_nope"); }),
               Code::NOT_FOUND, "task \"bi_nope\": not found"});
  t.push_back({dt, "task with dependencies",
               Req<DeleteTaskRequest>([](auto& r) { r.set_name("bi_b"); }),
               Code::FAILED_PRECONDITION,
               "it has dependencies (1 parent, 1 child)"});
  t.push_back({dt, "task with runs",
               Req<DeleteTaskRequest>([](auto& r) { r.set_name("bi_lost"); }),
               Code::FAILED_PRECONDITION, "it has runs"});
  t.push_back({dt, "unused task (then its page token goes stale)",
               Req<DeleteTaskRequest>([](auto& r) { r.set_name("bi_solo"); }),
               Code::OK, "", Check<DeleteTaskResponse>([](const auto& resp) {
                 EXPECT_EQ(resp.task().name(), "bi_solo");
               })});
  t.push_back({lt, "stale token: its last task was deleted",
               Req<ListTasksRequest>([env](auto& r) {
                 r.set_page_size(1);
                 r.set_page_token(env->tasks_token);
               }),
               Code::OK, "", Check<ListTasksResponse>([](const auto& resp) {
                 ASSERT_EQ(resp.tasks_size(), 1);
                 EXPECT_EQ(resp.tasks(0).name(), "bi_a");
               })});

  // ---- TaskLogService/StartRun ----
  const std::string sr = "TaskLogService/StartRun";
  auto start = [](std::string task, std::string batch) {
    return [task, batch](StartRunRequest& r) {
      r.set_task(task);
      r.set_batch_id(batch);
    };
  };
  t.push_back({sr, "empty task", Req<StartRunRequest>(start("", "b")),
               Code::INVALID_ARGUMENT, "task: must be 1..128 characters"});
  t.push_back({sr, "unknown task", Req<StartRunRequest>(start("bi_nope", "b")),
               Code::NOT_FOUND, "task bi_nope not found"});
  t.push_back({sr, "empty batch_id", Req<StartRunRequest>(start("bi_free", "")),
               Code::INVALID_ARGUMENT,
               "batch_id: must be 1..128 bytes (got 0)"});
  t.push_back({sr, "newline in batch_id",
               Req<StartRunRequest>(start("bi_free", "b\n1")),
               Code::INVALID_ARGUMENT,
               "batch_id: must not contain control characters"});
  t.push_back({sr, "batch_id of 129 bytes",
               Req<StartRunRequest>(start("bi_free", s129)),
               Code::INVALID_ARGUMENT,
               "batch_id: must be 1..128 bytes (got 129)"});
  t.push_back({sr, "invalid UTF-8 in batch_id",
               Req<StartRunRequest>(start("bi_free", kBadUtf8)),
               Code::INVALID_ARGUMENT, "batch_id: must be valid UTF-8"});
  t.push_back({sr, "lease_seconds -1", Req<StartRunRequest>([](auto& r) {
                 r.set_task("bi_free");
                 r.set_batch_id("b");
                 r.set_lease_seconds(-1);
               }),
               Code::INVALID_ARGUMENT, "lease_seconds: must be 0"});
  t.push_back({sr, "lease_seconds 10^9", Req<StartRunRequest>([=](auto& r) {
                 r.set_task("bi_free");
                 r.set_batch_id("b");
                 r.set_lease_seconds(kBillion);
               }),
               Code::INVALID_ARGUMENT, "(got 1000000000)"});
  t.push_back({sr, "worker_id of 257 bytes",
               Req<StartRunRequest>([s257](auto& r) {
                 r.set_task("bi_free");
                 r.set_batch_id("b");
                 r.set_worker_id(s257);
               }),
               Code::INVALID_ARGUMENT, "worker_id: must be at most 256 bytes"});
  t.push_back({sr, "parents not done (out of order)",
               Req<StartRunRequest>(start("bi_c", "bi-batch")),
               Code::FAILED_PRECONDITION, "waiting for bi_b"});
  t.push_back({sr, "already PROCESSING in the batch",
               Req<StartRunRequest>(start("bi_a", "bi-batch")),
               Code::FAILED_PRECONDITION, "is PROCESSING in this batch"});
  t.push_back({sr, "already succeeded in the batch",
               Req<StartRunRequest>(start("bi_a", "bi-batch-2")),
               Code::FAILED_PRECONDITION,
               "it already succeeded in this batch"});
  t.push_back({sr, "SQL-looking batch and worker stored verbatim",
               Req<StartRunRequest>([](auto& r) {
                 r.set_task("bi_free");
                 r.set_batch_id("'; DROP TABLE task_log; --");
                 r.set_worker_id("{\"a\",\"b\"} %_\\");
                 r.set_request_id("bi-req-1");
               }),
               Code::OK, "", Check<StartRunResponse>([](const auto& resp) {
                 EXPECT_EQ(resp.run().batch_id(), "'; DROP TABLE task_log; --");
                 EXPECT_EQ(resp.run().worker_id(), "{\"a\",\"b\"} %_\\");
                 GetBatchRequest get;
                 get.set_batch_id("'; DROP TABLE task_log; --");
                 Batch batch = Must<Batch>("TaskLogService/GetBatch", get);
                 ASSERT_EQ(batch.tasks_size(), 1);
                 EXPECT_EQ(batch.tasks(0).task_name(), "bi_free");
               })});
  t.push_back({sr, "request_id reused for another task",
               Req<StartRunRequest>([](auto& r) {
                 r.set_task("bi_a");
                 r.set_batch_id("bi-batch-3");
                 r.set_request_id("bi-req-1");
               }),
               Code::ALREADY_EXISTS, "request_id: already used by run"});

  // ---- TaskLogService/Heartbeat ----
  const std::string hb = "TaskLogService/Heartbeat";
  t.push_back({hb, "negative run_id",
               Req<HeartbeatRequest>([](auto& r) { r.set_run_id(-1); }),
               Code::INVALID_ARGUMENT, "run_id: must be a positive id"});
  t.push_back({hb, "unknown run",
               Req<HeartbeatRequest>([](auto& r) { r.set_run_id(kUnknownId); }),
               Code::NOT_FOUND, "run 999999999 not found"});
  t.push_back({hb, "lease_seconds 86401", Req<HeartbeatRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_lease_seconds(86401);
               }),
               Code::INVALID_ARGUMENT, "lease_seconds: must be 0"});
  t.push_back(
      {hb, "run whose lease was lost",
       Req<HeartbeatRequest>([env](auto& r) { r.set_run_id(env->lost_run); }),
       Code::FAILED_PRECONDITION, "lease expired"});
  t.push_back({hb, "ended run", Req<HeartbeatRequest>([env](auto& r) {
                 r.set_run_id(env->ended_run);
               }),
               Code::FAILED_PRECONDITION, "has ended (SUCCESS"});

  // ---- TaskLogService/FinishRun ----
  const std::string fr = "TaskLogService/FinishRun";
  t.push_back(
      {fr, "status UNSPECIFIED",
       Req<FinishRunRequest>([env](auto& r) { r.set_run_id(env->live_run); }),
       Code::INVALID_ARGUMENT,
       "status: must be RUN_STATUS_SUCCESS or RUN_STATUS_ERROR (got 0)"});
  t.push_back({fr, "unknown status 7", Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_status(static_cast<RunStatus>(7));
               }),
               Code::INVALID_ARGUMENT, "(got 7)"});
  t.push_back({fr, "status PROCESSING (not an outcome)",
               Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_status(RUN_STATUS_PROCESSING);
               }),
               Code::INVALID_ARGUMENT, "(got 1)"});
  t.push_back({fr, "SUCCESS with an error_message",
               Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_status(RUN_STATUS_SUCCESS);
                 r.set_error_message("x");
               }),
               Code::INVALID_ARGUMENT, "error_message: must be empty"});
  t.push_back({fr, "NUL in error_message",
               Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_status(RUN_STATUS_ERROR);
                 r.set_error_message(kNul);
               }),
               Code::INVALID_ARGUMENT, "error_message: must not contain NUL"});
  t.push_back({fr, "run whose lease was lost",
               Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->lost_run);
                 r.set_status(RUN_STATUS_SUCCESS);
               }),
               Code::FAILED_PRECONDITION, "lease expired"});
  t.push_back({fr, "ended run finished again",
               Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->ended_run);
                 r.set_status(RUN_STATUS_ERROR);
                 r.set_error_message("again");
               }),
               Code::FAILED_PRECONDITION, "has ended (SUCCESS"});

  // ---- TaskLogService/CancelRun ----
  const std::string cr = "TaskLogService/CancelRun";
  t.push_back({cr, "run_id 0", Req<CancelRunRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT, "run_id: must be a positive id"});
  t.push_back({cr, "unknown run",
               Req<CancelRunRequest>([](auto& r) { r.set_run_id(kUnknownId); }),
               Code::NOT_FOUND, "run 999999999 not found"});
  t.push_back({cr, "NUL in reason", Req<CancelRunRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_reason(kNul);
               }),
               Code::INVALID_ARGUMENT, "reason: must not contain NUL"});
  t.push_back({cr, "ended run", Req<CancelRunRequest>([env](auto& r) {
                 r.set_run_id(env->ended_run);
               }),
               Code::FAILED_PRECONDITION, "cannot be cancelled"});

  // ---- TaskLogService/RerunTasks ----
  const std::string rr = "TaskLogService/RerunTasks";
  t.push_back({rr, "no tasks", Req<RerunTasksRequest>([](auto& r) {
                 r.set_batch_id("bi-batch-9");
               }),
               Code::INVALID_ARGUMENT, "tasks: must name 1..100 tasks"});
  t.push_back({rr, "empty batch_id",
               Req<RerunTasksRequest>([](auto& r) { r.add_tasks("bi_a"); }),
               Code::INVALID_ARGUMENT, "batch_id:"});
  t.push_back({rr, "bad task name", Req<RerunTasksRequest>([](auto& r) {
                 r.set_batch_id("bi-batch-9");
                 r.add_tasks("bi a");
               }),
               Code::INVALID_ARGUMENT, "tasks[0]:"});
  t.push_back({rr, "unknown task", Req<RerunTasksRequest>([](auto& r) {
                 r.set_batch_id("bi-batch-9");
                 r.add_tasks("bi_no_such_task");
               }),
               Code::NOT_FOUND, "bi_no_such_task"});
  // ---- TaskLogService/FinishRun with outputs, RecordOutputs ----
  t.push_back({fr, "outputs with status ERROR",
               Req<FinishRunRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.set_status(RUN_STATUS_ERROR);
                 r.add_outputs()->set_source("o");
                 r.mutable_outputs(0)->set_file_name("o");
               }),
               Code::INVALID_ARGUMENT, "outputs: only a RUN_STATUS_SUCCESS"});
  t.push_back(
      {fr, "output without a file_name", Req<FinishRunRequest>([env](auto& r) {
         r.set_run_id(env->live_run);
         r.set_status(RUN_STATUS_SUCCESS);
         r.add_outputs()->set_source("o");
       }),
       Code::INVALID_ARGUMENT, "outputs[0].file_name: must be 1..1024"});
  const std::string ro = "TaskLogService/RecordOutputs";
  t.push_back({ro, "no outputs", Req<RecordOutputsRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
               }),
               Code::INVALID_ARGUMENT, "outputs: must hold 1..1000 files"});
  t.push_back({ro, "negative run_id", Req<RecordOutputsRequest>([](auto& r) {
                 r.set_run_id(-1);
                 r.add_outputs()->set_source("o");
                 r.mutable_outputs(0)->set_file_name("o");
               }),
               Code::INVALID_ARGUMENT, "run_id: must be a positive id"});
  t.push_back({ro, "NUL in an output's source",
               Req<RecordOutputsRequest>([env](auto& r) {
                 r.set_run_id(env->live_run);
                 r.add_outputs()->set_source(kNul);
                 r.mutable_outputs(0)->set_file_name("o");
               }),
               Code::INVALID_ARGUMENT,
               "outputs[0].source: must not contain NUL"});
  t.push_back({ro, "unknown run", Req<RecordOutputsRequest>([](auto& r) {
                 r.set_run_id(kUnknownId);
                 r.add_outputs()->set_source("o");
                 r.mutable_outputs(0)->set_file_name("o");
               }),
               Code::NOT_FOUND, "run 999999999: no such run"});
  t.push_back({ro, "run whose lease was lost",
               Req<RecordOutputsRequest>([env](auto& r) {
                 r.set_run_id(env->lost_run);
                 r.add_outputs()->set_source("o");
                 r.mutable_outputs(0)->set_file_name("o");
               }),
               Code::FAILED_PRECONDITION, "lease expired"});

  // ---- FileService/GetLineage ----
  const std::string gl = "FileService/GetLineage";
  t.push_back({gl, "neither file_id nor run_id",
               Req<GetLineageRequest>([](auto&) {}), Code::INVALID_ARGUMENT,
               "file_id: give exactly one of file_id and run_id"});
  t.push_back({gl, "both file_id and run_id",
               Req<GetLineageRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_run_id(env->live_run);
               }),
               Code::INVALID_ARGUMENT, "not both"});
  t.push_back({gl, "max_depth 10^9", Req<GetLineageRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_max_depth(1000000000);
               }),
               Code::INVALID_ARGUMENT, "max_depth: must be 0 (3) or 1..16"});
  t.push_back({gl, "page_size 5001 counts as 5000",
               Req<GetLineageRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_page_size(5001);
               }),
               Code::OK, ""});
  t.push_back({gl, "page_size -1", Req<GetLineageRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_page_size(-1);
               }),
               Code::INVALID_ARGUMENT,
               "page_size: must be 0 (default 500) or positive; above 5000 "
               "counts as 5000 (got -1)"});
  t.push_back({gl, "unknown direction", Req<GetLineageRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_direction(static_cast<LineageDirection>(12));
               }),
               Code::INVALID_ARGUMENT, "direction: unknown"});
  t.push_back({gl, "forged token", Req<GetLineageRequest>([env](auto& r) {
                 r.set_file_id(env->file_new);
                 r.set_page_token("djE6MTI6enp6");
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});
  t.push_back({gl, "unknown file", Req<GetLineageRequest>([](auto& r) {
                 r.set_file_id(kUnknownId);
               }),
               Code::NOT_FOUND, "file 999999999: no such file"});
  t.push_back({gl, "unknown run", Req<GetLineageRequest>([](auto& r) {
                 r.set_run_id(kUnknownId);
               }),
               Code::NOT_FOUND, "run 999999999 not found"});

  // ---- TaskLogService/GetRun ----
  const std::string gr = "TaskLogService/GetRun";
  t.push_back({gr, "run_id 0", Req<GetRunRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "run_id: must be a positive id (got 0)"});
  t.push_back({gr, "unknown run",
               Req<GetRunRequest>([](auto& r) { r.set_run_id(kUnknownId); }),
               Code::NOT_FOUND, "run 999999999 not found"});
  t.push_back(
      {gr, "the lost run reads as ended by expiry",
       Req<GetRunRequest>([env](auto& r) { r.set_run_id(env->lost_run); }),
       Code::OK, "", Check<v1::Run>([](const v1::Run& run) {
         EXPECT_EQ(run.status(), RUN_STATUS_ERROR);
         EXPECT_TRUE(absl::StrContains(run.error_message(), "lease"))
             << run.error_message();
       })});
  t.push_back({gr, "truncated varint", nullptr, Code::INVALID_ARGUMENT,
               "request: is not a valid metad.v1.GetRunRequest", nullptr,
               std::string("\x08\xff\xff", 3)});

  // ---- TaskLogService/ListRuns ----
  const std::string lr = "TaskLogService/ListRuns";
  t.push_back({lr, "unknown status 99", Req<ListRunsRequest>([](auto& r) {
                 r.set_status(static_cast<RunStatus>(99));
               }),
               Code::INVALID_ARGUMENT, "status: unknown RunStatus value 99"});
  t.push_back({lr, "task filter with SQL", Req<ListRunsRequest>([](auto& r) {
                 r.set_task("a' OR '1'='1");
               }),
               Code::INVALID_ARGUMENT, "task: may contain only"});
  t.push_back({lr, "started_before far past year 9999",
               Req<ListRunsRequest>([](auto& r) {
                 r.mutable_started_before()->set_seconds(INT64_MAX);
               }),
               Code::INVALID_ARGUMENT,
               "started_before: must be a valid timestamp"});
  t.push_back({lr, "page_size -5",
               Req<ListRunsRequest>([](auto& r) { r.set_page_size(-5); }),
               Code::INVALID_ARGUMENT,
               "page_size: must be 0 (default 100) or positive; above 1000 "
               "counts as 1000 (got -5)"});
  t.push_back({lr, "ListFiles token given to ListRuns",
               Req<ListRunsRequest>(
                   [env](auto& r) { r.set_page_token(env->files_token); }),
               Code::INVALID_ARGUMENT, "page_token: was issued for other"});

  // ---- TaskLogService/GetBatch ----
  const std::string gb = "TaskLogService/GetBatch";
  t.push_back({gb, "empty batch_id", Req<GetBatchRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "batch_id: must be 1..128 bytes (got 0)"});
  t.push_back({gb, "unknown batch", Req<GetBatchRequest>([](auto& r) {
                 r.set_batch_id("bi-never");
               }),
               Code::NOT_FOUND, "batch bi-never has no runs"});
  t.push_back({gb, "batch_id with a tab",
               Req<GetBatchRequest>([](auto& r) { r.set_batch_id("a\tb"); }),
               Code::INVALID_ARGUMENT,
               "batch_id: must not contain control characters"});

  // ---- TaskLogService/ListRunEvents ----
  const std::string lre = "TaskLogService/ListRunEvents";
  t.push_back({lre, "negative run_id",
               Req<ListRunEventsRequest>([](auto& r) { r.set_run_id(-1); }),
               Code::INVALID_ARGUMENT,
               "run_id: must be 0 (every run) or a positive id (got -1)"});
  t.push_back({lre, "batch_id with DEL", Req<ListRunEventsRequest>([](auto& r) {
                 r.set_batch_id("b\x7f");
               }),
               Code::INVALID_ARGUMENT,
               "batch_id: must not contain control characters"});
  t.push_back({lre, "forged token", Req<ListRunEventsRequest>([](auto& r) {
                 r.set_page_token(absl::WebSafeBase64Escape("v1:1:x:y"));
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});
  t.push_back(
      {lre, "page_size 10^9 counts as 1000",
       Req<ListRunEventsRequest>([=](auto& r) { r.set_page_size(kBillion); }),
       Code::OK, "", Check<ListRunEventsResponse>([](const auto& resp) {
         EXPECT_LE(resp.events_size(), 1000);
       })});
  t.push_back({lre, "page_size -1",
               Req<ListRunEventsRequest>([](auto& r) { r.set_page_size(-1); }),
               Code::INVALID_ARGUMENT, "page_size"});

  // ---- DependencyService/AddDependency ----
  const std::string ad = "DependencyService/AddDependency";
  auto edge = [](std::string parent, std::string child) {
    return [parent, child](auto& r) {
      r.set_parent_task(parent);
      r.set_child_task(child);
    };
  };
  t.push_back({ad, "self-edge", Req<AddDependencyRequest>(edge("bi_a", "bi_a")),
               Code::FAILED_PRECONDITION,
               "would make task bi_a depend on itself"});
  t.push_back({ad, "edge closing a cycle",
               Req<AddDependencyRequest>(edge("bi_c", "bi_a")),
               Code::FAILED_PRECONDITION,
               "adding bi_c -> bi_a would close the cycle"});
  t.push_back({ad, "unknown parent",
               Req<AddDependencyRequest>(edge("bi_nope", "bi_a")),
               Code::NOT_FOUND, "parent_task: no task named \"bi_nope\""});
  t.push_back({ad, "empty child", Req<AddDependencyRequest>(edge("bi_a", "")),
               Code::INVALID_ARGUMENT,
               "child_task: must be 1..128 characters"});
  t.push_back({ad, "SQL in the parent name",
               Req<AddDependencyRequest>(edge("a'--", "bi_a")),
               Code::INVALID_ARGUMENT, "parent_task: may contain only"});
  t.push_back({ad, "existing edge (no-op)",
               Req<AddDependencyRequest>(edge("bi_a", "bi_b")), Code::OK, "",
               Check<AddDependencyResponse>(
                   [](const auto& resp) { EXPECT_FALSE(resp.created()); })});

  // ---- DependencyService/RemoveDependency ----
  const std::string rd = "DependencyService/RemoveDependency";
  t.push_back({rd, "edge that does not exist",
               Req<RemoveDependencyRequest>(edge("bi_a", "bi_c")),
               Code::NOT_FOUND, "dependency bi_a -> bi_c: not found"});
  t.push_back({rd, "empty parent",
               Req<RemoveDependencyRequest>(edge("", "bi_a")),
               Code::INVALID_ARGUMENT, "parent_task: must be 1..128"});
  t.push_back({rd, "unknown child",
               Req<RemoveDependencyRequest>(edge("bi_a", "bi_nope")),
               Code::NOT_FOUND, "child_task: no task named \"bi_nope\""});

  // ---- DependencyService/ListDependencies ----
  const std::string ld = "DependencyService/ListDependencies";
  t.push_back(
      {ld, "direction UNSPECIFIED",
       Req<ListDependenciesRequest>([](auto& r) { r.set_task("bi_b"); }),
       Code::INVALID_ARGUMENT,
       "direction: must be DIRECTION_PARENTS or DIRECTION_CHILDREN (got 0)"});
  t.push_back({ld, "unknown direction 17",
               Req<ListDependenciesRequest>([](auto& r) {
                 r.set_task("bi_b");
                 r.set_direction(static_cast<Direction>(17));
               }),
               Code::INVALID_ARGUMENT, "(got 17)"});
  t.push_back({ld, "unknown task", Req<ListDependenciesRequest>([](auto& r) {
                 r.set_task("bi_nope");
                 r.set_direction(DIRECTION_PARENTS);
               }),
               Code::NOT_FOUND, "bi_nope"});
  t.push_back({ld, "invalid UTF-8 in task",
               Req<ListDependenciesRequest>([](auto& r) {
                 r.set_task(kOverlong);
                 r.set_direction(DIRECTION_PARENTS);
               }),
               Code::INVALID_ARGUMENT, "task: must be valid UTF-8"});
  t.push_back({ld, "page_size -1", Req<ListDependenciesRequest>([](auto& r) {
                 r.set_task("bi_b");
                 r.set_direction(DIRECTION_PARENTS);
                 r.set_page_size(-1);
               }),
               Code::INVALID_ARGUMENT,
               "page_size: must be 0 (default 10000) or positive; above "
               "10000 counts as 10000 (got -1)"});
  t.push_back({ld, "page_size 10^9 counts as 10000",
               Req<ListDependenciesRequest>([=](auto& r) {
                 r.set_task("bi_b");
                 r.set_direction(DIRECTION_PARENTS);
                 r.set_page_size(kBillion);
               }),
               Code::OK, "",
               Check<ListDependenciesResponse>([](const auto& resp) {
                 ASSERT_EQ(resp.dependencies_size(), 1);
                 EXPECT_TRUE(resp.next_page_token().empty());
               })});
  t.push_back({ld, "forged token", Req<ListDependenciesRequest>([](auto& r) {
                 r.set_task("bi_b");
                 r.set_direction(DIRECTION_PARENTS);
                 r.set_page_token(absl::WebSafeBase64Escape("v1:1:x"));
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});

  // ---- DependencyService/GetUpstream and GetDownstream ----
  const std::string gu = "DependencyService/GetUpstream";
  const std::string gd = "DependencyService/GetDownstream";
  t.push_back({gu, "max_depth -1", Req<GetUpstreamRequest>([](auto& r) {
                 r.set_task("bi_c");
                 r.set_max_depth(-1);
               }),
               Code::INVALID_ARGUMENT,
               "max_depth: must be 0 (no limit) or "
               "1..1000 (got -1)"});
  t.push_back({gu, "max_depth 10^9", Req<GetUpstreamRequest>([=](auto& r) {
                 r.set_task("bi_c");
                 r.set_max_depth(kBillion);
               }),
               Code::INVALID_ARGUMENT, "(got 1000000000)"});
  t.push_back({gu, "unknown task",
               Req<GetUpstreamRequest>([](auto& r) { r.set_task("bi_nope"); }),
               Code::NOT_FOUND, "bi_nope"});
  t.push_back({gu, "max_depth 0 is no limit",
               Req<GetUpstreamRequest>([](auto& r) { r.set_task("bi_c"); }),
               Code::OK, "", Check<GetUpstreamResponse>([](const auto& resp) {
                 ASSERT_EQ(resp.tasks_size(), 2);
                 EXPECT_EQ(resp.tasks(0).task().name(), "bi_b");
                 EXPECT_EQ(resp.tasks(1).task().name(), "bi_a");
                 EXPECT_EQ(resp.tasks(1).depth(), 2);
               })});
  t.push_back({gd, "max_depth 1001", Req<GetDownstreamRequest>([](auto& r) {
                 r.set_task("bi_a");
                 r.set_max_depth(1001);
               }),
               Code::INVALID_ARGUMENT,
               "max_depth: must be 0 (no limit) or "
               "1..1000 (got 1001)"});
  t.push_back({gd, "empty task", Req<GetDownstreamRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT, "task: must be 1..128 characters"});
  t.push_back({gd, "unknown task", Req<GetDownstreamRequest>([](auto& r) {
                 r.set_task("bi_nope");
               }),
               Code::NOT_FOUND, "bi_nope"});
  t.push_back({gd, "page_size -1", Req<GetDownstreamRequest>([](auto& r) {
                 r.set_task("bi_a");
                 r.set_page_size(-1);
               }),
               Code::INVALID_ARGUMENT, "page_size: must be 0 (default 10000)"});
  t.push_back({gu, "forged token", Req<GetUpstreamRequest>([](auto& r) {
                 r.set_task("bi_c");
                 r.set_page_token("k1:1,2:zz");
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});

  // ---- DependencyService/GetExecutionPlan ----
  const std::string ep = "DependencyService/GetExecutionPlan";
  t.push_back({ep, "no targets", Req<GetExecutionPlanRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "targets: must name 1..1000 tasks (got 0)"});
  t.push_back({ep, "1001 targets", Req<GetExecutionPlanRequest>([](auto& r) {
                 for (int i = 0; i < 1001; ++i) r.add_targets("bi_a");
               }),
               Code::INVALID_ARGUMENT,
               "targets: must name 1..1000 tasks (got 1001)"});
  t.push_back({ep, "second target malformed",
               Req<GetExecutionPlanRequest>([](auto& r) {
                 r.add_targets("bi_a");
                 r.add_targets("bi c");
               }),
               Code::INVALID_ARGUMENT, "targets[1]: may contain only"});
  t.push_back({ep, "unknown target", Req<GetExecutionPlanRequest>([](auto& r) {
                 r.add_targets("bi_nope");
               }),
               Code::NOT_FOUND, "bi_nope"});
  t.push_back(
      {ep, "repeated targets", Req<GetExecutionPlanRequest>([](auto& r) {
         for (int i = 0; i < 3; ++i) r.add_targets("bi_c");
       }),
       Code::OK, "", Check<GetExecutionPlanResponse>([](const auto& resp) {
         ASSERT_EQ(resp.layers_size(), 3);
         EXPECT_EQ(resp.layers(2).tasks(0).name(), "bi_c");
       })});

  t.push_back({ep, "page_size -1", Req<GetExecutionPlanRequest>([](auto& r) {
                 r.add_targets("bi_c");
                 r.set_page_size(-1);
               }),
               Code::INVALID_ARGUMENT, "page_size: must be 0 (default 10000)"});

  // ---- DependencyService/GetReadyTasks ----
  const std::string gtr = "DependencyService/GetReadyTasks";
  t.push_back({gtr, "page_size -1", Req<GetReadyTasksRequest>([](auto& r) {
                 r.set_batch_id("b");
                 r.set_page_size(-1);
               }),
               Code::INVALID_ARGUMENT, "page_size: must be 0 (default 10000)"});
  t.push_back({gtr, "forged token", Req<GetReadyTasksRequest>([](auto& r) {
                 r.set_batch_id("b");
                 r.set_page_token("nope");
               }),
               Code::INVALID_ARGUMENT, "page_token: is not a page token"});
  t.push_back({gtr, "empty batch_id", Req<GetReadyTasksRequest>([](auto&) {}),
               Code::INVALID_ARGUMENT,
               "batch_id: must be 1..128 bytes (got 0)"});
  t.push_back({gtr, "unknown target", Req<GetReadyTasksRequest>([](auto& r) {
                 r.set_batch_id("b");
                 r.add_targets("bi_nope");
               }),
               Code::NOT_FOUND, "bi_nope"});
  t.push_back({gtr, "1001 targets", Req<GetReadyTasksRequest>([](auto& r) {
                 r.set_batch_id("b");
                 for (int i = 0; i < 1001; ++i) r.add_targets("bi_a");
               }),
               Code::INVALID_ARGUMENT,
               "targets: must name 0..1000 tasks (got 1001)"});
  t.push_back({gtr, "invalid UTF-8 in a target",
               Req<GetReadyTasksRequest>([](auto& r) {
                 r.set_batch_id("b");
                 r.add_targets(kBadUtf8);
               }),
               Code::INVALID_ARGUMENT, "targets: must be valid UTF-8"});
  t.push_back({gtr, "the batch where bi_a is PROCESSING",
               Req<GetReadyTasksRequest>([](auto& r) {
                 r.set_batch_id("bi-batch");
                 r.add_targets("bi_c");
               }),
               Code::OK, "", Check<GetReadyTasksResponse>([](const auto& resp) {
                 // bi_a runs, bi_b and bi_c wait for it.
                 EXPECT_EQ(resp.tasks_size(), 0);
               })});

  // ---- WatchService (server streams: every case here is refused) ----
  const std::string wf = "WatchService/WatchFiles";
  t.push_back({wf, "after_event_id -2", Req<WatchFilesRequest>([](auto& r) {
                 r.set_after_event_id(-2);
               }),
               Code::INVALID_ARGUMENT,
               "after_event_id: must be -1 (from the first event), 0 (from "
               "now) or an event id (got -2)"});
  t.push_back(
      {wf, "after_event_id INT64_MIN",
       Req<WatchFilesRequest>([](auto& r) { r.set_after_event_id(INT64_MIN); }),
       Code::INVALID_ARGUMENT, "after_event_id: must be -1"});
  t.push_back({wf, "unknown status 99", Req<WatchFilesRequest>([](auto& r) {
                 r.set_status(static_cast<FileStatus>(99));
               }),
               Code::INVALID_ARGUMENT, "status: unknown FileStatus value 99"});
  t.push_back({wf, "negative file_id",
               Req<WatchFilesRequest>([](auto& r) { r.set_file_id(-1); }),
               Code::INVALID_ARGUMENT,
               "file_id: must not be negative (got -1)"});
  t.push_back({wf, "NUL in source",
               Req<WatchFilesRequest>([](auto& r) { r.set_source(kNul); }),
               Code::INVALID_ARGUMENT, "source: must not contain NUL"});
  t.push_back({wf, "source of 257 bytes",
               Req<WatchFilesRequest>([s257](auto& r) { r.set_source(s257); }),
               Code::INVALID_ARGUMENT,
               "source: must be 1..256 bytes (got 257)"});
  t.push_back({wf, "invalid UTF-8 in source",
               Req<WatchFilesRequest>([](auto& r) { r.set_source(kBadUtf8); }),
               Code::INVALID_ARGUMENT, "source: must be valid UTF-8"});
  t.push_back({wf, "bytes that are not protobuf", nullptr,
               Code::INVALID_ARGUMENT,
               "request: is not a valid metad.v1.WatchFilesRequest", nullptr,
               std::string("\x08\xff\xff", 3)});
  const std::string wr = "WatchService/WatchRuns";
  t.push_back({wr, "newline in batch_id",
               Req<WatchRunsRequest>([](auto& r) { r.set_batch_id("b\n1"); }),
               Code::INVALID_ARGUMENT,
               "batch_id: must not contain control characters"});
  t.push_back({wr, "SQL in the task filter", Req<WatchRunsRequest>([](auto& r) {
                 r.set_task("a' OR '1'='1");
               }),
               Code::INVALID_ARGUMENT, "task: may contain only"});
  t.push_back({wr, "unknown status 42", Req<WatchRunsRequest>([](auto& r) {
                 r.set_status(static_cast<RunStatus>(42));
               }),
               Code::INVALID_ARGUMENT, "status: unknown RunStatus value 42"});
  t.push_back({wr, "negative run_id",
               Req<WatchRunsRequest>([](auto& r) { r.set_run_id(-5); }),
               Code::INVALID_ARGUMENT,
               "run_id: must not be negative (got -5)"});
  t.push_back(
      {wr, "invalid UTF-8 in batch_id",
       Req<WatchRunsRequest>([](auto& r) { r.set_batch_id(kOverlong); }),
       Code::INVALID_ARGUMENT, "batch_id: must be valid UTF-8"});

  // ---- not a metad method ----
  t.push_back({"FileService/DropAllFiles", "unknown method", nullptr,
               Code::UNIMPLEMENTED, "", nullptr, std::string("\x08\x01", 2)});
  return t;
}

TEST_F(BadInputTest, EveryCaseGetsItsCodeAndMessage) {
  Env env;
  MakeEnv(&env);
  ASSERT_FALSE(HasFailure()) << daemon_->ReadLog();
  const std::vector<Case> table = Table(&env);

  struct Tally {
    int cases = 0, passed = 0;
  };
  std::map<std::string, Tally> per_rpc;
  // METAD_BAD_INPUT_VERBOSE=1 prints every case's answer (for the docs).
  const bool verbose = std::getenv("METAD_BAD_INPUT_VERBOSE") != nullptr;
  for (const Case& c : table) {
    SCOPED_TRACE(c.rpc + ": " + c.what);
    const std::string bytes =
        c.raw.empty() ? c.request()->SerializeAsString() : c.raw;
    const int failures_before = ::testing::UnitTest::GetInstance()
                                    ->current_test_info()
                                    ->result()
                                    ->total_part_count();
    const auto* method = MethodOf(c.rpc);
    Reply reply = method != nullptr && method->server_streaming()
                      ? CallStreamBytes(stub_, "/metad.v1." + c.rpc, bytes)
                      : CallBytes(stub_, "/metad.v1." + c.rpc, bytes);
    const std::string& message = reply.status.error_message();
    EXPECT_NE(reply.status.error_code(), Code::INTERNAL) << message;
    EXPECT_EQ(CodeName(reply.status.error_code()),
              std::string(CodeName(c.code)))
        << "message: \"" << message << "\"\nrequest: " << Printable(bytes);
    EXPECT_TRUE(absl::StrContains(message, c.message))
        << "message \"" << message << "\" lacks \"" << c.message << "\"";
    EXPECT_FALSE(LeaksSql(message)) << message;
    if (reply.status.ok() && c.check) {
      std::unique_ptr<Message> response = NewResponse(c.rpc);
      ASSERT_NE(response, nullptr);
      ASSERT_TRUE(response->ParseFromString(reply.bytes));
      c.check(*response);
    }
    if (verbose) {
      std::printf(
          "%-36s %-52s %s %s\n", c.rpc.c_str(), c.what.substr(0, 52).c_str(),
          CodeName(reply.status.error_code()), Printable(message, 200).c_str());
    }
    const bool passed = ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->result()
                            ->total_part_count() == failures_before;
    Tally& tally = per_rpc[c.rpc];
    ++tally.cases;
    tally.passed += passed ? 1 : 0;
  }

  // The daemon took all of that and still serves.
  ExpectHealthy();
  EXPECT_FALSE(absl::StrContains(daemon_->ReadLog(), "\"code\":\"INTERNAL\""))
      << daemon_->ReadLog();

  int total = 0, passed = 0;
  std::printf("\nbad-input cases per RPC (cases / passed):\n");
  for (const auto& [rpc, tally] : per_rpc) {
    std::printf("  %-40s %3d / %3d\n", rpc.c_str(), tally.cases, tally.passed);
    total += tally.cases;
    passed += tally.passed;
  }
  std::printf("bad-input cases: %d, passed: %d, RPCs covered: %zu\n", total,
              passed, per_rpc.size());
  EXPECT_GE(total, 60);
}

// Seeded random bytes and mutations of valid requests, to every RPC: the
// daemon answers each with a canonical code (never INTERNAL or UNKNOWN, and
// never UNIMPLEMENTED for a method it has), leaks no SQL, and stays healthy.
TEST_F(BadInputTest, RandomAndMutatedBytesToEveryRpc) {
  std::vector<std::string> rpcs;
  for (const char* service :
       {"FileService", "TaskService", "TaskLogService", "DependencyService"}) {
    const auto* s =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            absl::StrCat("metad.v1.", service));
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < s->method_count(); ++i) {
      rpcs.push_back(absl::StrCat(service, "/", s->method(i)->name()));
    }
  }
  ASSERT_EQ(rpcs.size(), 33u);

  // Seeds: valid-looking requests of every type with each field set.
  std::function<void(Message*, int)> fill = [&fill](Message* m, int depth) {
    using FD = google::protobuf::FieldDescriptor;
    const auto* d = m->GetDescriptor();
    const auto* refl = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FD* f = d->field(i);
      if (f->is_map()) continue;
      if (f->type() == FD::TYPE_MESSAGE) {
        if (depth > 1) continue;
        fill(f->is_repeated() ? refl->AddMessage(m, f)
                              : refl->MutableMessage(m, f),
             depth + 1);
        continue;
      }
      if (f->is_repeated()) {
        if (f->type() == FD::TYPE_STRING) refl->AddString(m, f, "bi_a");
        continue;
      }
      switch (f->type()) {
        case FD::TYPE_STRING:
          refl->SetString(m, f, f->name() == "batch_id" ? "fz" : "bi_a");
          break;
        case FD::TYPE_INT64:
          refl->SetInt64(m, f, 1);
          break;
        case FD::TYPE_INT32:
          refl->SetInt32(m, f, 1);
          break;
        case FD::TYPE_ENUM:
          refl->SetEnumValue(m, f, 1);
          break;
        default:
          break;
      }
    }
  };
  auto seed_for = [&fill](const std::string& rpc) {
    std::unique_ptr<Message> m(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(MethodOf(rpc)->input_type())
            ->New());
    fill(m.get(), 0);
    return m->SerializeAsString();
  };

  std::mt19937_64 rng(20240515);
  auto random_bytes = [&rng](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  // Well-formed requests with hostile values, so that most reach the
  // handlers' checks and the store rather than stopping at the parser.
  auto pick_string = [&rng, &random_bytes]() -> std::string {
    switch (rng() % 8) {
      case 0:
        return "";
      case 1:
        return std::vector<std::string>{
            "bi_a", "bi_b", "bi_c", "bi_free", "fz", "bi-batch"}[rng() % 6];
      case 2:
        return HostileStrings()[rng() % HostileStrings().size()];
      case 3:
        return std::string(1 + rng() % 1100, 'a' + rng() % 26);
      case 4:
        return kNul;
      case 5:
        return "x\x01y";
      default: {  // printable ASCII
        std::string s = random_bytes(rng() % 40);
        for (char& c : s) c = static_cast<char>(0x20 + (c & 0x7f) % 0x5f);
        return s;
      }
    }
  };
  auto pick_int = [&rng]() -> int64_t {
    static const int64_t kValues[] = {
        0,     -1,    1,         2,         3,         1000,      1001,
        86400, 86401, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, kUnknownId};
    return rng() % 4 == 0 ? static_cast<int64_t>(rng())
                          : kValues[rng() % (sizeof(kValues) / 8)];
  };
  std::function<void(Message*, int)> randomize = [&](Message* m, int depth) {
    using FD = google::protobuf::FieldDescriptor;
    const auto* d = m->GetDescriptor();
    const auto* refl = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FD* f = d->field(i);
      if (rng() % 3 == 0) continue;
      const int n = f->is_repeated() ? rng() % 4 : 1;
      for (int k = 0; k < n; ++k) {
        switch (f->type()) {
          case FD::TYPE_STRING:
            f->is_repeated() ? refl->AddString(m, f, pick_string())
                             : refl->SetString(m, f, pick_string());
            break;
          case FD::TYPE_INT64:
            f->is_repeated() ? refl->AddInt64(m, f, pick_int())
                             : refl->SetInt64(m, f, pick_int());
            break;
          case FD::TYPE_INT32:
            f->is_repeated()
                ? refl->AddInt32(m, f, static_cast<int32_t>(pick_int()))
                : refl->SetInt32(m, f, static_cast<int32_t>(pick_int()));
            break;
          case FD::TYPE_ENUM: {
            int value = static_cast<int>(rng() % 12) - 2;
            f->is_repeated() ? refl->AddEnumValue(m, f, value)
                             : refl->SetEnumValue(m, f, value);
            break;
          }
          case FD::TYPE_MESSAGE:
            if (depth < 2) {
              randomize(f->is_repeated() ? refl->AddMessage(m, f)
                                         : refl->MutableMessage(m, f),
                        depth + 1);
            }
            break;
          default:
            break;
        }
      }
    }
  };
  auto random_request = [&](const std::string& rpc) {
    std::unique_ptr<Message> m(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(MethodOf(rpc)->input_type())
            ->New());
    randomize(m.get(), 0);
    return m->SerializeAsString();
  };

  const int kPerRpc = 80;
  int sent = 0, unimplemented = 0;
  std::map<std::string, int> codes;
  for (const std::string& rpc : rpcs) {
    const std::string seed = seed_for(rpc);
    for (int i = 0; i < kPerRpc; ++i) {
      std::string bytes;
      switch (i % 8) {
        case 0:
          bytes = random_bytes(rng() % 48);
          break;
        case 1:  // flip a few bytes of the seed
          bytes = seed;
          for (int k = 0, n = 1 + rng() % 4; k < n && !bytes.empty(); ++k) {
            bytes[rng() % bytes.size()] = static_cast<char>(rng());
          }
          break;
        case 2:  // truncate the seed
          bytes = seed.substr(0, seed.empty() ? 0 : rng() % seed.size());
          break;
        case 3:  // insert random bytes into the seed
          bytes = seed;
          bytes.insert(bytes.empty() ? 0 : rng() % bytes.size(),
                       random_bytes(1 + rng() % 8));
          break;
        default:  // well-formed, hostile values
          bytes = random_request(rpc);
          break;
      }
      Reply reply = CallBytes(stub_, "/metad.v1." + rpc, bytes);
      ++sent;
      const Code code = reply.status.error_code();
      ++codes[CodeName(code)];
      if (code == Code::UNIMPLEMENTED) {
        ++unimplemented;
        continue;
      }
      EXPECT_TRUE(code != Code::INTERNAL && code != Code::UNKNOWN &&
                  code != Code::DATA_LOSS)
          << rpc << " " << CodeName(code) << ": "
          << reply.status.error_message() << "\nrequest: " << Printable(bytes);
      EXPECT_FALSE(LeaksSql(reply.status.error_message()))
          << reply.status.error_message();
    }
  }
  // Unparsable requests of a method metad has must not look like a missing
  // method.
  // method (daemon/rpc/malformed_request.h).
  EXPECT_EQ(unimplemented, 0);
  ExpectHealthy();
  std::printf("\nrandom/mutated requests sent: %d\n", sent);
  for (const auto& [code, n] : codes)
    std::printf("  %-20s %d\n", code.c_str(), n);
}

}  // namespace
}  // namespace metad::testing
