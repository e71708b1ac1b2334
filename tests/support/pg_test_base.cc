#include "tests/support/pg_test_base.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/migrator.h"

namespace metad::testing {
namespace {

std::mutex g_mu;
std::vector<std::string>* g_created = new std::vector<std::string>();

void DropCreated() {
  std::lock_guard<std::mutex> lock(g_mu);
  for (const std::string& name : *g_created) {
    try {
      pqxx::connection conn(AdminUrl());
      pqxx::nontransaction tx(conn);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) +
              " WITH (FORCE)");
    } catch (const std::exception&) {
      // The cluster is thrown away at the end anyway.
    }
  }
}

}  // namespace

std::string AdminUrl() {
  const char* base = std::getenv("METAD_TEST_PG");
  if (base == nullptr || *base == '\0') {
    std::fprintf(stderr,
                 "METAD_TEST_PG is not set: run the tests through "
                 "scripts/test.sh, which starts a throwaway PostgreSQL\n");
    std::abort();
  }
  return absl::StrCat(base, " dbname=postgres");
}

std::string CreateEmptyDatabase(const std::string& label) {
  static std::atomic<int> counter{0};
  std::string name = absl::StrCat("t_", label, "_", getpid(), "_", counter++);
  {
    pqxx::connection conn(AdminUrl());
    pqxx::nontransaction tx(conn);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name));
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  }
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_created->empty()) std::atexit(DropCreated);
  g_created->push_back(name);
  return absl::StrCat(std::getenv("METAD_TEST_PG"), " dbname=", name);
}

std::string MigratedDatabaseUrl() {
  static const std::string* url = [] {
    auto* u = new std::string(CreateEmptyDatabase("suite"));
    auto migrations = store::EmbeddedMigrations();
    if (!migrations.ok()) {
      std::fprintf(stderr, "%s\n", migrations.status().ToString().c_str());
      std::abort();
    }
    absl::Status status =
        store::Migrator(*u, *migrations, store::EmbeddedDefinitions()).Up();
    if (!status.ok()) {
      std::fprintf(stderr, "migrate: %s\n", status.ToString().c_str());
      std::abort();
    }
    return u;
  }();
  return *url;
}

std::string QueryValue(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  pqxx::result r = tx.exec(sql);
  tx.commit();
  if (r.empty() || r.columns() == 0 || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

void PgTest::SetUp() {
  url_ = MigratedDatabaseUrl();
  QueryValue(
      url_,
      "TRUNCATE file_events, run_events, files, task_log, metad_reaper_clock, "
      "task_dependencies, tasks, task_events RESTART IDENTITY CASCADE");
  store::DatabaseOptions options;
  options.url = url_;
  options.pool_size = 16;
  db_ = std::make_unique<store::Database>(options);
}

}  // namespace metad::testing
