#!/usr/bin/env bash
# A watch catching up on stored file events, plain tables against the
# partitioned ones of migration 0014 (docs/benchmarks.md, "Session 9"): one
# private PostgreSQL with initdb's durable defaults holds two databases at
# the latest migration, `plain` (bench/unpartitioned_history.sql) and
# `partitioned`, each with one file, N events 40 days old and 1,000 recent
# ones (ids 1 to N+1000), as scripts/bench_prune.sh loads them. Then, for
# each pair, a fresh metad on each database (the first watch of a daemon,
# as in bench_prune.sh) and one timed
#   metactl --output json watch files --after N+1000-C --limit C
# on each, the side that goes first alternating from pair to pair.
#
#   scripts/bench_watch.sh [--events N] [--catch-up C] [--pairs P]
#                          [--nice K] [--lock FILE] [--statements]
#                          [--plain-build DIR] BUILD_DIR
#
# BUILD_DIR holds metad and metactl; --plain-build DIR runs the plain side
# with the metad of another build (e.g. before a change: "today").
# --lock FILE: hold flock(FILE) only around the timed pairs (the loading
# before is not measured), e.g. --lock /tmp/metad_bench.lock; do not also
# run the script under flock of the same file (it would wait on itself).
# --nice K runs PostgreSQL, metad and metactl at niceness K (e.g. -10).
# --statements adds, per side, pg_stat_statements' calls and times of the
# statements the watches ran (summed over the pairs).
# Prints one line per run (wall seconds of the watch, and the CPU seconds
# metactl, metad and PostgreSQL spent meanwhile: less sensitive to a busy
# machine than wall time), then the medians, spreads and differences.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

events=1000000 catch_up=100000 pairs=3 nice= lock= statements= plain_bin=
while [ $# -gt 1 ]; do
  case $1 in
    --events) events=$2; shift ;;
    --catch-up) catch_up=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --nice) nice=$2; shift ;;
    --lock) lock=$2; shift ;;
    --statements) statements=1 ;;
    --plain-build) plain_bin=$(realpath "$2"); shift ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
bin=$(realpath "${1:?usage: bench_watch.sh [options] BUILD_DIR}")
[ -x "$bin/metad" ] && [ -x "$bin/metactl" ] || die "no metad or metactl in $bin"
plain_bin=${plain_bin:-$bin}
[ -x "$plain_bin/metad" ] || die "no metad in $plain_bin"
metad_of() { if [ "$1" = plain ]; then echo "$plain_bin/metad"; else echo "$bin/metad"; fi; }

work=$(mktemp -d /tmp/metad-watch.XXXXXX)
chmod 755 "$work"
data=$(pg_reachable_dir "$work/data") sock=$work/s
metad_pid=
cleanup() {
  [ -n "$metad_pid" ] && { kill -TERM "$metad_pid" 2>/dev/null; wait "$metad_pid" 2>/dev/null; }
  pg_stop "$data"
  rm -rf "$work" "$data"
}
trap cleanup EXIT
settings=(max_wal_size=4GB)
[ -z "$statements" ] || settings+=(shared_preload_libraries=pg_stat_statements
                               pg_stat_statements.track_planning=on)
pg_start "$data" "$sock" "${settings[@]}"
run_nice=()
if [ -n "$nice" ]; then
  run_nice=(nice -n "$nice")
  pm=$(head -1 "$data/postmaster.pid")
  renice -n "$nice" -p "$pm" $(pgrep -P "$pm") >/dev/null 2>&1 || true
fi
url() { echo "postgresql:///$1?host=$sock&user=postgres"; }
psql_() { psql -h "$sock" -U postgres -qAtX -v ON_ERROR_STOP=1 "$@"; }

sides=(plain partitioned)
for db in "${sides[@]}"; do
  psql_ -d postgres -c "CREATE DATABASE $db"
  "$(metad_of "$db")" migrate up --database "$(url "$db")" >/dev/null 2>&1 ||
    die "migrate failed"
  [ "$db" = partitioned ] ||
    psql_ -d "$db" -f "$METAD_ROOT/bench/unpartitioned_history.sql" >/dev/null
  [ -z "$statements" ] || psql_ -d "$db" -c "CREATE EXTENSION pg_stat_statements"
  psql_ -d "$db" -c "INSERT INTO files (source, file_name) VALUES ('s', 'f')" \
    -c "INSERT INTO file_events (file_id, kind, to_status, event_time)
        SELECT 1, 'NOTE', 'NEW', now() - interval '40 days'
          FROM generate_series(1, $events)" \
    -c "INSERT INTO file_events (file_id, kind, to_status)
        SELECT 1, 'NOTE', 'NEW' FROM generate_series(1, 1000)" \
    -c "VACUUM ANALYZE"
done
psql_ -d postgres -c "CHECKPOINT"

