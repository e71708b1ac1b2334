#include "bench/scenarios_lineage.h"

#include <algorithm>
#include <cstdio>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/driver.h"
#include "bench/measure.h"
#include "bench/sql_access.h"

namespace metad::bench {
namespace {

namespace v1 = ::metad::v1;

// Pipelines seeded per transaction (100 runs, 100 files, 180 events each).
constexpr int kPipelinesPerChunk = 1000;
// Teams the pipelines are spread over (label and attribute "team").
constexpr int kTeams = 100;
// The level GetLineage starts from: both directions reach 10 steps.
constexpr int kStartLevel = 5;

// Partitions of file_events ahead of its sequence (the daemon's background
// pass does the same): a bulk insert then never lands in the DEFAULT one.
void EnsurePartitions(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  tx.exec("SELECT metad_ensure_event_partitions()");
}

// The data set's source: one per size, so sizes never mix.
std::string PipelineSource(const Settings& s) {
  return absl::StrCat("bench-lineage-", s.lineage_pipelines);
}

std::string FileName(int pipeline, int level, int w) {
  return absl::StrCat("p", pipeline, "-l", level, "-w", w);
}

// Seeds pipelines [first, last] in one transaction.
void SeedChunk(pqxx::connection& conn, const std::string& source, int first,
               int last) {
  pqxx::work tx(conn);
  tx.exec("SET LOCAL synchronous_commit = off");
  tx.exec(
      "CREATE TEMP TABLE IF NOT EXISTS bench_lineage_map (p int, l int, w "
      "int, run_id bigint, file_id bigint) ON COMMIT DELETE ROWS");
  tx.exec_params(
      "INSERT INTO bench_lineage_map"
      " SELECT p, l, w, nextval('task_log_id_seq'), nextval('files_id_seq')"
      " FROM generate_series($1::int, $2::int) p, generate_series(0, 9) l,"
      "      generate_series(0, 9) w",
      first, last);
  tx.exec_params(
      "INSERT INTO task_log (id, task_id, batch_id, status, attempt,"
      " worker_id, lease_seconds, start_time, end_time, labels)"
      " SELECT m.run_id, t.id, $1 || '-p' || m.p || '-w' || m.w, 'SUCCESS',"
      "        1, 'bench', 60, now(), now(),"
      "        jsonb_build_object('pipeline', 'p' || m.p,"
      "                           'team', 't' || (m.p % $2::int),"
      "                           'level', m.l::text,"
      "                           'env', CASE WHEN m.p % 10 = 0 THEN 'prod'"
      "                                  ELSE 'dev' END)"
      " FROM bench_lineage_map m"
      " JOIN tasks t ON t.name = 'bench-lineage-L' || m.l"
      " ORDER BY m.run_id",
      source, kTeams);
  tx.exec_params(
      "INSERT INTO files (id, source, file_name, status, size_bytes,"
      " attributes, producer_run_id)"
      " SELECT m.file_id, $1, 'p' || m.p || '-l' || m.l || '-w' || m.w,"
      "        'SUCCESS', 1024,"
      "        jsonb_build_object('pipeline', 'p' || m.p,"
      "                           'team', 't' || (m.p % $2::int),"
      "                           'level', m.l::text),"
      "        m.run_id"
      " FROM bench_lineage_map m ORDER BY m.file_id",
      source, kTeams);
  tx.exec(
      "INSERT INTO run_outputs (run_id, file_id)"
      " SELECT run_id, file_id FROM bench_lineage_map ORDER BY run_id");
  // Run (p, l, w) claimed files (p, l-1, w) and (p, l-1, w+1 mod 10).
  tx.exec(
      "INSERT INTO file_events (file_id, kind, from_status, to_status,"
      " run_id)"
      " SELECT i.file_id, 'CLAIMED', 'NEW', 'PROCESSING', m.run_id"
      " FROM bench_lineage_map m JOIN bench_lineage_map i"
      "   ON i.p = m.p AND i.l = m.l - 1"
      "  AND (i.w = m.w OR i.w = (m.w + 1) % 10)"
      " WHERE m.l >= 1 ORDER BY m.run_id, i.file_id");
  tx.commit();
}

// The ids of the level-kStartLevel files of the seeded size (GetLineage's
// starts), read once per process.
std::vector<int64_t>& StartFiles() {
  static std::vector<int64_t> ids;
  return ids;
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(
      std::hash<std::thread::id>()(std::this_thread::get_id()));
  return rng;
}

Operation LineageOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    const std::vector<int64_t>& starts = StartFiles();
    v1::GetLineageRequest request;
    request.set_file_id(starts[Rng()() % starts.size()]);
    request.set_direction(v1::LINEAGE_DIRECTION_UNSPECIFIED);  // both
    request.set_max_depth(10);
    Unary<v1::GetLineageRequest, v1::GetLineageResponse>(
        rec, "GetLineage", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->files->async()->GetLineage(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s, v1::GetLineageResponse* r) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            rec->AddRows(r->edges_size());
            if (r->edges_size() == 0) rec->Anomaly("no lineage edges");
            if (!r->next_page_token().empty()) rec->Anomaly("walk paged");
          }
          done(true);
        });
  };
}

