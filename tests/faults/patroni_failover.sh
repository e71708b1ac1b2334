#!/usr/bin/env bash
# Failover through a real HA manager (issue 14; part of the long fault
# suite, not of CI): a one-node etcd and three Patroni members of
# deploy/patroni/patroni.yml (synchronous_mode) on loopback, each run as the
# postgres user under a supervisor that restarts it like systemd would
# (RestartSec longer than the leader key's ttl), then
# `faults_failover_pgtest --gtest_filter=*Patroni*`: metad on the multi-host
# URL under load; alternately the leader's whole machine dies (its Patroni,
# then its PostgreSQL, SIGKILL) and only its PostgreSQL does (SIGKILL to
# every process); 2 failovers, 6 with --long. Patroni promotes, metad
# follows without a restart. Prints each failover's wall-clock times (to
# line up with the members' logs: pg*/patroni.log, pg*/data/log/, kept with
# --keep) and the figures (FAULTS {...}, docs/reliability.md explains them).
#
#   tests/faults/patroni_failover.sh [--no-build] [--keep] [--long]
# shellcheck source=SCRIPTDIR/../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

build=1 keep=0 long=0
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    --long) long=1 ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done

install_packages patroni etcd-server etcd-client postgresql-15 curl
if [ $build -eq 1 ]; then
  [ -f "$METAD_BUILD_DIR/build.ninja" ] ||
    cmake -S "$METAD_ROOT" -B "$METAD_BUILD_DIR" -G Ninja \
      -DCMAKE_BUILD_TYPE="${METAD_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  cmake --build "$METAD_BUILD_DIR" -j "${METAD_JOBS:-2}" \
    --target metad faults_worker faults_failover_pgtest
fi

work=$(mktemp -d /tmp/metad-patroni.XXXXXX)
chmod 755 "$work"
owner=()
[ "$(id -u)" -eq 0 ] && owner=(runuser -u postgres --) && chown postgres "$work"
pids=()
cleanup() {
  set +e  # clean up whatever is left, whatever fails
  local pid data f
  touch "$work/stop"
  # The members: Patroni stops its PostgreSQL on SIGTERM.
  for f in "$work"/pg*/patroni.pid; do
    [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
  done
  sleep 3
  # What a killed member left behind:
  for data in "$work"/pg*/data; do
    [ -s "$data/postmaster.pid" ] &&
      "${owner[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
  done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ $keep -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

etcd_client=$(free_port) etcd_peer=$(free_port)
etcd --name e1 --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client" \
  --advertise-client-urls "http://127.0.0.1:$etcd_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "e1=http://127.0.0.1:$etcd_peer" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$etcd_client/health" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$etcd_client/health" >/dev/null || die "etcd did not start"

# Test-only passwords, on loopback, gone with $work.
PGPASSWORD=metad-test-$$-$RANDOM
export PGPASSWORD
# deploy/patroni/patroni.yml as it is, plus PostgreSQL logs with
# millisecond times in each data directory's log/ (for the timings).
/usr/bin/python3 - "$METAD_ROOT/deploy/patroni/patroni.yml" "$work/patroni.yml" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["postgresql"].setdefault("parameters", {}).update({
    "logging_collector": "on", "log_directory": "log",
    "log_line_prefix": "%m [%p] ", "log_replication_commands": "on"})
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
chmod 644 "$work/patroni.yml"
pg_ports=()
for i in 1 2 3; do
  pg=$(free_port) api=$(free_port)
  pg_ports+=("$pg")
  mkdir -p "$work/pg$i"
  [ ${#owner[@]} -gt 0 ] && chown postgres "$work/pg$i"
  # The supervisor: restarts a killed member 15 s later (after its leader
  # key's ttl of 10 s, as systemd's RestartSec would).
  (
    while [ ! -e "$work/stop" ]; do
      "${owner[@]}" env \
        PATRONI_SCOPE="metad-test" PATRONI_NAMESPACE="/metad-test-$$/" \
        PATRONI_NAME="pg$i" \
        PATRONI_RESTAPI_LISTEN="127.0.0.1:$api" \
        PATRONI_RESTAPI_CONNECT_ADDRESS="127.0.0.1:$api" \
        PATRONI_POSTGRESQL_LISTEN="127.0.0.1:$pg" \
        PATRONI_POSTGRESQL_CONNECT_ADDRESS="127.0.0.1:$pg" \
        PATRONI_POSTGRESQL_DATA_DIR="$work/pg$i/data" \
        PATRONI_POSTGRESQL_PGPASS="$work/pg$i/pgpass" \
        PATRONI_ETCD3_HOSTS="127.0.0.1:$etcd_client" \
        PATRONI_SUPERUSER_PASSWORD="$PGPASSWORD" \
        PATRONI_REPLICATION_PASSWORD="$PGPASSWORD" \
        PATRONI_REWIND_PASSWORD="$PGPASSWORD" \
        patroni "$work/patroni.yml" >>"$work/pg$i/patroni.log" 2>&1 &
      # Patroni's pid (runuser's child), for the cleanup.
      for _ in $(seq 50); do
        pgrep -P $! >"$work/pg$i/patroni.pid" && break
        sleep 0.1
      done
      rc=0
      wait $! || rc=$?  # lib.sh sets -e: a killed member must not end the loop
      echo "supervisor: patroni pg$i exited $rc" >>"$work/pg$i/patroni.log"
      for _ in $(seq 15); do [ -e "$work/stop" ] || sleep 1; done
    done
  ) &
  pids+=($!)
  # One at a time: the first bootstraps, the others clone it.
  [ "$i" -eq 1 ] && sleep 5
done
say "etcd on $etcd_client, PostgreSQL members on ${pg_ports[*]}"

leader=""
for _ in $(seq 300); do
  for pg in "${pg_ports[@]}"; do
    if [ "$(psql -h 127.0.0.1 -p "$pg" -U postgres -d postgres -tAc \
      'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; then
      leader=$pg
    fi
  done
  [ -n "$leader" ] && break
  sleep 0.5
done
[ -n "$leader" ] || { tail -30 "$work"/pg*/patroni.log >&2; die "no Patroni leader"; }
# Waits for a synchronous standby (strict synchronous mode: commits wait).
psql -h 127.0.0.1 -p "$leader" -U postgres -d postgres -qc 'CREATE DATABASE metad' ||
  die "CREATE DATABASE failed"

export METAD_BIN_DIR=$METAD_BUILD_DIR METAD_FAULTS_WORKDIR=$work TMPDIR=$work
export METAD_FAULTS_LONG=$long
METAD_PATRONI_PORTS=$(IFS=,; echo "${pg_ports[*]}")
export METAD_PATRONI_PORTS
status=0
timeout -k 10 900 "$METAD_BUILD_DIR/tests/faults_failover_pgtest" \
  --gtest_filter='FaultsFailover.Patroni*' --gtest_brief=1 >"$work/test.out" 2>&1 ||
  status=1
cat "$work/test.out"
if [ $status -ne 0 ]; then
  keep=1
  for i in 1 2 3; do tail -15 "$work/pg$i/patroni.log" >&2; done
  say "patroni failover drill FAILED"
  exit 1
fi
say "patroni failover drill passed"
