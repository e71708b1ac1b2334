#!/bin/bash
# The claim-complete cycle's SQL alone (docs/benchmarks.md, "Session 9"):
# a fresh PostgreSQL with initdb's durable defaults, metad's schema (migrated
# by $METAD_BUILD_DIR/metad, default build), and for each BATCH:CLIENTS given
# 300,000 NEW files and 6 s of pgbench running bench/claim/ceiling.sql with
# CLIENTS clients claiming BATCH files a transaction. Prints per spec:
# PostgreSQL CPU microseconds per file (every process of the cluster, the
# postmaster's reaped children included), files completed, files/s, and
# files completed twice (0). Run it under the benchmark lock:
#   flock /tmp/metad_bench.lock bench/claim/ceiling.sh 100:32 3200:2
set -e
root=$(cd "$(dirname "$0")/../.." && pwd); cd "$root"; source scripts/lib.sh
build=${METAD_BUILD_DIR:-build}
d=$(mktemp -d /tmp/claim-ceiling.XXXXXX); chmod 755 $d; pg_start $d/data $d/s
C="host=$d/s user=postgres"
pm=$(head -1 $d/data/postmaster.pid); renice -n -10 -p $pm $(pgrep -P $pm) >/dev/null
psql "$C" -qc "create database metad"
$build/metad migrate up --database "$C dbname=metad" >/dev/null 2>&1
psql "$C dbname=metad" -qc "insert into tasks (name) values ('t')"
for spec in "$@"; do
  b=${spec%%:*}; c=${spec##*:}
  psql "$C dbname=metad" -qc "update files set status='SUCCESS' where status <> 'SUCCESS'" -c "insert into files (source, file_name) select 's', 'f-$spec-' || g from generate_series(1, 300000) g" -c "vacuum analyze files"
  first=$(psql "$C dbname=metad" -Atc "select coalesce(max(id),0) from file_events")
  pgt() { local t c; t=$(sed 's/.*) //' /proc/$pm/stat | awk '{print $12+$13+$14+$15}'); for c in $(pgrep -P $pm); do t=$((t + $(sed 's/.*) //' /proc/$c/stat 2>/dev/null | awk '{print $12+$13}'))); done; echo $t; }
  t0=$(pgt)
  nice -n -10 $PG_BIN/pgbench -n -h $d/s -U postgres -c $c -j 2 -T 6 -D batch=$b -f bench/claim/ceiling.sql metad > $d/pgbench.out 2>&1 || true
  sleep 1; t1=$(pgt)
  psql "$C dbname=metad" -Atc "select '$spec', ($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / greatest(count(*) filter (where kind='FINISHED'), 1) as pg_cpu_us_per_file, count(*) filter (where kind='FINISHED'), round(count(*) filter (where kind='FINISHED') / extract(epoch from max(event_time)-min(event_time))) as files_per_s, (select count(*) from (select file_id from file_events where id > $first and kind='FINISHED' group by 1 having count(*)>1) x) as twice from file_events where id > $first"
done
pg_stop $d/data; rm -rf $d
