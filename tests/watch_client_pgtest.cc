// The C++ client's watch streams (metad/client/watch.h) against the built
// metad: a stream survives a daemon restart, resuming after the last event
// it delivered (events committed meanwhile through another replica
// included, none repeated), a stream that started "from now" resumes from
// where it started, and OUT_OF_RANGE reaches the caller when the history to
// resume from was pruned while it was away.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "metad/client/metad_client.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

client::ClientOptions At(const std::string& address) {
  client::ClientOptions options;
  options.address = address;
  options.timeout = absl::Seconds(30);
  return options;
}

void Register(client::Client& client, const std::string& name) {
  v1::RegisterFileRequest request;
  request.mutable_file()->set_source("landing");
  request.mutable_file()->set_file_name(name);
  v1::RegisterFileResponse response;
  grpc::Status s = client.RegisterFile(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

// Two daemons on one database: `watched` is restarted, `other` writes while
// it is down.
class WatchClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = CreateEmptyDatabase("watch_client");
    // A short drain: a stream its client is not reading holds a SIGTERM
    // for seconds otherwise.
    ASSERT_TRUE(watched_.Spawn(url_, {"--drain", "1"}));
    ASSERT_TRUE(other_.Spawn(url_));
    ASSERT_TRUE(watched_.WaitServing()) << watched_.ReadLog();
    ASSERT_TRUE(other_.WaitServing()) << other_.ReadLog();
    writer_ = std::make_unique<client::Client>(At(other_.address()));
    reader_ = std::make_unique<client::Client>(At(watched_.address()));
  }

  client::WatchOptions Options() {
    client::WatchOptions options;
    options.initial_backoff = absl::Milliseconds(50);
    options.max_backoff = absl::Milliseconds(500);
    options.on_reconnect = [this](const grpc::Status& s, absl::Duration) {
      breaks_.push_back(s.error_code());
    };
    return options;
  }

  void StopWatched() {
    int status = watched_.Stop(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status)) << status;
  }

  void RestartWatched() {
    ASSERT_TRUE(watched_.Respawn(url_, {"--drain", "1"}));
    ASSERT_TRUE(watched_.WaitServing()) << watched_.ReadLog();
  }

  std::string url_;
  DaemonProcess watched_, other_;
  std::unique_ptr<client::Client> writer_, reader_;
  std::vector<grpc::StatusCode> breaks_;  // on the thread calling Next()
};

TEST_F(WatchClientTest, ResumesAfterTheLastEventAcrossARestart) {
  Register(*writer_, "a.csv");
  v1::WatchFilesRequest request;
  request.set_after_event_id(-1);
  request.set_source("landing");
  auto stream = reader_->WatchFiles(request, Options());
  v1::WatchedFileEvent event;
  ASSERT_TRUE(stream->Next(&event)) << stream->status().error_message();
  EXPECT_EQ(event.file_name(), "a.csv");
  const int64_t first = event.event().id();

  StopWatched();
  Register(*writer_, "b.csv");  // committed while the watched daemon is down
  RestartWatched();
  Register(*writer_, "c.csv");

  ASSERT_TRUE(stream->Next(&event)) << stream->status().error_message();
  EXPECT_EQ(event.file_name(), "b.csv");
  EXPECT_GT(event.event().id(), first);
  ASSERT_TRUE(stream->Next(&event)) << stream->status().error_message();
  EXPECT_EQ(event.file_name(), "c.csv");
  EXPECT_EQ(stream->after_event_id(), event.event().id());
  EXPECT_GE(stream->reconnects(), 1);
  ASSERT_FALSE(breaks_.empty());
  EXPECT_EQ(breaks_.front(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(WatchClientTest, AStreamFromNowResumesFromWhereItStarted) {
  Register(*writer_, "old.csv");  // event 1: before the stream, not delivered
  v1::WatchFilesRequest request;  // after_event_id 0: from now
  auto stream = reader_->WatchFiles(request, Options());
  v1::WatchedFileEvent event;
  bool got = false;
  std::thread next([&] { got = stream->Next(&event); });
  // The stream has opened once the daemon's start position (1) is known.
  for (int i = 0; i < 3000 && stream->after_event_id() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(stream->after_event_id(), 1);
  StopWatched();
  Register(*writer_, "new.csv");  // after the start, while the daemon is down
  RestartWatched();
  next.join();
  ASSERT_TRUE(got) << stream->status().error_message();
  EXPECT_EQ(event.file_name(), "new.csv");
  EXPECT_GE(stream->reconnects(), 1);
}

TEST_F(WatchClientTest, OutOfRangeWhenTheHistoryToResumeFromWasPruned) {
  Register(*writer_, "a.csv");
  v1::WatchFilesRequest request;
  request.set_after_event_id(-1);
  auto stream = reader_->WatchFiles(request, Options());
  v1::WatchedFileEvent event;
  ASSERT_TRUE(stream->Next(&event)) << stream->status().error_message();
  EXPECT_EQ(event.file_name(), "a.csv");

  StopWatched();
  // Events the stream never saw are pruned while it is away.
  Register(*writer_, "b.csv");
  Register(*writer_, "c.csv");
  QueryValue(url_,
             "UPDATE file_events SET event_time = now() - interval '40 days'");
  Register(*writer_, "d.csv");  // recent: kept
  v1::PruneHistoryRequest prune;
  prune.mutable_older_than()->set_seconds(30 * 86400);
  v1::PruneHistoryResponse pruned;
  grpc::Status s = writer_->PruneHistory(prune, &pruned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(pruned.file_events_deleted(), 3);
  RestartWatched();

  EXPECT_FALSE(stream->Next(&event)) << event.file_name();
  EXPECT_EQ(stream->status().error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << stream->status().error_message();
  EXPECT_FALSE(stream->Next(&event));  // it stays ended

  // Resuming knowingly from what is kept works.
  request.set_after_event_id(-1);
  auto again = reader_->WatchFiles(request, Options());
  ASSERT_TRUE(again->Next(&event)) << again->status().error_message();
  EXPECT_EQ(event.file_name(), "d.csv");
}

TEST_F(WatchClientTest, CancelEndsABlockedNextWithOk) {
  v1::WatchRunsRequest request;
  auto stream = reader_->WatchRuns(request, Options());
  v1::WatchedRunEvent event;
  bool got = true;
  std::thread next([&] { got = stream->Next(&event); });
  stream->Cancel();
  next.join();
  EXPECT_FALSE(got);
  EXPECT_TRUE(stream->status().ok()) << stream->status().error_message();
}

}  // namespace
}  // namespace metad::testing
