#include "store/migrator.h"

#include <map>
#include <memory>
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "store/embedded_migrations.h"
#include "store/error_mapping.h"
#include "store/queries/migrate.sql.h"
#include "store/sql.h"

namespace metad::store {
namespace {

// Taken for the whole of Up/Down, session-scoped, so only one process
// changes the schema at a time. The value spells "metad" in ASCII.
constexpr int64_t kMigrationLockKey = 0x6d65746164;

struct Applied {
  std::string name;
  std::string checksum;
  std::string applied_at;
  bool expand_only = false;
};

std::string Checksum(pqxx::transaction_base& tx, const std::string& text) {
  return Exec(tx, sql::kMigrateChecksum, text)
      .at(0)["checksum"]
      .as<std::string>();
}

std::string Checksum(pqxx::connection& conn, const std::string& text) {
  pqxx::nontransaction tx(conn);
  return Checksum(tx, text);
}

std::map<int, Applied> ReadApplied(pqxx::connection& conn) {
  std::map<int, Applied> applied;
  pqxx::nontransaction tx(conn);
  if (!Exec(tx, sql::kMigrateTableExists).at(0)["present"].as<bool>()) {
    return applied;
  }
  for (const auto& row : Exec(tx, sql::kMigrateList)) {
    applied[row["version"].as<int>()] = Applied{
        row["name"].as<std::string>(), row["checksum"].as<std::string>(),
        row["applied_at"].as<std::string>(), row["expand_only"].as<bool>()};
  }
  return applied;
}

bool DefinitionsTableExists(pqxx::transaction_base& tx) {
  return Exec(tx, sql::kMigrateDefinitionsTableExists)
      .at(0)["present"]
      .as<bool>();
}

// name -> checksum of the definitions recorded; empty when none (or no
// table yet).
std::map<std::string, std::string> ReadDefinitions(pqxx::connection& conn) {
  std::map<std::string, std::string> recorded;
  pqxx::nontransaction tx(conn);
  if (DefinitionsTableExists(tx)) {
    for (const auto& row : Exec(tx, sql::kMigrateDefinitions)) {
      recorded[row["name"].as<std::string>()] =
          row["checksum"].as<std::string>();
    }
  }
  return recorded;
}

// Empty when `definitions` is (that migrator does not manage them).
std::vector<std::string> Stale(pqxx::connection& conn,
                               const std::vector<Definition>& definitions) {
  if (definitions.empty()) return {};
  std::map<std::string, std::string> recorded = ReadDefinitions(conn);
  std::vector<std::string> stale;
  for (const Definition& d : definitions) {
    auto it = recorded.find(d.name);
    if (it == recorded.end() || it->second != Checksum(conn, d.sql)) {
      stale.push_back(d.name);
    }
    if (it != recorded.end()) recorded.erase(it);
  }
  // Recorded by another binary but not among ours.
  for (const auto& [name, checksum] : recorded) stale.push_back(name);
  return stale;
}

// Runs every definition file in order and records their checksums, in `tx`.
void ApplyDefinitions(pqxx::work& tx,
                      const std::vector<Definition>& definitions) {
  tx.exec(sql::kMigrateForgetDefinitions.sql);
  for (const Definition& d : definitions) {
    tx.exec(d.sql);
    Exec(tx, sql::kMigrateRecordDefinition, d.name, Checksum(tx, d.sql));
  }
}

// Holds the migration advisory lock on `conn` for its lifetime.
class MigrationLock {
 public:
  explicit MigrationLock(pqxx::connection& conn) : conn_(conn) {
    pqxx::nontransaction tx(conn_);
    Exec(tx, sql::kMigrateLock, kMigrationLockKey);
  }
  ~MigrationLock() {
    try {
      pqxx::nontransaction tx(conn_);
      Exec(tx, sql::kMigrateUnlock, kMigrationLockKey);
    } catch (const std::exception&) {
      // The session ends with the connection, and the lock with it.
    }
  }

 private:
  pqxx::connection& conn_;
};

}  // namespace

bool DeclaresExpandOnly(const std::string& up_sql) {
  for (absl::string_view line : absl::StrSplit(up_sql, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!absl::StartsWith(line, "--")) return false;  // past the header
    if (line == "-- metad: expand-only") return true;
  }
  return false;
}

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
    m.name = name.substr(underscore + 1,
                         name.size() - underscore - 1 - suffix.size());
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

std::vector<Definition> EmbeddedDefinitions() {
  std::vector<Definition> out;
  for (const EmbeddedFile& file : EmbeddedDefinitionFiles()) {
    out.push_back(Definition{file.name, file.sql});
  }
  return out;
}

Migrator::Migrator(std::string url, std::vector<Migration> migrations,
                   std::vector<Definition> definitions)
    : url_(std::move(url)),
      migrations_(std::move(migrations)),
      definitions_(std::move(definitions)) {}

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
        state.checksum_matches =
            it->second.checksum == Checksum(conn, m.up_sql);
        state.expand_only = it->second.expand_only;
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
      state.expand_only = a.expand_only;
      out.push_back(state);
    }
    return out;
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.status");
  }
}

