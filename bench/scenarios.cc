#include "bench/scenarios.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/driver.h"
#include "bench/measure.h"
#include "bench/pgbench_runner.h"
#include "bench/scenarios_lineage.h"
#include "bench/sql_access.h"

namespace metad::bench {
namespace {

namespace v1 = ::metad::v1;

constexpr int64_t kSeedChunk = 250000;

// ---- SQL (seeding and verification: direct, for speed) -------------------

// Inserts `count` files with names `prefix`1..count into `table` (public.files
// or pgb.files) in chunks, without events (seeded history, not registrations).
void InsertFiles(pqxx::connection& conn, const std::string& table,
                 const std::string& source, const std::string& prefix,
                 const std::string& status, int64_t count) {
  for (int64_t done = 0; done < count; done += kSeedChunk) {
    int64_t n = std::min(kSeedChunk, count - done);
    pqxx::work tx(conn);
    tx.exec("SET LOCAL synchronous_commit = off");
    tx.exec_params("INSERT INTO " + table +
                       " (source, file_name, status, size_bytes)"
                       " SELECT $1, $2 || g, $3, 1024"
                       " FROM generate_series($4::bigint, $5::bigint) g",
                   source, prefix, status, done + 1, done + n);
    tx.commit();
    if (count > kSeedChunk) {
      std::fprintf(stderr, "  seeded %lld/%lld rows into %s\n",
                   static_cast<long long>(done + n),
                   static_cast<long long>(count), table.c_str());
    }
  }
}

// Rows allocated in public.files so far (ids are never reused): the table's
// size without a count(*) over millions of rows.
int64_t FilesIds(Env* env) {
  int64_t ids = -1;
  (void)WithSql(env, [&](pqxx::connection& conn) {
    ids = QueryInt(conn,
                   "SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                   "FROM files_id_seq");
  });
  return ids;
}

// ---- RPC helpers -----------------------------------------------------------

absl::Status EnsureTask(Env* env, const std::string& name, int lease_seconds) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::RegisterTaskRequest request;
  request.set_name(name);
  request.set_max_attempts(1);
  request.set_default_lease_seconds(lease_seconds);
  v1::RegisterTaskResponse response;
  grpc::Status s = env->tasks->RegisterTask(&context, request, &response);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("RegisterTask ", name, ": ", s.error_message()));
  }
  return absl::OkStatus();
}

std::string NextName(Env* env, const char* kind) {
  return absl::StrCat(kind, "-", env->tag, "-", env->counter.fetch_add(1));
}

// ---- operations
// --------------------------------------------------------------

// grpc.health.v1.Health/Check: a call that touches no database, so its rate
// is what gRPC, the worker pool and the machine allow any RPC.
Operation PingOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    Unary<grpc::health::v1::HealthCheckRequest,
          grpc::health::v1::HealthCheckResponse>(
        rec, "Health/Check", t0, env->settings.deadline,
        grpc::health::v1::HealthCheckRequest(),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->health->async()->Check(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s,
                        grpc::health::v1::HealthCheckResponse* response) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            if (response->status() !=
                grpc::health::v1::HealthCheckResponse::SERVING) {
              rec->Anomaly("not SERVING");
            }
          }
          done(true);
        });
  };
}

Operation RegisterOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    v1::RegisterFileRequest request;
    v1::FileSpec* file = request.mutable_file();
    file->set_source("bench");
    file->set_file_name(NextName(env, "r"));
    file->set_size_bytes(1024);
    Unary<v1::RegisterFileRequest, v1::RegisterFileResponse>(
        rec, "RegisterFile", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->files->async()->RegisterFile(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s,
                        v1::RegisterFileResponse* response) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            if (response->created()) {
              rec->AddRows(1);
            } else {
              rec->Anomaly("not created (name existed)");
            }
          }
          done(true);
        });
  };
}

