// The C++ client library (retries, request ids, deadlines, token, TLS) and
// metactl's exit codes and output, against fake in-process services on a
// real loopback channel. No database.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "clients/cpp/cli.h"
#include "metad/client/metad_client.h"
#include "metad/v1/watch.grpc.pb.h"

namespace metad::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Answers with the scripted codes first, then OK; records what it saw.
class FakeFiles final : public v1::FileService::Service {
 public:
  void Script(std::vector<grpc::StatusCode> codes) {
    std::lock_guard<std::mutex> lock(mu_);
    script_ = std::move(codes);
  }
  std::vector<std::string> request_ids() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_ids_;
  }
  std::vector<int> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::string authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return authorization_;
  }
  void set_delay(absl::Duration d) { delay_ = d; }

  grpc::Status RegisterFile(grpc::ServerContext* ctx,
                            const v1::RegisterFileRequest* req,
                            v1::RegisterFileResponse* resp) override {
    grpc::Status s = Next(ctx, req->request_id());
    resp->mutable_file()->set_id(1);
    resp->mutable_file()->set_source(req->file().source());
    resp->mutable_file()->set_file_name(req->file().file_name());
    resp->mutable_file()->set_status(v1::FILE_STATUS_NEW);
    resp->set_created(true);
    return s;
  }
  grpc::Status RegisterFiles(grpc::ServerContext* ctx,
                             const v1::RegisterFilesRequest* req,
                             v1::RegisterFilesResponse* resp) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch_sizes_.push_back(req->files_size());
    }
    for (const v1::FileSpec& spec : req->files()) {
      v1::RegisterFileResponse* r = resp->add_results();
      r->mutable_file()->set_source(spec.source());
      r->mutable_file()->set_file_name(spec.file_name());
      r->set_created(spec.file_name() != "old.csv");
      if (r->created()) resp->set_created_count(resp->created_count() + 1);
    }
    return Next(ctx, req->request_id());
  }
  grpc::Status GetFile(grpc::ServerContext* ctx, const v1::GetFileRequest* req,
                       v1::File* resp) override {
    grpc::Status s = Next(ctx, "");
    if (s.ok() && req->id() != 1) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("file ", req->id(), ": not found"));
    }
    resp->set_id(1);
    resp->set_source("s3://in");
    resp->set_file_name("a.csv");
    resp->set_status(v1::FILE_STATUS_SUCCESS);
    return s;
  }
  grpc::Status ClaimFiles(grpc::ServerContext* ctx,
                          const v1::ClaimFilesRequest* req,
                          v1::ClaimFilesResponse* resp) override {
    return Next(ctx, req->request_id());
  }
  grpc::Status ResetFile(grpc::ServerContext* ctx,
                         const v1::ResetFileRequest* req,
                         v1::ResetFileResponse* resp) override {
    return Next(ctx, "");
  }
  grpc::Status ReprocessFiles(grpc::ServerContext* ctx,
                              const v1::ReprocessFilesRequest* req,
                              v1::ReprocessFilesResponse* resp) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_reprocess_ = *req;
    }
    for (int64_t id : req->file_ids()) resp->add_file_ids(id);
    resp->set_more(req->file_ids().empty());
    return Next(ctx, "");
  }
  v1::ReprocessFilesRequest last_reprocess() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_reprocess_;
  }

 private:
  grpc::Status Next(grpc::ServerContext* ctx, const std::string& request_id) {
    if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    request_ids_.push_back(request_id);
    auto it = ctx->client_metadata().find("authorization");
    if (it != ctx->client_metadata().end()) {
      authorization_ = std::string(it->second.data(), it->second.size());
    }
    if (script_.empty()) return grpc::Status::OK;
    grpc::StatusCode code = script_.front();
    script_.erase(script_.begin());
    return grpc::Status(code, absl::StrCat("scripted ", code));
  }

  std::mutex mu_;
  std::vector<grpc::StatusCode> script_;
  std::vector<std::string> request_ids_;
  std::vector<int> batch_sizes_;
  int calls_ = 0;
  std::string authorization_;
  v1::ReprocessFilesRequest last_reprocess_;
  absl::Duration delay_ = absl::ZeroDuration();
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(grpc::InsecureServerCredentials()); }

  void Start(std::shared_ptr<grpc::ServerCredentials> creds) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", creds, &port_);
    builder.RegisterService(&files_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  ClientOptions Options() {
    ClientOptions o;
    o.address = address_;
    o.timeout = absl::Seconds(10);
    o.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    return o;
  }

  FakeFiles files_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  std::vector<absl::Duration> sleeps_;
};

