#!/usr/bin/env bash
# The benchmark of issue 5 (docs/benchmarks.md): installs what is missing,
# builds metad and bench/metad_load in Release, starts a private PostgreSQL
# with durable settings (initdb's defaults: fsync=on, synchronous_commit=on,
# full_page_writes=on) under a temporary directory, starts metad on it, runs
# every scenario and its pgbench twin, prints a table and stops everything.
# Never part of scripts/test.sh: benchmarks print figures, tests assert.
#
#   scripts/bench.sh            quick: 5 s per scenario, backlog 100k, 1 run
#   scripts/bench.sh --full     the issue's sizes: 20 s per scenario, backlog
#                               1,000,000, page 10,000, 3 runs (medians),
#                               then again with 10,000,000 files stored
#   scripts/bench.sh --smoke    1 s per scenario, tiny sizes: proves the
#                               harness works (CI may call it)
# Options: --duration S, --repeat N, --concurrency N, --pool N (metad
# --pool_size), --scenarios a,b, --markdown FILE (append the tables),
# --no-build (use the binaries already built), --keep DIR (put the cluster
# in DIR and keep it: a later run with the same DIR measures the data an
# earlier one filled, e.g. with `-- --setup_only --fill_files N`), --nice N (run PostgreSQL,
# metad, metad_load and pgbench at niceness N, e.g. -10 on a machine busy
# with other work; negative values need root), and
# after `--`, extra metad_load flags. METAD_BENCH_BUILD_DIR picks the build
# directory (default build-release); METAD_BENCH_SETUP_SQL names a SQL file
# run once after the migrations (e.g. bench/unpartitioned_history.sql);
# METAD_BENCH_PG_SETTINGS adds PostgreSQL settings (name=value, spaces
# between), e.g. shared_preload_libraries=pg_stat_statements to profile.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=quick duration= repeat= concurrency=32 pool= scenarios= markdown= build_it=1 nice= keep=
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --full) mode=full ;;
    --smoke) mode=smoke ;;
    --quick) mode=quick ;;
    --duration) duration=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --concurrency) concurrency=$2; shift ;;
    --pool) pool=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --markdown) markdown=$2; shift ;;
    --no-build) build_it= ;;
    --keep) keep=$2; shift ;;
    --nice) nice=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

case $mode in
  smoke) sizes=(--duration 1 --repeat 1 --backlog 2000 --ready_tasks 200
                --ready_edges 1000 --list_depth 20 --list_walk_page 500
                --lineage_pipelines 20) ;;
  quick) sizes=(--duration 5 --repeat 1 --backlog 100000 --list_depth 1000) ;;
  full) sizes=(--duration 20 --repeat 3 --backlog 1000000 --list_depth 10000
               --grow_files_to 10000000) ;;
esac
[ -n "$duration" ] && sizes+=(--duration "$duration")
[ -n "$repeat" ] && sizes+=(--repeat "$repeat")
[ -n "$scenarios" ] && sizes+=(--scenarios "$scenarios")
[ -n "$markdown" ] && sizes+=(--markdown "$(realpath -m "$markdown")")

install_packages g++ cmake ninja-build pkg-config libgrpc++-dev \
  protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libpqxx-dev \
  prometheus-cpp-dev grpc-proto golang-github-gogo-googleapis-dev \
  postgresql-15 postgresql-contrib postgresql-client-15

build=${METAD_BENCH_BUILD_DIR:-$METAD_ROOT/build-release}
if [ -n "$build_it" ]; then
  say "building metad and metad_load (Release) in $build"
  cmake -S "$METAD_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMETAD_BUILD_TESTS=OFF -DMETAD_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j "${METAD_JOBS:-2}" --target metad metad_load
fi
[ -x "$build/metad" ] && [ -x "$build/bench/metad_load" ] ||
  die "no metad or bench/metad_load in $build (run without --no-build)"

