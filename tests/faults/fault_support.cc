#include "tests/faults/fault_support.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/support/daemon_process.h"

extern char** environ;

namespace metad::testing {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

std::string WorkBase() {
  const char* dir = std::getenv("METAD_FAULTS_WORKDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

std::string MakeTempDir(const std::string& label) {
  std::string templ = absl::StrCat(WorkBase(), "/", label, "-XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    return "";
  }
  chmod(buf.data(), 0755);
  return buf.data();
}

// Runs argv to completion (at most 120 s) with its output appended to `log`;
// the exit status (as from waitpid), or -1 if it could not start or finish.
int RunCommand(const std::vector<std::string>& argv, const std::string& log) {
  ChildProcess child;
  if (!child.Spawn(argv, log)) return -1;
  int status = child.Wait(120);
  if (status == -1) child.Kill(SIGKILL);
  return status;
}

bool IsRoot() { return geteuid() == 0; }

// As root, commands on the cluster run as its owner, the postgres user.
std::vector<std::string> AsOwner(std::vector<std::string> argv) {
  if (!IsRoot()) return argv;
  std::vector<std::string> out = {"runuser", "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

bool LongMode() {
  const char* v = std::getenv("METAD_FAULTS_LONG");
  return v != nullptr && std::string(v) == "1";
}

double MonoSeconds() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<grpc::ClientContext> Ctx(double seconds) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() +
                  std::chrono::microseconds(int64_t(seconds * 1e6)));
  return c;
}

// ---- PgCluster -------------------------------------------------------------

PgCluster::~PgCluster() {
  if (running_) Stop("immediate");
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

bool PgCluster::PgCtl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {absl::StrCat(kPgBin, "/pg_ctl"), "-D",
                                   dir_ + "/data"};
  argv.insert(argv.end(), args.begin(), args.end());
  int status = RunCommand(AsOwner(argv), dir_ + "/pg_ctl.log");
  return status == 0;
}

bool PgCluster::MakeDir() {
  dir_ = MakeTempDir("metad-faults-pg");
  if (dir_.empty()) return false;
  if (IsRoot()) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      std::fprintf(stderr, "PgCluster: no postgres user to own the cluster\n");
      return false;
    }
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      std::perror("chown");
      return false;
    }
  }
  return true;
}

bool PgCluster::Create(const std::vector<std::string>& settings) {
  if (!MakeDir()) return false;
  int status = RunCommand(
      AsOwner({absl::StrCat(kPgBin, "/initdb"), "-D", dir_ + "/data", "-U",
               "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"}),
      dir_ + "/initdb.log");
  if (status != 0) {
    std::fprintf(stderr, "PgCluster: initdb failed, see %s/initdb.log\n",
                 dir_.c_str());
    return false;
  }
  port_ = FreePort();
  // fsync off: the suites crash PostgreSQL, never the machine, so what was
  // written to the kernel survives. synchronous_commit stays on: with it off
  // an immediate stop loses commits already acknowledged (the long run of
  // faults_database_restart_pgtest showed 9 such registrations missing).
  options_ = absl::StrCat("-c listen_addresses=127.0.0.1 -c port=", port_,
                          " -c unix_socket_directories=", dir_,
                          " -c fsync=off -c full_page_writes=off");
  for (const std::string& s : settings) absl::StrAppend(&options_, " -c ", s);
  return Start();
}

bool PgCluster::CreateStandby(const PgCluster& primary, const std::string& name,
                              const std::vector<std::string>& settings) {
  if (!MakeDir()) return false;
  name_ = name;
  port_ = FreePort();
  options_ = absl::StrCat("-c listen_addresses=127.0.0.1 -c port=", port_,
                          " -c unix_socket_directories=", dir_,
                          " -c fsync=off -c full_page_writes=off");
  for (const std::string& s : settings) absl::StrAppend(&options_, " -c ", s);
  return BaseBackup(primary) && Start();
}

bool PgCluster::RebuildAsStandby(const PgCluster& primary) {
  if (running_ && !Stop("immediate")) return false;
  return BaseBackup(primary) && Start();
}

std::string PgCluster::ConnInfo() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres");
}