Operation RegisterBatchOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    v1::RegisterFilesRequest request;
    const std::string prefix = NextName(env, "rb");
    for (int i = 0; i < env->settings.batch_size; ++i) {
      v1::FileSpec* file = request.add_files();
      file->set_source("bench");
      file->set_file_name(absl::StrCat(prefix, "-", i));
      file->set_size_bytes(1024);
    }
    const int expected = env->settings.batch_size;
    Unary<v1::RegisterFilesRequest, v1::RegisterFilesResponse>(
        rec, "RegisterFiles", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->files->async()->RegisterFiles(c, q, r, std::move(cb));
        },
        [rec, t0, done, expected](const grpc::Status& s,
                                  v1::RegisterFilesResponse* response) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            rec->AddRows(response->created_count());
            if (response->created_count() != expected) {
              rec->Anomaly("batch not all created");
            }
          }
          done(true);
        });
  };
}

// StartRun then FinishRun(SUCCESS), each run in its own batch.
Operation LifecycleOp(Env* env, Recorder* rec) {
  return [env, rec](int slot, Clock::time_point t0, Done done) {
    v1::StartRunRequest request;
    const std::string id = NextName(env, "life");
    request.set_task("bench-lifecycle");
    request.set_batch_id(id);
    request.set_worker_id(absl::StrCat("bench-", slot));
    request.set_lease_seconds(60);
    request.set_request_id(id);
    Unary<v1::StartRunRequest, v1::StartRunResponse>(
        rec, "StartRun", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->runs->async()->StartRun(c, q, r, std::move(cb));
        },
        [env, rec, t0, done](const grpc::Status& s,
                             v1::StartRunResponse* started) {
          if (!s.ok()) {
            done(true);
            return;
          }
          v1::FinishRunRequest finish;
          finish.set_run_id(started->run().id());
          finish.set_status(v1::RUN_STATUS_SUCCESS);
          Unary<v1::FinishRunRequest, v1::FinishRunResponse>(
              rec, "FinishRun", Clock::now(), env->settings.deadline,
              std::move(finish),
              [env](auto* c, auto* q, auto* r, auto cb) {
                env->runs->async()->FinishRun(c, q, r, std::move(cb));
              },
              [rec, t0, done](const grpc::Status& s2, v1::FinishRunResponse*) {
                if (s2.ok()) {
                  rec->OpDone(Clock::now() - t0);
                  rec->AddRows(1);
                }
                done(true);
              });
        });
  };
}

// Files each run of run-outputs records at its FinishRun.
constexpr int kOutputsPerRun = 10;

// StartRun then FinishRun(SUCCESS) with kOutputsPerRun new outputs (the
// FinishRun path with outputs: one transaction of its own, not the group
// commit), each run in its own batch.
Operation OutputsOp(Env* env, Recorder* rec) {
  return [env, rec](int slot, Clock::time_point t0, Done done) {
    v1::StartRunRequest request;
    const std::string id = NextName(env, "outs");
    request.set_task("bench-outputs");
    request.set_batch_id(id);
    request.set_worker_id(absl::StrCat("bench-", slot));
    request.set_lease_seconds(60);
    request.set_request_id(id);
    Unary<v1::StartRunRequest, v1::StartRunResponse>(
        rec, "StartRun", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->runs->async()->StartRun(c, q, r, std::move(cb));
        },
        [env, rec, t0, done, id](const grpc::Status& s,
                                 v1::StartRunResponse* started) {
          if (!s.ok()) {
            done(true);
            return;
          }
          v1::FinishRunRequest finish;
          finish.set_run_id(started->run().id());
          finish.set_status(v1::RUN_STATUS_SUCCESS);
          for (int i = 0; i < kOutputsPerRun; ++i) {
            v1::FileSpec* spec = finish.add_outputs();
            spec->set_source("bench-outputs");
            spec->set_file_name(absl::StrCat(id, "-", i, ".parquet"));
            spec->set_size_bytes(1 << 20);
          }
          Unary<v1::FinishRunRequest, v1::FinishRunResponse>(
              rec, "FinishRun", Clock::now(), env->settings.deadline,
              std::move(finish),
              [env](auto* c, auto* q, auto* r, auto cb) {
                env->runs->async()->FinishRun(c, q, r, std::move(cb));
              },
              [rec, t0, done](const grpc::Status& s2, v1::FinishRunResponse*) {
                if (s2.ok()) {
                  rec->OpDone(Clock::now() - t0);
                  rec->AddRows(kOutputsPerRun);
                }
                done(true);
              });
        });
  };
}