TEST_F(ClientTest, CreatingCallIsRetriedWithOneGeneratedRequestId) {
  files_.Script({grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::ABORTED});
  Client client(Options());
  v1::RegisterFileRequest req;
  req.mutable_file()->set_source("s3://in");
  req.mutable_file()->set_file_name("a.csv");
  v1::RegisterFileResponse resp;
  grpc::Status s = client.RegisterFile(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.file().file_name(), "a.csv");
  std::vector<std::string> ids = files_.request_ids();
  ASSERT_THAT(ids, SizeIs(3));
  EXPECT_THAT(ids[0], ::testing::StartsWith("c-"));
  EXPECT_EQ(ids[0].size(), 34u);
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  // Exponential backoff with jitter in [d/2, d]: 100ms then 200ms.
  ASSERT_THAT(sleeps_, SizeIs(2));
  EXPECT_GE(sleeps_[0], absl::Milliseconds(50));
  EXPECT_LE(sleeps_[0], absl::Milliseconds(100));
  EXPECT_GE(sleeps_[1], absl::Milliseconds(100));
  EXPECT_LE(sleeps_[1], absl::Milliseconds(200));
}

TEST_F(ClientTest, CallersRequestIdIsKeptAndEachCallGetsItsOwn) {
  Client client(Options());
  v1::RegisterFileRequest req;
  req.set_request_id("mine");
  v1::RegisterFileResponse resp;
  ASSERT_TRUE(client.RegisterFile(req, &resp).ok());
  req.clear_request_id();
  ASSERT_TRUE(client.RegisterFile(req, &resp).ok());
  ASSERT_TRUE(client.RegisterFile(req, &resp).ok());
  std::vector<std::string> ids = files_.request_ids();
  ASSERT_THAT(ids, SizeIs(3));
  EXPECT_EQ(ids[0], "mine");
  EXPECT_NE(ids[1], ids[2]);
}

TEST_F(ClientTest, NonIdempotentCallIsSentOnce) {
  files_.Script({grpc::StatusCode::UNAVAILABLE});
  Client client(Options());
  v1::ResetFileResponse resp;
  grpc::Status s = client.ResetFile(v1::ResetFileRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(files_.calls(), 1);
  EXPECT_THAT(sleeps_, SizeIs(0));
}

// A lost ClaimFiles answer is retried with the same request_id, which the
// daemon answers with the first call's files.
TEST_F(ClientTest, ClaimIsRetriedWithOneRequestId) {
  files_.Script({grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNAVAILABLE});
  Client client(Options());
  v1::ClaimFilesResponse resp;
  ASSERT_TRUE(client.ClaimFiles(v1::ClaimFilesRequest(), &resp).ok());
  std::vector<std::string> ids = files_.request_ids();
  ASSERT_THAT(ids, SizeIs(3));
  EXPECT_FALSE(ids[0].empty());
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[1], ids[2]);
}

TEST_F(ClientTest, ReadIsRetriedOnlyOnUnavailableOrAborted) {
  Client client(Options());
  v1::GetFileRequest req;
  req.set_id(1);
  v1::File file;
  for (grpc::StatusCode code :
       {grpc::StatusCode::INTERNAL, grpc::StatusCode::FAILED_PRECONDITION,
        grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::UNKNOWN}) {
    files_.Script({code});
    int before = files_.calls();
    EXPECT_EQ(client.GetFile(req, &file).error_code(), code);
    EXPECT_EQ(files_.calls(), before + 1) << code;
  }
  files_.Script({grpc::StatusCode::ABORTED});
  EXPECT_TRUE(client.GetFile(req, &file).ok());
  EXPECT_EQ(file.id(), 1);
}

