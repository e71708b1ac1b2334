#include "store/timeline_fence.h"

#include <libpq-fe.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "store/fence_state.h"
#include "store/queries/database.sql.h"
#include "store/sql.h"

namespace metad::store {

ServerIdentity ReadServerIdentity(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  const pqxx::row row = Exec(tx, sql::kDbIdentity)[0];
  ServerIdentity out;
  out.system_id = row["system_id"].as<std::string>();
  out.in_recovery = row["in_recovery"].as<bool>();
  out.timeline = row["timeline"].is_null() ? 0 : row["timeline"].as<int64_t>();
  out.server = absl::StrCat(conn.hostname() == nullptr ? "" : conn.hostname(),
                            ":", conn.port() == nullptr ? "" : conn.port());
  return out;
}

absl::Status TimelineFence::UseStateFile(const std::string& path) {
  absl::StatusOr<FenceState> state = LoadFenceState(path);
  if (!state.ok()) return state.status();
  absl::MutexLock lock(&mu_);
  state_file_ = path;
  if (!state->system_id.empty()) {
    system_id_ = state->system_id;
    timeline_ = state->timeline;
    log::Info(
        "fence_state_loaded",
        {{"file", path}, {"system_id", system_id_}, {"timeline", timeline_}});
  }
  return absl::OkStatus();
}

void TimelineFence::SaveLocked() {
  if (state_file_.empty()) return;
  absl::Status s = SaveFenceState(state_file_, {system_id_, timeline_});
  if (!s.ok()) {
    // The fence in memory still holds; only a restart would forget.
    log::Warn("fence_state_not_saved", {{"error", s.message()}});
  }
}

absl::Status TimelineFence::Admit(const ServerIdentity& server,
                                  const std::vector<ServerIdentity>& peers) {
  if (server.in_recovery) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  const bool first = system_id_.empty();
  const int64_t was = timeline_;
  if (first) system_id_ = server.system_id;
  if (server.system_id != system_id_) {
    ++refused_;
    return absl::UnavailableError(absl::StrCat(
        "the database server is another cluster (system identifier ",
        server.system_id, ", expected ", system_id_,
        "): refused for writes; retry"));
  }
  // The highest timeline known of this system: seen before, or shown now
  // by another host.
  std::string ahead;  // which host showed it, if one did
  for (const ServerIdentity& peer : peers) {
    if (peer.system_id == system_id_ && peer.timeline > timeline_) {
      timeline_ = peer.timeline;
      ahead = absl::StrCat(peer.server, peer.in_recovery ? " (a standby)" : "");
    }
  }
  absl::Status out = absl::OkStatus();
  if (server.timeline < timeline_) {
    ++refused_;
    out = absl::UnavailableError(absl::StrCat(
        "the database server is a primary on timeline ", server.timeline,
        ", behind timeline ", timeline_,
        ahead.empty() ? " already seen" : absl::StrCat(" of ", ahead),
        ": an old primary after a failover, refused; retry"));
  } else {
    timeline_ = server.timeline;
  }
  if (timeline_ != was || first) {
    if (!first) {
      log::Info("database_timeline_advanced",
                {{"from", was}, {"to", timeline_}});
    }
    SaveLocked();
  }
  return out;
}

int64_t TimelineFence::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

namespace {

// A libpq key=value value, quoted.
std::string Quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::vector<std::string> PerHostConnectionStrings(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return {};
  }
  std::vector<std::string> hosts, hostaddrs, ports;
  std::string rest;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    const std::string key = o->keyword;
    if (key == "host") {
      hosts = absl::StrSplit(o->val, ',');
    } else if (key == "hostaddr") {
      hostaddrs = absl::StrSplit(o->val, ',');
    } else if (key == "port") {
      ports = absl::StrSplit(o->val, ',');
    } else {
      absl::StrAppend(&rest, " ", key, "=", Quote(o->val));
    }
  }
  PQconninfoFree(options);
  const size_t n = std::max(hosts.size(), hostaddrs.size());
  if (n <= 1) return {};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string one;
    if (i < hosts.size()) absl::StrAppend(&one, "host=", Quote(hosts[i]));
    if (i < hostaddrs.size()) {
      absl::StrAppend(&one, " hostaddr=", Quote(hostaddrs[i]));
    }
    // One port for every host, or one each.
    if (!ports.empty()) {
      const std::string& port = ports.size() == 1  ? ports[0]
                                : i < ports.size() ? ports[i]
                                                   : ports.back();
      absl::StrAppend(&one, " port=", Quote(port));
    }
    out.push_back(one + rest);
  }
  return out;
}

}  // namespace metad::store