// One worker cycle of claim-complete, in the safe form the worker helpers
// use: StartRun, ClaimFiles(limit) with a request_id, then either
// FinishRun(SUCCESS) naming the files (which completes them) or one
// CompleteFile per file followed by FinishRun. Lives until its last call.
class ClaimCycle {
 public:
  ClaimCycle(Env* env, Recorder* rec, int slot, Clock::time_point t0, Done done)
      : env_(env), rec_(rec), slot_(slot), t0_(t0), done_(std::move(done)) {}

  void Start() {
    v1::StartRunRequest request;
    request.set_task("bench-claim");
    batch_ = NextName(env_, "claim");
    request.set_batch_id(batch_);
    request.set_worker_id(absl::StrCat("bench-", slot_));
    request.set_lease_seconds(300);
    Unary<v1::StartRunRequest, v1::StartRunResponse>(
        rec_, "StartRun", Clock::now(), env_->settings.deadline,
        std::move(request),
        [this](auto* c, auto* q, auto* r, auto cb) {
          env_->runs->async()->StartRun(c, q, r, std::move(cb));
        },
        [this](const grpc::Status& s, v1::StartRunResponse* r) {
          if (!s.ok()) return End(true);
          run_id_ = r->run().id();
          Claim();
        });
  }

 private:
  void Claim() {
    v1::ClaimFilesRequest request;
    request.set_run_id(run_id_);
    request.set_limit(env_->settings.claim_limit);
    request.set_request_id(absl::StrCat(batch_, "/claim"));
    Unary<v1::ClaimFilesRequest, v1::ClaimFilesResponse>(
        rec_, "ClaimFiles", Clock::now(), env_->settings.deadline,
        std::move(request),
        [this](auto* c, auto* q, auto* r, auto cb) {
          env_->files->async()->ClaimFiles(c, q, r, std::move(cb));
        },
        [this](const grpc::Status& s, v1::ClaimFilesResponse* r) {
          if (!s.ok()) return End(true);
          for (const v1::File& f : r->files()) file_ids_.push_back(f.id());
          if (file_ids_.empty()) drained_ = true;
          if (env_->settings.claim_with_complete_file) {
            CompleteNext();
          } else {
            Finish();
          }
        });
  }

  void CompleteNext() {
    if (next_ >= file_ids_.size()) return Finish();
    v1::CompleteFileRequest request;
    request.set_file_id(file_ids_[next_++]);
    request.set_run_id(run_id_);
    request.set_status(v1::FILE_STATUS_SUCCESS);
    Unary<v1::CompleteFileRequest, v1::CompleteFileResponse>(
        rec_, "CompleteFile", Clock::now(), env_->settings.deadline,
        std::move(request),
        [this](auto* c, auto* q, auto* r, auto cb) {
          env_->files->async()->CompleteFile(c, q, r, std::move(cb));
        },
        [this](const grpc::Status& s, v1::CompleteFileResponse*) {
          if (s.ok()) ++completed_;
          CompleteNext();
        });
  }

  void Finish() {
    v1::FinishRunRequest request;
    request.set_run_id(run_id_);
    request.set_status(v1::RUN_STATUS_SUCCESS);
    for (int64_t id : file_ids_) request.add_file_ids(id);
    Unary<v1::FinishRunRequest, v1::FinishRunResponse>(
        rec_, "FinishRun", Clock::now(), env_->settings.deadline,
        std::move(request),
        [this](auto* c, auto* q, auto* r, auto cb) {
          env_->runs->async()->FinishRun(c, q, r, std::move(cb));
        },
        [this](const grpc::Status& s, v1::FinishRunResponse* r) {
          if (s.ok()) {
            int64_t finished = completed_ + r->files_finished();
            if (finished != static_cast<int64_t>(file_ids_.size())) {
              rec_->Anomaly("claimed files not all completed");
            }
            if (!drained_) rec_->OpDone(Clock::now() - t0_);
            rec_->AddRows(finished);
          }
          End(!drained_);
        });
  }

  void End(bool more) {
    Done done = std::move(done_);
    delete this;
    done(more);
  }

  Env* env_;
  Recorder* rec_;
  int slot_;
  Clock::time_point t0_;
  Done done_;
  std::string batch_;
  int64_t run_id_ = 0;
  std::vector<int64_t> file_ids_;
  size_t next_ = 0;
  int64_t completed_ = 0;
  bool drained_ = false;
};

