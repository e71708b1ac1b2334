#!/usr/bin/env bash
# Fault injection (issue 3): runs the suites of tests/faults/ one at a time
# against real processes on loopback (the built metad, PostgreSQL clusters
# the tests stop and start, faults_worker processes they kill), and prints
# the figures each scenario measured. docs/reliability.md explains them.
#
#   scripts/faults.sh             short version (what .ci/run runs)
#   scripts/faults.sh --long      the full version (10 daemon kills, 100,000
#                                 files over three replicas, ..., and the
#                                 Patroni drill tests/faults/patroni_failover.sh)
#   options: --only NAME (a suite, e.g. faults_replicas_pgtest; repeatable),
#            --no-build, --report FILE (copy the figures, JSON lines, to FILE),
#            --keep (keep logs and scratch files)
#
# Uses the PostgreSQL named by METAD_TEST_PG when set (scripts/test.sh
# exports it), else starts a private one. Suites that stop the database or
# exhaust its connections start clusters of their own.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

long=0 build=1 keep=0 report=""
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --long) long=1 ;;
    --only) only+=("$2"); shift ;;
    --no-build) build=0 ;;
    --report) report=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

suites=(
  faults_checks_pgtest            # the checks below catch broken histories
  faults_daemon_kill_pgtest       # kill -9 of metad under a write load
  faults_database_restart_pgtest  # PostgreSQL stopped and started under load
  faults_connections_pgtest       # max_connections reached; pool and queue full
  faults_deadline_pgtest          # a slow database against call deadlines
  faults_worker_kill_pgtest       # workers killed while holding files
  faults_replicas_pgtest          # three replicas, 64 threads, workers killed
  faults_sync_standby_pgtest      # no synchronous standby: commits bounded
  faults_failover_pgtest          # primary killed, a sync standby promoted
  faults_read_standby_pgtest      # reads on an async standby: read-your-writes
  faults_failover_fence_pgtest    # an old primary back unfenced gets no writes
  faults_lease_outage_pgtest      # leases heartbeated through an outage are kept
)
[ ${#only[@]} -gt 0 ] && suites=("${only[@]}")

if [ $build -eq 1 ]; then
  [ -f "$METAD_BUILD_DIR/build.ninja" ] ||
    cmake -S "$METAD_ROOT" -B "$METAD_BUILD_DIR" -G Ninja \
      -DCMAKE_BUILD_TYPE="${METAD_BUILD_TYPE:-RelWithDebInfo}" \
      ${METAD_CMAKE_ARGS:-} >/dev/null
  say "building the fault suites in $METAD_BUILD_DIR"
  cmake --build "$METAD_BUILD_DIR" -j "${METAD_JOBS:-2}" --target faults
fi

# Scratch space the postgres user can reach (the suites' clusters live here).
work=$(mktemp -d /tmp/metad-faults.XXXXXX)
chmod 755 "$work"
own_pg=0
failed=()
cleanup() {
  local data
  # Clusters a crashed suite left running.
  for data in "$work"/metad-faults-pg-*/data; do
    [ -d "$data" ] && pg_stop "$data"
  done
  [ $own_pg -eq 1 ] && pg_stop "$work/pgdata"
  # Processes a crashed suite left behind (a metad, a worker): whatever still
  # has a file open under $work was started by this run.
  local pid
  for pid in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$work/*" 2>/dev/null |
    cut -d/ -f3 | sort -u); do
    [ "$pid" = "$$" ] || kill -9 "$pid" 2>/dev/null || true
  done
  if [ $keep -eq 1 ] || [ ${#failed[@]} -gt 0 ]; then
    say "logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

if [ -z "${METAD_TEST_PG:-}" ]; then
  pg_start "$work/pgdata" "$work/sock" fsync=off synchronous_commit=off \
    full_page_writes=off max_connections=300
  own_pg=1
  export METAD_TEST_PG="host=$work/sock port=5432 user=postgres"
fi
mkdir -p "$work/logs"
export METAD_BIN_DIR=$METAD_BUILD_DIR
export METAD_FAULTS_LONG=$long
export METAD_FAULTS_WORKDIR=$work
export METAD_FAULTS_REPORT=$work/figures.jsonl
export TMPDIR=$work/logs  # the daemons' logs
: >"$METAD_FAULTS_REPORT"

mode=short suite_timeout=${METAD_FAULTS_TIMEOUT:-600}
[ $long -eq 1 ] && mode=long suite_timeout=${METAD_FAULTS_TIMEOUT:-3600}
for suite in "${suites[@]}"; do
  bin=$METAD_BUILD_DIR/tests/$suite
  [ -x "$bin" ] || die "no $bin (build the 'faults' target)"
  say "$suite ($mode)"
  start=$SECONDS
  # A hung suite must fail the run, not stall it (its daemons, workers and
  # clusters are cleaned up on exit).
  if timeout -k 10 "$suite_timeout" "$bin" --gtest_brief=1 \
    >"$work/$suite.out" 2>&1; then
    say "$suite passed in $((SECONDS - start)) s"
  else
    failed+=("$suite")
    cat "$work/$suite.out" >&2
    say "$suite FAILED after $((SECONDS - start)) s"
  fi
done

# The Patroni drill (long only): a real HA manager with its own etcd and
# members, run apart from the GoogleTest suites' clusters.
if [ $long -eq 1 ] && [ ${#only[@]} -eq 0 ]; then
  say "patroni_failover (long)"
  start=$SECONDS
  if timeout -k 10 "$suite_timeout" bash "$METAD_ROOT/tests/faults/patroni_failover.sh" \
    --no-build --long >"$work/patroni_failover.out" 2>&1; then
    say "patroni_failover passed in $((SECONDS - start)) s"
  else
    failed+=(patroni_failover)
    cat "$work/patroni_failover.out" >&2
    say "patroni_failover FAILED after $((SECONDS - start)) s"
  fi
fi

say "figures (docs/reliability.md explains each)"
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 - "$METAD_FAULTS_REPORT" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    fig = json.loads(line)
    print(f"{fig.pop('scenario')} ({fig.pop('mode')}):")
    for key, value in fig.items():
        print(f"    {key} = {value}")
EOF
else
  cat "$METAD_FAULTS_REPORT"
fi
[ -n "$report" ] && cp "$METAD_FAULTS_REPORT" "$report"

if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]}"
  exit 1
fi
say "all fault suites passed ($mode)"
