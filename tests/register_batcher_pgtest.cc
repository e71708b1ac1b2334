// store::RegisterBatcher (group commit for RegisterFile) against a real
// PostgreSQL: calls that queue behind a busy committer share one
// transaction, each keeps its own outcome and error, cancelled or late
// calls stay out of the shared transaction, and a batch the database
// refuses as a whole is answered at once.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "store/register_batcher.h"
#include "tests/file_test_support.h"

namespace metad::store {
namespace {

using ::metad::testing::FileTest;
using ::metad::testing::Spec;
using ::metad::v1::FileSpec;

// One call's answer, filled by the batcher's callback.
struct Answer {
  absl::Notification done;
  absl::StatusOr<std::vector<RegisteredFile>> result;
};

class RegisterBatcherTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    store_ = std::make_unique<FileStore>(db());
    RegisterBatcherOptions options;
    options.committers = 1;  // makes the queueing below deterministic
    batcher_ = std::make_unique<RegisterBatcher>(store_.get(), options);
  }
  void TearDown() override {
    batcher_.reset();
    FileTest::TearDown();
  }

  void Submit(const FileSpec* spec, Answer* answer, TxOptions options = {},
              const std::string& request_id = "") {
    batcher_->Submit(std::move(options), {spec}, request_id,
                     [answer](auto result) {
                       answer->result = std::move(result);
                       answer->done.Notify();
                     });
  }

  // Holds the committer: an uncommitted insert of ("block", "x") makes the
  // batch registering that name wait on it. Returns once the batch waits.
  void HoldCommitter(pqxx::connection* conn, pqxx::work** tx,
                     const FileSpec* blocker, Answer* answer) {
    *tx = new pqxx::work(*conn);
    (*tx)->exec("INSERT INTO files (source, file_name) VALUES ('block', 'x')");
    Submit(blocker, answer);
    // The committer is blocked once its insert waits for our lock.
    for (int i = 0; i < 1000; ++i) {
      if (Count("SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()") > 0) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    FAIL() << "the committer never waited for the blocking insert";
  }

  std::unique_ptr<FileStore> store_;
  std::unique_ptr<RegisterBatcher> batcher_;
};

TEST_F(RegisterBatcherTest, QueuedCallsShareOneTransaction) {
  pqxx::connection conn(url());
  pqxx::work* tx = nullptr;
  FileSpec blocker = Spec("block", "x");
  Answer blocked;
  HoldCommitter(&conn, &tx, &blocker, &blocked);

  // 50 calls queue while the committer waits; two of them name one file.
  constexpr int kCalls = 50;
  std::vector<FileSpec> specs;
  for (int i = 0; i < kCalls - 1; ++i) {
    specs.push_back(Spec("src", absl::StrCat("f", i)));
  }
  specs.push_back(Spec("src", "f7"));
  std::vector<Answer> answers(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    Submit(&specs[i], &answers[i], {}, absl::StrCat("req-", i));
  }
  tx->commit();
  delete tx;

  blocked.done.WaitForNotification();
  ASSERT_TRUE(blocked.result.ok()) << blocked.result.status();
  EXPECT_FALSE((*blocked.result)[0].created);  // our insert got there first
  int created = 0;
  for (int i = 0; i < kCalls; ++i) {
    answers[i].done.WaitForNotification();
    ASSERT_TRUE(answers[i].result.ok()) << answers[i].result.status();
    const RegisteredFile& r = (*answers[i].result)[0];
    EXPECT_EQ(r.file.file_name(), specs[i].file_name());
    created += r.created ? 1 : 0;
  }
  // The repeated name is created once, by the call queued first.
  EXPECT_EQ(created, kCalls - 1);
  EXPECT_TRUE((*answers[7].result)[0].created);
  EXPECT_FALSE((*answers[kCalls - 1].result)[0].created);
  EXPECT_EQ((*answers[7].result)[0].file.id(),
            (*answers[kCalls - 1].result)[0].file.id());
  // Each new row carries its own call's request id and one event.
  EXPECT_EQ(Sql("SELECT request_id FROM files WHERE file_name = 'f3'"),
            "req-3");
  EXPECT_EQ(Count("SELECT count(*) FROM file_events e JOIN files f "
                  "ON f.id = e.file_id WHERE f.source = 'src'"),
            kCalls - 1);
  // One batch for the blocked call, one for the 50 queued behind it.
  batcher_->Stop();  // the committer counts a batch after answering it
  GroupCommitStats stats = batcher_->stats();
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.calls, kCalls + 1);
  EXPECT_EQ(stats.fallbacks, 0);
}

TEST_F(RegisterBatcherTest, OneBadCallDoesNotFailItsBatch) {
  pqxx::connection conn(url());
  pqxx::work* tx = nullptr;
  FileSpec blocker = Spec("block", "x");
  Answer blocked;
  HoldCommitter(&conn, &tx, &blocker, &blocked);

  FileSpec good1 = Spec("src", "good1");
  FileSpec bad = Spec("src", "bad");
  bad.set_size_bytes(-5);  // the schema's CHECK refuses it
  FileSpec good2 = Spec("src", "good2");
  Answer a1, a2, a3;
  Submit(&good1, &a1);
  Submit(&bad, &a2);
  Submit(&good2, &a3);
  tx->commit();
  delete tx;

  for (Answer* a : {&blocked, &a1, &a2, &a3}) a->done.WaitForNotification();
  EXPECT_TRUE(a1.result.ok()) << a1.result.status();
  EXPECT_FALSE(a2.result.ok());
  EXPECT_TRUE(a3.result.ok()) << a3.result.status();
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE source = 'src'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE file_name = 'bad'"), 0);
  batcher_->Stop();  // the committer counts a batch after answering it
  EXPECT_EQ(batcher_->stats().fallbacks, 1);
}