std::string ReadyPrefix(const Settings& s) {
  return absl::StrCat("bench-ready-", s.ready_tasks, "-");
}

Operation ReadyOp(Env* env, Recorder* rec) {
  return [env, rec](int, Clock::time_point t0, Done done) {
    v1::GetReadyTasksRequest request;
    request.set_batch_id(ReadyPrefix(env->settings) + "batch");
    Unary<v1::GetReadyTasksRequest, v1::GetReadyTasksResponse>(
        rec, "GetReadyTasks", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->deps->async()->GetReadyTasks(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s, v1::GetReadyTasksResponse* r) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            rec->AddRows(r->tasks_size());
          }
          done(true);
        });
  };
}

Operation ListOp(Env* env, Recorder* rec, std::string token) {
  return [env, rec, token](int, Clock::time_point t0, Done done) {
    v1::ListFilesRequest request;
    request.set_page_size(env->settings.list_page);
    request.set_page_token(token);
    Unary<v1::ListFilesRequest, v1::ListFilesResponse>(
        rec, "ListFiles", t0, env->settings.deadline, std::move(request),
        [env](auto* c, auto* q, auto* r, auto cb) {
          env->files->async()->ListFiles(c, q, r, std::move(cb));
        },
        [rec, t0, done](const grpc::Status& s, v1::ListFilesResponse* r) {
          if (s.ok()) {
            rec->OpDone(Clock::now() - t0);
            rec->AddRows(r->files_size());
          }
          done(true);
        });
  };
}

// ---- measuring -------------------------------------------------------------

}  // namespace

Figures Measure(Env* env, const std::string& name, const DriveOptions& drive,
                Recorder* rec, const Operation& op) {
  Figures f;
  f.scenario = name;
  f.concurrency = drive.concurrency;
  f.rate = drive.rate;
  f.files_before = FilesIds(env);
  ResetPeakRss(env->settings.metad_pid);
  f.seconds = Drive(drive, op);
  f.peak_rss_kib = PeakRssKib(env->settings.metad_pid);
  f.calls = rec->calls();
  f.ops = rec->ops();
  f.rows = rec->rows();
  if (f.seconds > 0) {
    f.calls_per_s = f.calls / f.seconds;
    f.ops_per_s = f.ops / f.seconds;
    f.rows_per_s = f.rows / f.seconds;
  }
  f.latency = rec->Ops();
  f.methods = rec->Methods();
  f.errors = rec->Errors();
  return f;
}

DriveOptions DriveFor(const Settings& s) {
  DriveOptions d;
  d.concurrency = s.concurrency;
  d.duration = s.duration;
  d.max_ops = s.max_ops;
  return d;
}

