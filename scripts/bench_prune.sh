#!/usr/bin/env bash
# Pruning N old file events (docs/benchmarks.md, "Partitioned history"):
# the WAL written (pg_current_wal_lsn before and after) and the wall time of
# one `metactl admin prune --older-than 30d` through a running metad, on a
# private PostgreSQL with initdb's durable defaults. Run it with the binaries
# of two builds to compare retention by batched DELETE (before migration
# 0014) with retention by dropping partitions:
#
#   scripts/bench_prune.sh [--events N] [--batch-size B] [--unpartitioned]
#                          BUILD_DIR
#
# --unpartitioned turns the event tables back into plain tables after the
# migrations (bench/unpartitioned_history.sql): retention then deletes in
# batches, as before 0014, with the same binary.
# BUILD_DIR holds metad and metactl. Prints one line: build, events pruned,
# seconds, WAL bytes, partitions dropped (pg_inherits before/after), and the
# time a watch took to read 100,000 stored events before the prune.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

events=1000000 batch=1000 plain=
while [ $# -gt 1 ]; do
  case $1 in
    --events) events=$2; shift ;;
    --batch-size) batch=$2; shift ;;
    --unpartitioned) plain=1 ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
bin=$(realpath "${1:?usage: bench_prune.sh [--events N] [--batch-size B] BUILD_DIR}")

work=$(mktemp -d /tmp/metad-prune.XXXXXX)
chmod 755 "$work"
data=$(pg_reachable_dir "$work/data") sock=$work/s
metad_pid=
cleanup() {
  [ -n "$metad_pid" ] && { kill -TERM "$metad_pid" 2>/dev/null; wait "$metad_pid" 2>/dev/null; }
  pg_stop "$data"
  rm -rf "$work" "$data"
}
trap cleanup EXIT
pg_start "$data" "$sock" max_wal_size=4GB
url="postgresql:///postgres?host=$sock&user=postgres"
psql_() { psql -h "$sock" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 "$@"; }

"$bin/metad" migrate up --database "$url" >/dev/null 2>&1 || die "migrate failed"
[ -z "$plain" ] || psql_ -f "$METAD_ROOT/bench/unpartitioned_history.sql" >/dev/null
# One file; N file events 40 days old, then 1000 recent ones (kept).
psql_ -c "INSERT INTO files (source, file_name) VALUES ('s', 'f')"
psql_ -c "INSERT INTO file_events (file_id, kind, to_status, event_time)
          SELECT 1, 'NOTE', 'NEW', now() - interval '40 days'
            FROM generate_series(1, $events)"
psql_ -c "INSERT INTO file_events (file_id, kind, to_status)
          SELECT 1, 'NOTE', 'NEW' FROM generate_series(1, 1000)"
psql_ -c "VACUUM ANALYZE" -c "CHECKPOINT"

echo "admin prune-bench-admin-token-01" > "$work/tokens"
echo "prune-bench-admin-token-01" > "$work/admin.token"
port=$((20000 + RANDOM % 20000))
"$bin/metad" serve --database "$url" --listen "127.0.0.1:$port" \
  --token_file "$work/tokens" > "$work/metad.log" 2>&1 &
metad_pid=$!
for _ in $(seq 100); do
  "$bin/metactl" --address "127.0.0.1:$port" --token-file "$work/admin.token" \
    files list --limit 1 >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 2  # the daemon's first partition pass is done
# A watch catching up on 100,000 stored events (across the boundary at
# 1,000,000 when partitioned), before the prune.
w0=$(date +%s.%N)
"$bin/metactl" --address "127.0.0.1:$port" --token-file "$work/admin.token" \
  --timeout 600 --output json watch files --after $((events - 99000)) \
  --limit 100000 > /dev/null || die "watch failed"
w1=$(date +%s.%N)
parts_before=$(psql_ -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'file_events'::regclass")
lsn0=$(psql_ -c "SELECT pg_current_wal_lsn()")
t0=$(date +%s.%N)
"$bin/metactl" --address "127.0.0.1:$port" --token-file "$work/admin.token" \
  --timeout 3600 --output json admin prune --older-than 30d \
  --batch-size "$batch" > "$work/prune.json" || die "prune failed: $(cat "$work/prune.json")"
t1=$(date +%s.%N)
wal=$(psql_ -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
parts_after=$(psql_ -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'file_events'::regclass")
left=$(psql_ -c "SELECT count(*) FROM file_events")
pruned=$(sed -n 's/.*"file_events_deleted": *"\{0,1\}\([0-9]*\).*/\1/p' "$work/prune.json")
printf 'build=%s%s events_pruned=%s kept=%s seconds=%.2f wal_bytes=%s partitions=%s->%s watch_100k_seconds=%.2f\n' \
  "$bin" "${plain:+ (unpartitioned)}" "$pruned" "$left" "$(echo "$t1 - $t0" | bc)" "$wal" "$parts_before" "$parts_after" "$(echo "$w1 - $w0" | bc)"
