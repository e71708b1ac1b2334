// store::Database's transaction runner against a real PostgreSQL: a call's
// deadline becomes the statement_timeout of its transaction.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "store/database.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

class DatabaseTest : public ::metad::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    DatabaseOptions options;
    options.url = url();
    options.pool_size = 1;  // every transaction on the same connection
    single_ = std::make_unique<Database>(options);
  }

  TxOptions Within(absl::Duration d) {
    TxOptions options;
    options.deadline = absl::Now() + d;
    return options;
  }

  std::unique_ptr<Database> single_;
};

TEST_F(DatabaseTest, ADeadlineBoundsEachStatement) {
  absl::Time start = absl::Now();
  absl::Status s = single_->Transact(
      "test.sleep", Within(absl::Milliseconds(300)), [](Tx& tx) {
        tx.exec("SELECT pg_sleep(5)");
        return absl::OkStatus();
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));  // not the whole sleep
}

// The timeout belongs to the transaction: the pooled connection does not
// carry it into the next caller's transaction.
TEST_F(DatabaseTest, TheTimeoutDoesNotOutliveItsTransaction) {
  auto seen = [this](const TxOptions& options) {
    int64_t ms = -1;
    absl::Status s = single_->Transact("test.show", options, [&](Tx& tx) {
      ms = tx.exec1(
                 "SELECT setting::bigint FROM pg_settings "
                 "WHERE name = 'statement_timeout'")[0]
               .as<int64_t>();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return ms;
  };
  int64_t bounded = seen(Within(absl::Seconds(20)));
  EXPECT_GT(bounded, 15000);
  EXPECT_LE(bounded, 20000);
  EXPECT_EQ(seen(TxOptions()), 0);
}

}  // namespace
}  // namespace metad::store