if [ -n "$keep" ]; then
  mkdir -p "$keep"
  work=$(realpath "$keep")
  rm -f "$work/startup" "$work/metad.log"
else
  work=$(mktemp -d /tmp/metad-bench.XXXXXX)
fi
chmod 755 "$work"
metad_pid=
cleanup() {
  if [ -n "$metad_pid" ]; then
    kill -TERM "$metad_pid" 2>/dev/null || true
    wait "$metad_pid" 2>/dev/null || true
  fi
  pg_stop "$work/pgdata"
  [ -n "$keep" ] || rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port for metad.
port=50151
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

# Create the cluster and the database, then stop it: metad starts first and
# waits, so the probe times SERVING from the moment the database answers.
# Twice: the first start applies the migrations to the empty database; the
# restart (metad and PostgreSQL both restarted) finds the schema current.
# A kept cluster that exists already is only restarted.
if [ ! -d "$work/pgdata" ]; then
  pg_start "$work/pgdata" "$work/sock" ${METAD_BENCH_PG_SETTINGS:-}
  pg_as_owner "$PG_BIN/createdb" -h "$work/sock" -U postgres metad
  pg_stop "$work/pgdata"
fi
export PGHOST=$work/sock PGPORT=5432 PGUSER=postgres PGDATABASE=metad
conninfo="host=$work/sock port=5432 user=postgres dbname=metad"

run_nice=()
[ -n "$nice" ] && run_nice=(nice -n "$nice")
# The cluster's processes (postmaster, its helpers; backends inherit).
renice_pg() {
  [ -n "$nice" ] || return 0
  local pm
  pm=$(head -1 "$work/pgdata/postmaster.pid")
  renice -n "$nice" -p "$pm" $(pgrep -P "$pm") >/dev/null 2>&1 || true
}

start_metad_then_database() {
  "${run_nice[@]}" "$build/metad" serve --listen "127.0.0.1:$port" --database "$conninfo" \
    --log_level warn ${pool:+--pool_size "$pool"} >>"$work/metad.log" 2>&1 &
  metad_pid=$!
  "$build/bench/metad_load" --startup_probe --target "127.0.0.1:$port" \
    --pg "$conninfo" --startup_file "$work/startup" --startup_label "$1" &
  local probe_pid=$!
  pg_start "$work/pgdata" "$work/sock" ${METAD_BENCH_PG_SETTINGS:-}
  renice_pg
  wait "$probe_pid" || { tail -20 "$work/metad.log" >&2; die "metad did not start"; }
}
start_metad_then_database "first-start(migrates)"
[ -z "${METAD_BENCH_SETUP_SQL:-}" ] || psql -qX -v ON_ERROR_STOP=1 -f "$METAD_BENCH_SETUP_SQL" >/dev/null
kill -TERM "$metad_pid"; wait "$metad_pid" || true
pg_stop "$work/pgdata"
start_metad_then_database "restart"

load=$(cut -d' ' -f1-3 /proc/loadavg)
label="metad_load $mode on $(nproc) cores, load average at start $load; \
PostgreSQL 15 defaults (fsync=on, synchronous_commit=on), metad \
--pool_size ${pool:-8}, concurrency $concurrency"
say "$label"
[ -n "$nice" ] && label="$label, nice $nice"
status=0
"${run_nice[@]}" "$build/bench/metad_load" --target "127.0.0.1:$port" --pg "$conninfo" \
  --metad_pid "$metad_pid" --pgbench "$PG_BIN/pgbench" \
  --pgbench_dir "$METAD_ROOT/bench/pgbench" --concurrency "$concurrency" \
  --startup_file "$work/startup" --label "$label" \
  "${sizes[@]}" "${extra[@]}" || status=$?
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q '"level":"error"' "$work/metad.log"; then
  say "metad logged errors:"; grep '"level":"error"' "$work/metad.log" | tail -5 >&2
fi
exit $status
