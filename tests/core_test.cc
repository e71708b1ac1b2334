// Pure unit tests of the shared pieces (no database).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"
#include "common/log.h"
#include "daemon/rpc/grpc_status.h"
#include "daemon/rpc/worker_pool.h"
#include "store/database.h"
#include "store/sql.h"

namespace metad {
namespace {

TEST(RedactDatabaseUrl, HidesPasswordInUrl) {
  EXPECT_EQ(store::RedactDatabaseUrl("postgresql://metad:s3cret@db:5432/metad"),
            "postgresql://metad:****@db:5432/metad");
}

TEST(RedactDatabaseUrl, HidesPasswordKeyword) {
  EXPECT_EQ(store::RedactDatabaseUrl("host=db password=s3cret dbname=m"),
            "host=db password=**** dbname=m");
  EXPECT_EQ(store::RedactDatabaseUrl("postgresql://db/m?password=s3cret&x=1"),
            "postgresql://db/m?password=****&x=1");
}

TEST(RedactDatabaseUrl, LeavesUrlWithoutPasswordAlone) {
  EXPECT_EQ(store::RedactDatabaseUrl("postgresql://metad@db/m"),
            "postgresql://metad@db/m");
}

TEST(SqlLiterals, TextArrayEscapesQuotesAndBackslashes) {
  std::vector<std::string> v = {"a", "b\"c", "d\\e", "", "x,y"};
  EXPECT_EQ(store::TextArrayLiteral(v), R"({"a","b\"c","d\\e","","x,y"})");
}

TEST(SqlLiterals, IntArray) {
  std::vector<int64_t> v = {1, -2, 3};
  EXPECT_EQ(store::IntArrayLiteral(v), "{1,-2,3}");
  EXPECT_EQ(store::IntArrayLiteral(std::vector<int64_t>{}), "{}");
}

TEST(StatusConvert, KeepsCodeAndMessage) {
  grpc::Status s =
      daemon::ToGrpcStatus(absl::FailedPreconditionError("run 3: ended"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "run 3: ended");
  EXPECT_TRUE(daemon::ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(WorkerPool, RunsEverySubmittedTask) {
  std::atomic<int> ran{0};
  {
    daemon::WorkerPool pool(4, 1000);
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));
    }
  }  // the destructor drains the queue
  EXPECT_EQ(ran.load(), 500);
}

TEST(WorkerPool, RefusesWhenQueueIsFull) {
  absl::Notification release;
  daemon::WorkerPool pool(1, 2);
  absl::Notification started;
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  EXPECT_TRUE(pool.TrySubmit([] {}));
  EXPECT_TRUE(pool.TrySubmit([] {}));
  EXPECT_FALSE(pool.TrySubmit([] {}));  // queue holds 2
  release.Notify();
}

TEST(Log, QuotesControlCharacters) {
  EXPECT_EQ(log::JsonQuote("a\"b\n\x01"), R"("a\"b\n\u0001")");
}

}  // namespace
}  // namespace metad
