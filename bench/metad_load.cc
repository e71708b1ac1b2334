// metad_load: the load generator of issue 5. Drives a running metad through
// gRPC (callback API, --concurrency operations in flight) in each scenario,
// runs pgbench with the equivalent SQL against the same PostgreSQL at the
// same concurrency, and prints calls/s, rows/s, latency percentiles, errors
// by code, the daemon's peak RSS and metad's figure as a ratio of pgbench's.
// scripts/bench.sh starts PostgreSQL and metad and runs this; see
// docs/benchmarks.md.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/scenarios.h"
#include "bench/scenarios_lineage.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "metad's gRPC address");
ABSL_FLAG(std::string, pg, "",
          "libpq connection string of metad's database, for seeding and "
          "verification (empty: the PG* environment)");
ABSL_FLAG(
    std::string, scenarios,
    "ping,register,register-half,register-batch,run-lifecycle,run-outputs,"
    "claim-complete,ready,list-deep,lineage,label-list",
    "comma-separated scenarios, run in this order");
ABSL_FLAG(int32_t, concurrency, 32, "operations in flight (and pgbench -c)");
ABSL_FLAG(double, duration, 5, "seconds per scenario (and pgbench -T)");
ABSL_FLAG(int64_t, calls, 0, "stop a scenario after this many operations");
ABSL_FLAG(int32_t, repeat, 1, "repetitions; the table shows medians");
ABSL_FLAG(double, deadline, 10, "per-call deadline in seconds (0: none)");
ABSL_FLAG(int32_t, batch_size, 100, "files per RegisterFiles call");
ABSL_FLAG(int32_t, claim_limit, 100, "files per ClaimFiles call");
ABSL_FLAG(bool, claim_with_complete_file, false,
          "claim-complete: CompleteFile each file before FinishRun");
ABSL_FLAG(int64_t, backlog, 100000,
          "claim-complete: NEW files waiting when it starts");
ABSL_FLAG(int32_t, ready_tasks, 10000, "ready: tasks in the graph");
ABSL_FLAG(int32_t, ready_edges, 50000, "ready: edges in the graph");
ABSL_FLAG(int32_t, list_depth, 10000,
          "list-deep: the page (of --list_page files) to time");
ABSL_FLAG(int32_t, list_walk_page, 1000,
          "list-deep: page size used to walk to the deep page");
ABSL_FLAG(int32_t, list_page, 100, "list-deep: page size timed");
ABSL_FLAG(int32_t, lineage_pipelines, 10000,
          "lineage, label-list: pipelines seeded (100 runs, 100 files each)");
ABSL_FLAG(int64_t, fill_files, 0,
          "before the scenarios, grow files to this many rows by SQL");
ABSL_FLAG(int64_t, fill_events, 0,
          "before the scenarios, grow file_events to this many rows by SQL");
ABSL_FLAG(bool, setup_only, false,
          "fill (--fill_*) and seed the lineage/label-list data, measure "
          "nothing (to seed a kept cluster outside a measurement)");
ABSL_FLAG(double, half_rate, 0,
          "register-half: calls/s (0: half of the register run's rate)");
ABSL_FLAG(int64_t, grow_files_to, 0,
          "after the scenarios, grow the files tables to this many rows and "
          "run them all again (0: no second phase)");
ABSL_FLAG(std::string, pgbench, "",
          "pgbench binary for the comparison (empty: no comparison)");
ABSL_FLAG(std::string, pgbench_dir, METAD_BENCH_SQL_DIR,
          "directory of the pgbench scripts");
ABSL_FLAG(int32_t, pgbench_threads, 2, "pgbench -j");
ABSL_FLAG(int32_t, metad_pid, 0, "metad's pid, for its peak RSS (VmHWM)");
ABSL_FLAG(std::string, markdown, "",
          "also write the results as Markdown tables to this file");
ABSL_FLAG(std::string, label, "", "a line printed above the results");
ABSL_FLAG(bool, startup_probe, false,
          "instead of a load: wait until the database answers and then until "
          "metad reports SERVING, and print the time between");
ABSL_FLAG(std::string, startup_file, "",
          "startup_probe appends \"<label> <milliseconds>\" here; a load run "
          "reads the lines back for the summary");
ABSL_FLAG(std::string, startup_label, "start",
          "startup_probe: what this start was (e.g. first, restart)");

