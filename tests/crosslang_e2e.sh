#!/usr/bin/env bash
# The seed's pipeline across languages through one daemon: a Go producer
# registers files, a Python worker runs load_sales on them, a Node worker runs
# calculate_profit once it is ready, and metactl shows the batch. Then a
# reflection client lists and describes the services, as grpcurl would.
# Needs METAD_TEST_PG and METAD_BIN_DIR (scripts/test.sh exports them).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/daemon_for_tests.sh"
source "$root/clients/go/env.sh"
work=$(mktemp -d /tmp/metad-crosslang.XXXXXX)
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
  stop_test_daemon || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start_test_daemon crosslang
metactl() { "$METAD_BIN_DIR/metactl" --address "$METAD_ADDRESS" "$@"; }
batch=2024-03

metactl tasks register load_sales >/dev/null
metactl tasks register calculate_profit >/dev/null
metactl deps add load_sales calculate_profit >/dev/null

# Node: waits until calculate_profit is ready, so it starts first.
node "$root/clients/node/examples/calculate_profit_worker.js" \
  --address "$METAD_ADDRESS" --batch "$batch" --wait 120 --poll-ms 200 \
  >"$work/node.json" &
node_pid=$!

# Go: the producer registers the month's files (twice: the second run is a no-op).
metad_go_build_producer "$work/producer"
for attempt in 1 2; do
  "$work/producer" --address "$METAD_ADDRESS" --source sales \
    --files sales_report_2024-03.csv --count 20 --pattern "sales_part_%02d.csv" \
    --attr revenue=100 --attr cost=60 >"$work/producer.$attempt.json"
done

# Python: load_sales claims and loads the files, then finishes the run.
/usr/bin/python3 "$root/clients/python/examples/load_sales_worker.py" \
  --address "$METAD_ADDRESS" --batch "$batch" --source sales >"$work/python.json"

wait "$node_pid" || fail "node worker exited with $? ($(cat "$work/node.json"))"
node_pid=

metactl batch show "$batch" --output json >"$work/batch.json"
metactl files list --status success --all --output json >"$work/files.json"
/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
p1 = json.load(open(w + "/producer.1.json"))
p2 = json.load(open(w + "/producer.2.json"))
py = json.load(open(w + "/python.json"))
node = json.load(open(w + "/node.json"))
batch = json.load(open(w + "/batch.json"))
files = json.load(open(w + "/files.json"))
print("producer:", p1, "| again:", p2)
print("python:", py)
print("node:", node)
states = {t["task_name"]: t["status"] for t in batch["tasks"]}
print("batch:", states)
assert py["status"] == "SUCCESS", py
assert node["status"] == "SUCCESS", node
assert states == {"load_sales": "RUN_STATUS_SUCCESS",
                  "calculate_profit": "RUN_STATUS_SUCCESS"}, states
assert len(files["files"]) == 21, len(files["files"])
assert all(f["run_id"] == str(py["run_id"]) for f in files["files"]), files
PY
/usr/bin/python3 "$root/tests/reflection_check.py" "$METAD_ADDRESS"
echo "cross-language pipeline and reflection: ok"
