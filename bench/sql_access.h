// Direct SQL for the harness's seeding and verification (faster than the
// API for bulk rows; never part of a measured call).
#ifndef METAD_BENCH_SQL_ACCESS_H_
#define METAD_BENCH_SQL_ACCESS_H_

#include <exception>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/scenarios.h"

namespace metad::bench {

// Runs `body(conn)` on a new connection to env->pg; a libpqxx exception
// becomes an error status.
template <typename Body>
absl::Status WithSql(Env* env, Body body) {
  try {
    pqxx::connection conn(env->pg);
    body(conn);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("SQL: ", e.what()));
  }
}

// The first column of the first row as an integer; 0 for none or NULL.
inline int64_t QueryInt(pqxx::connection& conn, const std::string& sql) {
  pqxx::nontransaction tx(conn);
  pqxx::result r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<int64_t>();
}

}  // namespace metad::bench

#endif  // METAD_BENCH_SQL_ACCESS_H_