// "team=tK,level=L" for a random team that has pipelines and a level.
std::string RandomSelector(const Settings& s) {
  const int teams = std::max(1, std::min(kTeams, s.lineage_pipelines));
  return absl::StrCat("team=t", Rng()() % teams, ",level=", Rng()() % 10);
}

Operation LabelRunsOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    v1::ListRunsRequest request;
    request.set_page_size(100);
    request.set_label_selector(RandomSelector(env->settings));
    Unary<v1::ListRunsRequest, v1::ListRunsResponse>(
        rec, "ListRuns", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->runs->async()->ListRuns(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s, v1::ListRunsResponse* r) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            rec->AddRows(r->runs_size());
            if (r->runs_size() == 0) rec->Anomaly("no run matched");
          }
          done(true);
        });
  };
}

Operation LabelFilesOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    v1::ListFilesRequest request;
    request.set_page_size(100);
    request.set_attribute_selector(RandomSelector(env->settings));
    Unary<v1::ListFilesRequest, v1::ListFilesResponse>(
        rec, "ListFiles", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->files->async()->ListFiles(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s, v1::ListFilesResponse* r) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            rec->AddRows(r->files_size());
            if (r->files_size() == 0) rec->Anomaly("no file matched");
          }
          done(true);
        });
  };
}

// `name`-1 at one caller, then `name` at the configured concurrency, after
// a warm-up that is not counted: 64 calls, 16 at a time, so that every
// connection of metad's pool (8 by default) has planned the statements and
// compiled the functions once, and the one caller's p99 (5 s: a few hundred
// calls, the top 1% a handful) is the steady state, not those first calls.
// Their worst is in the note.
void MeasureOneAndMany(Env* env, const std::string& name,
                       Operation (*make)(Env*, Recorder*),
                       std::vector<Figures>* out) {
  DriveOptions warm;
  warm.concurrency = 16;
  warm.max_ops = 64;
  warm.duration = absl::Seconds(30);
  Recorder warm_rec;
  Figures warm_up =
      Measure(env, name + "-warm", warm, &warm_rec, make(env, &warm_rec));
  DriveOptions one = DriveFor(env->settings);
  one.concurrency = 1;
  Recorder one_rec;
  Figures single =
      Measure(env, name + "-1", one, &one_rec, make(env, &one_rec));
  Recorder rec;
  Figures many =
      Measure(env, name, DriveFor(env->settings), &rec, make(env, &rec));
  for (Figures* f : {&single, &many}) {
    f->unit = "calls/s";
    f->metad_unit_per_s = f->ops_per_s;
    f->note = absl::StrCat(
        env->settings.lineage_pipelines * 100, " runs and files seeded, ",
        f->ops > 0 ? f->rows / f->ops : 0,
        " rows per call; warm-up (64 calls, 16 at a "
        "time, not counted) max ",
        absl::StrFormat("%.1f", warm_up.latency.max_ms), " ms");
  }
  out->push_back(std::move(single));
  out->push_back(std::move(many));
}

}  // namespace

