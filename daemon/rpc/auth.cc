#include "daemon/rpc/auth.h"

#include <fstream>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/rpc/method_options.h"
#include "metad/v1/options.pb.h"

namespace metad::daemon {
namespace {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWorker:
      return "worker";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

}  // namespace

Role RequiredRole(absl::string_view method) {
  // Built once from the proto's own options (metad/v1/options.proto): the
  // role a method declares, else reader for a method without side effects.
  static const auto* const roles = [] {
    auto* map = new absl::flat_hash_map<std::string, Role>();
    for (const google::protobuf::MethodDescriptor* m : MetadMethods()) {
      Role role = Role::kAdmin;
      switch (m->options().GetExtension(v1::access_role)) {
        case v1::ACCESS_ROLE_READER:
          role = Role::kReader;
          break;
        case v1::ACCESS_ROLE_WORKER:
          role = Role::kWorker;
          break;
        case v1::ACCESS_ROLE_ADMIN:
          role = Role::kAdmin;
          break;
        default:
          role = m->options().idempotency_level() ==
                         google::protobuf::MethodOptions::NO_SIDE_EFFECTS
                     ? Role::kReader
                     : Role::kAdmin;
      }
      map->emplace(m->name(), role);
    }
    return map;
  }();
  auto it = roles->find(method);
  return it == roles->end() ? Role::kAdmin : it->second;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

absl::Status TokenAuthenticator::Load(const std::string& path,
                                      absl::string_view flag) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", path));
  }
  auto entries = std::make_shared<std::vector<Entry>>();
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> parts =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Entry entry;
    if (parts.size() < 2 || parts.size() > 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": line ", number, ": expected `<role> <token> [name]`"));
    }
    if (parts[0] == "reader") {
      entry.role = Role::kReader;
    } else if (parts[0] == "worker") {
      entry.role = Role::kWorker;
    } else if (parts[0] == "admin") {
      entry.role = Role::kAdmin;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": line ", number, ": role must be reader, worker or admin"));
    }
    if (parts[1].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": line ", number, ": tokens must have 16+ characters"));
    }
    entry.token = parts[1];
    entry.name = parts.size() == 3 ? parts[2] : absl::StrCat("line", number);
    entries->push_back(std::move(entry));
  }
  absl::MutexLock lock(&mu_);
  entries_ = std::move(entries);
  return absl::OkStatus();
}

size_t TokenAuthenticator::size() const {
  absl::MutexLock lock(&mu_);
  return entries_ == nullptr ? 0 : entries_->size();
}

namespace {

// The token of an authorization value `Bearer <token>`; nullopt without one.
std::optional<absl::string_view> BearerOf(absl::string_view header) {
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(header, kBearer)) return std::nullopt;
  return header.substr(kBearer.size());
}

// The token of `authorization: Bearer <token>`; nullopt without one.
std::optional<absl::string_view> BearerToken(
    const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return BearerOf(absl::string_view(it->second.data(), it->second.size()));
}

}  // namespace

const TokenAuthenticator::Entry* TokenAuthenticator::Match(
    const std::vector<Entry>& entries, absl::string_view token) {
  // Compare against every entry, without stopping early.
  const Entry* match = nullptr;
  for (const Entry& entry : entries) {
    if (ConstantTimeEquals(entry.token, token) && match == nullptr) {
      match = &entry;
    }
  }
  return match;
}

absl::StatusOr<Role> TokenAuthenticator::RoleOfBearer(
    absl::string_view authorization) const {
  std::shared_ptr<const std::vector<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries = entries_;
  }
  std::optional<absl::string_view> token = BearerOf(authorization);
  if (!token.has_value()) {
    return absl::UnauthenticatedError(
        "missing credentials: send `Authorization: Bearer <token>`");
  }
  const Entry* match = entries == nullptr ? nullptr : Match(*entries, *token);
  if (match == nullptr) return absl::UnauthenticatedError("unknown token");
  return match->role;
}

std::string TokenAuthenticator::NameOf(
    const grpc::ServerContextBase& context) const {
  std::shared_ptr<const std::vector<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries = entries_;
  }
  std::optional<absl::string_view> token = BearerToken(context);
  if (entries == nullptr || !token.has_value()) return "";
  const Entry* match = Match(*entries, *token);
  return match == nullptr ? "" : match->name;
}

absl::Status TokenAuthenticator::Authorize(
    const grpc::ServerContextBase& context, absl::string_view method) const {
  std::shared_ptr<const std::vector<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries = entries_;
  }
  std::optional<absl::string_view> token = BearerToken(context);
  if (!token.has_value()) {
    return absl::UnauthenticatedError(
        "missing credentials: send `authorization: Bearer <token>`");
  }
  const Entry* match = entries == nullptr ? nullptr : Match(*entries, *token);
  if (match == nullptr) return absl::UnauthenticatedError("unknown token");
  Role needed = RequiredRole(method);
  if (static_cast<int>(match->role) < static_cast<int>(needed)) {
    return absl::PermissionDeniedError(
        absl::StrCat(method, " needs the ", RoleName(needed), " role; ",
                     match->name, " has ", RoleName(match->role)));
  }
  return absl::OkStatus();
}

}  // namespace metad::daemon
