// store::NotificationListener against a real PostgreSQL: it hears NOTIFY on
// its channel only, says when it is not listening, and reports a lost
// connection instead of waiting forever.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "store/notification_listener.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

class NotificationListenerTest : public metad::testing::PgTest {
 protected:
  // Waits up to `timeout` for payloads; the status of the last wait.
  absl::Status WaitFor(NotificationListener* listener, size_t count,
                       std::vector<std::string>* payloads,
                       absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time give_up = absl::Now() + timeout;
    absl::Status status;
    while (payloads->size() < count && absl::Now() < give_up) {
      bool missed = false;
      status = listener->Wait(absl::Milliseconds(100), payloads, &missed);
      if (!status.ok()) return status;
    }
    return status;
  }
};

TEST_F(NotificationListenerTest, HearsItsChannelOnly) {
  NotificationListener listener(url(), "metad_test_channel");
  ASSERT_FALSE(listener.connected());
  std::vector<std::string> payloads;
  bool missed = false;
  EXPECT_EQ(listener.Wait(absl::Milliseconds(1), &payloads, &missed).code(),
            absl::StatusCode::kUnavailable);

  ASSERT_TRUE(listener.Connect().ok());
  EXPECT_TRUE(listener.connected());
  Sql("SELECT pg_notify('another_channel', 'x')");
  Sql("SELECT pg_notify('metad_test_channel', 'file_events')");
  Sql("SELECT pg_notify('metad_test_channel', '')");
  ASSERT_TRUE(WaitFor(&listener, 2, &payloads).ok());
  EXPECT_EQ(payloads, (std::vector<std::string>{"file_events", ""}));
}

TEST_F(NotificationListenerTest, ALostConnectionIsReportedNotWaitedOn) {
  NotificationListener listener(url(), "metad_test_lost");
  ASSERT_TRUE(listener.Connect().ok());
  // Another session ends the listener's backend (as a server restart or a
  // failover would).
  Sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE query LIKE 'LISTEN%metad_test_lost%' AND pid <> "
      "pg_backend_pid()");
  std::vector<std::string> payloads;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  bool reported = false;
  while (absl::Now() < give_up && !reported) {
    bool missed = false;
    absl::Status s = listener.Wait(absl::Milliseconds(100), &payloads, &missed);
    // Either the break is reported, or libpqxx reopened the connection and
    // says notifications may have been missed.
    reported = !s.ok() || missed;
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
      EXPECT_FALSE(listener.connected());
    }
  }
  EXPECT_TRUE(reported);
  // Listening again works.
  ASSERT_TRUE(listener.Connect().ok());
  Sql("SELECT pg_notify('metad_test_lost', 'run_events')");
  ASSERT_TRUE(WaitFor(&listener, 1, &payloads).ok());
  EXPECT_EQ(payloads.back(), "run_events");
}

}  // namespace
}  // namespace metad::store
