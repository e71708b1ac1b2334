// The operator port of a running metad: /metrics in the Prometheus text
// format, with call counts, latency, pool and state gauges.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Metrics, ExposesCallsPoolAndStateGauges) {
  int metrics_port = FreePort();
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Spawn(
      CreateEmptyDatabase("metrics"),
      {"--metrics_listen", "127.0.0.1:" + std::to_string(metrics_port),
       "--state_metrics_interval", "0.1"}));
  ASSERT_TRUE(daemon.WaitServing()) << daemon.ReadLog();

  auto tasks = v1::TaskService::NewStub(daemon.channel());
  for (const char* name : {"load_sales", "bad name"}) {
    grpc::ClientContext ctx;
    v1::RegisterTaskRequest req;
    req.set_name(name);
    v1::RegisterTaskResponse resp;
    tasks->RegisterTask(&ctx, req, &resp);
  }
  auto files = v1::FileService::NewStub(daemon.channel());
  {
    grpc::ClientContext ctx;
    v1::RegisterFileRequest req;
    req.mutable_file()->set_source("s");
    req.mutable_file()->set_file_name("f.csv");
    v1::RegisterFileResponse resp;
    ASSERT_TRUE(files->RegisterFile(&ctx, req, &resp).ok());
  }

  // State gauges are refreshed in the background: poll briefly.
  HttpResult page;
  for (int i = 0; i < 100; ++i) {
    page = HttpGet(metrics_port, "/metrics");
    if (Contains(page.body, "metad_files{status=\"NEW\"} 1")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(page.status, 200);
  EXPECT_TRUE(Contains(page.headers, "text/plain; version=0.0.4"));
  const std::string& m = page.body;
  EXPECT_TRUE(Contains(
      m, "metad_rpc_calls_total{code=\"OK\",method=\"RegisterTask\"} 1"))
      << m;
  EXPECT_TRUE(Contains(m,
                       "metad_rpc_calls_total{code=\"INVALID_ARGUMENT\","
                       "method=\"RegisterTask\"} 1"))
      << m;
  EXPECT_TRUE(Contains(
      m, "metad_rpc_latency_seconds_count{method=\"RegisterFile\"} 1"));
  EXPECT_TRUE(Contains(m, "metad_files{status=\"NEW\"} 1")) << m;
  EXPECT_TRUE(Contains(m, "metad_runs{status=\"PROCESSING\"} 0")) << m;
  EXPECT_TRUE(Contains(m, "metad_db_up 1")) << m;
  EXPECT_TRUE(Contains(m, "metad_db_pool_open")) << m;
  EXPECT_TRUE(Contains(m, "metad_build_info{version=")) << m;
  EXPECT_TRUE(Contains(m, "metad_oldest_processing_run_age_seconds 0")) << m;
  EXPECT_EQ(HttpGet(metrics_port, "/nothing-here").status, 404);
  daemon.Stop(SIGTERM);
}

}  // namespace
}  // namespace metad::testing