bool PgCluster::BaseBackup(const PgCluster& primary) {
  std::error_code ignored;
  std::filesystem::remove_all(dir_ + "/data", ignored);
  // -R writes standby.signal and a primary_conninfo; the line appended
  // after it names this standby (a later line wins).
  int status = RunCommand(
      AsOwner({absl::StrCat(kPgBin, "/pg_basebackup"), "-d", primary.ConnInfo(),
               "-D", dir_ + "/data", "-X", "stream", "-R", "-c", "fast"}),
      dir_ + "/basebackup.log");
  if (status != 0) {
    std::fprintf(stderr, "PgCluster: pg_basebackup failed, see %s\n",
                 (dir_ + "/basebackup.log").c_str());
    return false;
  }
  std::ofstream conf(dir_ + "/data/postgresql.auto.conf", std::ios::app);
  conf << "primary_conninfo = '" << primary.ConnInfo()
       << " application_name=" << name_ << "'\n";
  return conf.good();
}

bool PgCluster::Promote() { return PgCtl({"-w", "-t", "60", "promote"}); }

bool PgCluster::Follow(const PgCluster& primary) {
  try {
    QueryRows(
        Url("postgres"),
        absl::StrCat("ALTER SYSTEM SET primary_conninfo = '",
                     primary.ConnInfo(), " application_name=", name_, "'"));
    QueryRows(Url("postgres"), "SELECT pg_reload_conf()");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "PgCluster: follow failed: %s\n", e.what());
    return false;
  }
  return true;
}

bool PgCluster::Kill9() {
  running_ = false;
  if (!KillPostgres(dir_ + "/data")) return false;
  // A machine that restarts has no process of that pid; here the killed
  // postmaster may stay a zombie (a container's PID 1 may not reap it),
  // which PostgreSQL would take for a live postmaster on the next start:
  // both of its lock files go (the data directory's and the socket's).
  std::error_code ignored;
  std::filesystem::remove(dir_ + "/data/postmaster.pid", ignored);
  const std::string socket = absl::StrCat(dir_, "/.s.PGSQL.", port_);
  std::filesystem::remove(socket + ".lock", ignored);
  std::filesystem::remove(socket, ignored);
  return true;
}

bool PgCluster::Start() {
  running_ = PgCtl(
      {"-l", dir_ + "/server.log", "-w", "-t", "60", "-o", options_, "start"});
  if (!running_) {
    // The directory goes with the cluster: its reason goes to stderr.
    for (const char* name : {"/pg_ctl.log", "/server.log"}) {
      std::ifstream log(dir_ + name);
      std::vector<std::string> lines;
      for (std::string line; std::getline(log, line);) lines.push_back(line);
      const size_t from = lines.size() > 10 ? lines.size() - 10 : 0;
      std::fprintf(stderr, "PgCluster: start failed; %s%s ends:\n",
                   dir_.c_str(), name);
      for (size_t i = from; i < lines.size(); ++i) {
        std::fprintf(stderr, "  %s\n", lines[i].c_str());
      }
    }
  }
  return running_;
}

bool PgCluster::Stop(const std::string& mode) {
  bool ok = PgCtl({"-m", mode, "-w", "-t", "60", "stop"});
  if (ok) running_ = false;
  return ok;
}

std::string PgCluster::Url(const std::string& dbname) const {
  return absl::StrCat("host=127.0.0.1 port=", port_,
                      " user=postgres dbname=", dbname);
}

bool KillPostgres(const std::string& data_dir) {
  std::ifstream pidfile(data_dir + "/postmaster.pid");
  pid_t postmaster = 0;
  if (!(pidfile >> postmaster) || postmaster <= 0) return false;
  // The postmaster's children, found before it dies (they would be
  // reparented), then all killed together.
  std::vector<pid_t> pids = {postmaster};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    std::string state;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == postmaster) {
      pids.push_back(std::stoi(name));
    }
  }
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (int i = 0; i < 600; ++i) {
    bool alive = false;
    for (pid_t pid : pids) {
      std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
      std::string pid_field, comm, state;
      // Zombies of the killed postmaster are reaped by init.
      if (stat >> pid_field >> comm >> state && state != "Z") alive = true;
    }
    if (!alive) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// ---- SQL -------------------------------------------------------------------

void CreateDatabase(const std::string& admin_url, const std::string& name) {
  pqxx::connection conn(admin_url);
  pqxx::nontransaction tx(conn);
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
}

Rows QueryRows(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  pqxx::result r = tx.exec(sql);
  Rows rows;
  rows.reserve(r.size());
  for (const pqxx::row& row : r) {
    std::vector<std::string> out;
    out.reserve(row.size());
    for (const pqxx::field& f : row)
      out.push_back(f.is_null() ? "" : f.c_str());
    rows.push_back(std::move(out));
  }
  return rows;
}

int64_t QueryInt(const std::string& url, const std::string& sql) {
  Rows rows = QueryRows(url, sql);
  if (rows.empty() || rows[0].empty() || rows[0][0].empty()) return 0;
  return std::stoll(rows[0][0]);
}

// ---- ChildProcess ----------------------------------------------------------

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) {
  other.pid_ = -1;
}