TEST_F(ClientTest, GivesUpAfterMaxAttempts) {
  files_.Script(
      std::vector<grpc::StatusCode>(10, grpc::StatusCode::UNAVAILABLE));
  Client client(Options());
  v1::GetFileRequest req;
  v1::File file;
  EXPECT_EQ(client.GetFile(req, &file).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(files_.calls(), 5);
  EXPECT_THAT(sleeps_, SizeIs(4));
  for (absl::Duration d : sleeps_) EXPECT_LE(d, absl::Seconds(2));
}

TEST_F(ClientTest, NeverBacksOffPastTheDeadline) {
  files_.Script({grpc::StatusCode::UNAVAILABLE});
  ClientOptions o = Options();
  o.timeout = absl::Seconds(1);
  o.retry.initial_backoff = absl::Seconds(5);
  Client client(o);
  v1::File file;
  EXPECT_EQ(client.GetFile(v1::GetFileRequest(), &file).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(files_.calls(), 1);
  EXPECT_THAT(sleeps_, SizeIs(0));
}

TEST_F(ClientTest, TimeoutBecomesTheCallDeadline) {
  files_.set_delay(absl::Milliseconds(500));
  ClientOptions o = Options();
  o.timeout = absl::Milliseconds(100);
  Client client(o);
  v1::File file;
  EXPECT_EQ(client.GetFile(v1::GetFileRequest(), &file).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(sleeps_, SizeIs(0));  // DEADLINE_EXCEEDED is not retried
}

TEST_F(ClientTest, SendsBearerToken) {
  ClientOptions o = Options();
  o.bearer_token = "s3cret";
  Client client(o);
  v1::File file;
  v1::GetFileRequest req;
  req.set_id(1);
  ASSERT_TRUE(client.GetFile(req, &file).ok());
  EXPECT_EQ(files_.authorization(), "Bearer s3cret");
}

// The client retries exactly the methods this table names; the table is
// written out so that a change to a method's idempotency_level in the proto
// shows here on purpose.
TEST(IsRetryable, FollowsTheProtosIdempotencyLevel) {
  const std::set<std::string> retried = {
      "RegisterFile",  "RegisterFiles",    "GetFile",          "ListFiles",
      "ClaimFiles",    "CompleteFile",     "ListFileEvents",   "GetLineage",
      "RegisterTask",  "GetTask",          "ListTasks",        "ListTaskEvents",
      "StartRun",      "Heartbeat",        "FinishRun",        "RecordOutputs",
      "CancelRun",     "GetRun",           "ListRuns",         "GetBatch",
      "ListRunEvents", "AddDependency",    "ListDependencies", "GetUpstream",
      "GetDownstream", "GetExecutionPlan", "GetReadyTasks",    "WatchFiles",
      "WatchRuns",     "PruneHistory"};
  const std::set<std::string> once = {"ResetFile", "ReprocessFiles",
                                      "DeleteTask", "RerunTasks",
                                      "RemoveDependency", "UpdateTask"};
  const google::protobuf::FileDescriptor* files[] = {
      v1::File::descriptor()->file(),
      v1::Task::descriptor()->file(),
      v1::StartRunRequest::descriptor()->file(),
      v1::AddDependencyRequest::descriptor()->file(),
      v1::WatchFilesRequest::descriptor()->file(),
      v1::PruneHistoryRequest::descriptor()->file()};
  size_t methods = 0;
  for (const google::protobuf::FileDescriptor* file : files) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        const google::protobuf::MethodDescriptor* method =
            file->service(s)->method(m);
        SCOPED_TRACE(method->full_name());
        ++methods;
        ASSERT_TRUE(
            retried.count(method->name()) + once.count(method->name()) == 1);
        EXPECT_EQ(IsRetryable(method->input_type()),
                  retried.count(method->name()) == 1);
      }
    }
  }
  EXPECT_EQ(methods, retried.size() + once.size());
}