TEST_F(RegisterBatcherTest, CancelledAndLateCallsStayOut) {
  pqxx::connection conn(url());
  pqxx::work* tx = nullptr;
  FileSpec blocker = Spec("block", "x");
  Answer blocked;
  HoldCommitter(&conn, &tx, &blocker, &blocked);

  std::atomic<bool> cancel{false};
  TxOptions cancellable;
  cancellable.cancelled = [&cancel] { return cancel.load(); };
  TxOptions late;
  late.deadline = absl::Now() + absl::Milliseconds(50);
  FileSpec c = Spec("src", "cancelled"), l = Spec("src", "late"),
           k = Spec("src", "kept");
  Answer ac, al, ak;
  Submit(&c, &ac, cancellable);
  Submit(&l, &al, late);
  Submit(&k, &ak);
  cancel = true;
  absl::SleepFor(absl::Milliseconds(100));  // the late call's deadline passes
  tx->commit();
  delete tx;

  for (Answer* a : {&blocked, &ac, &al, &ak}) a->done.WaitForNotification();
  EXPECT_EQ(ac.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(al.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(ak.result.ok()) << ak.result.status();
  EXPECT_EQ(Sql("SELECT string_agg(file_name, ',' ORDER BY file_name) "
                "FROM files WHERE source = 'src'"),
            "kept");
}

TEST_F(RegisterBatcherTest, ConcurrentCallersCreateEachFileOnce) {
  // 16 threads register 200 names each from an overlapping set of 300.
  RegisterBatcherOptions options;
  options.committers = 2;
  batcher_ = std::make_unique<RegisterBatcher>(store_.get(), options);
  constexpr int kThreads = 16, kCallsEach = 200, kNames = 300;
  std::atomic<int> created{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsEach; ++i) {
        FileSpec spec = Spec("many", absl::StrCat("n", (t * 37 + i) % kNames));
        Answer answer;
        Submit(&spec, &answer);
        answer.done.WaitForNotification();
        if (!answer.result.ok()) {
          ++failed;
        } else if ((*answer.result)[0].created) {
          ++created;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(created.load(), kNames);
  EXPECT_EQ(Count("SELECT count(*) FROM files WHERE source = 'many'"), kNames);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), kNames);
}

TEST_F(RegisterBatcherTest, StoppedBatcherRefuses) {
  batcher_->Stop();
  FileSpec spec = Spec("src", "after-stop");
  Answer answer;
  Submit(&spec, &answer);
  answer.done.WaitForNotification();
  EXPECT_EQ(answer.result.status().code(), absl::StatusCode::kUnavailable);
}

// When the database refuses the batch's connection, no call is to blame:
// all get UNAVAILABLE together instead of queueing for the same refusal one
// by one (which once pushed the last of them past their deadlines).
TEST(RegisterBatcherRefusedTest, ARefusedBatchIsAnsweredAtOnce) {
  // A "database" on loopback that accepts the first connection and never
  // answers it: the committer waits there while the other calls queue.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);

  DatabaseOptions db_options;
  db_options.url = absl::StrCat("host=127.0.0.1 port=", ntohs(addr.sin_port),
                                " dbname=none user=none");
  db_options.pool_size = 1;
  Database db(db_options);
  FileStore store(&db);
  RegisterBatcherOptions options;
  options.committers = 1;
  RegisterBatcher batcher(&store, options);

  constexpr int kCalls = 6;
  std::vector<FileSpec> specs;
  for (int i = 0; i < kCalls; ++i)
    specs.push_back(Spec("src", absl::StrCat(i)));
  Answer answers[kCalls];
  auto submit = [&](int i) {
    batcher.Submit(TxOptions(), {&specs[i]}, "", [&answers, i](auto result) {
      answers[i].result = std::move(result);
      answers[i].done.Notify();
    });
  };
  submit(0);
  pollfd pfd{listener, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the committer never connected";
  int held = accept(listener, nullptr, nullptr);
  for (int i = 1; i < kCalls; ++i) submit(i);
  close(listener);  // later connections are refused
  close(held);      // the first one ends without an answer

  for (Answer& a : answers) {
    a.done.WaitForNotification();
    EXPECT_EQ(a.result.status().code(), absl::StatusCode::kUnavailable)
        << a.result.status();
  }
  batcher.Stop();  // the committer counts a batch after answering it
  GroupCommitStats stats = batcher.stats();
  EXPECT_EQ(stats.calls, kCalls);
  EXPECT_EQ(stats.shared_failures, 1);  // calls 1..5, one batch
  EXPECT_EQ(stats.fallbacks, 0);
}

}  // namespace
}  // namespace metad::store