namespace {

// Whether the database is ahead of this binary (true: every version it
// lacks is expand-only, the rollback window). FAILED_PRECONDITION when it
// holds a version this binary lacks that is not expand-only (or any, unless
// `window`), or one whose file changed since it was applied.
absl::StatusOr<bool> CheckApplied(pqxx::connection& conn,
                                  const std::vector<Migration>& migrations,
                                  const std::map<int, Applied>& applied,
                                  bool window) {
  const int known = static_cast<int>(migrations.size());
  bool ahead = false;
  for (const auto& [version, a] : applied) {
    if (version > known) {
      if (!window || !a.expand_only) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the database schema is at version ", applied.rbegin()->first,
            ", newer than this metad knows (", known, "), and migration ",
            version, " (", a.name, ") is ",
            a.expand_only ? "expand-only, but this command must know it"
                          : "not expand-only",
            "; run a newer metad"));
      }
      ahead = true;
      continue;
    }
    const Migration& m = migrations[version - 1];
    if (a.checksum != Checksum(conn, m.up_sql)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "migration ", version, " (", m.name,
          ") applied to the database differs from this metad's file"));
    }
  }
  if (ahead && static_cast<int>(applied.size()) != applied.rbegin()->first) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database schema is ahead of this metad (", known,
        ") but lacks some of the versions this metad knows; run a newer "
        "metad"));
  }
  return ahead;
}

void LogSchemaAhead(const std::map<int, Applied>& applied, int known) {
  log::Warn("schema_ahead",
            {{"database_version", applied.rbegin()->first},
             {"metad_version", known},
             {"detail",
              "serving in the rollback window: the newer migrations are "
              "expand-only; schema and functions left as they are"}});
}

}  // namespace

absl::Status Migrator::Up(int steps) {
  try {
    pqxx::connection conn(url_);
    MigrationLock lock(conn);
    {
      pqxx::nontransaction tx(conn);
      // DDL, sent once per run: a simple query, not a prepared statement.
      tx.exec(sql::kMigrateCreateTable.sql);
      tx.exec(sql::kMigrateAddExpandOnly.sql);
      tx.exec(sql::kMigrateCreateDefinitionsTable.sql);
    }
    std::map<int, Applied> applied = ReadApplied(conn);
    absl::StatusOr<bool> ahead =
        CheckApplied(conn, migrations_, applied, /*window=*/true);
    if (!ahead.ok()) return ahead.status();
    if (*ahead) {
      LogSchemaAhead(applied, latest_version());
      return absl::OkStatus();
    }
    std::vector<const Migration*> pending;
    for (const Migration& m : migrations_) {
      if (applied.count(m.version) != 0) continue;
      if (steps >= 0 && static_cast<int>(pending.size()) >= steps) break;
      pending.push_back(&m);
    }
    const bool reaches_latest =
        applied.size() + pending.size() == migrations_.size();
    const bool apply_definitions =
        reaches_latest && !definitions_.empty() &&
        (!pending.empty() || !Stale(conn, definitions_).empty());
    for (const Migration* m : pending) {
      std::string checksum = Checksum(conn, m->up_sql);
      pqxx::work tx(conn);
      tx.exec(m->up_sql);
      Exec(tx, sql::kMigrateRecord, m->version, m->name, checksum,
           DeclaresExpandOnly(m->up_sql));
      if (m == pending.back() && apply_definitions) {
        ApplyDefinitions(tx, definitions_);
      }
      tx.commit();
      log::Info("migration_applied",
                {{"version", m->version}, {"name", m->name}});
    }
    if (pending.empty() && apply_definitions) {
      pqxx::work tx(conn);
      ApplyDefinitions(tx, definitions_);
      tx.commit();
    }
    if (apply_definitions) {
      log::Info("definitions_applied",
                {{"files", static_cast<int64_t>(definitions_.size())}});
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
    absl::StatusOr<bool> ahead =
        CheckApplied(conn, migrations_, applied, /*window=*/false);
    if (!ahead.ok()) return ahead.status();
    for (int i = 0; i < steps && !applied.empty(); ++i) {
      int version = applied.rbegin()->first;
      const Migration& m = migrations_[version - 1];
      pqxx::work tx(conn);
      tx.exec(m.down_sql);
      Exec(tx, sql::kMigrateForget, version);
      if (DefinitionsTableExists(tx)) {
        tx.exec(sql::kMigrateForgetDefinitions.sql);
      }
      tx.commit();
      applied.erase(version);
      log::Info("migration_reverted", {{"version", version}, {"name", m.name}});
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.down");
  }
}

absl::StatusOr<std::vector<std::string>> Migrator::StaleDefinitions() {
  try {
    pqxx::connection conn(url_);
    return Stale(conn, definitions_);
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.definitions");
  }
}

absl::Status Migrator::CheckCompatible() {
  try {
    pqxx::connection conn(url_);
    std::map<int, Applied> applied = ReadApplied(conn);
    absl::StatusOr<bool> ahead =
        CheckApplied(conn, migrations_, applied, /*window=*/true);
    if (!ahead.ok()) return ahead.status();
    if (*ahead) {
      LogSchemaAhead(applied, latest_version());
      return absl::OkStatus();
    }
    int current = applied.empty() ? 0 : applied.rbegin()->first;
    if (current != latest_version() ||
        static_cast<int>(applied.size()) != current) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema is at version ", current, ", this metad needs ",
          latest_version(), "; run `metad migrate up`"));
    }
    std::vector<std::string> stale = Stale(conn, definitions_);
    if (!stale.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database's server-side functions differ from this metad's (",
          absl::StrJoin(stale, ", "), "); run `metad migrate up`"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "migrate.check");
  }
}

}  // namespace metad::store