TEST(ReadTokenFile, TrimsWhitespaceAndRefusesEmpty) {
  std::string path = ::testing::TempDir() + "/metactl_token";
  std::ofstream(path) << "  tok-123\n";
  EXPECT_EQ(*ReadTokenFile(path), "tok-123");
  std::ofstream(path) << " \n";
  EXPECT_FALSE(ReadTokenFile(path).ok());
  EXPECT_FALSE(ReadTokenFile(path + ".missing").ok());
}

// metactl through the fake: exit codes, messages, JSON, batching.
struct Outcome {
  int code;
  std::string out;
  std::string err;
};

class MetactlTest : public ClientTest {
 protected:
  Outcome Metactl(std::vector<std::string> args,
                  const std::string& input = "") {
    args.insert(args.begin(), {"--address", address_});
    std::istringstream in(input);
    std::ostringstream out, err;
    int code = metactl::RunMetactl(args, in, out, err);
    return {code, out.str(), err.str()};
  }
};

TEST_F(MetactlTest, ExitCodeIsTheGrpcCodeAndMessageGoesToStderr) {
  Outcome r = Metactl({"files", "get", "5"});
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.err, "metactl: NOT_FOUND: file 5: not found\n");
  EXPECT_EQ(r.out, "");
  files_.Script({grpc::StatusCode::FAILED_PRECONDITION});
  r = Metactl({"files", "claim", "3", "--limit", "10"});
  EXPECT_EQ(r.code, 9);
  EXPECT_THAT(r.err, HasSubstr("metactl: FAILED_PRECONDITION: scripted 9"));
  files_.Script({grpc::StatusCode::UNKNOWN});
  EXPECT_EQ(Metactl({"files", "get", "1"}).code, 2);
}

TEST_F(MetactlTest, TableAndJsonOutput) {
  Outcome table = Metactl({"files", "get", "1"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("file_name:      a.csv\n"));
  EXPECT_THAT(table.out, HasSubstr("status:         SUCCESS\n"));
  Outcome json = Metactl({"files", "get", "1", "--output", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"status\":\"FILE_STATUS_SUCCESS\""));
  EXPECT_EQ(json.out.back(), '\n');
}

TEST_F(MetactlTest, RegisterBatchSendsChunksOf1000AndMergesResults) {
  std::string input;
  for (int i = 0; i < 2400; ++i) {
    input += absl::StrCat("s3://in\tf", i, ".csv\n");
  }
  input += "\n{\"source\":\"s3://in\",\"file_name\":\"old.csv\"}\r\n";
  Outcome r = Metactl({"files", "register-batch", "--output", "json"}, input);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(files_.batch_sizes(), ElementsAre(1000, 1000, 401));
  EXPECT_THAT(r.out, HasSubstr("\"created_count\":2400"));
  Outcome table =
      Metactl({"files", "register-batch"}, "a\tx.csv\nb\told.csv\n");
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("2 files, 1 new, 0 changed\n"));
}

