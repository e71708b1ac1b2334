// The schema in two parts, both embedded into the binary and applied under a
// PostgreSQL advisory lock:
// - migrations: numbered files (migrations/NNNN_name.up.sql and .down.sql)
//   that change tables, indexes, types and triggers, each applied once and
//   recorded with its checksum in metad_schema_migrations;
// - definitions: the server-side functions (migrations/functions/*.sql, only
//   CREATE OR REPLACE), applied as a whole, in name order, whenever their
//   checksums differ from those recorded in metad_schema_definitions. A
//   change to a function is an edit of its file, not a new migration.
// The rollback window: a migration whose up file has the line
// `-- metad: expand-only` among its first comment lines declares that it
// only adds (tables, nullable or defaulted columns, indexes, functions that
// keep the old signatures). A metad that does not know such migrations (the
// one before a rollout) still serves a database that has them, and leaves
// the schema and the functions as they are, so the rollout can be undone.
#ifndef METAD_STORE_MIGRATOR_H_
#define METAD_STORE_MIGRATOR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace metad::store {

struct Migration {
  int version = 0;
  std::string name;
  std::string up_sql;
  std::string down_sql;
};

// One file of migrations/functions/, e.g. {"40_rules.sql", "CREATE OR ..."}.
struct Definition {
  std::string name;
  std::string sql;
};

struct MigrationState {
  int version = 0;
  std::string name;
  bool applied = false;
  std::string applied_at;  // empty when not applied
  // False when the database recorded a different checksum than the file's,
  // or (known == false) when the database has a version this binary lacks.
  bool checksum_matches = true;
  bool known = true;
  // Recorded as `-- metad: expand-only` when applied.
  bool expand_only = false;
};

// Whether a migration's up file declares `-- metad: expand-only` in its
// leading comment lines.
bool DeclaresExpandOnly(const std::string& up_sql);

// The embedded migrations, validated: versions 1..N without gaps, each with
// an up and a down file.
absl::StatusOr<std::vector<Migration>> EmbeddedMigrations();

// The embedded definitions, in the order they are applied.
std::vector<Definition> EmbeddedDefinitions();

class Migrator {
 public:
  // `url` should name a role that may change the schema (the owner).
  Migrator(std::string url, std::vector<Migration> migrations,
           std::vector<Definition> definitions = {});

  // Applies pending migrations in order (all when steps < 0), each in its own
  // transaction, while holding the advisory lock: replicas starting together
  // migrate once. Once the schema is at the latest version, the definitions
  // are applied if they differ from the recorded ones: in the transaction of
  // the last migration (so no call ever sees the new schema without its
  // functions), or in one of their own. A database ahead of this binary by
  // expand-only migrations only is left as it is (the rollback window).
  // FAILED_PRECONDITION if the database has other versions this binary does
  // not know, or ones whose checksums differ; UNAVAILABLE if the database is
  // unreachable.
  absl::Status Up(int steps = -1);

  // Reverts the `steps` latest applied migrations, newest first (refused
  // when the database has versions this binary does not know), and forgets
  // the definitions (a down migration may drop what they replaced), so the
  // next Up applies them again.
  absl::Status Down(int steps = 1);

  // Every known and every applied version, ascending.
  absl::StatusOr<std::vector<MigrationState>> Status();

  // Names of the definitions whose recorded checksum differs from the
  // file's (or that are not recorded), in order; empty when all are current.
  absl::StatusOr<std::vector<std::string>> StaleDefinitions();

  // OK when the database is at exactly this binary's latest version with
  // matching checksums, definitions included, or ahead of it by expand-only
  // migrations only (the rollback window: the newer functions stay);
  // FAILED_PRECONDITION (saying what to do) otherwise.
  absl::Status CheckCompatible();

  int latest_version() const;

 private:
  std::string url_;
  std::vector<Migration> migrations_;
  std::vector<Definition> definitions_;
};

}  // namespace metad::store

#endif  // METAD_STORE_MIGRATOR_H_
