#!/bin/bash
# CPU time per file of the claim-complete scenario (docs/benchmarks.md,
# "Session 9"). Runs scripts/bench.sh --scenarios claim-complete with the
# metad and metad_load of BUILD_DIR, and over a 4 s window inside the
# scenario sums utime+stime of that bench cluster's PostgreSQL processes, of
# its metad and of its metad_load, and counts the files completed (FINISHED
# events) in the window. Run it under the benchmark lock:
#   flock /tmp/metad_bench.lock bench/claim/cpu_per_file.sh BUILD_DIR OUT_PREFIX
# Prints CPU microseconds per file and the rate two whole cores would give.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1 out=$2
METAD_BENCH_BUILD_DIR=$build "$root/scripts/bench.sh" --no-build --nice -10 \
  --scenarios claim-complete --duration 8 >"$out.log" 2>&1 &
bench=$!
d=
for _ in $(seq 1 120); do
  d=$(ls -dt /tmp/metad-bench.* 2>/dev/null | head -1)
  n=$(psql "host=$d/sock user=postgres dbname=metad" -Atc \
    "select count(*) from task_log where batch_id like '%claim%'" 2>/dev/null)
  [ "${n:-0}" -gt 50 ] && break
  sleep 0.25
done
sleep 1
pm=$(head -1 "$d/pgdata/postmaster.pid")
P=0 M=0 L=0
ticks() {
  P=0 M=0 L=0
  local p u s
  for p in $pm $(pgrep -P "$pm") $(pgrep -f "metad serve.*$d/sock") \
           $(pgrep -f "metad_load.*$d/sock"); do
    [ -r "/proc/$p/stat" ] || continue
    read -r u s < <(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12, $13}')
    case $(cat "/proc/$p/comm") in
      metad) M=$((M + u + s)) ;;
      metad_load) L=$((L + u + s)) ;;
      *) P=$((P + u + s)) ;;
    esac
  done
}
q="host=$d/sock user=postgres dbname=metad"
ticks; p0=$P m0=$M l0=$L
e0=$(psql "$q" -Atc "select max(id) from file_events")
sleep 4
ticks
e1=$(psql "$q" -Atc "select max(id) from file_events")
files=$(psql "$q" -Atc "select count(*) from file_events
  where id > $e0 and id <= $e1 and kind = 'FINISHED'")
awk -v f="$files" -v p=$((P - p0)) -v m=$((M - m0)) -v l=$((L - l0)) \
    -v hz="$(getconf CLK_TCK)" 'BEGIN {
  t = (p + m + l) * 1e6 / hz / f
  printf "files %d in 4 s; CPU us per file: postgres %.1f metad %.1f client %.1f total %.1f -> %.0f files/s on 2 whole cores\n",
         f, p * 1e6 / hz / f, m * 1e6 / hz / f, l * 1e6 / hz / f, t, 2e6 / t }' |
  tee "$out.cpu"
wait $bench
