// store::WatchStore on PostgreSQL: the settled horizon (ids committed out of
// order are never passed over, rolled-back ids are passed without timeouts)
// and the filtered reads of watch streams.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/watch_store.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

using metad::testing::PgTest;

class WatchStoreTest : public PgTest {
 protected:
  WatchStoreTest() = default;

  int64_t AddFile(const std::string& source, const std::string& name) {
    return std::stoll(
        Sql(absl::StrCat("INSERT INTO files (source, file_name) VALUES ('",
                         source, "', '", name, "') RETURNING id")));
  }

  // A committed file event; returns its id.
  int64_t AddFileEvent(int64_t file_id, const std::string& to_status = "NEW") {
    return std::stoll(Sql(absl::StrCat(
        "INSERT INTO file_events (file_id, kind, to_status) VALUES (", file_id,
        ", 'REGISTERED', '", to_status, "') RETURNING id")));
  }

  // Writes a file event in `tx`, which the caller keeps open: the event's
  // id is taken but not committed. Returns the id.
  static int64_t TakeEventId(pqxx::work& tx, int64_t file_id) {
    return tx
        .exec1(absl::StrCat("INSERT INTO file_events (file_id, kind, "
                            "to_status) VALUES (",
                            file_id,
                            ", 'CLAIMED', 'PROCESSING') RETURNING id"))[0]
        .as<int64_t>();
  }

