// Schema migrations: numbered SQL files (migrations/NNNN_name.up.sql and
// .down.sql) embedded into the binary, applied under a PostgreSQL advisory
// lock and recorded with their checksums in metad_schema_migrations.
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

struct MigrationState {
  int version = 0;
  std::string name;
  bool applied = false;
  std::string applied_at;  // empty when not applied
  // False when the database recorded a different checksum than the file's,
  // or (known == false) when the database has a version this binary lacks.
  bool checksum_matches = true;
  bool known = true;
};

// The embedded migrations, validated: versions 1..N without gaps, each with
// an up and a down file.
absl::StatusOr<std::vector<Migration>> EmbeddedMigrations();

class Migrator {
 public:
  // `url` should name a role that may change the schema (the owner).
  Migrator(std::string url, std::vector<Migration> migrations);

  // Applies pending migrations in order (all when steps < 0), each in its own
  // transaction, while holding the advisory lock: replicas starting together
  // migrate once. FAILED_PRECONDITION if the database has versions this
  // binary does not know or whose checksums differ; UNAVAILABLE if the
  // database is unreachable.
  absl::Status Up(int steps = -1);

  // Reverts the `steps` latest applied migrations, newest first.
  absl::Status Down(int steps = 1);

  // Every known and every applied version, ascending.
  absl::StatusOr<std::vector<MigrationState>> Status();

  // OK when the database is at exactly this binary's latest version with
  // matching checksums; FAILED_PRECONDITION (saying what to do) otherwise.
  absl::Status CheckCompatible();

  int latest_version() const;

 private:
  std::string url_;
  std::vector<Migration> migrations_;
};

}  // namespace metad::store

#endif  // METAD_STORE_MIGRATOR_H_
