#include "store/migrator.h"

#include <map>
#include <memory>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/embedded_migrations.h"
#include "store/error_mapping.h"
#include "common/log.h"
#include "store/sql.h"

namespace metad::store {
namespace {

// Taken for the whole of Up/Down, session-scoped, so only one process
// changes the schema at a time. The value spells "metad" in ASCII.
constexpr int64_t kMigrationLockKey = 0x6d65746164;

constexpr Query kLock{"migrate.lock", "SELECT pg_advisory_lock($1)"};
constexpr Query kUnlock{"migrate.unlock", "SELECT pg_advisory_unlock($1)"};
constexpr Query kChecksum{
    "migrate.checksum",
    "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')"};
constexpr Query kListApplied{
    "migrate.list",
    "SELECT version, name, checksum, applied_at::text "
    "FROM metad_schema_migrations ORDER BY version"};
constexpr Query kRecord{
    "migrate.record",
    "INSERT INTO metad_schema_migrations (version, name, checksum) "
    "VALUES ($1, $2, $3)"};
constexpr Query kForget{
    "migrate.forget", "DELETE FROM metad_schema_migrations WHERE version = $1"};
constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS metad_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
constexpr Query kTableExists{
    "migrate.table_exists",
    "SELECT to_regclass('metad_schema_migrations') IS NOT NULL"};

struct Applied {
  std::string name;
  std::string checksum;
  std::string applied_at;
};

std::string Checksum(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx(conn);
  tx.conn().prepare(kChecksum.name, kChecksum.sql);
  return tx.exec_prepared1(kChecksum.name, sql)[0].as<std::string>();
}

std::map<int, Applied> ReadApplied(pqxx::connection& conn) {
  std::map<int, Applied> applied;
  pqxx::nontransaction tx(conn);
  tx.conn().prepare(kTableExists.name, kTableExists.sql);
  if (!tx.exec_prepared1(kTableExists.name)[0].as<bool>()) return applied;
  tx.conn().prepare(kListApplied.name, kListApplied.sql);
  for (const auto& row : tx.exec_prepared(kListApplied.name)) {
    applied[row[0].as<int>()] = Applied{row[1].as<std::string>(),
                                        row[2].as<std::string>(),
                                        row[3].as<std::string>()};
  }
  return applied;
}

// Holds the migration advisory lock on `conn` for its lifetime.
class MigrationLock {
 public:
  explicit MigrationLock(pqxx::connection& conn) : conn_(conn) {
    pqxx::nontransaction tx(conn_);
    tx.conn().prepare(kLock.name, kLock.sql);
    tx.exec_prepared(kLock.name, kMigrationLockKey);
  }
  ~MigrationLock() {
    try {
      pqxx::nontransaction tx(conn_);
      tx.conn().prepare(kUnlock.name, kUnlock.sql);
      tx.exec_prepared(kUnlock.name, kMigrationLockKey);
    } catch (const std::exception&) {
      // The session ends with the connection, and the lock with it.
    }
  }