  // Steps until the horizon stops moving (at most `steps`).
  // Steps until nothing moves and no fence is pending. A fence passes once
  // every older transaction of the whole cluster has ended, and other
  // suites run beside this one, so a pending fence is retried for up to
  // 30 s (a bounded wait for something that must happen). With `steps`,
  // exactly that many steps at most, without waiting.
  Horizon Settle(EventTable table, Horizon h, int steps = -1) {
    WatchStore store(db());
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    for (int i = 0; steps < 0 || i < steps; ++i) {
      int64_t before = h.settled;
      std::string fence_before = h.fence;
      absl::StatusOr<bool> more = store.AdvanceHorizon(table, {}, &h);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok()) break;
      const bool still =
          !*more && h.settled == before && h.fence == fence_before;
      if (still && h.fence.empty()) break;
      if (steps < 0 && still) {
        if (absl::Now() > give_up) break;
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    return h;
  }

  std::vector<int64_t> FileEventIds(const FileEventFilter& filter,
                                    int64_t after, int64_t upto,
                                    int limit = 1000) {
    WatchStore store(db());
    auto events = store.ReadFileEvents({}, filter, after, upto, limit);
    EXPECT_TRUE(events.ok()) << events.status();
    std::vector<int64_t> ids;
    if (events.ok()) {
      for (const auto& e : *events) ids.push_back(e.event().id());
    }
    return ids;
  }
};

TEST_F(WatchStoreTest, HorizonFollowsCommittedIds) {
  int64_t f = AddFile("s", "a");
  for (int i = 0; i < 5; ++i) AddFileEvent(f);
  Horizon h = Settle(EventTable::kFileEvents, {});
  EXPECT_EQ(h.settled, 5);
  EXPECT_TRUE(h.fence.empty());
  Horizon runs = Settle(EventTable::kRunEvents, {});
  EXPECT_EQ(runs.settled, 0);
}

TEST_F(WatchStoreTest, HorizonCatchesUpFromFarBehindInFewSteps) {
  int64_t f = AddFile("s", "a");
  Sql(
      absl::StrCat("INSERT INTO file_events (file_id, kind, to_status) "
                   "SELECT ",
                   f, ", 'REGISTERED', 'NEW' FROM generate_series(1, 25000)"));
  WatchStore store(db());
  Horizon h;
  // Steps that moved the horizon. Steps that wait on a fence do not count:
  // any transaction in the cluster (autovacuum's analyze, another suite
  // that ctest runs at the same time) may hold it for a while.
  int advancing_steps = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (h.settled < 25000 && absl::Now() < give_up) {
    const int64_t before = h.settled;
    ASSERT_TRUE(store.AdvanceHorizon(EventTable::kFileEvents, {}, &h).ok());
    if (h.settled != before) ++advancing_steps;
    if (!h.fence.empty()) absl::SleepFor(absl::Milliseconds(10));
  }
  // One page, a fence, then past the fence: not 25 pages one by one.
  EXPECT_EQ(h.settled, 25000);
  EXPECT_LT(advancing_steps, 20);
}

// The case a naive `id > cursor` reader gets wrong: id k is taken by a
// transaction that is still open while id k+1 commits.
TEST_F(WatchStoreTest, HorizonWaitsForAnIdTakenByAnOpenTransaction) {
  int64_t f = AddFile("s", "a");
  int64_t first = AddFileEvent(f);
  pqxx::connection conn(url());
  pqxx::work held(conn);
  int64_t k = TakeEventId(held, f);
  int64_t later = AddFileEvent(f, "SUCCESS");
  ASSERT_EQ(k, first + 1);
  ASSERT_EQ(later, k + 1);

  Horizon h = Settle(EventTable::kFileEvents, {}, 5);
  EXPECT_EQ(h.settled, first);  // not past k while it may still commit
  EXPECT_FALSE(h.fence.empty());
  EXPECT_EQ(FileEventIds({}, 0, h.settled), std::vector<int64_t>{first});

  held.commit();
  h = Settle(EventTable::kFileEvents, h);
  EXPECT_EQ(h.settled, later);
  EXPECT_EQ(FileEventIds({}, first, h.settled),
            (std::vector<int64_t>{k, later}));
}

// A rolled-back id leaves a permanent hole: passed as soon as its
// transaction has ended, with no timeout involved.
TEST_F(WatchStoreTest, HorizonPassesARolledBackIdOnceItsTransactionEnded) {
  int64_t f = AddFile("s", "a");
  int64_t first = AddFileEvent(f);
  pqxx::connection conn(url());
  auto held = std::make_unique<pqxx::work>(conn);
  int64_t k = TakeEventId(*held, f);
  int64_t later = AddFileEvent(f, "SUCCESS");
  Horizon h = Settle(EventTable::kFileEvents, {}, 5);
  EXPECT_EQ(h.settled, first);

  held->abort();
  held.reset();
  h = Settle(EventTable::kFileEvents, h);
  EXPECT_EQ(h.settled, later);
  EXPECT_EQ(FileEventIds({}, first, h.settled), std::vector<int64_t>{later});
  EXPECT_EQ(
      Sql(absl::StrCat("SELECT count(*) FROM file_events WHERE id = ", k)),
      "0");
}

// A hole left by a rollback that happened before anyone looked: nothing is
// in flight, so the first fence is passed at the next step.
TEST_F(WatchStoreTest, HorizonPassesOldHoles) {
  int64_t f = AddFile("s", "a");
  AddFileEvent(f);
  {
    pqxx::connection conn(url());
    pqxx::work tx(conn);
    tx.exec(
        absl::StrCat("INSERT INTO file_events (file_id, kind, to_status) "
                     "SELECT ",
                     f, ", 'X', 'NEW' FROM generate_series(1, 10)"));
    tx.abort();
  }
  int64_t last = AddFileEvent(f);
  ASSERT_EQ(last, 12);
  Horizon h = Settle(EventTable::kFileEvents, {});
  EXPECT_EQ(h.settled, 12);
  EXPECT_TRUE(h.fence.empty());
}

// Event ids are taken only once the writing transaction has an xid: the
// default of id calls pg_current_xact_id() first (migrations/0003).
TEST_F(WatchStoreTest, EventIdsAreTakenAfterTheTransactionHasAnXid) {
  for (const char* table : {"file_events", "run_events"}) {
    EXPECT_EQ(
        Sql(absl::StrCat("SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef "
                         "WHERE adrelid = '",
                         table, "'::regclass AND adnum = 1")),
        absl::StrCat("metad_take_event_id('", table, "_id_seq'::regclass)"));
  }
}

TEST_F(WatchStoreTest, ReadFileEventsFiltersAndBounds) {
  int64_t a = AddFile("alpha", "a.csv");
  int64_t b = AddFile("beta", "b.csv");
  int64_t e1 = AddFileEvent(a);
  int64_t e2 = AddFileEvent(b);
  int64_t e3 = AddFileEvent(a, "SUCCESS");
  int64_t e4 = AddFileEvent(b, "ERROR");
  EXPECT_EQ(FileEventIds({}, 0, e4), (std::vector<int64_t>{e1, e2, e3, e4}));
  EXPECT_EQ(FileEventIds({}, e1, e3), (std::vector<int64_t>{e2, e3}));
  EXPECT_EQ(FileEventIds({}, 0, e4, 2), (std::vector<int64_t>{e1, e2}));
  EXPECT_EQ(FileEventIds({"alpha", "", 0}, 0, e4),
            (std::vector<int64_t>{e1, e3}));
  EXPECT_EQ(FileEventIds({"", "ERROR", 0}, 0, e4), std::vector<int64_t>{e4});
  EXPECT_EQ(FileEventIds({"", "", b}, 0, e4), (std::vector<int64_t>{e2, e4}));
  EXPECT_EQ(FileEventIds({"alpha", "", b}, 0, e4), std::vector<int64_t>{});

  WatchStore store(db());
  auto events = store.ReadFileEvents({}, {}, e2, e3, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  const metad::v1::WatchedFileEvent& w = (*events)[0];
  EXPECT_EQ(w.source(), "alpha");
  EXPECT_EQ(w.file_name(), "a.csv");
  EXPECT_EQ(w.event().file_id(), a);
  EXPECT_EQ(w.event().kind(), "REGISTERED");
  EXPECT_EQ(w.event().to_status(), metad::v1::FILE_STATUS_SUCCESS);
  EXPECT_EQ(w.event().from_status(), metad::v1::FILE_STATUS_UNSPECIFIED);
  EXPECT_GT(w.event().event_time().seconds(), 0);

  auto last = store.LastEventId(EventTable::kFileEvents, {});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, e4);
}

TEST_F(WatchStoreTest, ReadRunEventsFiltersAndCarriesTaskAndBatch) {
  Sql("INSERT INTO tasks (name) VALUES ('load'), ('profit')");
  auto run = [&](const std::string& task, const std::string& batch) {
    return std::stoll(Sql(absl::StrCat(
        "INSERT INTO task_log (task_id, batch_id, status, attempt, "
        "lease_seconds, end_time) SELECT id, '",
        batch, "', 'SUCCESS', 1, 60, now() FROM tasks WHERE name = '", task,
        "' RETURNING id")));
  };
  auto event = [&](int64_t run_id, const std::string& to) {
    return std::stoll(Sql(absl::StrCat(
        "INSERT INTO run_events (run_id, kind, from_status, to_status) "
        "VALUES (",
        run_id, ", 'FINISHED', 'PROCESSING', '", to, "') RETURNING id")));
  };
  int64_t r1 = run("load", "b1");
  int64_t r2 = run("profit", "b1");
  int64_t r3 = run("load", "b2");
  int64_t e1 = event(r1, "SUCCESS");
  int64_t e2 = event(r2, "ERROR");
  int64_t e3 = event(r3, "SUCCESS");

  WatchStore store(db());
  auto ids = [&](const RunEventFilter& filter) {
    auto events = store.ReadRunEvents({}, filter, 0, e3, 100);
    EXPECT_TRUE(events.ok()) << events.status();
    std::vector<int64_t> out;
    for (const auto& e : *events) out.push_back(e.event().id());
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<int64_t>{e1, e2, e3}));
  EXPECT_EQ(ids({"b1", "", "", 0}), (std::vector<int64_t>{e1, e2}));
  EXPECT_EQ(ids({"", "load", "", 0}), (std::vector<int64_t>{e1, e3}));
  EXPECT_EQ(ids({"", "", "ERROR", 0}), std::vector<int64_t>{e2});
  EXPECT_EQ(ids({"", "", "", r3}), std::vector<int64_t>{e3});
  EXPECT_EQ(ids({"b1", "load", "SUCCESS", 0}), std::vector<int64_t>{e1});
  EXPECT_EQ(ids({"", "nope", "", 0}), std::vector<int64_t>{});

  auto events = store.ReadRunEvents({}, {}, e1, e2, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].task_name(), "profit");
  EXPECT_EQ((*events)[0].batch_id(), "b1");
  EXPECT_EQ((*events)[0].event().run_id(), r2);
  EXPECT_EQ((*events)[0].event().from_status(),
            metad::v1::RUN_STATUS_PROCESSING);
  EXPECT_EQ((*events)[0].event().to_status(), metad::v1::RUN_STATUS_ERROR);
}

}  // namespace
}  // namespace metad::store
