// Tests against a real PostgreSQL: the throwaway cluster started by
// scripts/test.sh, named by METAD_TEST_PG (a libpq key=value string without
// dbname). Each test binary gets its own migrated database; every PgTest
// starts from empty tables.
#ifndef METAD_TESTS_SUPPORT_PG_TEST_BASE_H_
#define METAD_TESTS_SUPPORT_PG_TEST_BASE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/database.h"

namespace metad::testing {

// The admin connection string (dbname=postgres) of the test cluster.
std::string AdminUrl();

// Creates an empty database with a unique name and returns its URL; it is
// dropped when the process exits.
std::string CreateEmptyDatabase(const std::string& label);

// The URL of this process's migrated database (created on first use).
std::string MigratedDatabaseUrl();

// Runs one SQL statement (no parameters) on `url` and returns the first
// column of the first row as text ("" when no rows). For test setup and
// assertions only.
std::string QueryValue(const std::string& url, const std::string& sql);

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // A pool on the migrated database (pool_size 16).
  store::Database* db() { return db_.get(); }
  const std::string& url() const { return url_; }
  // QueryValue on this test's database.
  std::string Sql(const std::string& sql) { return QueryValue(url_, sql); }

 private:
  std::string url_;
  std::unique_ptr<store::Database> db_;
};

}  // namespace metad::testing

#endif  // METAD_TESTS_SUPPORT_PG_TEST_BASE_H_