 private:
  pqxx::connection& conn_;
};

}  // namespace

absl::StatusOr<std::vector<Migration>> EmbeddedMigrations() {
  std::map<int, Migration> by_version;
  for (const EmbeddedFile& file : EmbeddedMigrationFiles()) {
    std::string name = file.name;  // NNNN_name.up.sql
    size_t underscore = name.find('_');
    int version = 0;
    bool up = absl::EndsWith(name, ".up.sql");
    bool down = absl::EndsWith(name, ".down.sql");
    if (underscore == std::string::npos || (!up && !down) ||
        !absl::SimpleAtoi(name.substr(0, underscore), &version) ||
        version <= 0) {
      return absl::InternalError(
          absl::StrCat("embedded migration file ", name,
                       " is not named NNNN_name.up.sql or .down.sql"));
    }
    Migration& m = by_version[version];
    m.version = version;
    const std::string suffix = up ? ".up.sql" : ".down.sql";
    m.name =
        name.substr(underscore + 1, name.size() - underscore - 1 - suffix.size());
    (up ? m.up_sql : m.down_sql) = file.sql;
  }
  std::vector<Migration> out;
  for (auto& [version, m] : by_version) {
    if (version != static_cast<int>(out.size()) + 1 || m.up_sql.empty() ||
        m.down_sql.empty()) {
      return absl::InternalError(absl::StrCat(
          "embedded migrations are not numbered 1..N with an up and a down "
          "file each (at version ",
          version, ")"));
    }
    out.push_back(std::move(m));
  }
  return out;
}

Migrator::Migrator(std::string url, std::vector<Migration> migrations)
    : url_(std::move(url)), migrations_(std::move(migrations)) {}

int Migrator::latest_version() const {
  return migrations_.empty() ? 0 : migrations_.back().version;
}

absl::StatusOr<std::vector<MigrationState>> Migrator::Status() {
  try {
    pqxx::connection conn(url_);
    std::map<int, Applied> applied = ReadApplied(conn);
    std::vector<MigrationState> out;
    for (const Migration& m : migrations_) {
      MigrationState state;
      state.version = m.version;
      state.name = m.name;
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        state.applied = true;
        state.applied_at = it->second.applied_at;
        state.checksum_matches = it->second.checksum == Checksum(conn, m.up_sql);
        applied.erase(it);
      }
      out.push_back(state);
    }
    for (const auto& [version, a] : applied) {
      MigrationState state;
      state.version = version;
      state.name = a.name;
      state.applied = true;
      state.applied_at = a.applied_at;
      state.known = false;
      state.checksum_matches = false;
      out.push_back(state);
    }
    return out;
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.status");
  }
}

namespace {

// FAILED_PRECONDITION when the database holds a version this binary lacks or
// one whose file changed since it was applied.
absl::Status CheckApplied(pqxx::connection& conn,
                          const std::vector<Migration>& migrations,
                          const std::map<int, Applied>& applied) {
  for (const auto& [version, a] : applied) {
    if (version > static_cast<int>(migrations.size())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema is at version ", applied.rbegin()->first,
          ", newer than this metad knows (", migrations.size(),
          "); run a newer metad"));
    }
    const Migration& m = migrations[version - 1];
    if (a.checksum != Checksum(conn, m.up_sql)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "migration ", version, " (", m.name,
          ") applied to the database differs from this metad's file"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Migrator::Up(int steps) {
  try {
    pqxx::connection conn(url_);
    MigrationLock lock(conn);
    {
      pqxx::nontransaction tx(conn);
      tx.exec(kCreateTable);
    }
    std::map<int, Applied> applied = ReadApplied(conn);
    absl::Status compatible = CheckApplied(conn, migrations_, applied);
    if (!compatible.ok()) return compatible;
    int done = 0;
    for (const Migration& m : migrations_) {
      if (applied.count(m.version) != 0) continue;
      if (steps >= 0 && done >= steps) break;
      std::string checksum = Checksum(conn, m.up_sql);
      pqxx::work tx(conn);
      tx.exec(m.up_sql);
      Exec(tx, kRecord, m.version, m.name, checksum);
      tx.commit();
      ++done;
      log::Info("migration_applied",
                {{"version", m.version}, {"name", m.name}});
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.up");
  }
}

absl::Status Migrator::Down(int steps) {
  try {
    pqxx::connection conn(url_);
    MigrationLock lock(conn);
    std::map<int, Applied> applied = ReadApplied(conn);
    absl::Status compatible = CheckApplied(conn, migrations_, applied);
    if (!compatible.ok()) return compatible;
    for (int i = 0; i < steps && !applied.empty(); ++i) {
      int version = applied.rbegin()->first;
      const Migration& m = migrations_[version - 1];
      pqxx::work tx(conn);
      tx.exec(m.down_sql);
      Exec(tx, kForget, version);
      tx.commit();
      applied.erase(version);
      log::Info("migration_reverted", {{"version", version}, {"name", m.name}});
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.down");
  }
}

absl::Status Migrator::CheckCompatible() {
  try {
    pqxx::connection conn(url_);
    std::map<int, Applied> applied = ReadApplied(conn);
    absl::Status compatible = CheckApplied(conn, migrations_, applied);
    if (!compatible.ok()) return compatible;
    int current = applied.empty() ? 0 : applied.rbegin()->first;
    if (current != latest_version() ||
        static_cast<int>(applied.size()) != current) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema is at version ", current, ", this metad needs ",
          latest_version(), "; run `metad migrate up`"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.check");
  }
}

}  // namespace metad::store