namespace metad::bench {
namespace {

using Clock = std::chrono::steady_clock;

// ---- startup probe
// -----------------------------------------------------------

int StartupProbe() {
  const std::string pg = absl::GetFlag(FLAGS_pg);
  // A fresh channel (and subchannel) per attempt: a channel that failed to
  // connect while metad was not listening waits out gRPC's reconnect
  // backoff (1 s, growing) and would report SERVING seconds late.
  auto check = [] {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), args);
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(200));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status s = grpc::health::v1::Health::NewStub(channel)->Check(
        &context, request, &response);
    return s.ok() &&
           response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  };
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = start + std::chrono::seconds(180);
  Clock::time_point db_up{}, serving{};
  bool have_db = false;
  while (Clock::now() < give_up) {
    if (!have_db) {
      try {
        pqxx::connection conn(pg);
        pqxx::nontransaction tx(conn);
        tx.exec("SELECT 1");
        db_up = Clock::now();
        have_db = true;
      } catch (const std::exception&) {
      }
    }
    if (have_db && check()) {
      serving = Clock::now();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (serving == Clock::time_point{}) {
    std::fprintf(stderr, "startup probe: metad never reported SERVING\n");
    return 1;
  }
  double ms =
      std::chrono::duration<double, std::milli>(serving - db_up).count();
  std::printf("startup: metad SERVING %.0f ms after the database answered\n",
              ms);
  if (!absl::GetFlag(FLAGS_startup_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_startup_file), std::ios::app)
        << absl::GetFlag(FLAGS_startup_label) << " " << ms << "\n";
  }
  return 0;
}

// ---- summarizing
// ---------------------------------------------------------------

Figures MedianOf(const std::vector<Figures>& reps) {
  Figures m = reps.back();
  auto med = [&reps](auto get) {
    std::vector<double> v;
    for (const Figures& f : reps) v.push_back(get(f));
    return Median(v);
  };
  m.seconds = med([](const Figures& f) { return f.seconds; });
  m.calls_per_s = med([](const Figures& f) { return f.calls_per_s; });
  m.ops_per_s = med([](const Figures& f) { return f.ops_per_s; });
  m.rows_per_s = med([](const Figures& f) { return f.rows_per_s; });
  m.rate = med([](const Figures& f) { return f.rate; });
  m.metad_unit_per_s = med([](const Figures& f) { return f.metad_unit_per_s; });
  m.pgbench_unit_per_s =
      med([](const Figures& f) { return f.pgbench_unit_per_s; });
  m.latency.p50_ms = med([](const Figures& f) { return f.latency.p50_ms; });
  m.latency.p90_ms = med([](const Figures& f) { return f.latency.p90_ms; });
  m.latency.p99_ms = med([](const Figures& f) { return f.latency.p99_ms; });
  m.latency.max_ms = med([](const Figures& f) { return f.latency.max_ms; });
  m.pgbench_latency.p50_ms =
      med([](const Figures& f) { return f.pgbench_latency.p50_ms; });
  m.pgbench_latency.p99_ms =
      med([](const Figures& f) { return f.pgbench_latency.p99_ms; });
  m.files_before = static_cast<int64_t>(med(
      [](const Figures& f) { return static_cast<double>(f.files_before); }));
  // Peaks and errors: the worst and the total, not a median.
  m.errors.clear();
  m.pgbench_failed = 0;
  m.calls = m.ops = m.rows = 0;
  for (const Figures& f : reps) {
    m.peak_rss_kib = std::max(m.peak_rss_kib, f.peak_rss_kib);
    for (const auto& [k, n] : f.errors) m.errors[k] += n;
    m.pgbench_failed += f.pgbench_failed;
    m.calls += f.calls;
    m.ops += f.ops;
    m.rows += f.rows;
    m.has_pgbench = m.has_pgbench || f.has_pgbench;
  }
  // Per-method latency: medians of each percentile.
  for (Recorder::MethodSummary& method : m.methods) {
    auto pick = [&](auto get) {
      std::vector<double> v;
      for (const Figures& f : reps) {
        for (const auto& fm : f.methods) {
          if (fm.method == method.method) v.push_back(get(fm.ok));
        }
      }
      return Median(v);
    };
    method.ok.p50_ms = pick([](const Percentiles& p) { return p.p50_ms; });
    method.ok.p90_ms = pick([](const Percentiles& p) { return p.p90_ms; });
    method.ok.p99_ms = pick([](const Percentiles& p) { return p.p99_ms; });
    method.ok.max_ms = pick([](const Percentiles& p) { return p.max_ms; });
  }
  return m;
}