namespace {

int PgbenchSeconds(const Settings& s) {
  // pgbench counts its connection time (32 backends: ~1 s on a busy
  // machine) in -T: below 3 s a run may finish no transaction at all.
  return std::max<int>(3, static_cast<int>(absl::ToInt64Seconds(s.duration)));
}

// Runs bench/pgbench/<script> at the same concurrency (and rate) and sets
// the comparison figure to tps * rows_per_transaction.
void CompareWithPgbench(Env* env, const std::string& script,
                        double rows_per_transaction, double rate, Figures* f) {
  if (env->settings.pgbench.empty()) return;
  PgbenchRun run;
  run.pgbench = env->settings.pgbench;
  run.script = absl::StrCat(env->settings.pgbench_dir, "/", script);
  run.clients = env->settings.concurrency;
  run.threads = env->settings.pgbench_threads;
  run.seconds = PgbenchSeconds(env->settings);
  run.rate = rate;
  absl::StatusOr<PgbenchResult> result = RunPgbench(run);
  if (!result.ok()) {
    f->note =
        absl::StrCat(f->note, " pgbench failed: ",
                     std::string(result.status().message()).substr(0, 300));
    return;
  }
  f->has_pgbench = true;
  f->pgbench_unit_per_s = result->tps * rows_per_transaction;
  f->pgbench_latency = result->latency;
  f->pgbench_failed = result->failed;
}

// ---- scenarios
// ---------------------------------------------------------------

absl::Status Ping(Env* env, std::vector<Figures>* out) {
  Recorder rec;
  Figures f =
      Measure(env, "ping", DriveFor(env->settings), &rec, PingOp(env, &rec));
  f.unit = "calls/s";
  f.metad_unit_per_s = f.ops_per_s;
  out->push_back(std::move(f));
  return absl::OkStatus();
}

absl::Status Register(Env* env, std::vector<Figures>* out) {
  Recorder rec;
  Figures f = Measure(env, "register", DriveFor(env->settings), &rec,
                      RegisterOp(env, &rec));
  f.unit = "files/s";
  f.metad_unit_per_s = f.rows_per_s;
  env->last_register_rate = f.ops_per_s;
  CompareWithPgbench(env, "register.sql", 1, 0, &f);
  out->push_back(std::move(f));
  return absl::OkStatus();
}

absl::Status RegisterHalf(Env* env, std::vector<Figures>* out) {
  double rate = env->settings.half_rate > 0 ? env->settings.half_rate
                                            : env->last_register_rate / 2;
  if (rate <= 0) {
    return absl::FailedPreconditionError(
        "register-half needs --half_rate or a register run before it");
  }
  Recorder rec;
  DriveOptions drive = DriveFor(env->settings);
  drive.rate = rate;
  Figures f = Measure(env, "register-half", drive, &rec, RegisterOp(env, &rec));
  f.unit = "files/s";
  f.metad_unit_per_s = f.rows_per_s;
  CompareWithPgbench(env, "register.sql", 1, rate, &f);
  out->push_back(std::move(f));
  return absl::OkStatus();
}

absl::Status RegisterBatch(Env* env, std::vector<Figures>* out) {
  Recorder rec;
  Figures f = Measure(env, "register-batch", DriveFor(env->settings), &rec,
                      RegisterBatchOp(env, &rec));
  f.unit = "files/s";
  f.metad_unit_per_s = f.rows_per_s;
  CompareWithPgbench(env, "register_batch.sql", 100, 0, &f);
  out->push_back(std::move(f));
  return absl::OkStatus();
}

absl::Status RunLifecycle(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = EnsureTask(env, "bench-lifecycle", 60); !s.ok()) {
    return s;
  }
  Recorder rec;
  Figures f = Measure(env, "run-lifecycle", DriveFor(env->settings), &rec,
                      LifecycleOp(env, &rec));
  f.unit = "runs/s";
  f.metad_unit_per_s = f.ops_per_s;
  CompareWithPgbench(env, "run_lifecycle.sql", 1, 0, &f);
  out->push_back(std::move(f));
  return absl::OkStatus();
}

absl::Status RunOutputs(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = EnsureTask(env, "bench-outputs", 60); !s.ok()) {
    return s;
  }
  Recorder rec;
  Figures f = Measure(env, "run-outputs", DriveFor(env->settings), &rec,
                      OutputsOp(env, &rec));
  f.unit = "runs/s";
  f.metad_unit_per_s = f.ops_per_s;
  f.note = absl::StrCat(kOutputsPerRun, " outputs per FinishRun");
  out->push_back(std::move(f));
  return absl::OkStatus();
}

// Makes `table` hold at least `backlog` NEW files and no NEW file outside the
// backlog (files other scenarios registered are marked SUCCESS), so every
// run claims from the same kind of queue.
void PrepareBacklog(pqxx::connection& conn, const std::string& table,
                    const std::string& tag, int64_t backlog) {
  {
    pqxx::work tx(conn);
    tx.exec("UPDATE " + table +
            " SET status = 'SUCCESS' WHERE status = 'NEW'"
            " AND source <> 'bench-backlog'");
    tx.commit();
  }
  int64_t have =
      QueryInt(conn, "SELECT count(*) FROM " + table + " WHERE status = 'NEW'");
  if (have < backlog) {
    InsertFiles(conn, table, "bench-backlog", absl::StrCat("b-", tag, "-"),
                "NEW", backlog - have);
  }
  pqxx::nontransaction tx(conn);
  tx.exec("ANALYZE " + table);
}

