// Schema migrations against a real PostgreSQL: ordering, the advisory lock,
// refusals, and the seed's row_count example migrated down and up.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "store/migrator.h"
#include "tests/support/pg_test_base.h"

namespace metad::store {
namespace {

using metad::testing::CreateEmptyDatabase;
using metad::testing::QueryValue;

std::vector<Migration> Embedded() {
  auto m = EmbeddedMigrations();
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TEST(Migrator, EmbeddedFilesAreNumberedWithUpAndDown) {
  std::vector<Migration> m = Embedded();
  ASSERT_GE(m.size(), 2u);
  EXPECT_EQ(m[0].version, 1);
  EXPECT_EQ(m[0].name, "init");
  EXPECT_EQ(m[1].version, 2);
  EXPECT_EQ(m[1].name, "files_row_count");
  for (const Migration& x : m) {
    EXPECT_FALSE(x.up_sql.empty());
    EXPECT_FALSE(x.down_sql.empty());
  }
}

TEST(Migrator, UpAppliesEverythingOnceAndIsCompatible) {
  std::string url = CreateEmptyDatabase("mig_up");
  Migrator migrator(url, Embedded());
  EXPECT_EQ(migrator.CheckCompatible().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(migrator.Up().ok());
  ASSERT_TRUE(migrator.Up().ok());  // nothing pending: a no-op
  EXPECT_TRUE(migrator.CheckCompatible().ok());
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_migrations"),
            std::to_string(migrator.latest_version()));
  auto states = migrator.Status();
  ASSERT_TRUE(states.ok());
  for (const MigrationState& s : *states) {
    EXPECT_TRUE(s.applied && s.known && s.checksum_matches) << s.version;
  }
}

TEST(Migrator, ReplicasStartingTogetherMigrateOnce) {
  std::string url = CreateEmptyDatabase("mig_race");
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Migrator(url, Embedded(), EmbeddedDefinitions()).Up();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_migrations"),
            std::to_string(Embedded().size()));
  // The functions were applied once too, and are current.
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_definitions"),
            std::to_string(EmbeddedDefinitions().size()));
  EXPECT_TRUE(
      Migrator(url, Embedded(), EmbeddedDefinitions()).CheckCompatible().ok());
}

TEST(Migrator, StepsApplyAndRevertInOrder) {
  std::string url = CreateEmptyDatabase("mig_steps");
  Migrator migrator(url, Embedded());
  ASSERT_TRUE(migrator.Up(1).ok());
  EXPECT_EQ(QueryValue(url, "SELECT max(version) FROM metad_schema_migrations"),
            "1");
  EXPECT_NE(migrator.CheckCompatible().message().find("migrate up"),
            std::string::npos);
  ASSERT_TRUE(migrator.Up().ok());
  ASSERT_TRUE(migrator.Down(static_cast<int>(Embedded().size())).ok());
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_migrations"),
            "0");
  EXPECT_EQ(QueryValue(url, "SELECT to_regclass('files') IS NULL"), "t");
  ASSERT_TRUE(migrator.Up().ok());  // the down files left a clean slate
  EXPECT_TRUE(migrator.CheckCompatible().ok());
}

