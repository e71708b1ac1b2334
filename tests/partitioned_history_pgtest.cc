// Partitioned history (migrations/0014_partitioned_history.up.sql) through a
// running metad: retention drops whole old partitions of file_events and
// run_events and batches only the rest, with the same pruned_through marks,
// OUT_OF_RANGE answers and kept rows as row-by-row deletion; inserts past
// the partitions made ahead land in the DEFAULT partition and are moved out
// by the next ensure pass; and a database with events at migration 0009
// upgrades (and downgrades) without losing an event or a watch cursor.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "metad/v1/admin.grpc.pb.h"
#include "metad/v1/files.grpc.pb.h"
#include "metad/v1/watch.grpc.pb.h"
#include "store/migrator.h"
#include "tests/support/daemon_process.h"
#include "tests/support/pg_test_base.h"

namespace metad::testing {
namespace {

constexpr char kAdmin[] = "partitions-admin-token-0123";
constexpr int64_t kDay = 86400;

std::string TokenFile() {
  static std::string path = [] {
    char dir[] = "/tmp/metad-partitions-XXXXXX";
    std::string p = std::string(mkdtemp(dir)) + "/tokens";
    std::ofstream(p) << "admin " << kAdmin << "\n";
    return p;
  }();
  return path;
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", kAdmin));
  return ctx;
}

class PartitionedHistoryTest : public PgTest {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new DaemonProcess();
    ASSERT_TRUE(
        daemon_->Spawn(MigratedDatabaseUrl(), {"--token_file", TokenFile()}));
    ASSERT_TRUE(daemon_->WaitServing()) << daemon_->ReadLog();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }

  // Empty tables (PgTest), ids from 1 again, and small partitions made
  // afresh from id 1: [1,10), [10,20), ... `ahead` of them past the
  // sequence.
  void SetUp() override {
    PgTest::SetUp();
    Sql("UPDATE retention_state SET pruned_through = 0, partition_ids = 10, "
        "partitions_ahead = 3");
    Sql("DO $$ DECLARE r record; BEGIN "
        "FOR r IN SELECT part FROM metad_event_partitions('file_events') "
        "UNION ALL SELECT part FROM metad_event_partitions('run_events') "
        "LOOP EXECUTE format('DROP TABLE %s', r.part); END LOOP; END $$");
    Sql("SELECT metad_ensure_event_partitions()");
    Sql("INSERT INTO tasks (name) VALUES ('t')");
  }

  int64_t Count(const std::string& sql) { return std::stoll(Sql(sql)); }

  int64_t Partitions(const std::string& table) {
    return Count(
        absl::StrCat("SELECT count(*) FROM pg_inherits WHERE inhparent = '",
                     table, "'::regclass"));
  }

  // Every column of the rows of `table` above id `above`, as one text.
  std::string RowsAbove(const std::string& table, int64_t above) {
    return Sql(
        absl::StrCat("SELECT string_agg(e::text, E'\\n' ORDER BY id) "
                     "FROM ",
                     table, " e WHERE id > ", above));
  }

