// Watch streams against the built `metad serve` binaries: one daemon in
// poll mode and one in notify mode on one database see the same events,
// SIGTERM ends open streams at once (exit 0, no waiting for the drain), and
// a resumed stream on the other daemon continues without a gap.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "metad/v1/files.grpc.pb.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"
#include "tests/watch_test_support.h"

namespace metad::testing {
namespace {

using namespace metad::v1;  // NOLINT: test brevity

void Register(std::shared_ptr<grpc::Channel> channel,
              const std::vector<std::string>& names) {
  auto stub = FileService::NewStub(channel);
  RegisterFilesRequest request;
  for (const std::string& name : names) {
    FileSpec* spec = request.add_files();
    spec->set_source("landing");
    spec->set_file_name(name);
  }
  RegisterFilesResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  grpc::Status s = stub->RegisterFiles(&context, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

WatchFilesRequest After(int64_t id) {
  WatchFilesRequest request;
  request.set_after_event_id(id);
  return request;
}

TEST(WatchE2e, PollAndNotifyDaemonsStreamTheSameEventsAndStopPromptly) {
  std::string url = CreateEmptyDatabase("watch_e2e");
  DaemonProcess polling, notified;
  // A long drain: if open streams held up the shutdown, the daemon would
  // take 60 s and the streams would end CANCELLED, not UNAVAILABLE.
  ASSERT_TRUE(
      polling.Spawn(url, {"--watch_mode", "poll", "--watch_poll_interval",
                          "0.05", "--drain", "60"}));
  ASSERT_TRUE(notified.Spawn(url, {"--drain", "60"}));
  ASSERT_TRUE(polling.WaitServing()) << polling.ReadLog();
  ASSERT_TRUE(notified.WaitServing()) << notified.ReadLog();

  auto on_poll = WatchFiles(polling.channel(), After(0));
  auto on_notify = WatchFiles(notified.channel(), After(0));
  ASSERT_EQ(on_poll->Header(), "0");
  ASSERT_EQ(on_notify->Header(), "0");
  Register(notified.channel(), {"a.csv", "b.csv"});
  Register(polling.channel(), {"c.csv"});
  ASSERT_TRUE(on_poll->WaitFor(3)) << polling.ReadLog();
  ASSERT_TRUE(on_notify->WaitFor(3)) << notified.ReadLog();
  EXPECT_EQ(on_poll->ids(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(on_notify->ids(), (std::vector<int64_t>{1, 2, 3}));

  int status = polling.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  grpc::Status ended = on_poll->Wait();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(ended.error_message().find("shutting down"), std::string::npos)
      << ended.error_message();

  // Written while the poller is gone; its client resumes on the other one.
  Register(notified.channel(), {"d.csv"});
  auto resumed = WatchFiles(notified.channel(), After(on_poll->ids().back()));
  ASSERT_TRUE(resumed->WaitFor(1));
  EXPECT_EQ(resumed->ids(), std::vector<int64_t>{4});

  status = notified.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(on_notify->Wait().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(resumed->Wait().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(WatchE2e, BadWatchFlagsExitWithUsageError) {
  for (std::vector<std::string> flags :
       {std::vector<std::string>{"--watch_mode", "sometimes"},
        std::vector<std::string>{"--watch_poll_interval", "0"}}) {
    DaemonProcess daemon;
    ASSERT_TRUE(daemon.Spawn("host=/nonexistent", flags));
    int status = daemon.WaitExit(30);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    EXPECT_NE(daemon.ReadLog().find(flags[0]), std::string::npos)
        << daemon.ReadLog();
  }
}

}  // namespace
}  // namespace metad::testing