std::string ErrorsText(const Figures& f) {
  if (f.errors.empty() && f.pgbench_failed == 0) return "0";
  std::vector<std::string> parts;
  for (const auto& [k, n] : f.errors) parts.push_back(absl::StrCat(k, ": ", n));
  if (f.pgbench_failed > 0) {
    parts.push_back(absl::StrCat("pgbench failed: ", f.pgbench_failed));
  }
  return absl::StrJoin(parts, ", ");
}

// The issue's target for a scenario, and whether `f` meets it.
std::pair<std::string, std::string> Target(const Figures& f,
                                           const Figures* page1,
                                           const Figures* ping) {
  auto yes_no = [](bool ok) { return std::string(ok ? "yes" : "NO"); };
  double ratio =
      f.pgbench_unit_per_s > 0 ? f.metad_unit_per_s / f.pgbench_unit_per_s : 0;
  bool clean = f.errors.empty();
  // Issue 16: against ping (metad's own gRPC ceiling in the same run).
  const double of_ping = ping != nullptr && ping->ops_per_s > 0
                             ? f.ops_per_s / ping->ops_per_s
                             : -1;
  auto vs_ping = [&](double want) {
    return of_ping < 0 ? std::string("?")
                       : absl::StrFormat("%s (%.2fx ping)",
                                         yes_no(of_ping >= want), of_ping);
  };
  if (f.scenario == "register") {
    std::string met = f.has_pgbench ? yes_no(ratio >= 1.0) : "?";
    return {">=1.0x pgbench, >=0.5x ping",
            absl::StrCat(met, ", ", vs_ping(0.5))};
  }
  if (f.scenario == "register-half") {
    return {"p99<=5ms", yes_no(f.latency.p99_ms <= 5.0)};
  }
  if (f.scenario == "register-batch") {
    return {">=0.8x pgbench", f.has_pgbench ? yes_no(ratio >= 0.8) : "?"};
  }
  if (f.scenario == "run-lifecycle") {
    // Runs/s against ping's calls/s: a run is two calls.
    std::string met = f.has_pgbench ? yes_no(ratio >= 1.0) : "?";
    return {">=1.0x pgbench, runs >=0.25x ping",
            absl::StrCat(met, ", ", vs_ping(0.25))};
  }
  if (f.scenario == "claim-complete") {
    return {">=20000/s, none twice",
            yes_no(f.metad_unit_per_s >= 20000 && clean)};
  }
  if (f.scenario == "ready" || f.scenario == "ready-1")
    return {"p99<=10ms", yes_no(f.latency.p99_ms <= 10)};
  if (f.scenario == "lineage-1" || f.scenario == "label-runs-1" ||
      f.scenario == "label-files-1") {
    return {"p99<=20ms", yes_no(f.latency.p99_ms <= 20)};
  }
  if (f.scenario == "list-deep" && page1 != nullptr) {
    return {"p50 as page 1 (<=1.2x)",
            yes_no(f.latency.p50_ms <= 1.2 * page1->latency.p50_ms)};
  }
  return {"-", "-"};
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  std::string Text() const {
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); ++i) {
        width[i] = std::max(width[i], r[i].size());
      }
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& r) {
      for (size_t i = 0; i < r.size(); ++i) {
        absl::StrAppend(&out, i == 0 ? "" : "  ", r[i],
                        std::string(width[i] - r[i].size(), ' '));
      }
      absl::StrAppend(&out, "\n");
    };
    line(header);
    for (const auto& r : rows) line(r);
    return out;
  }

  std::string Markdown() const {
    std::string out = absl::StrCat("| ", absl::StrJoin(header, " | "), " |\n|");
    for (size_t i = 0; i < header.size(); ++i) absl::StrAppend(&out, " --- |");
    absl::StrAppend(&out, "\n");
    for (const auto& r : rows) {
      absl::StrAppend(&out, "| ", absl::StrJoin(r, " | "), " |\n");
    }
    return out;
  }
};

std::string F(double v, int decimals = 0) {
  return absl::StrFormat("%.*f", decimals, v);
}

std::string Ms(double v) { return absl::StrFormat("%.2f", v); }

struct Phase {
  std::string label;
  // scenario name -> repetitions, in first-run order
  std::vector<std::string> order;
  std::map<std::string, std::vector<Figures>> runs;
};