  v1::PruneHistoryResponse Prune() {
    auto stub = v1::AdminService::NewStub(daemon_->channel());
    v1::PruneHistoryRequest req;
    req.mutable_older_than()->set_seconds(30 * kDay);
    req.set_batch_size(4);
    v1::PruneHistoryResponse resp;
    grpc::Status s = stub->PruneHistory(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // A watch of `table`'s events from `after`: the first event's id, or the
  // status the stream ended with.
  grpc::Status WatchFirst(bool files, int64_t after, int64_t* first_id) {
    auto stub = v1::WatchService::NewStub(daemon_->channel());
    auto ctx = Ctx();
    grpc::Status status;
    if (files) {
      v1::WatchFilesRequest req;
      req.set_after_event_id(after);
      auto reader = stub->WatchFiles(ctx.get(), req);
      v1::WatchedFileEvent event;
      if (reader->Read(&event)) {
        *first_id = event.event().id();
        ctx->TryCancel();
        reader->Finish().IgnoreError();
        return grpc::Status::OK;
      }
      return reader->Finish();
    }
    v1::WatchRunsRequest req;
    req.set_after_event_id(after);
    auto reader = stub->WatchRuns(ctx.get(), req);
    v1::WatchedRunEvent event;
    if (reader->Read(&event)) {
      *first_id = event.event().id();
      ctx->TryCancel();
      reader->Finish().IgnoreError();
      return grpc::Status::OK;
    }
    return reader->Finish();
  }

  // `n` file events of file 1, `days` old (0: now).
  void FileEvents(int n, int days) {
    Sql(
        absl::StrCat("INSERT INTO file_events (file_id, kind, to_status, "
                     "event_time) SELECT 1, 'NOTE', 'NEW', now() - interval '",
                     days, " days' FROM generate_series(1, ", n, ")"));
  }

  static DaemonProcess* daemon_;
};

DaemonProcess* PartitionedHistoryTest::daemon_ = nullptr;

TEST_F(PartitionedHistoryTest, FileEventsDropWholePartitionsThenBatches) {
  Sql("INSERT INTO files (source, file_name) VALUES ('s', 'f')");
  // Ids 1..44 old, past the partitions made ahead ([1,10) .. [30,40)):
  // 40..44 go to the DEFAULT partition, and no insert fails.
  const int64_t before = Partitions("file_events");
  FileEvents(44, 40);
  ASSERT_EQ(Count("SELECT count(*) FROM file_events_default"), 5);
  // The ensure pass (run by each prune) moves them into [40,50).
  Sql("SELECT metad_ensure_event_partitions()");
  EXPECT_EQ(Count("SELECT count(*) FROM file_events_default"), 0);
  EXPECT_GT(Partitions("file_events"), before);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 44);
  // Ids 45..47 young: [40,50) holds old and young events.
  FileEvents(3, 0);
  // An old event after a young one is kept, as before (ids are a prefix).
  FileEvents(1, 40);
  const std::string kept = RowsAbove("file_events", 44);
  const int64_t partitions = Partitions("file_events");

  v1::PruneHistoryResponse resp = Prune();
  EXPECT_EQ(resp.file_events_deleted(), 44);
  EXPECT_TRUE(resp.complete());
  EXPECT_EQ(Count("SELECT pruned_through FROM retention_state WHERE "
                  "table_name = 'file_events'"),
            44);
  // [1,10) .. [30,40) dropped, [40,50) batched.
  EXPECT_EQ(Partitions("file_events"), partitions - 4);
  EXPECT_EQ(Count("SELECT count(*) FROM metad_event_partitions('file_events') "
                  "WHERE lo < 40"),
            0);
  EXPECT_EQ(RowsAbove("file_events", 44), kept);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events"), 4);

  int64_t first = 0;
  grpc::Status s = WatchFirst(/*files=*/true, 20, &first);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << s.error_message();
  s = WatchFirst(/*files=*/true, 43, &first);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << s.error_message();
  ASSERT_TRUE(WatchFirst(/*files=*/true, 44, &first).ok());
  EXPECT_EQ(first, 45);

  // Far past the partitions made: the insert lands in DEFAULT, the next
  // prune's ensure pass gives it a partition.
  Sql("SELECT setval('file_events_id_seq', 5000)");
  FileEvents(1, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM file_events_default"), 1);
  Prune();
  EXPECT_EQ(Count("SELECT count(*) FROM file_events_default"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM metad_event_partitions('file_events') "
                  "WHERE 5001 >= lo AND 5001 < hi"),
            1);
  EXPECT_EQ(Count("SELECT max(id) FROM file_events"), 5001);
  EXPECT_EQ(Count("SELECT max(hi) FROM metad_event_partitions('file_events')"),
            5040);
}

TEST_F(PartitionedHistoryTest, RunEventsDropPartitionsOfPrunableRunsOnly) {
  // Runs: a, b, c, d ended 40 days ago; p still PROCESSING (40 days old);
  // e ended now.
  Sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, start_time, end_time, lease_expire_time) "
      "SELECT 1, b, s, 1, 60, "
      "now() - interval '40 days', CASE WHEN s = 'PROCESSING' THEN NULL "
      "WHEN b = 'e' THEN now() ELSE now() - interval '40 days' END, "
      "CASE WHEN s = 'PROCESSING' THEN now() + interval '1 hour' END "
      "FROM (VALUES ('a', 'SUCCESS'), ('b', 'ERROR'), ('c', 'SUCCESS'), "
      "('d', 'SUCCESS'), ('p', 'PROCESSING'), ('e', 'SUCCESS')) v(b, s) "
      "ORDER BY b");
  auto events = [&](const std::string& batch, int n, int days) {
    Sql(
        absl::StrCat("INSERT INTO run_events (run_id, kind, to_status, "
                     "event_time) SELECT id, 'NOTE', 'PROCESSING', now() - "
                     "interval '",
                     days, " days' FROM task_log, generate_series(1, ", n,
                     ") WHERE batch_id = '", batch, "'"));
  };
  events("a", 9, 40);   // 1..9: [1,10) all a's: dropped
  events("b", 6, 40);   // 10..15
  events("p", 4, 40);   // 16..19: [10,20) holds p's: kept, b batched
  events("c", 6, 40);   // 20..25
  events("d", 10, 40);  // 26..35: [20,30) dropped, d's 30..35 deleted
  events("e", 4, 0);    // 36..39: [30,40) holds e's: kept
  const std::string kept =
      Sql("SELECT string_agg(e::text, E'\\n' ORDER BY e.id) FROM run_events e "
          "JOIN task_log t ON t.id = e.run_id WHERE t.batch_id IN ('p', 'e')");
  Sql("SELECT metad_ensure_event_partitions()");  // as each prune does
  const int64_t partitions = Partitions("run_events");

