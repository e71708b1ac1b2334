#include "store/error_mapping.h"

#include <pqxx/except>
#include <string>

#include "common/log.h"

namespace metad::store {

FailureKind ClassifyException(const std::exception& e) {
  // statement_completion_unknown is a transaction_rollback too, but the
  // statement may have taken effect: never retry it blindly.
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e)) {
    return FailureKind::kFinal;
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e)) {
    return FailureKind::kRetryable;
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    return FailureKind::kBrokenConnection;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
      sql != nullptr && sql->sqlstate() == "25006") {
    return FailureKind::kReadOnly;
  }
  return FailureKind::kFinal;
}

absl::Status StatusFromException(const std::exception& e, const char* what) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e)) {
    log::Error("tx_in_doubt", {{"tx", what}, {"error", e.what()}});
    return absl::UnavailableError(
        "the database connection broke during commit, so the outcome is "
        "unknown; retry with the same request_id");
  }
  // libpqxx 6.4 throws a connection the server refused for lack of slots
  // (SQLSTATE 53300) from the connection's constructor as a plain
  // broken_connection, so only the server's text tells it apart from an
  // unreachable server. (A server with translated lc_messages falls through
  // to "unreachable": the code, UNAVAILABLE, is the same.)
  const std::string text = e.what();
  if (dynamic_cast<const pqxx::too_many_connections*>(&e) ||
      (dynamic_cast<const pqxx::broken_connection*>(&e) &&
       (text.find("too many clients") != std::string::npos ||
        text.find("remaining connection slots are reserved") !=
            std::string::npos))) {
    log::Warn("db_too_many_connections", {{"tx", what}});
    return absl::UnavailableError(
        "the database refused a connection (too many connections)");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    log::Warn("db_unavailable", {{"tx", what}, {"error", e.what()}});
    return absl::UnavailableError("the database is unreachable");
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e)) {
    return absl::AbortedError(
        "the transaction kept conflicting with concurrent ones; retry");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    if (state == "57014") {
      return absl::DeadlineExceededError(
          "the call's deadline passed while the database was working");
    }
    if (state == "23505") {
      return absl::AlreadyExistsError("the record already exists");
    }
    if (state == "23503") {
      return absl::FailedPreconditionError(
          "a referenced record does not exist or is still referenced");
    }
    if (state == "23514" || state == "23502") {
      return absl::InvalidArgumentError("a value breaks a rule of the schema");
    }
    if (state == "55P03") {
      return absl::AbortedError("a row was locked by a concurrent call");
    }
    if (state.rfind("22", 0) == 0) {
      // Data exceptions: a value the database cannot store (e.g. invalid
      // encoding). The caller's input, not our fault.
      log::Info("db_rejected_value", {{"tx", what}, {"sqlstate", state}});
      return absl::InvalidArgumentError(
          "a value was rejected by the database (invalid text or number)");
    }
    if (state == "53300" || state.rfind("08", 0) == 0 || state == "57P01" ||
        state == "57P02" || state == "57P03") {
      log::Warn("db_unavailable", {{"tx", what}, {"sqlstate", state}});
      return absl::UnavailableError("the database is unavailable");
    }
    if (state == "25006") {
      // read_only_sql_transaction: a standby, a demoted primary, or
      // default_transaction_read_only. Not the caller's fault, and it
      // changes with a failover.
      log::Warn("db_read_only", {{"tx", what}});
      return absl::UnavailableError(
          "the database is read-only (a standby?); retry");
    }
    if (state == "53100" || state == "53200") {
      log::Error("db_out_of_resources", {{"tx", what}, {"sqlstate", state}});
      return absl::ResourceExhaustedError("the database is out of resources");
    }
    log::Error("db_error",
               {{"tx", what}, {"sqlstate", state}, {"error", sql->what()}});
    return absl::InternalError("database error (see the daemon's log)");
  }
  log::Error("tx_exception", {{"tx", what}, {"error", e.what()}});
  return absl::InternalError("internal error (see the daemon's log)");
}

}  // namespace metad::store
