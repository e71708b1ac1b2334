// store::WatchStore on the partitioned event tables (migration 0014) with
// the generic plans it forces (watch.force_generic_plan): one connection
// keeps its cached plans while events cross partition boundaries, land in
// the DEFAULT partition and are moved into partitions attached later, and
// the horizon and the reads still give every id once, in order.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/database.h"
#include "store/watch_store.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

using metad::testing::PgTest;

class WatchPartitionsTest : public PgTest {
 protected:
  // Small partitions made afresh from id 1: [1,10), [10,20), ... 3 of them
  // past the sequence (as partitioned_history_pgtest). One connection, so
  // that every read reuses the plans that connection cached.
  void SetUp() override {
    PgTest::SetUp();
    Sql("UPDATE retention_state SET pruned_through = 0, partition_ids = 10, "
        "partitions_ahead = 3");
    Sql("DO $$ DECLARE r record; BEGIN "
        "FOR r IN SELECT part FROM metad_event_partitions('file_events') "
        "LOOP EXECUTE format('DROP TABLE %s', r.part); END LOOP; END $$");
    Sql("SELECT metad_ensure_event_partitions()");
    file_ =
        Sql("INSERT INTO files (source, file_name) VALUES ('s', 'a') "
            "RETURNING id");
    DatabaseOptions options;
    options.url = url();
    options.pool_size = 1;
    one_ = std::make_unique<Database>(options);
  }

  void AddEvents(int n) {
    Sql(absl::StrCat(
        "INSERT INTO file_events (file_id, kind, to_status) "
        "SELECT ",
        file_, ", 'NOTE', 'NEW' FROM generate_series(1, ", n, ")"));
  }

  int64_t Count(const std::string& sql) { return std::stoll(Sql(sql)); }

  // Steps the horizon until it stops moving with no fence pending (a fence
  // waits for every older transaction of the cluster: bounded at 30 s).
  int64_t Settle(Horizon* h) {
    WatchStore store(one_.get());
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    for (;;) {
      const Horizon before = *h;
      absl::StatusOr<bool> more =
          store.AdvanceHorizon(EventTable::kFileEvents, {}, h);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || *more) continue;
      if (h->fence.empty() && h->settled == before.settled) break;
      if (absl::Now() > give_up) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return h->settled;
  }

  // Every event after `after` up to `upto`, read the way a stream reads
  // them: pages of 4, the cursor on the last id of a full page.
  std::vector<int64_t> ReadAll(int64_t after, int64_t upto,
                               const FileEventFilter& filter = {}) {
    WatchStore store(one_.get());
    std::vector<int64_t> ids;
    while (after < upto) {
      auto events = store.ReadFileEvents({}, filter, after, upto, 4);
      EXPECT_TRUE(events.ok()) << events.status();
      if (!events.ok()) break;
      for (const auto& e : *events) ids.push_back(e.event().id());
      after = events->size() == 4 ? events->back().event().id() : upto;
    }
    return ids;
  }

  // How often the one connection ran prepared statement `name` with its
  // generic plan, and with a custom one: {generic, custom}.
  std::pair<int64_t, int64_t> Plans(const std::string& name) {
    std::pair<int64_t, int64_t> plans{-1, -1};
    absl::Status s = one_->Transact("test.plans", {}, [&](Tx& tx) {
      pqxx::result r = tx.exec_params(
          "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
          "WHERE name = $1",
          name);
      if (!r.empty()) plans = {r[0][0].as<int64_t>(), r[0][1].as<int64_t>()};
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return plans;
  }

  static std::vector<int64_t> Range(int64_t first, int64_t last) {
    std::vector<int64_t> ids;
    for (int64_t id = first; id <= last; ++id) ids.push_back(id);
    return ids;
  }

  std::string file_;
  std::unique_ptr<Database> one_;
};

TEST_F(WatchPartitionsTest, CachedGenericPlansFollowNewPartitions) {
  // Ids 1..25 in three partitions.
  AddEvents(25);
  Horizon h;
  ASSERT_EQ(Settle(&h), 25);
  EXPECT_EQ(ReadAll(0, 25), Range(1, 25));

  // Ids 26..55: those past the partitions made ahead go to DEFAULT.
  AddEvents(30);
  ASSERT_GT(Count("SELECT count(*) FROM file_events_default"), 0);
  ASSERT_EQ(Settle(&h), 55);
  EXPECT_EQ(ReadAll(0, 55), Range(1, 55));

  // The ensure pass moves them into new partitions (the cached plans are
  // made again); then more events, in those and in DEFAULT again.
  Sql("SELECT metad_ensure_event_partitions()");
  ASSERT_EQ(Count("SELECT count(*) FROM file_events_default"), 0);
  AddEvents(40);
  ASSERT_EQ(Settle(&h), 95);
  EXPECT_EQ(ReadAll(0, 95), Range(1, 95));
  EXPECT_EQ(ReadAll(37, 95), Range(38, 95));
  FileEventFilter filtered;  // the statement with filters, custom plans
  filtered.source = "s";
  filtered.to_status = "NEW";
  EXPECT_EQ(ReadAll(0, 95, filtered), Range(1, 95));
  Horizon fresh;
  EXPECT_EQ(Settle(&fresh), 95);

  // Every unfiltered read and horizon step ran its generic plan: none was
  // planned for its values (the plan cache alone makes 5 custom plans
  // first).
  EXPECT_GT(Plans("watch.file_events_unfiltered").first, 5);
  EXPECT_EQ(Plans("watch.file_events_unfiltered").second, 0);
  EXPECT_GT(Plans("watch.file_horizon").first, 5);
  EXPECT_EQ(Plans("watch.file_horizon").second, 0);
}

}  // namespace
}  // namespace metad::store