absl::Status ClaimComplete(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = EnsureTask(env, "bench-claim", 300); !s.ok()) return s;
  const std::string tag =
      absl::StrCat(env->tag, "-", env->counter.fetch_add(1));
  int64_t first_event = 0;
  absl::Status s = WithSql(env, [&](pqxx::connection& conn) {
    PrepareBacklog(conn, "public.files", tag, env->settings.backlog);
    first_event =
        QueryInt(conn, "SELECT coalesce(max(id), 0) FROM public.file_events");
  });
  if (!s.ok()) return s;

  Recorder rec;
  Operation op = [env, &rec](int slot, Clock::time_point t0, Done done) {
    (new ClaimCycle(env, &rec, slot, t0, std::move(done)))->Start();
  };
  Figures f = Measure(env, "claim-complete", DriveFor(env->settings), &rec, op);
  f.unit = "files/s";
  f.metad_unit_per_s = f.rows_per_s;

  // Not one file completed twice, and every completion the client counted
  // is in the audit trail.
  s = WithSql(env, [&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    pqxx::result r = tx.exec_params(
        "SELECT count(*) FILTER (WHERE n > 1), count(*), coalesce(sum(n), 0)"
        " FROM (SELECT file_id, count(*) AS n FROM public.file_events"
        "       WHERE id > $1 AND kind IN ('FINISHED', 'COMPLETED')"
        "       GROUP BY file_id) x",
        first_event);
    pqxx::result claimed_twice = tx.exec_params(
        "SELECT count(*) FROM (SELECT file_id FROM public.file_events"
        " WHERE id > $1 AND kind = 'CLAIMED' GROUP BY file_id"
        " HAVING count(*) > 1) x",
        first_event);
    int64_t twice = r[0][0].as<int64_t>();
    int64_t files = r[0][1].as<int64_t>();
    f.note = absl::StrCat("verified by SQL: ", files, " files completed, ",
                          twice, " completed twice, ",
                          claimed_twice[0][0].as<int64_t>(), " claimed twice");
    if (twice > 0) f.errors["FILE COMPLETED TWICE"] = twice;
    if (files != f.rows) {
      f.errors["client/audit mismatch"] = std::abs(files - f.rows);
    }
  });
  if (!s.ok()) return s;

  if (!env->settings.pgbench.empty()) {
    int64_t pg_first_event = 0;
    s = WithSql(env, [&](pqxx::connection& conn) {
      PrepareBacklog(conn, "pgb.files", tag, env->settings.backlog);
      pg_first_event =
          QueryInt(conn, "SELECT coalesce(max(id), 0) FROM pgb.file_events");
    });
    if (!s.ok()) return s;
    CompareWithPgbench(env, "claim_complete.sql", 0, 0, &f);
    // Files per second from the audit rows pgbench wrote: the backlog may
    // run dry before pgbench's time is up.
    s = WithSql(env, [&](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      pqxx::result r = tx.exec_params(
          "SELECT count(*) FILTER (WHERE kind = 'FINISHED'),"
          " extract(epoch FROM max(event_time) - min(event_time))"
          " FROM pgb.file_events WHERE id > $1",
          pg_first_event);
      double files = r[0][0].as<double>();
      double span = r[0][1].is_null() ? 0 : r[0][1].as<double>();
      double seconds = files < static_cast<double>(env->settings.backlog)
                           ? PgbenchSeconds(env->settings)
                           : std::max(span, 0.001);
      f.pgbench_unit_per_s = files / seconds;
    });
    if (!s.ok()) return s;
  }
  out->push_back(std::move(f));
  return absl::OkStatus();
}

