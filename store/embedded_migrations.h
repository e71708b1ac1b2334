// The SQL files of migrations/ and migrations/functions/, compiled into the
// binary by migrations/embed.cmake.
#ifndef METAD_STORE_EMBEDDED_MIGRATIONS_H_
#define METAD_STORE_EMBEDDED_MIGRATIONS_H_

#include <vector>

namespace metad::store {

struct EmbeddedFile {
  const char* name;  // e.g. "0001_init.up.sql"
  const char* sql;
};

// Every embedded file of migrations/, sorted by name.
const std::vector<EmbeddedFile>& EmbeddedMigrationFiles();

// Every embedded file of migrations/functions/, sorted by name.
const std::vector<EmbeddedFile>& EmbeddedDefinitionFiles();

}  // namespace metad::store

#endif  // METAD_STORE_EMBEDDED_MIGRATIONS_H_
