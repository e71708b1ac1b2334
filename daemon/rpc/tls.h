// TLS (and optionally mutual TLS) server credentials from PEM files. The
// files are watched: renewed certificates are picked up without a restart.
#ifndef METAD_DAEMON_RPC_TLS_H_
#define METAD_DAEMON_RPC_TLS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace metad::daemon {

struct TlsFiles {
  std::string cert;       // server certificate chain (PEM)
  std::string key;        // its private key (PEM)
  std::string client_ca;  // when set: require client certificates it signed
};

// Checks the files are readable PEM, then builds credentials that re-read
// them every `refresh_seconds`. INVALID_ARGUMENT naming the flag otherwise.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsServerCredentials(
    const TlsFiles& files, unsigned refresh_seconds);

// Validates the files as TlsServerCredentials does (used on SIGHUP to report
// a broken renewal early).
absl::Status CheckTlsFiles(const TlsFiles& files);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_TLS_H_