echo "admin watch-bench-admin-token-01" > "$work/tokens"
echo "watch-bench-admin-token-01" > "$work/admin.token"
port=$((20000 + RANDOM % 20000))
metactl_() {
  "$bin/metactl" --address "127.0.0.1:$port" --token-file "$work/admin.token" "$@"
}
# CPU seconds (user + system) of process $1, with its reaped children.
cpu_of() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat"
}
# CPU seconds of the cluster: the postmaster with its exited backends, and
# the live ones.
pg_cpu() {
  local pm total p
  pm=$(head -1 "$data/postmaster.pid")
  total=$(cpu_of "$pm")
  for p in $(pgrep -P "$pm"); do
    total=$(echo "$total + $(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$p/stat" 2>/dev/null || echo 0)" | bc)
  done
  echo "$total"
}
# One run: a fresh metad on database $1, its partition pass done, then the
# timed watch. Prints the wall seconds and the CPU seconds of metactl,
# metad and PostgreSQL during the watch.
run() {
  "${run_nice[@]}" "$(metad_of "$1")" serve --database "$(url "$1")" \
    --listen "127.0.0.1:$port" --token_file "$work/tokens" \
    >> "$work/metad-$1.log" 2>&1 &
  metad_pid=$!
  for _ in $(seq 100); do
    metactl_ files list --limit 1 >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 2  # the daemon's first partition pass is done
  [ -z "$statements" ] || psql_ -d "$1" -c "SELECT pg_stat_statements_reset()" >/dev/null
  local t0 t1 d0 d1 p0 p1 client
  d0=$(cpu_of "$metad_pid") p0=$(pg_cpu)
  t0=$(date +%s.%N)
  client=$( { TIMEFORMAT='%U %S'; time "${run_nice[@]}" "$bin/metactl" \
    --address "127.0.0.1:$port" --token-file "$work/admin.token" --timeout 600 \
    --output json watch files --after $((events + 1000 - catch_up)) \
    --limit "$catch_up" >/dev/null; } 2>&1) || die "watch failed"
  t1=$(date +%s.%N)
  d1=$(cpu_of "$metad_pid") p1=$(pg_cpu)
  [ -z "$statements" ] || psql_ -d "$1" -F '|' -c "
    SELECT calls, total_exec_time, total_plan_time, plans,
           left(regexp_replace(query, '\s+', ' ', 'g'), 60)
      FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')
       AND query NOT LIKE '%pg_stat_statements%'" >> "$work/statements-$1"
  kill -TERM "$metad_pid"; wait "$metad_pid" 2>/dev/null || true
  metad_pid=
  echo "$t1 - $t0" | bc
  echo "$client" | awk '{print $1 + $2}'
  echo "$d1 - $d0" | bc
  echo "$p1 - $p0" | bc
}

[ -z "$lock" ] || { exec 9>"$lock"; flock 9; }
say "plain: $(metad_of plain), partitioned: $(metad_of partitioned)"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall cpu pg
for pair in $(seq "$pairs"); do
  order=("${sides[@]}")
  [ $((pair % 2)) -eq 1 ] || order=(partitioned plain)
  for side in "${order[@]}"; do
    r=($(run "$side"))
    wall[$side]+=" ${r[0]}"
    cpu[$side]+=" $(echo "${r[1]} + ${r[2]} + ${r[3]}" | bc)"
    pg[$side]+=" ${r[3]}"
    printf 'pair=%s side=%s watch_%s_seconds=%.3f cpu_seconds metactl=%.2f metad=%.2f postgres=%.2f\n' \
      "$pair" "$side" "$catch_up" "${r[@]}"
  done
done
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$lock" ] || flock -u 9

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
spread() { tr ' ' '\n' | grep . | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.3f-%.3f", lo, hi}'; }
compare() {
  local -n v=$1
  local mp mq
  mp=$(median <<<"${v[plain]}") mq=$(median <<<"${v[partitioned]}")
  printf '%s: median plain=%.3f (%s) partitioned=%.3f (%s) partitioned/plain=%+.1f%%\n' \
    "$2" "$mp" "$(spread <<<"${v[plain]}")" "$mq" "$(spread <<<"${v[partitioned]}")" \
    "$(echo "($mq / $mp - 1) * 100" | bc -l)"
}
compare wall "watch wall seconds"
compare cpu "CPU seconds, all three"
compare pg "CPU seconds, PostgreSQL"
if [ -n "$statements" ]; then
  for side in "${sides[@]}"; do
    echo "statements ($side, $pairs runs): calls, exec ms, plan ms, plans, query"
    awk -F'|' '{c[$5]+=$1; e[$5]+=$2; p[$5]+=$3; n[$5]+=$4}
      END {for (q in c) if (e[q] >= 1) printf "  %d | %.1f | %.1f | %d | %s\n", c[q], e[q], p[q], n[q], q}' \
      "$work/statements-$side" | sort -t'|' -k2 -g -r
  done
fi