  v1::PruneHistoryResponse resp = Prune();
  EXPECT_EQ(resp.runs_deleted(), 4);
  EXPECT_EQ(resp.run_events_deleted(), 31);
  EXPECT_TRUE(resp.complete());
  EXPECT_EQ(Count("SELECT pruned_through FROM retention_state WHERE "
                  "table_name = 'run_events'"),
            35);
  EXPECT_EQ(Partitions("run_events"), partitions - 2);
  EXPECT_EQ(Count("SELECT count(*) FROM metad_event_partitions('run_events') "
                  "WHERE lo IN (1, 20)"),
            0);
  EXPECT_EQ(Sql("SELECT string_agg(batch_id, ',' ORDER BY batch_id) FROM "
                "task_log"),
            "e,p");
  EXPECT_EQ(Sql("SELECT string_agg(e::text, E'\\n' ORDER BY id) FROM "
                "run_events e"),
            kept);

  int64_t first = 0;
  grpc::Status s = WatchFirst(/*files=*/false, 20, &first);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << s.error_message();
  ASSERT_TRUE(WatchFirst(/*files=*/false, 35, &first).ok());
  EXPECT_EQ(first, 36);

  // Nothing left to prune: a second call drops and deletes nothing.
  v1::PruneHistoryResponse again = Prune();
  EXPECT_EQ(again.runs_deleted() + again.run_events_deleted(), 0);
  EXPECT_EQ(Partitions("run_events"), partitions - 2);
}

// A database with events at migration 0009 (before partitioning) migrates
// to the latest with every event, the marks and the sequences as they were,
// and back down again.
TEST(PartitionedHistoryUpgrade, KeepsEventsAndCursorsBothWays) {
  std::string url = CreateEmptyDatabase("upgrade");
  absl::StatusOr<std::vector<store::Migration>> migrations =
      store::EmbeddedMigrations();
  ASSERT_TRUE(migrations.ok());
  store::Migrator migrator(url, *migrations, store::EmbeddedDefinitions());
  ASSERT_TRUE(migrator.Up(9).ok());
  auto sql = [&](const std::string& q) { return QueryValue(url, q); };
  sql("INSERT INTO tasks (name) VALUES ('t')");
  sql("INSERT INTO files (source, file_name) VALUES ('s', 'f')");
  sql("INSERT INTO task_log (task_id, batch_id, status, attempt, "
      "lease_seconds, lease_expire_time) VALUES (1, 'b', 'PROCESSING', 1, 60, "
      "now() + interval '1 hour')");
  sql("INSERT INTO file_events (file_id, kind, to_status) SELECT 1, 'NOTE', "
      "'NEW' FROM generate_series(1, 1500)");
  sql("INSERT INTO run_events (run_id, kind, to_status) SELECT 1, 'NOTE', "
      "'PROCESSING' FROM generate_series(1, 700)");
  sql("DELETE FROM file_events WHERE id <= 100");
  sql("UPDATE retention_state SET pruned_through = 100 WHERE table_name = "
      "'file_events'");
  const std::string all =
      "SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM ";
  const std::string files_before = sql(all + "file_events e");
  const std::string runs_before = sql(all + "run_events e");

  ASSERT_TRUE(migrator.Up().ok());
  EXPECT_EQ(sql(all + "file_events e"), files_before);
  EXPECT_EQ(sql(all + "run_events e"), runs_before);
  EXPECT_EQ(sql("SELECT pruned_through FROM retention_state WHERE "
                "table_name = 'file_events'"),
            "100");
  EXPECT_EQ(sql("SELECT relkind FROM pg_class WHERE relname = 'file_events'"),
            "p");
  // The old table is the first partition, and ids go on from the sequence.
  EXPECT_EQ(sql("SELECT count(*) FROM file_events_p0"), "1400");
  EXPECT_EQ(sql("INSERT INTO file_events (file_id, kind, to_status) VALUES "
                "(1, 'NOTE', 'NEW') RETURNING id"),
            "1501");
  EXPECT_EQ(sql("INSERT INTO run_events (run_id, kind, to_status) VALUES "
                "(1, 'NOTE', 'PROCESSING') RETURNING id"),
            "701");
  const std::string files_after = sql(all + "file_events e");

  // Down through 0014 (and whatever came after it).
  int above = 0;
  for (const store::Migration& m : *migrations) above += m.version >= 14;
  ASSERT_TRUE(migrator.Down(above).ok());
  EXPECT_EQ(sql("SELECT relkind FROM pg_class WHERE relname = 'file_events'"),
            "r");
  EXPECT_EQ(sql(all + "file_events e"), files_after);
  EXPECT_EQ(sql("INSERT INTO file_events (file_id, kind, to_status) VALUES "
                "(1, 'NOTE', 'NEW') RETURNING id"),
            "1502");
  ASSERT_TRUE(migrator.Up().ok());
  EXPECT_EQ(sql("SELECT count(*) FROM file_events"), "1402");
}

}  // namespace
}  // namespace metad::testing
