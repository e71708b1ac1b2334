// Token authentication with roles. Tokens come from a file, one per line:
//   <role> <token> [name]      role: reader | worker | admin; '#' comments
// A caller sends `authorization: Bearer <token>`. Roles nest (reader <
// worker < admin); each method declares the role it needs in the proto
// (`option (metad.v1.access_role)`, see proto/metad/v1/options.proto).
#ifndef METAD_DAEMON_RPC_AUTH_H_
#define METAD_DAEMON_RPC_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace metad::daemon {

enum class Role { kReader = 0, kWorker = 1, kAdmin = 2 };

// The least role that may call `method` (the RPC's short name, e.g.
// "RegisterFile"), from the proto's options. Unknown methods need admin.
Role RequiredRole(absl::string_view method);

// Equal contents, in time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

class TokenAuthenticator {
 public:
  // Reads the token file (replacing the tokens in use only if it parses).
  // INVALID_ARGUMENT naming `flag` and the line for a malformed file.
  absl::Status Load(const std::string& path,
                    absl::string_view flag = "--token_file");

  // OK, UNAUTHENTICATED (no or unknown token) or PERMISSION_DENIED (the
  // token's role may not call `method`). Never logs the token.
  absl::Status Authorize(const grpc::ServerContextBase& context,
                         absl::string_view method) const;

  // The name of the caller's token (as Authorize matched it); empty for no
  // or an unknown token.
  std::string NameOf(const grpc::ServerContextBase& context) const;

  // The role of the token in an HTTP `Authorization` header's value
  // (`Bearer <token>`), for the status page. UNAUTHENTICATED for no or an
  // unknown token. Never logs the token.
  absl::StatusOr<Role> RoleOfBearer(absl::string_view authorization) const;

  size_t size() const;

 private:
  struct Entry {
    Role role;
    std::string token;
    std::string name;
  };
  // The entry with `token`; null for none.
  static const Entry* Match(const std::vector<Entry>& entries,
                            absl::string_view token);

  mutable absl::Mutex mu_;
  std::shared_ptr<const std::vector<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_AUTH_H_
