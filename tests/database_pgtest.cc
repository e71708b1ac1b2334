// store::Database's transaction runner against a real PostgreSQL: a call's
// deadline becomes the statement_timeout of its transaction; a pooled
// connection that broke is replaced, a refused new connection is not
// retried; Autocommit keeps a session timeout that fits each deadline.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
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

int64_t ShownTimeout(pqxx::transaction_base& tx) {
  return tx
      .exec1(
          "SELECT setting::bigint FROM pg_settings "
          "WHERE name = 'statement_timeout'")[0]
      .as<int64_t>();
}

TEST_F(DatabaseTest, AutocommitIsBoundedByTheDeadline) {
  absl::Time start = absl::Now();
  absl::Status s = single_->Autocommit(
      "test.sleep", Within(absl::Milliseconds(300)), [](AutoTx& tx) {
        tx.exec("SELECT pg_sleep(5)");
        return absl::OkStatus();
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

// Autocommit leaves its timeout on the connection, sets it only when a
// deadline needs another, and nobody without a deadline inherits it.
TEST_F(DatabaseTest, AutocommitKeepsAFittingSessionTimeout) {
  auto autocommit_seen = [this](const TxOptions& options) {
    int64_t ms = -1;
    absl::Status s = single_->Autocommit("test.show", options, [&](AutoTx& tx) {
      ms = ShownTimeout(tx);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return ms;
  };
  int64_t first = autocommit_seen(Within(absl::Seconds(20)));
  EXPECT_GE(first, 18000);  // 90-100% of what was left
  EXPECT_LE(first, 20000);
  // About the same deadline: the same timeout, not set again.
  EXPECT_EQ(autocommit_seen(Within(absl::Seconds(20))), first);
  // A much shorter one gets its own.
  int64_t short_one = autocommit_seen(Within(absl::Seconds(2)));
  EXPECT_GE(short_one, 1800);
  EXPECT_LE(short_one, 2000);
  // No deadline: no timeout, in a transaction and in autocommit.
  autocommit_seen(Within(absl::Seconds(20)));
  int64_t in_tx = -1;
  ASSERT_TRUE(single_
                  ->Transact("test.show", TxOptions(),
                             [&](Tx& tx) {
                               in_tx = ShownTimeout(tx);
                               return absl::OkStatus();
                             })
                  .ok());
  EXPECT_EQ(in_tx, 0);
  EXPECT_EQ(autocommit_seen(TxOptions()), 0);
}

TEST_F(DatabaseTest, AutocommitAsksCancelledBeforeTheStatement) {
  TxOptions options;
  options.cancelled = [] { return true; };
  bool ran = false;
  absl::Status s = single_->Autocommit("test.cancelled", options, [&](AutoTx&) {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_FALSE(ran);
}

// A database restart under a pooled connection is hidden from the caller:
// the pool finds the closed connection before using it, or (when the
// server's goodbye has not arrived yet) the transaction runs again, once,
// on a new connection.
TEST_F(DatabaseTest, ABrokenPooledConnectionIsReplaced) {
  std::string pid;
  auto backend_pid = [&](Tx& tx) {
    pid = tx.exec1("SELECT pg_backend_pid()")[0].c_str();
    return absl::OkStatus();
  };
  ASSERT_TRUE(single_->Transact("test.pid", TxOptions(), backend_pid).ok());
  ASSERT_EQ(Sql("SELECT pg_terminate_backend(" + pid + ")"), "t");
  const std::string killed = pid;
  absl::Status s = single_->Transact("test.pid", TxOptions(), backend_pid);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_NE(pid, killed);
  EXPECT_LE(single_->Stats().retries, 1);
}

// A pooled connection that became read-only (its server was demoted to a
// standby; here its session default) refuses the write with SQLSTATE 25006:
// nothing was written, so the transaction runs again, once, on a new
// connection, and the caller never sees it.
TEST_F(DatabaseTest, AReadOnlyPooledConnectionIsReplaced) {
  Sql("CREATE TABLE IF NOT EXISTS ro_probe (v int)");
  std::string pid;
  ASSERT_TRUE(
      single_
          ->Transact("test.read_only", TxOptions(),
                     [&](Tx& tx) {
                       pid = tx.exec1("SELECT pg_backend_pid()")[0].c_str();
                       tx.exec(
                           "SET SESSION CHARACTERISTICS AS "
                           "TRANSACTION READ ONLY");
                       return absl::OkStatus();
                     })
          .ok());
  const std::string read_only = pid;
  absl::Status s = single_->Transact("test.write", TxOptions(), [&](Tx& tx) {
    pid = tx.exec1("SELECT pg_backend_pid()")[0].c_str();
    tx.exec("INSERT INTO ro_probe VALUES (1)");
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_NE(pid, read_only);
  EXPECT_EQ(single_->Stats().retries, 1);
}

// A database that is read-only for every new connection (a standby, or a
// URL that names one) answers UNAVAILABLE, not INTERNAL, on both paths,
// keeps no read-only connection, and serves again once it is writable.
TEST(DatabaseReadOnlyTest, AReadOnlyDatabaseAnswersUnavailable) {
  const std::string url = ::metad::testing::CreateEmptyDatabase("read_only");
  const std::string name =
      ::metad::testing::QueryValue(url, "SELECT current_database()");
  ::metad::testing::QueryValue(url, "CREATE TABLE ro_probe (v int)");
  ::metad::testing::QueryValue(
      url,
      "ALTER DATABASE " + name + " SET default_transaction_read_only = on");
  DatabaseOptions options;
  options.url = url;
  options.pool_size = 1;
  Database db(options);
  auto insert = [](pqxx::transaction_base& tx) {
    tx.exec("INSERT INTO ro_probe VALUES (1)");
    return absl::OkStatus();
  };
  absl::Status s = db.Transact("test.write", TxOptions(), insert);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("read-only"), absl::string_view::npos) << s;
  EXPECT_EQ(db.Stats().open, 0);
  EXPECT_EQ(db.Stats().retries, 0);  // a new connection: not tried again
  s = db.Autocommit("test.write", TxOptions(), insert);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(db.Stats().open, 0);

  // From another database: its own sessions are read-only now.
  ::metad::testing::QueryValue(
      ::metad::testing::AdminUrl(),
      "ALTER DATABASE " + name + " RESET default_transaction_read_only");
  s = db.Transact("test.write", TxOptions(), insert);
  EXPECT_TRUE(s.ok()) << s;
  s = db.Autocommit("test.write", TxOptions(), insert);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(::metad::testing::QueryValue(url, "SELECT count(*) FROM ro_probe"),
            "2");
}

// A port on loopback where nothing listens (bound, then closed).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A database that refuses new connections (down, or at max_connections)
// would refuse an immediate second try too: the caller hears UNAVAILABLE
// after one attempt.
TEST(DatabaseRefusedTest, ARefusedNewConnectionIsNotRetried) {
  DatabaseOptions options;
  options.url = absl::StrCat("host=127.0.0.1 port=", ClosedPort(),
                             " dbname=none user=none");
  options.pool_size = 1;
  Database db(options);
  absl::Status s = db.Transact("test.refused", TxOptions(),
                               [](Tx&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(db.Stats().retries, 0);
}

}  // namespace
}  // namespace metad::store