// A DAG of ready_tasks tasks and ready_edges edges (parent index < child
// index, fixed seed), and a batch in which the first half of the tasks (in
// index order, so consistent with the edges) have SUCCESS runs.
absl::Status SeedReadyGraph(Env* env) {
  const Settings& st = env->settings;
  const std::string prefix = ReadyPrefix(st);
  return WithSql(env, [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO tasks (name, description)"
        " SELECT $1 || lpad(g::text, 6, '0'), 'issue 5 ready graph'"
        " FROM generate_series(0, $2::integer - 1) g"
        " ON CONFLICT (name) DO NOTHING",
        prefix, st.ready_tasks);
    std::vector<int64_t> ids;
    for (const auto& row : tx.exec_params(
             "SELECT id FROM tasks WHERE name LIKE $1 || '%' ORDER BY name",
             prefix)) {
      ids.push_back(row[0].as<int64_t>());
    }
    pqxx::result have = tx.exec_params(
        "SELECT count(*) FROM task_dependencies d JOIN tasks c"
        " ON c.id = d.child_id WHERE c.name LIKE $1 || '%'",
        prefix);
    if (have[0][0].as<int64_t>() < st.ready_edges && ids.size() > 1) {
      std::mt19937_64 rng(20240501);
      std::set<std::pair<int, int>> chosen;
      const int n = static_cast<int>(ids.size());
      const int64_t max_edges = static_cast<int64_t>(n) * (n - 1) / 2;
      while (static_cast<int64_t>(chosen.size()) <
             std::min<int64_t>(st.ready_edges, max_edges)) {
        int child = 1 + static_cast<int>(rng() % (n - 1));
        int parent = static_cast<int>(rng() % child);
        chosen.insert({parent, child});
      }
      std::string parents = "{", children = "{";
      bool first = true;
      for (const auto& [p, c] : chosen) {
        if (!first) {
          parents += ",";
          children += ",";
        }
        first = false;
        parents += std::to_string(ids[p]);
        children += std::to_string(ids[c]);
      }
      parents += "}";
      children += "}";
      tx.exec_params(
          "INSERT INTO task_dependencies (parent_id, child_id)"
          " SELECT * FROM unnest($1::bigint[], $2::bigint[])"
          " ON CONFLICT DO NOTHING",
          parents, children);
    }
    std::string done = "{";
    for (size_t i = 0; i < ids.size() / 2; ++i) {
      if (i > 0) done += ",";
      done += std::to_string(ids[i]);
    }
    done += "}";
    tx.exec_params(
        "INSERT INTO task_log (task_id, batch_id, status, attempt,"
        " lease_seconds, end_time)"
        " SELECT unnest($1::bigint[]), $2, 'SUCCESS', 1, 60, now()"
        " ON CONFLICT DO NOTHING",
        done, prefix + "batch");
    tx.commit();
    pqxx::nontransaction analyze(conn);
    analyze.exec("ANALYZE tasks, task_dependencies, task_log");
  });
}

absl::Status Ready(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = SeedReadyGraph(env); !s.ok()) return s;
  // The first call after the graph changed (here: was seeded) reads the
  // graph; it is timed alone, and the steady state measured after it: one
  // caller (a scheduler polling), then the configured concurrency.
  Recorder first_rec;
  DriveOptions once;
  once.concurrency = 1;
  once.max_ops = 1;
  once.duration = absl::Seconds(60);
  Figures first =
      Measure(env, "ready-first", once, &first_rec, ReadyOp(env, &first_rec));
  DriveOptions one = DriveFor(env->settings);
  one.concurrency = 1;
  Recorder one_rec;
  Figures single =
      Measure(env, "ready-1", one, &one_rec, ReadyOp(env, &one_rec));
  Recorder rec;
  Figures f =
      Measure(env, "ready", DriveFor(env->settings), &rec, ReadyOp(env, &rec));
  for (Figures* x : {&single, &f}) {
    x->unit = "calls/s";
    x->metad_unit_per_s = x->ops_per_s;
  }
  f.note = absl::StrCat(
      env->settings.ready_tasks, " tasks, ", env->settings.ready_edges,
      " edges, ", f.ops > 0 ? f.rows / f.ops : 0,
      " ready per call; first call of this run ",
      absl::StrFormat("%.1f", first.latency.max_ms),
      " ms (it reads the graph if it changed since the daemon last did)");
  out->push_back(std::move(single));
  out->push_back(std::move(f));
  return absl::OkStatus();
}