TEST_F(MetactlTest, ReprocessSendsIdsOrFiltersOnce) {
  Outcome r = Metactl({"files", "reprocess", "3", "4", "--reason", "again"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(files_.last_reprocess().file_ids(), ElementsAre(3, 4));
  EXPECT_EQ(files_.last_reprocess().reason(), "again");
  EXPECT_THAT(r.out, HasSubstr("2 files back to NEW\n"));

  r = Metactl({"files", "reprocess", "--source", "s3://in", "--status", "error",
               "--run", "7", "--producer", "8", "--limit", "5",
               "--updated-before", "2024-01-01T00:00:00Z"});
  ASSERT_EQ(r.code, 0) << r.err;
  const v1::ReprocessFilesRequest sent = files_.last_reprocess();
  EXPECT_EQ(sent.file_ids_size(), 0);
  EXPECT_EQ(sent.source(), "s3://in");
  EXPECT_EQ(sent.status(), v1::FILE_STATUS_ERROR);
  EXPECT_EQ(sent.run_id(), 7);
  EXPECT_EQ(sent.producer_run_id(), 8);
  EXPECT_EQ(sent.limit(), 5);
  EXPECT_TRUE(sent.has_updated_before());
  EXPECT_FALSE(sent.has_updated_after());
  EXPECT_THAT(r.out, HasSubstr("more match"));

  // Not safe to repeat: an UNAVAILABLE answer is not retried.
  const int before = files_.calls();
  files_.Script({grpc::StatusCode::UNAVAILABLE});
  r = Metactl({"files", "reprocess", "3"});
  EXPECT_EQ(r.code, 14);
  EXPECT_EQ(files_.calls(), before + 1);
}

TEST_F(MetactlTest, TokenFileIsSent) {
  std::string path = ::testing::TempDir() + "/metactl_token2";
  std::ofstream(path) << "tok\n";
  ASSERT_EQ(Metactl({"files", "get", "1", "--token-file", path}).code, 0);
  EXPECT_EQ(files_.authorization(), "Bearer tok");
}

// Mutual TLS with certificates made by openssl once for these tests.
class TlsTest : public MetactlTest {
 protected:
  static void SetUpTestSuite() {
    std::string d = Dir();
    std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
    std::string script = absl::StrCat(
        "set -e; rm -rf ", d, "; mkdir -p ", d, "; cd ", d, "; ",
        "openssl req -x509 ", key, " -nodes -days 2 -subj /CN=test-ca ",
        "-keyout ca.key -out ca.pem; ",
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext; ",
        "for n in server client; do ", "openssl req ", key,
        " -nodes -subj /CN=$n -keyout $n.key ", "-out $n.csr; ",
        "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key ",
        "-CAcreateserial -days 2 -extfile san.ext -out $n.pem; done");
    certs_ok_ =
        std::system(absl::StrCat("(", script, ") >/dev/null 2>&1").c_str()) ==
        0;
  }
  void SetUp() override {
    if (!certs_ok_) GTEST_SKIP() << "openssl could not make test certificates";
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = Read("ca.pem");
    ssl.pem_key_cert_pairs.push_back({Read("server.key"), Read("server.pem")});
    Start(grpc::SslServerCredentials(ssl));
  }
  static std::string Dir() { return ::testing::TempDir() + "/metactl_tls"; }
  static std::string Read(const std::string& name) {
    return *ReadFileToString(Path(name));
  }
  static std::string Path(const std::string& name) {
    return Dir() + "/" + name;
  }
  static bool certs_ok_;
};
bool TlsTest::certs_ok_ = false;

TEST_F(TlsTest, MutualTlsFromCertificateFiles) {
  Outcome ok = Metactl({"files", "get", "1", "--ca-cert", Path("ca.pem"),
                        "--client-cert", Path("client.pem"), "--client-key",
                        Path("client.key"), "--timeout", "5"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("a.csv"));
}

TEST_F(TlsTest, RefusedWithoutClientCertificateOrWithoutTls) {
  Outcome no_cert = Metactl(
      {"files", "get", "1", "--ca-cert", Path("ca.pem"), "--timeout", "1"});
  EXPECT_EQ(no_cert.code, 14) << no_cert.err;
  Outcome plain = Metactl({"files", "get", "1", "--timeout", "1"});
  EXPECT_EQ(plain.code, 14) << plain.err;
  EXPECT_EQ(files_.calls(), 0);
}

TEST_F(TlsTest, UnreadableCertificateExits66) {
  Outcome r = Metactl({"files", "get", "1", "--ca-cert", Path("missing.pem")});
  EXPECT_EQ(r.code, 66);
  EXPECT_THAT(r.err, HasSubstr("--ca-cert: "));
}

}  // namespace
}  // namespace metad::client
