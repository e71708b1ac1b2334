// Named SQL statements and the one way the stores run them.
//
// Every statement lives in store/queries/<area>.sql under a
// `-- name: <area>.<what>` line, and reaches C++ as a `Query` constant
// generated at build time (store/queries/generate_headers.cmake):
// `#include "store/queries/file.sql.h"` gives sql::kFileGetById for
// file.get_by_id. It runs as a prepared statement by name: never assembled
// from pieces, never with values spliced into the text.
//
// Rows are read by column name, never by position: `row["status"]`. The
// readers of the row kinds that hot paths return by the page (files, file
// and run events, runs, tasks) look their columns up by name once per
// result instead, into a struct of `result.column_number("...")` (e.g.
// FileColumns in store/file_store.cc): libpq's PQfnumber compares a name
// with every column's, and reading a file's 12 columns by name cost ~1 us a
// row against 0.2 us by position (measured).
#ifndef METAD_STORE_SQL_H_
#define METAD_STORE_SQL_H_

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <utility>

namespace metad::store {

// A named statement. The name, "<area>.<what>" (e.g. "file.get_by_id"), is
// unique in the process: it names the prepared statement.
struct Query {
  const char* name;
  const char* sql;
};

// The transaction type every store function receives (READ COMMITTED).
using Tx = pqxx::work;

// What Database::Autocommit lends: a connection outside any explicit
// transaction, where one statement is its own transaction.
using AutoTx = pqxx::nontransaction;

// Runs `query` as a prepared statement on the transaction's connection.
// libpqxx 6 prepares lazily on first use per connection and re-prepares after
// a reconnect; re-declaring an identical definition is a map lookup.
template <typename... Args>
pqxx::result Exec(pqxx::transaction_base& tx, const Query& query,
                  Args&&... args) {
  tx.conn().prepare(query.name, query.sql);
  return tx.exec_prepared(query.name, std::forward<Args>(args)...);
}

// Runs `query` as an unnamed statement, planned for this call's values: for
// the few statements whose generic plan (which PostgreSQL may keep for a
// prepared statement after five executions, made from the table's size
// then) turns into a scan of the whole table once it has grown. A parse and
// a plan per call; values still travel as parameters.
template <typename... Args>
pqxx::result ExecCustomPlan(pqxx::transaction_base& tx, const Query& query,
                            Args&&... args) {
  return tx.exec_params(query.sql, std::forward<Args>(args)...);
}

// Encodes strings as a PostgreSQL text[] literal for `$n::text[]` (libpqxx
// 6.4 has no container-to-array conversion). Values are quoted and escaped,
// so any UTF-8 string round-trips.
template <typename Container>
std::string TextArrayLiteral(const Container& values) {
  std::string out = "{";
  bool first = true;
  for (const auto& v : values) {
    if (!first) out += ',';
    first = false;
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// Encodes integers as a PostgreSQL bigint[] literal for `$n::bigint[]`.
template <typename Container>
std::string IntArrayLiteral(const Container& values) {
  std::string out = "{";
  bool first = true;
  for (const auto& v : values) {
    if (!first) out += ',';
    first = false;
    out += std::to_string(static_cast<int64_t>(v));
  }
  out += '}';
  return out;
}

}  // namespace metad::store

#endif  // METAD_STORE_SQL_H_