// Walks ListFiles with page_size list_walk_page to the row where page
// `list_depth_pages` of size list_page starts, and keeps that token (the
// token does not depend on page_size).
absl::Status FindDeepToken(Env* env) {
  const Settings& st = env->settings;
  const int64_t target_rows =
      static_cast<int64_t>(st.list_depth_pages - 1) * st.list_page;
  if (!env->deep_token.empty() && env->deep_token_rows == target_rows) {
    return absl::OkStatus();
  }
  absl::Status s = WithSql(env, [&](pqxx::connection& conn) {
    int64_t have = QueryInt(conn, "SELECT count(*) FROM public.files");
    int64_t need = target_rows + 10 * st.list_page;
    if (have < need) {
      InsertFiles(conn, "public.files", "bench-list",
                  absl::StrCat("l-", env->tag, "-"), "SUCCESS", need - have);
    }
  });
  if (!s.ok()) return s;
  std::string token;
  int64_t rows = 0;
  while (rows < target_rows) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    v1::ListFilesRequest request;
    request.set_page_size(static_cast<int>(
        std::min<int64_t>(st.list_walk_page, target_rows - rows)));
    request.set_page_token(token);
    v1::ListFilesResponse response;
    grpc::Status gs = env->files->ListFiles(&context, request, &response);
    if (!gs.ok()) {
      return absl::UnavailableError(
          absl::StrCat("ListFiles walk: ", gs.error_message()));
    }
    rows += response.files_size();
    token = response.next_page_token();
    if (token.empty()) break;
  }
  env->deep_token = token;
  env->deep_token_rows = target_rows;
  return absl::OkStatus();
}

absl::Status ListDeep(Env* env, std::vector<Figures>* out) {
  if (absl::Status s = FindDeepToken(env); !s.ok()) return s;
  Recorder first_rec;
  Figures first = Measure(env, "list-page1", DriveFor(env->settings),
                          &first_rec, ListOp(env, &first_rec, ""));
  first.unit = "calls/s";
  first.metad_unit_per_s = first.ops_per_s;
  Recorder deep_rec;
  Figures deep = Measure(env, "list-deep", DriveFor(env->settings), &deep_rec,
                         ListOp(env, &deep_rec, env->deep_token));
  deep.unit = "calls/s";
  deep.metad_unit_per_s = deep.ops_per_s;
  deep.note = absl::StrCat("page ", env->settings.list_depth_pages,
                           " (page_size ", env->settings.list_page, ")");
  out->push_back(std::move(first));
  out->push_back(std::move(deep));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunScenario(Env* env, const std::string& scenario,
                         std::vector<Figures>* out) {
  if (scenario == "ping") return Ping(env, out);
  if (scenario == "register") return Register(env, out);
  if (scenario == "register-half") return RegisterHalf(env, out);
  if (scenario == "register-batch") return RegisterBatch(env, out);
  if (scenario == "run-lifecycle") return RunLifecycle(env, out);
  if (scenario == "run-outputs") return RunOutputs(env, out);
  if (scenario == "claim-complete") return ClaimComplete(env, out);
  if (scenario == "ready") return Ready(env, out);
  if (scenario == "list-deep") return ListDeep(env, out);
  if (scenario == "lineage") return Lineage(env, out);
  if (scenario == "label-list") return LabelList(env, out);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scenario \"", scenario, "\""));
}

absl::Status SetUpPgbenchSchema(Env* env) {
  std::ifstream in(env->settings.pgbench_dir + "/setup.sql");
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(env->settings.pgbench_dir, "/setup.sql not found"));
  }
  std::stringstream sql;
  sql << in.rdbuf();
  return WithSql(env, [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec(sql.str());
    tx.commit();
  });
}

absl::Status GrowFiles(Env* env, int64_t rows) {
  std::vector<std::string> tables = {"public.files"};
  if (!env->settings.pgbench.empty()) tables.push_back("pgb.files");
  for (const std::string& table : tables) {
    absl::Status s = WithSql(env, [&](pqxx::connection& conn) {
      int64_t have = QueryInt(conn, "SELECT count(*) FROM " + table);
      if (have < rows) {
        InsertFiles(conn, table, "bench-history",
                    absl::StrCat("h-", env->tag, "-"), "SUCCESS", rows - have);
      }
      pqxx::nontransaction tx(conn);
      tx.exec("VACUUM ANALYZE " + table);
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

int64_t PeakRssKib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmHWM:")) {
      std::istringstream fields(line.substr(6));
      int64_t kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

void ResetPeakRss(int pid) {
  if (pid <= 0) return;
  std::ofstream out(absl::StrCat("/proc/", pid, "/clear_refs"));
  out << "5";
}

}  // namespace metad::bench