// Server-side functions live in migrations/functions/ and are re-applied
// when they change: an edit of a file, not a new migration.
TEST(Migrator, DefinitionsAreAppliedWithTheSchemaAndAgainWhenChanged) {
  std::string url = CreateEmptyDatabase("mig_defs");
  std::vector<Definition> defs = EmbeddedDefinitions();
  ASSERT_FALSE(defs.empty());
  Migrator migrator(url, Embedded(), defs);
  ASSERT_TRUE(migrator.Up().ok());
  EXPECT_TRUE(migrator.CheckCompatible().ok());
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_definitions"),
            std::to_string(defs.size()));
  EXPECT_EQ(QueryValue(url, "SELECT to_regproc('metad_run_live') IS NOT NULL"),
            "t");

  // A binary whose rules file differs: refused until migrated, then in force.
  std::vector<Definition> changed = defs;
  Definition extra{"99_test.sql",
                   "CREATE OR REPLACE FUNCTION metad_test_answer() RETURNS int "
                   "LANGUAGE sql IMMUTABLE AS $$ SELECT 42 $$;"};
  changed.push_back(extra);
  Migrator newer(url, Embedded(), changed);
  absl::Status refused = newer.CheckCompatible();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("99_test.sql"), std::string::npos)
      << refused;
  auto stale = newer.StaleDefinitions();
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(*stale, std::vector<std::string>{"99_test.sql"});
  ASSERT_TRUE(newer.Up().ok());
  EXPECT_TRUE(newer.CheckCompatible().ok());
  EXPECT_EQ(QueryValue(url, "SELECT metad_test_answer()"), "42");
  // ...and the older binary now sees a file it lacks.
  EXPECT_EQ(migrator.CheckCompatible().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Whether no metad_start_runs exists (it has two forms since migration
// 0010, so to_regproc would not find one).
constexpr char kNoStartRuns[] =
    "SELECT NOT EXISTS (SELECT FROM pg_proc WHERE proname = "
    "'metad_start_runs')";

TEST(Migrator, DownForgetsDefinitionsSoUpAppliesThemAgain) {
  std::string url = CreateEmptyDatabase("mig_defs_down");
  Migrator migrator(url, Embedded(), EmbeddedDefinitions());
  ASSERT_TRUE(migrator.Up().ok());
  // Reverting the run functions' migration drops them...
  int runs_version = 0;
  for (const Migration& m : Embedded()) {
    if (m.name == "run_functions") runs_version = m.version;
  }
  ASSERT_GT(runs_version, 0);
  ASSERT_TRUE(migrator.Down(migrator.latest_version() - runs_version + 1).ok());
  EXPECT_EQ(QueryValue(url, kNoStartRuns), "t");
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_definitions"),
            "0");
  // ...and Up brings back the files' versions with the schema.
  ASSERT_TRUE(migrator.Up().ok());
  EXPECT_TRUE(migrator.CheckCompatible().ok());
  EXPECT_EQ(QueryValue(url, kNoStartRuns), "f");
}

// Up(N) that stops short of the latest version leaves the definitions
// alone: they are written for the latest schema.
TEST(Migrator, DefinitionsWaitForTheLatestSchema) {
  std::string url = CreateEmptyDatabase("mig_defs_steps");
  Migrator migrator(url, Embedded(), EmbeddedDefinitions());
  ASSERT_TRUE(migrator.Up(1).ok());
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_schema_definitions"),
            "0");
  ASSERT_TRUE(migrator.Up().ok());
  EXPECT_TRUE(migrator.CheckCompatible().ok());
}

TEST(Migrator, RowCountMigrationKeepsEveryRowDownAndUp) {
  std::string url = CreateEmptyDatabase("mig_rows");
  Migrator migrator(url, Embedded());
  ASSERT_TRUE(migrator.Up(1).ok());  // before files.row_count existed
  QueryValue(url,
             "INSERT INTO files (source, file_name, checksum) "
             "SELECT 'seed', 'sales_report_' || g || '.csv', md5(g::text) "
             "FROM generate_series(1, 5000) g");
  ASSERT_TRUE(migrator.Up(1).ok());  // to version 2, so Down(1) reverts it
  EXPECT_EQ(
      QueryValue(url, "SELECT count(*) FROM files WHERE row_count IS NULL"),
      "5000");
  QueryValue(url, "UPDATE files SET row_count = id * 10 WHERE id <= 100");
  ASSERT_TRUE(migrator.Down(1).ok());
  EXPECT_EQ(
      QueryValue(url,
                 "SELECT count(*) FROM information_schema.columns "
                 "WHERE table_name = 'files' AND column_name = 'row_count'"),
      "0");
  ASSERT_TRUE(migrator.Up().ok());
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM files"), "5000");
  EXPECT_EQ(QueryValue(url,
                       "SELECT count(*) FROM files WHERE checksum = md5("
                       "substring(file_name from '[0-9]+'))"),
            "5000");
  EXPECT_EQ(QueryValue(url, "SELECT count(DISTINCT file_name) FROM files"),
            "5000");
}