void Report(const std::vector<Phase>& phases, int repeat,
            const std::vector<std::pair<std::string, double>>& startups,
            std::ostream& text, std::ostream* markdown) {
  Table main;
  main.header = {"phase",  "scenario", "conc",    "calls/s",   "ops/s",
                 "rows/s", "p50 ms",   "p90 ms",  "p99 ms",    "max ms",
                 "errors", "RSS MiB",  "pgbench", "pg p99 ms", "metad/pg",
                 "target", "met"};
  Table methods;
  methods.header = {"phase",  "scenario", "method", "calls", "p50 ms",
                    "p90 ms", "p99 ms",   "max ms", "failed"};
  std::vector<std::string> notes;
  double register_rate[2] = {0, 0};
  for (size_t pi = 0; pi < phases.size(); ++pi) {
    const Phase& phase = phases[pi];
    std::map<std::string, Figures> medians;
    for (const std::string& name : phase.order) {
      medians[name] = MedianOf(phase.runs.at(name));
    }
    for (const std::string& name : phase.order) {
      const Figures& m = medians[name];
      const Figures* page1 =
          medians.count("list-page1") ? &medians["list-page1"] : nullptr;
      const Figures* ping = medians.count("ping") ? &medians["ping"] : nullptr;
      auto [target, met] = Target(m, page1, ping);
      std::string conc = m.rate > 0
                             ? absl::StrCat(m.concurrency, "@", F(m.rate))
                             : absl::StrCat(m.concurrency);
      main.rows.push_back(
          {phase.label, name, conc, F(m.calls_per_s), F(m.ops_per_s),
           F(m.rows_per_s), Ms(m.latency.p50_ms), Ms(m.latency.p90_ms),
           Ms(m.latency.p99_ms), Ms(m.latency.max_ms), ErrorsText(m),
           m.peak_rss_kib < 0 ? "?" : F(m.peak_rss_kib / 1024.0, 1),
           m.has_pgbench ? absl::StrCat(F(m.pgbench_unit_per_s), " ", m.unit)
                         : "-",
           m.has_pgbench ? Ms(m.pgbench_latency.p99_ms) : "-",
           m.has_pgbench && m.pgbench_unit_per_s > 0
               ? F(m.metad_unit_per_s / m.pgbench_unit_per_s, 2) + "x"
               : "-",
           target, met});
      for (const auto& method : m.methods) {
        int64_t calls = 0;
        for (const Figures& f : phase.runs.at(name)) {
          for (const auto& fm : f.methods) {
            if (fm.method == method.method) calls += fm.ok.count + fm.failed;
          }
        }
        methods.rows.push_back(
            {phase.label, name, method.method, absl::StrCat(calls),
             Ms(method.ok.p50_ms), Ms(method.ok.p90_ms), Ms(method.ok.p99_ms),
             Ms(method.ok.max_ms), absl::StrCat(method.failed)});
      }
      std::string note = m.note;
      if (name == "list-deep" && page1 != nullptr &&
          page1->latency.p50_ms > 0) {
        note = absl::StrFormat("%s: p50 %.2fx page 1's", note,
                               m.latency.p50_ms / page1->latency.p50_ms);
      }
      if (!note.empty()) {
        notes.push_back(absl::StrCat(
            phase.label, " ", name,
            repeat > 1 && name == "claim-complete" ? " (last run)" : "", ": ",
            note));
      }
      if (m.peak_rss_kib > 64 * 1024) {
        notes.push_back(absl::StrCat(phase.label, " ", name,
                                     ": daemon peak RSS above 64 MiB"));
      }
      if (name == "register" && pi < 2) register_rate[pi] = m.ops_per_s;
    }
  }
  std::string extra;
  if (phases.size() > 1 && register_rate[0] > 0) {
    double kept = register_rate[1] / register_rate[0];
    extra += absl::StrFormat(
        "register with the grown files table: %.2fx of its rate before "
        "(target >= 0.80x: %s)\n",
        kept, kept >= 0.8 ? "yes" : "NO");
  }
  for (const auto& [label, ms] : startups) {
    extra += absl::StrFormat(
        "%s: SERVING %.0f ms after the database answered (target <= 1000 "
        "ms: %s)\n",
        label, ms, ms <= 1000 ? "yes" : "NO");
  }
  std::string heading = absl::StrCat(
      repeat > 1 ? absl::StrCat("medians of ", repeat, " runs; ") : "",
      "ops/s: operations (RegisterFile; RegisterFiles of 100; StartRun+"
      "FinishRun; StartRun+ClaimFiles+FinishRun cycle; GetReadyTasks; "
      "ListFiles); latency per operation; pgbench: the same rows' SQL, same "
      "concurrency\n");
  text << "\n"
       << heading << main.Text() << "\nper method:\n"
       << methods.Text() << "\n";
  for (const std::string& n : notes) text << n << "\n";
  text << extra;
  if (markdown != nullptr) {
    *markdown << heading << "\n"
              << main.Markdown() << "\nPer method:\n\n"
              << methods.Markdown() << "\n";
    for (const std::string& n : notes) *markdown << "- " << n << "\n";
    std::istringstream lines(extra);
    std::string line;
    while (std::getline(lines, line)) *markdown << "- " << line << "\n";
  }
}

