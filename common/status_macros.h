// Status plumbing used across the project: one definition, used everywhere.
#ifndef METAD_COMMON_STATUS_MACROS_H_
#define METAD_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define METAD_CONCAT_INNER_(a, b) a##b
#define METAD_CONCAT_(a, b) METAD_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status metad_status_ = (expr);         \
    if (!metad_status_.ok()) return metad_status_; \
  } while (0)

// ASSIGN_OR_RETURN(auto x, StatusOrExpr()): binds the value or returns the
// error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(METAD_CONCAT_(metad_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // METAD_COMMON_STATUS_MACROS_H_
