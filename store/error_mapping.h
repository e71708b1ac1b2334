// Turns libpqxx exceptions into absl::Status. Used only by the transaction
// runner and the migrator: nothing above store/ sees pqxx exceptions.
#ifndef METAD_STORE_ERROR_MAPPING_H_
#define METAD_STORE_ERROR_MAPPING_H_

#include <exception>

#include "absl/status/status.h"

namespace metad::store {

// What kind of failure an exception is, for the retry decision.
enum class FailureKind {
  kRetryable,         // 40001, 40P01: run the transaction again
  kBrokenConnection,  // connection lost before commit: drop it, maybe retry
  kReadOnly,          // 25006, a read-only server: drop it, maybe retry
  kFinal,             // map and return
};

FailureKind ClassifyException(const std::exception& e);

// The status a caller sees for `e`; `what` names the transaction for logs.
// Never puts SQL or the server's message text in the status.
absl::Status StatusFromException(const std::exception& e, const char* what);

}  // namespace metad::store

#endif  // METAD_STORE_ERROR_MAPPING_H_