void PrintProgress(const Figures& f, int rep) {
  std::printf(
      "  %-15s rep %d: %7.0f calls/s %7.0f ops/s %8.0f rows/s  p50 %6.2f p99 "
      "%7.2f max %7.2f ms  errors %s  rss %s%s\n",
      f.scenario.c_str(), rep, f.calls_per_s, f.ops_per_s, f.rows_per_s,
      f.latency.p50_ms, f.latency.p99_ms, f.latency.max_ms,
      ErrorsText(f).c_str(),
      f.peak_rss_kib < 0
          ? "?"
          : absl::StrFormat("%.1f MiB", f.peak_rss_kib / 1024.0).c_str(),
      f.has_pgbench
          ? absl::StrFormat("  | pgbench %.0f %s p99 %.2f ms -> %.2fx",
                            f.pgbench_unit_per_s, f.unit,
                            f.pgbench_latency.p99_ms,
                            f.pgbench_unit_per_s > 0
                                ? f.metad_unit_per_s / f.pgbench_unit_per_s
                                : 0)
                .c_str()
          : "");
  std::fflush(stdout);
}

// --fill_files/--fill_events, and with --setup_only the seeds of the
// scenarios that have one of their own.
absl::Status Prepare(Env* env, const std::vector<std::string>& scenarios) {
  const int64_t files = absl::GetFlag(FLAGS_fill_files);
  const int64_t events = absl::GetFlag(FLAGS_fill_events);
  if (files > 0 || events > 0) {
    std::printf("filling files to %lld rows, file_events to %lld rows...\n",
                static_cast<long long>(files), static_cast<long long>(events));
    std::fflush(stdout);
    if (absl::Status s = FillHistory(env, files, events); !s.ok()) return s;
  }
  if (!absl::GetFlag(FLAGS_setup_only)) return absl::OkStatus();
  for (const std::string& name : scenarios) {
    if (name == "lineage" || name == "label-list") return SeedPipelines(env);
  }
  return absl::OkStatus();
}