TEST(Migrator, RefusesDatabaseNewerThanBinary) {
  std::string url = CreateEmptyDatabase("mig_newer");
  Migrator migrator(url, Embedded());
  ASSERT_TRUE(migrator.Up().ok());
  QueryValue(url,
             "INSERT INTO metad_schema_migrations (version, name, checksum) "
             "VALUES (99, 'from_the_future', 'x')");
  absl::Status up = migrator.Up();
  EXPECT_EQ(up.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(up.message().find("newer"), std::string::npos) << up;
  EXPECT_EQ(migrator.CheckCompatible().code(),
            absl::StatusCode::kFailedPrecondition);
  auto states = migrator.Status();
  ASSERT_TRUE(states.ok());
  EXPECT_FALSE(states->back().known);
}

// The binary after `Embedded()`: one more migration, expand-only or not,
// and a changed function file.
std::vector<Migration> WithNext(bool expand_only) {
  std::vector<Migration> next = Embedded();
  Migration m;
  m.version = static_cast<int>(next.size()) + 1;
  m.name = "next_release";
  m.up_sql =
      std::string(expand_only ? "-- Adds a table.\n-- metad: expand-only\n"
                              : "-- Adds a table.\n") +
      "CREATE TABLE next_release_table (id bigint);";
  m.down_sql = "DROP TABLE next_release_table;";
  next.push_back(m);
  return next;
}

std::vector<Definition> ChangedDefinitions() {
  std::vector<Definition> defs = EmbeddedDefinitions();
  defs.push_back({"99_next_release.sql",
                  "CREATE OR REPLACE FUNCTION metad_next_release() "
                  "RETURNS int LANGUAGE sql AS 'SELECT 1';"});
  return defs;
}

TEST(Migrator, ExpandOnlyIsReadFromTheHeaderOnly) {
  EXPECT_TRUE(DeclaresExpandOnly("-- Adds.\n-- metad: expand-only\nSELECT 1;"));
  EXPECT_TRUE(DeclaresExpandOnly("\n  -- metad: expand-only\nSELECT 1;"));
  EXPECT_FALSE(DeclaresExpandOnly("-- Adds.\nSELECT 1;"));
  // Below the header it is SQL's business, not a declaration.
  EXPECT_FALSE(DeclaresExpandOnly("SELECT 1;\n-- metad: expand-only\n"));
  EXPECT_FALSE(DeclaresExpandOnly("-- metad: expand-only, not really\n"));
}

// The rollback window: the release before an expand-only migration still
// serves, and leaves the newer schema and functions alone.
TEST(Migrator, OlderBinaryServesAheadOfItByExpandOnlyMigrations) {
  std::string url = CreateEmptyDatabase("mig_window");
  Migrator newer(url, WithNext(/*expand_only=*/true), ChangedDefinitions());
  ASSERT_TRUE(newer.Up().ok());
  EXPECT_EQ(QueryValue(url,
                       "SELECT expand_only FROM metad_schema_migrations "
                       "ORDER BY version DESC LIMIT 1"),
            "t");
  const std::string functions_before =
      QueryValue(url,
                 "SELECT string_agg(name || checksum, ',' ORDER BY name) "
                 "FROM metad_schema_definitions");

  Migrator older(url, Embedded(), EmbeddedDefinitions());
  EXPECT_TRUE(older.CheckCompatible().ok()) << older.CheckCompatible();
  EXPECT_TRUE(older.Up().ok());  // what `metad serve` does first
  EXPECT_EQ(QueryValue(url,
                       "SELECT string_agg(name || checksum, ',' ORDER BY name) "
                       "FROM metad_schema_definitions"),
            functions_before);
  EXPECT_EQ(QueryValue(url, "SELECT count(*) FROM metad_next_release()"), "1");
  auto states = older.Status();
  ASSERT_TRUE(states.ok());
  EXPECT_FALSE(states->back().known);
  EXPECT_TRUE(states->back().expand_only);
  // Reverting needs the binary that knows the migration.
  EXPECT_EQ(older.Down(1).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(newer.Down(1).ok());
  EXPECT_EQ(QueryValue(url, "SELECT to_regclass('next_release_table')"), "");
}

TEST(Migrator, OlderBinaryRefusesAMigrationThatIsNotExpandOnly) {
  std::string url = CreateEmptyDatabase("mig_window_no");
  ASSERT_TRUE(Migrator(url, WithNext(/*expand_only=*/false)).Up().ok());
  Migrator older(url, Embedded());
  absl::Status check = older.CheckCompatible();
  EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(check.message().find("not expand-only"), std::string::npos)
      << check;
  EXPECT_EQ(older.Up().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Migrator, RefusesChangedMigrationFile) {
  std::string url = CreateEmptyDatabase("mig_changed");
  Migrator migrator(url, Embedded());
  ASSERT_TRUE(migrator.Up().ok());
  QueryValue(url,
             "UPDATE metad_schema_migrations SET checksum = 'tampered' "
             "WHERE version = 1");
  absl::Status check = migrator.CheckCompatible();
  EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(check.message().find("differs"), std::string::npos) << check;
  EXPECT_EQ(migrator.Up().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Migrator, UnreachableDatabaseIsUnavailable) {
  Migrator migrator("host=127.0.0.1 port=1 dbname=x connect_timeout=2",
                    Embedded());
  EXPECT_EQ(migrator.Up().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace metad::store