bool ChildProcess::Spawn(const std::vector<std::string>& argv_in,
                         const std::string& log_path,
                         const std::vector<int>& blocked_signals) {
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (!blocked_signals.empty()) {
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    for (int number : blocked_signals) sigaddset(&mask, number);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  }
  // spawnp: commands such as runuser are found on PATH.
  int rc = posix_spawnp(&pid_, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) pid_ = -1;
  return rc == 0;
}

void ChildProcess::Kill(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int ChildProcess::Wait(double timeout_seconds) {
  double give_up = MonoSeconds() + timeout_seconds;
  while (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    if (MonoSeconds() > give_up) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string SelfDir() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string path(self, n > 0 ? n : 0);
  return path.substr(0, path.rfind('/'));
}

std::string ScratchDir(const std::string& label) {
  return MakeTempDir(absl::StrCat("metad-faults-", label));
}

bool WaitNoProcessingRuns(const std::string& url, double timeout_seconds) {
  const double give_up = MonoSeconds() + timeout_seconds;
  for (;;) {
    if (QueryInt(url,
                 "SELECT count(*) FROM task_log "
                 "WHERE status = 'PROCESSING'") == 0) {
      return true;
    }
    if (MonoSeconds() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// ---- audit trail checks ----------------------------------------------------

HistoryReport CheckFileHistories(const std::string& url) {
  HistoryReport report;
  auto violation = [&report](const std::string& what) {
    ++report.violation_count;
    if (report.violations.size() < 20) report.violations.push_back(what);
  };
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  report.files = tx.exec("SELECT count(*) FROM files")[0][0].as<int64_t>();
  int64_t silent =
      tx.exec(
            "SELECT count(*) FROM files f WHERE NOT EXISTS "
            "(SELECT 1 FROM file_events e WHERE e.file_id = f.id)")[0][0]
          .as<int64_t>();
  if (silent > 0) violation(absl::StrCat(silent, " files have no events"));
  pqxx::result r = tx.exec(
      "SELECT e.file_id, e.kind, coalesce(e.from_status, ''), e.to_status, "
      "coalesce(e.run_id, 0), f.status, coalesce(f.run_id, 0) "
      "FROM file_events e JOIN files f ON f.id = e.file_id "
      "ORDER BY e.file_id, e.id");
  report.events = r.size();
  size_t i = 0;
  while (i < r.size()) {
    const int64_t file = r[i][0].as<int64_t>();
    const std::string final_status = r[i][5].c_str();
    const int64_t final_run = r[i][6].as<int64_t>();
    std::string state;  // "" before REGISTERED
    int64_t holder = 0, last_claimer = 0;
    int successes = 0;
    for (; i < r.size() && r[i][0].as<int64_t>() == file; ++i) {
      const std::string kind = r[i][1].c_str();
      const std::string from = r[i][2].c_str();
      const std::string to = r[i][3].c_str();
      const int64_t run = r[i][4].as<int64_t>();
      auto bad = [&](const std::string& why) {
        violation(absl::StrCat("file ", file, ": ", kind, " ", from, "->", to,
                               " run ", run, ": ", why));
      };
      if (from != state) bad(absl::StrCat("previous state was '", state, "'"));
      if (kind == "REGISTERED") {
        if (!state.empty() || to != "NEW") bad("registered twice or not NEW");
      } else if (kind == "CLAIMED") {
        ++report.claims;
        if (from != "NEW" || to != "PROCESSING" || run == 0) bad("bad claim");
        if (holder != 0) bad(absl::StrCat("still held by run ", holder));
        holder = last_claimer = run;
      } else if (kind == "COMPLETED" || kind == "FINISHED") {
        if (from != "PROCESSING" || (to != "SUCCESS" && to != "ERROR")) {
          bad("bad outcome");
        }
        if (run != holder) bad(absl::StrCat("held by run ", holder));
        holder = 0;
        if (to == "SUCCESS") ++successes;
      } else if (kind == "RELEASED") {
        ++report.releases;
        if (from != "PROCESSING" || to != "NEW") bad("bad release");
        if (run != holder) bad(absl::StrCat("held by run ", holder));
        holder = 0;
      } else if (kind == "RESET") {
        if (from != "ERROR" || to != "NEW") bad("bad reset");
      } else {
        bad("unknown kind");
      }
      state = to;
    }
    if (state != final_status) {
      violation(absl::StrCat("file ", file, ": status ", final_status,
                             " but its events end in ", state));
    }
    if ((final_status == "PROCESSING" || final_status == "SUCCESS") &&
        final_run != last_claimer) {
      violation(absl::StrCat("file ", file, ": run_id ", final_run,
                             " but last claimed by run ", last_claimer));
    }
    if (final_status == "NEW" && final_run != 0) {
      violation(absl::StrCat("file ", file, ": NEW but run_id ", final_run));
    }
    if (successes == 1) ++report.succeeded_once;
    if (successes > 1) ++report.succeeded_twice;
  }
  return report;
}

RunReport CheckRunHistories(const std::string& url) {
  RunReport report;
  auto violation = [&report](const std::string& what) {
    ++report.violation_count;
    if (report.violations.size() < 20) report.violations.push_back(what);
  };
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  pqxx::result r = tx.exec(
      "SELECT r.id, r.status, r.error_message, coalesce(e.kind, ''), "
      "coalesce(e.from_status, ''), coalesce(e.to_status, '') "
      "FROM task_log r LEFT JOIN run_events e ON e.run_id = r.id "
      "ORDER BY r.id, e.id");
  size_t i = 0;
  while (i < r.size()) {
    const int64_t run = r[i][0].as<int64_t>();
    const std::string status = r[i][1].c_str();
    const std::string message = r[i][2].c_str();
    ++report.runs;
    int started = 0, endings = 0, expired = 0;
    std::string state, first_kind = r[i][3].c_str();
    for (; i < r.size() && r[i][0].as<int64_t>() == run; ++i) {
      const std::string kind = r[i][3].c_str();
      const std::string from = r[i][4].c_str();
      const std::string to = r[i][5].c_str();
      if (kind == "STARTED") {
        ++started;
      } else if (kind == "FINISHED" || kind == "EXPIRED") {
        ++endings;
        if (kind == "EXPIRED") ++expired;
        if (from != "PROCESSING") {
          violation(absl::StrCat("run ", run, ": ", kind, " from ", from));
        }
      } else {
        violation(absl::StrCat("run ", run, ": unknown event '", kind, "'"));
      }
      state = to;
    }
    if (first_kind != "STARTED" || started != 1) {
      violation(absl::StrCat("run ", run, ": ", started,
                             " STARTED events, first is '", first_kind, "'"));
    }
    if (endings > 1) {
      violation(absl::StrCat("run ", run, ": ended ", endings, " times"));
    }
    if (expired > 1) ++report.expired_twice;
    if (state != status) {
      violation(absl::StrCat("run ", run, ": status ", status,
                             " but events end in ", state));
    }
    if (status == "PROCESSING") ++report.processing;
    if (expired == 1) {
      ++report.expired;
      if (status != "ERROR" ||
          message.find("lease expired") == std::string::npos) {
        violation(absl::StrCat("run ", run, ": expired but ", status, " '",
                               message, "'"));
      }
    } else if (endings == 1) {
      ++report.finished;
    }
  }
  return report;
}

ExpiryReport MeasureExpiryDelays(
    const std::string& url,
    const std::vector<std::pair<int64_t, int64_t>>& down_windows) {
  ExpiryReport report;
  // heartbeat_time is set only by a successful Heartbeat, which (with
  // lease_seconds 0, as the load generators send) extends the lease by the
  // run's lease_seconds from then.
  Rows rows = QueryRows(url,
                        "SELECT r.id, metad_us(e.event_time), "
                        "metad_us(coalesce(r.heartbeat_time, r.start_time) "
                        "         + r.lease_seconds * interval '1 second') "
                        "FROM task_log r JOIN run_events e ON e.run_id = r.id "
                        "WHERE e.kind = 'EXPIRED'");
  double total = 0;
  for (const auto& row : rows) {
    int64_t ended = std::stoll(row[1]);
    int64_t lapsed = std::stoll(row[2]);
    int64_t from = lapsed;
    // No daemon was up to notice: count from when one was serving again.
    for (const auto& [down, up] : down_windows) {
      if (up > lapsed && up <= ended) from = std::max(from, up);
    }
    double delay = (ended - from) / 1e6;
    report.max_delay_seconds = std::max(report.max_delay_seconds, delay);
    total += delay;
    ++report.expired_runs;
  }
  if (report.expired_runs > 0) {
    report.mean_delay_seconds = total / report.expired_runs;
  }
  return report;
}

// ---- figures ---------------------------------------------------------------

Figures::Figures(std::string scenario) : scenario_(std::move(scenario)) {}

Figures& Figures::Add(const std::string& key, int64_t value) {
  fields_.emplace_back(key, std::to_string(value));
  return *this;
}

Figures& Figures::Add(const std::string& key, double value) {
  fields_.emplace_back(key, absl::StrFormat("%.3f", value));
  return *this;
}

Figures& Figures::Add(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, JsonString(value));
  return *this;
}

Figures& Figures::AddAudit(const HistoryReport& files, const RunReport& runs,
                           const ExpiryReport& expiry) {
  return Add("files", files.files)
      .Add("claims", files.claims)
      .Add("files_released", files.releases)
      .Add("files_succeeded_once", files.succeeded_once)
      .Add("files_succeeded_twice", files.succeeded_twice)
      .Add("file_events_checked", files.events)
      .Add("history_violations", files.violation_count + runs.violation_count)
      .Add("runs", runs.runs)
      .Add("runs_expired", runs.expired)
      .Add("runs_expired_twice", runs.expired_twice)
      .Add("expiry_max_delay_s", expiry.max_delay_seconds)
      .Add("expiry_mean_delay_s", expiry.mean_delay_seconds);
}

Figures& Figures::AddOkLog(const OkLogReport& ok) {
  return Add("ok_calls_checked", ok.calls)
      .Add("ok_entries_checked", ok.entries)
      .Add("ok_entries_missing", ok.missing);
}

void Figures::Emit() {
  std::string line =
      absl::StrCat("{\"scenario\":", JsonString(scenario_), ",\"mode\":\"",
                   LongMode() ? "long" : "short", "\"");
  for (const auto& [key, json] : fields_) {
    absl::StrAppend(&line, ",", JsonString(key), ":", json);
  }
  line += "}";
  std::printf("FAULTS %s\n", line.c_str());
  std::fflush(stdout);
  if (const char* path = std::getenv("METAD_FAULTS_REPORT"); path && *path) {
    std::ofstream out(path, std::ios::app);
    out << line << "\n";
  }
}

// ---- CallTally -------------------------------------------------------------

void CallTally::Record(grpc::StatusCode code, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& entry = by_code_[static_cast<int>(code)];
  ++entry.first;
  entry.second = std::max(entry.second, seconds);
}

int64_t CallTally::count(grpc::StatusCode code) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_code_.find(static_cast<int>(code));
  return it == by_code_.end() ? 0 : it->second.first;
}

int64_t CallTally::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [code, entry] : by_code_) n += entry.first;
  return n;
}

double CallTally::max_seconds(grpc::StatusCode code) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_code_.find(static_cast<int>(code));
  return it == by_code_.end() ? 0 : it->second.second;
}

std::string CallTally::Summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> parts;
  for (const auto& [code, entry] : by_code_) {
    parts.push_back(absl::StrFormat(
        "%s=%d(max %.3fs)", CodeName(static_cast<grpc::StatusCode>(code)),
        entry.first, entry.second));
  }
  return absl::StrJoin(parts, " ");
}

std::string CodeName(grpc::StatusCode code) {
  // gRPC's codes are the canonical codes, number for number.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace metad::testing