int Main() {
  if (absl::GetFlag(FLAGS_startup_probe)) return StartupProbe();

  Env env;
  Settings& st = env.settings;
  st.concurrency = absl::GetFlag(FLAGS_concurrency);
  st.duration = absl::Seconds(absl::GetFlag(FLAGS_duration));
  st.max_ops = absl::GetFlag(FLAGS_calls);
  st.deadline = absl::Seconds(absl::GetFlag(FLAGS_deadline));
  st.batch_size = absl::GetFlag(FLAGS_batch_size);
  st.claim_limit = absl::GetFlag(FLAGS_claim_limit);
  st.claim_with_complete_file = absl::GetFlag(FLAGS_claim_with_complete_file);
  st.backlog = absl::GetFlag(FLAGS_backlog);
  st.ready_tasks = absl::GetFlag(FLAGS_ready_tasks);
  st.ready_edges = absl::GetFlag(FLAGS_ready_edges);
  st.list_depth_pages = absl::GetFlag(FLAGS_list_depth);
  st.list_walk_page = absl::GetFlag(FLAGS_list_walk_page);
  st.list_page = absl::GetFlag(FLAGS_list_page);
  st.half_rate = absl::GetFlag(FLAGS_half_rate);
  st.lineage_pipelines = absl::GetFlag(FLAGS_lineage_pipelines);
  st.pgbench = absl::GetFlag(FLAGS_pgbench);
  st.pgbench_dir = absl::GetFlag(FLAGS_pgbench_dir);
  st.pgbench_threads = absl::GetFlag(FLAGS_pgbench_threads);
  st.metad_pid = absl::GetFlag(FLAGS_metad_pid);
  env.pg = absl::GetFlag(FLAGS_pg);
  env.tag = absl::StrCat(absl::ToUnixMicros(absl::Now()));

  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_target),
                                     grpc::InsecureChannelCredentials());
  env.files = metad::v1::FileService::NewStub(channel);
  env.tasks = metad::v1::TaskService::NewStub(channel);
  env.runs = metad::v1::TaskLogService::NewStub(channel);
  env.deps = metad::v1::DependencyService::NewStub(channel);
  env.health = grpc::health::v1::Health::NewStub(channel);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::seconds(10))) {
    std::fprintf(stderr, "metad_load: cannot connect to %s\n",
                 absl::GetFlag(FLAGS_target).c_str());
    return 1;
  }
  if (!st.pgbench.empty()) {
    if (absl::Status s = SetUpPgbenchSchema(&env); !s.ok()) {
      std::fprintf(stderr, "metad_load: %s\n",
                   std::string(s.message()).c_str());
      return 1;
    }
  }

  std::vector<std::string> scenarios =
      absl::StrSplit(absl::GetFlag(FLAGS_scenarios), ',', absl::SkipEmpty());
  if (absl::Status s = Prepare(&env, scenarios); !s.ok()) {
    std::fprintf(stderr, "metad_load: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_setup_only)) return 0;
  const int repeat = std::max(1, absl::GetFlag(FLAGS_repeat));
  const int64_t grow = absl::GetFlag(FLAGS_grow_files_to);
  std::vector<Phase> phases;
  phases.push_back(Phase{"start", {}, {}});
  if (grow > 0) {
    phases.push_back(Phase{absl::StrCat(grow / 1000000, "M files"), {}, {}});
  }
  int failures = 0;
  for (size_t pi = 0; pi < phases.size(); ++pi) {
    Phase& phase = phases[pi];
    if (pi == 1) {
      std::printf("growing the files tables to %lld rows...\n",
                  static_cast<long long>(grow));
      std::fflush(stdout);
      if (absl::Status s = GrowFiles(&env, grow); !s.ok()) {
        std::fprintf(stderr, "metad_load: %s\n",
                     std::string(s.message()).c_str());
        return 1;
      }
      env.last_register_rate = 0;
    }
    std::printf("phase %s\n", phase.label.c_str());
    for (int rep = 1; rep <= repeat; ++rep) {
      for (const std::string& scenario : scenarios) {
        std::vector<Figures> figures;
        absl::Status s = RunScenario(&env, scenario, &figures);
        if (!s.ok()) {
          std::fprintf(stderr, "  %s: %s\n", scenario.c_str(),
                       std::string(s.message()).c_str());
          ++failures;
          continue;
        }
        for (Figures& f : figures) {
          PrintProgress(f, rep);
          if (!phase.runs.count(f.scenario)) phase.order.push_back(f.scenario);
          phase.runs[f.scenario].push_back(std::move(f));
        }
      }
    }
  }

  std::vector<std::pair<std::string, double>> startups;
  if (!absl::GetFlag(FLAGS_startup_file).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_startup_file));
    std::string label;
    double ms;
    while (in >> label >> ms) startups.emplace_back(label, ms);
  }
  std::ostringstream text;
  std::unique_ptr<std::ofstream> md;
  if (!absl::GetFlag(FLAGS_markdown).empty()) {
    md = std::make_unique<std::ofstream>(absl::GetFlag(FLAGS_markdown),
                                         std::ios::app);
    if (!absl::GetFlag(FLAGS_label).empty()) {
      *md << absl::GetFlag(FLAGS_label) << "\n\n";
    }
  }
  if (!absl::GetFlag(FLAGS_label).empty()) {
    text << "\n" << absl::GetFlag(FLAGS_label) << "\n";
  }
  Report(phases, repeat, startups, text, md.get());
  std::cout << text.str();
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace metad::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "metad_load --target HOST:PORT [--pg CONNINFO] [--scenarios a,b] "
      "[--concurrency N] [--duration S] [--pgbench PATH] ...\n"
      "Load generator and pgbench comparison for metad (issue 5). Usually "
      "run by scripts/bench.sh.");
  absl::ParseCommandLine(argc, argv);
  return metad::bench::Main();
}
