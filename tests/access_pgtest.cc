// Access control of a running metad: token roles, TLS and mutual TLS, token
// reload on SIGHUP, and a database role that can only read and write rows.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

constexpr char kReader[] = "reader-token-0123456789";
constexpr char kWorker[] = "worker-token-0123456789";
constexpr char kAdmin[] = "admin-token-0123456789ab";
constexpr char kLater[] = "added-later-token-0123456";

std::string TempDir() {
  static std::string dir = [] {
    char path[] = "/tmp/metad-access-XXXXXX";
    return std::string(mkdtemp(path));
  }();
  return dir;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

grpc::Status RegisterTask(DaemonProcess& d, const std::string& token,
                          const std::string& name) {
  auto stub = v1::TaskService::NewStub(d.channel());
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  v1::RegisterTaskRequest req;
  req.set_name(name);
  v1::RegisterTaskResponse resp;
  return stub->RegisterTask(&ctx, req, &resp);
}

grpc::Status ListTasks(DaemonProcess& d, const std::string& token) {
  auto stub = v1::TaskService::NewStub(d.channel());
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  v1::ListTasksRequest req;
  v1::ListTasksResponse resp;
  return stub->ListTasks(&ctx, req, &resp);
}

grpc::Status DeleteTask(DaemonProcess& d, const std::string& token,
                        const std::string& name) {
  auto stub = v1::TaskService::NewStub(d.channel());
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  v1::DeleteTaskRequest req;
  req.set_name(name);
  v1::DeleteTaskResponse resp;
  return stub->DeleteTask(&ctx, req, &resp);
}

TEST(Access, TokenRolesAndReloadOnSighup) {
  std::string tokens = TempDir() + "/tokens";
  WriteFile(tokens, absl::StrCat("# role token name\nreader ", kReader,
                                 " dashboards\nworker ", kWorker,
                                 " etl\nadmin ", kAdmin, " ops\n"));
  DaemonProcess d;
  ASSERT_TRUE(d.Spawn(CreateEmptyDatabase("access"), {"--token_file", tokens}));
  ASSERT_TRUE(d.WaitServing()) << d.ReadLog();  // health needs no token

  EXPECT_EQ(ListTasks(d, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListTasks(d, "not-a-known-token-at-all").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(ListTasks(d, kReader).ok());
  grpc::Status denied = RegisterTask(d, kReader, "load_sales");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.error_message().find("worker"), std::string::npos);
  EXPECT_TRUE(RegisterTask(d, kWorker, "load_sales").ok());
  EXPECT_EQ(DeleteTask(d, kWorker, "load_sales").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  {
    auto deps = v1::DependencyService::NewStub(d.channel());
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kWorker);
    v1::AddDependencyRequest req;
    req.set_parent_task("a");
    req.set_child_task("b");
    v1::AddDependencyResponse resp;
    EXPECT_EQ(deps->AddDependency(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_TRUE(DeleteTask(d, kAdmin, "load_sales").ok());
  // Tokens never reach the log.
  EXPECT_EQ(d.ReadLog().find("token-0123"), std::string::npos);

  // A new token works after SIGHUP, without a restart.
  EXPECT_EQ(ListTasks(d, kLater).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  WriteFile(tokens, ReadFile(tokens) + absl::StrCat("reader ", kLater, "\n"));
  kill(d.pid(), SIGHUP);
  bool accepted = false;
  for (int i = 0; i < 100 && !accepted; ++i) {
    accepted = ListTasks(d, kLater).ok();
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(accepted) << d.ReadLog();
  // A broken file on SIGHUP keeps the tokens in use.
  WriteFile(tokens, "superuser x\n");
  kill(d.pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(ListTasks(d, kAdmin).ok());
  int status = d.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << d.ReadLog();
}

TEST(Access, MalformedTokenFileIsAUsageError) {
  std::string tokens = TempDir() + "/bad_tokens";
  WriteFile(tokens, "root short\n");
  DaemonProcess d;
  ASSERT_TRUE(d.Spawn("host=/nonexistent", {"--token_file", tokens}));
  int status = d.WaitExit(30);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(d.ReadLog().find("line 1"), std::string::npos) << d.ReadLog();
}

// Certificates made by the openssl command line for one test run.
struct Pki {
  std::string dir = TempDir() + "/pki";
  bool Make() {
    std::string script = absl::StrCat(
        "set -e; mkdir -p ", dir, "; cd ", dir, "\n",
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
        "-days 2 -subj /CN=metad-test-ca 2>/dev/null\n",
        "for who in server client; do\n"
        "  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr "
        "-subj /CN=$who 2>/dev/null\n"
        "  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > $who.ext\n"
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -out $who.pem -days 2 -extfile $who.ext 2>/dev/null\n"
        "done\n");
    return std::system(("bash -c '" + script + "'").c_str()) == 0;
  }
  std::string Read(const std::string& name) {
    return ReadFile(dir + "/" + name);
  }
};

grpc::Status Health(DaemonProcess& d) {
  auto stub = grpc::health::v1::Health::NewStub(d.channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  return stub->Check(&ctx, req, &resp);
}

TEST(Access, TlsAndMutualTls) {
  Pki pki;
  ASSERT_TRUE(pki.Make());
  grpc::SslCredentialsOptions server_only;
  server_only.pem_root_certs = pki.Read("ca.pem");
  grpc::SslCredentialsOptions with_client = server_only;
  with_client.pem_private_key = pki.Read("client.key");
  with_client.pem_cert_chain = pki.Read("client.pem");

  {  // TLS: a client that trusts the CA is served; a plaintext one is not.
    DaemonProcess d;
    d.UseCredentials(grpc::SslCredentials(server_only));
    ASSERT_TRUE(d.Spawn(CreateEmptyDatabase("tls"),
                        {"--tls_cert", pki.dir + "/server.pem", "--tls_key",
                         pki.dir + "/server.key"}));
    ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
    EXPECT_TRUE(RegisterTask(d, "", "over_tls").ok());
    d.UseCredentials(grpc::InsecureChannelCredentials());
    EXPECT_EQ(Health(d).error_code(), grpc::StatusCode::UNAVAILABLE);
    d.Stop(SIGTERM);
  }
  {  // mTLS: a client certificate signed by the CA is required.
    DaemonProcess d;
    d.UseCredentials(grpc::SslCredentials(with_client));
    ASSERT_TRUE(d.Spawn(
        CreateEmptyDatabase("mtls"),
        {"--tls_cert", pki.dir + "/server.pem", "--tls_key",
         pki.dir + "/server.key", "--tls_client_ca", pki.dir + "/ca.pem"}));
    ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
    EXPECT_TRUE(RegisterTask(d, "", "over_mtls").ok());
    d.UseCredentials(grpc::SslCredentials(server_only));
    EXPECT_EQ(Health(d).error_code(), grpc::StatusCode::UNAVAILABLE);
    d.Stop(SIGTERM);
  }
}

TEST(Access, MissingCertificateFileIsAUsageError) {
  DaemonProcess d;
  ASSERT_TRUE(d.Spawn("host=/nonexistent", {"--tls_cert", "/nonexistent.pem",
                                            "--tls_key", "/nonexistent.key"}));
  int status = d.WaitExit(30);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(d.ReadLog().find("--tls_cert"), std::string::npos);
}

TEST(Access, ServesWithARoleThatCanOnlyReadAndWriteRows) {
  std::string owner_url = CreateEmptyDatabase("roles");
  std::string db = owner_url.substr(owner_url.rfind("dbname=") + 7);
  std::string app_role = "metad_app_" + std::to_string(getpid());
  // The README's recipe: the owner migrates, the app role gets DML only.
  QueryValue(owner_url, absl::StrCat("DROP ROLE IF EXISTS ", app_role));
  QueryValue(owner_url, absl::StrCat("CREATE ROLE ", app_role, " LOGIN"));
  {  // migrations run as the owner
    std::string cmd = absl::StrCat(BinDir(), "/metad migrate up --database '",
                                   owner_url, "' >/dev/null 2>&1");
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  QueryValue(owner_url,
             absl::StrCat("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES "
                          "IN SCHEMA public TO ",
                          app_role,
                          "; GRANT USAGE ON ALL SEQUENCES IN SCHEMA "
                          "public TO ",
                          app_role));
  std::string app_url = absl::StrCat(std::getenv("METAD_TEST_PG"),
                                     " dbname=", db, " user=", app_role);
  DaemonProcess d;
  ASSERT_TRUE(d.Spawn(app_url, {"--auto_migrate=false"}));
  ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
  EXPECT_TRUE(RegisterTask(d, "", "load_sales").ok());
  // The app role cannot change the schema.
  std::string drop = absl::StrCat("psql '", app_url,
                                  "' -qAtc 'DROP TABLE files' >/dev/null 2>&1");
  EXPECT_NE(std::system(drop.c_str()), 0);
  d.Stop(SIGTERM);
  QueryValue(owner_url, absl::StrCat("REASSIGN OWNED BY ", app_role,
                                     " TO postgres; DROP OWNED BY ", app_role));
  QueryValue(AdminUrl(), absl::StrCat("DROP ROLE ", app_role));
}

// RecordOutputs is a worker's call; GetLineage a reader's.
TEST(Access, RecordOutputsNeedsTheWorkerRoleAndGetLineageTheReaderRole) {
  std::string tokens = TempDir() + "/tokens-lineage";
  WriteFile(tokens, absl::StrCat("reader ", kReader, " dashboards\nworker ",
                                 kWorker, " etl\n"));
  DaemonProcess d;
  ASSERT_TRUE(
      d.Spawn(CreateEmptyDatabase("access_lineage"), {"--token_file", tokens}));
  ASSERT_TRUE(d.WaitServing()) << d.ReadLog();
  auto record = [&](const std::string& token) {
    auto stub = v1::TaskLogService::NewStub(d.channel());
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    v1::RecordOutputsRequest req;
    req.set_run_id(4242);
    req.add_outputs()->set_source("s");
    req.mutable_outputs(0)->set_file_name("f");
    v1::RecordOutputsResponse resp;
    return stub->RecordOutputs(&ctx, req, &resp);
  };
  EXPECT_EQ(record(kReader).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(record(kWorker).error_code(), grpc::StatusCode::NOT_FOUND);
  auto stub = v1::FileService::NewStub(d.channel());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kReader);
  v1::GetLineageRequest req;
  req.set_file_id(4242);
  v1::GetLineageResponse resp;
  EXPECT_EQ(stub->GetLineage(&ctx, req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace metad::testing
