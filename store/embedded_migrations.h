// The SQL files of migrations/, compiled into the binary by
// migrations/embed.cmake.
#ifndef METAD_STORE_EMBEDDED_MIGRATIONS_H_
#define METAD_STORE_EMBEDDED_MIGRATIONS_H_

#include <vector>

namespace metad::store {

struct EmbeddedFile {
  const char* name;  // e.g. "0001_init.up.sql"
  const char* sql;
};

// Every embedded file, sorted by name.
const std::vector<EmbeddedFile>& EmbeddedMigrationFiles();

}  // namespace metad::store

#endif  // METAD_STORE_EMBEDDED_MIGRATIONS_H_