absl::Status SeedPipelines(Env* env) {
  const int pipelines = env->settings.lineage_pipelines;
  const std::string source = PipelineSource(env->settings);
  return WithSql(env, [&](pqxx::connection& conn) {
    {
      pqxx::work tx(conn);
      tx.exec(
          "INSERT INTO tasks (name, description)"
          " SELECT 'bench-lineage-L' || l, 'issue 16 lineage pipelines'"
          " FROM generate_series(0, 9) l ON CONFLICT (name) DO NOTHING");
      tx.commit();
    }
    bool seeded = false;
    for (int first = 0; first < pipelines; first += kPipelinesPerChunk) {
      const int last = std::min(pipelines, first + kPipelinesPerChunk) - 1;
      bool have = false;
      {
        pqxx::nontransaction check(conn);
        have = !check
                    .exec_params(
                        "SELECT 1 FROM files WHERE source = $1"
                        " AND file_name = $2",
                        source, FileName(last, 9, 9))
                    .empty();
      }
      if (have) continue;
      EnsurePartitions(conn);
      SeedChunk(conn, source, first, last);
      seeded = true;
      if (pipelines > kPipelinesPerChunk) {
        std::fprintf(stderr, "  seeded %d/%d pipelines\n", last + 1, pipelines);
      }
    }
    if (seeded) {
      pqxx::nontransaction tx(conn);
      tx.exec("ANALYZE tasks, task_log, files, run_outputs, file_events");
    }
    std::vector<int64_t>& starts = StartFiles();
    if (starts.empty()) {
      pqxx::nontransaction tx(conn);
      for (const auto& row : tx.exec_params(
               "SELECT id FROM files WHERE source = $1 AND file_name LIKE"
               " '%-l' || $2::int || '-%' ORDER BY id",
               source, kStartLevel)) {
        starts.push_back(row[0].as<int64_t>());
      }
    }
  });
}

absl::Status Lineage(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = SeedPipelines(env); !s.ok()) return s;
  if (StartFiles().empty()) {
    return absl::FailedPreconditionError("lineage: no pipeline was seeded");
  }
  MeasureOneAndMany(env, "lineage", LineageOp, out);
  return absl::OkStatus();
}

absl::Status LabelList(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = SeedPipelines(env); !s.ok()) return s;
  MeasureOneAndMany(env, "label-runs", LabelRunsOp, out);
  MeasureOneAndMany(env, "label-files", LabelFilesOp, out);
  return absl::OkStatus();
}

absl::Status FillHistory(Env* env, int64_t files, int64_t events) {
  constexpr int64_t kChunk = 500000;
  return WithSql(env, [&](pqxx::connection& conn) {
    const std::string prefix = absl::StrCat("h-", env->tag, "-");
    int64_t have = QueryInt(conn, "SELECT count(*) FROM files");
    for (int64_t done = 0; have + done < files; done += kChunk) {
      const int64_t n = std::min(kChunk, files - have - done);
      pqxx::work tx(conn);
      tx.exec("SET LOCAL synchronous_commit = off");
      tx.exec_params(
          "INSERT INTO files (source, file_name, status, size_bytes)"
          " SELECT 'bench-history', $1 || g, 'SUCCESS', 1024"
          " FROM generate_series($2::bigint, $3::bigint) g",
          prefix, done + 1, done + n);
      tx.commit();
      std::fprintf(stderr, "  files: %lld/%lld\n",
                   static_cast<long long>(have + done + n),
                   static_cast<long long>(files));
    }
    have = QueryInt(conn, "SELECT count(*) FROM file_events");
    // REGISTERED events of the history files in id order, round after
    // round when there are more events to write than files.
    int64_t after = 0;
    while (have < events) {
      EnsurePartitions(conn);
      pqxx::work tx(conn);
      tx.exec("SET LOCAL synchronous_commit = off");
      pqxx::result r = tx.exec_params(
          "WITH f AS (SELECT id FROM files WHERE id > $1"
          "            AND source = 'bench-history' ORDER BY id LIMIT $2),"
          " e AS (INSERT INTO file_events (file_id, kind, to_status)"
          "       SELECT id, 'REGISTERED', 'NEW' FROM f ORDER BY id)"
          " SELECT count(*), max(id) FROM f",
          after, std::min(kChunk, events - have));
      tx.commit();
      const int64_t n = r[0][0].as<int64_t>();
      if (n == 0) {
        if (after == 0) break;  // no history file to write events of
        after = 0;
        continue;
      }
      after = r[0][1].as<int64_t>();
      have += n;
      std::fprintf(stderr, "  file events: %lld/%lld\n",
                   static_cast<long long>(have),
                   static_cast<long long>(events));
    }
    EnsurePartitions(conn);
    pqxx::nontransaction tx(conn);
    tx.exec("VACUUM ANALYZE files");
    tx.exec("VACUUM ANALYZE file_events");
  });
}

}  // namespace metad::bench
