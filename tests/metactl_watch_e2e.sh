#!/usr/bin/env bash
# End to end: `metactl watch files|runs` against a real metad. Events are
# printed as they commit (JSON lines, table rows), filters and --after
# apply, --limit ends it, SIGINT ends it with exit 0, and a watch survives a
# daemon restart, resuming after the last event it printed.
#   METAD_TEST_PG=... METAD_BIN_DIR=build-dir bash tests/metactl_watch_e2e.sh
# Exits 77 (skipped) without METAD_TEST_PG.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export METAD_BIN_DIR=${METAD_BIN_DIR:-${1:-}}
if [ -z "${METAD_TEST_PG:-}" ] || [ -z "$METAD_BIN_DIR" ]; then
  echo "SKIP: needs METAD_TEST_PG and METAD_BIN_DIR (run scripts/test.sh)"
  exit 77
fi
# shellcheck source=../scripts/daemon_for_tests.sh
source "$here/../scripts/daemon_for_tests.sh"

MC=$METAD_BIN_DIR/metactl
work=$(mktemp -d /tmp/metactl-watch-e2e.XXXXXX)
watchers=()
cleanup() {
  local p
  for p in "${watchers[@]}"; do kill -KILL "$p" 2>/dev/null; done
  stop_test_daemon >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
start_test_daemon metactl_watch || exit 1

# shellcheck source=support/metactl_e2e_lib.sh
source "$here/support/metactl_e2e_lib.sh"

# fields FILE EXPR: EXPR over each JSON line d of FILE, one result a line.
fields() {
  /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

# wait_lines FILE N: until FILE has N lines (the watcher is live; the bound
# only keeps a broken watcher from hanging the test).
wait_lines() {
  local i
  for i in $(seq 1 600); do
    [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "$1 never reached $2 lines: $(cat "$1")"
  return 1
}

# stop_watcher PID WHAT: SIGINT, then the exit code must be 0.
stop_watcher() {
  kill -INT "$1"
  local rc=0
  wait "$1" || rc=$?
  checks=$((checks + 1))
  [ "$rc" == 0 ] || fail "$2: exit $rc after SIGINT, want 0"
}

echo "--- a live watch prints events as they commit; SIGINT exits 0"
"$MC" watch files --after -1 --source landing --output json \
  >"$work/live" 2>"$work/live.err" &
live=$!
watchers+=("$live")
mc files register landing a.csv --size 1 --output json
expect_rc 0 "files register a.csv"
mc files register other x.csv --output json
expect_rc 0 "files register x.csv (another source)"
mc files register landing b.csv --output json
expect_rc 0 "files register b.csv"
wait_lines "$work/live" 2
stop_watcher "$live" "watch files (live)"
expect_eq "$(fields "$work/live" 'd["file_name"] + " " + d["event"]["kind"]')" \
  "a.csv REGISTERED
b.csv REGISTERED" "watch files --source landing: only landing's events"
first=$(fields "$work/live" 'd["event"]["id"]' | head -1)

echo "--- --after resumes after an event; --limit ends the watch"
mc watch files --after "$first" --source landing --limit 1 --output json
expect_rc 0 "watch files --after --limit 1"
expect_in "$OUT" '"file_name":"b.csv"' "the event after --after"
mc watch files --after -1 --limit 3
expect_rc 0 "watch files table"
expect_eq "$(head -1 <<<"$OUT" | awk '{print $1, $2, $3, $4, $5}')" \
  "ID FILE SOURCE NAME KIND" "table header"
expect_eq "$(sed -n 3p <<<"$OUT" | awk '{print $3, $4, $5, $7}')" \
  "other x.csv REGISTERED NEW" "table row"
"$MC" watch files --after -1 --status success --output json \
  >"$work/quiet" 2>&1 &
quiet=$!
watchers+=("$quiet")

echo "--- watch runs, filtered by batch and task"
mc tasks register load --output json
expect_rc 0 "tasks register load"
mc runs start load --batch b1 --output json
expect_rc 0 "runs start b1"
run=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["id"])' <<<"$OUT")
mc runs start load --batch b2 --output json
expect_rc 0 "runs start b2"
mc runs finish "$run" --status success --output json
expect_rc 0 "runs finish"
mc watch runs --after -1 --batch b1 --task load --limit 2 --output json
expect_rc 0 "watch runs"
printf '%s\n' "$OUT" >"$work/runs"
expect_eq "$(fields "$work/runs" 'd["task_name"] + " " + d["batch_id"] + " " + d["event"]["kind"] + " " + d["event"]["to_status"]')" \
  "load b1 STARTED RUN_STATUS_PROCESSING
load b1 FINISHED RUN_STATUS_SUCCESS" "watch runs --batch b1"
mc watch runs --after -1 --status processing --limit 2
expect_rc 0 "watch runs table"
expect_in "$OUT" "b2" "watch runs table shows batch b2"

echo "--- bad command lines"
mc watch files --after -2
expect_rc 64 "--after -2"
mc watch runs --status nope
expect_rc 64 "--status nope"

echo "--- a watch survives a daemon restart and resumes without a gap"
"$MC" watch files --after -1 --source landing --output json \
  >"$work/resume" 2>"$work/resume.err" &
resume=$!
watchers+=("$resume")
wait_lines "$work/resume" 2
port=${METAD_ADDRESS##*:}
stop_test_daemon || fail "daemon did not stop cleanly"
# Back on the same port and database, as a restarted service would be.
"$METAD_BIN_DIR/metad" serve --listen "127.0.0.1:$port" \
  --database "$METAD_DATABASE_URL" >>"$METAD_DAEMON_LOG" 2>&1 &
METAD_PID=$!
mc files register landing c.csv --output json
for _ in $(seq 1 100); do
  [ "$RC" == 0 ] && break
  sleep 0.1
  mc files register landing c.csv --output json
done
expect_rc 0 "files register c.csv after the restart"
wait_lines "$work/resume" 3
stop_watcher "$resume" "watch files across a restart"
expect_eq "$(fields "$work/resume" 'd["file_name"]')" "a.csv
b.csv
c.csv" "each event once, across the restart"
expect_in "$(cat "$work/resume.err")" "UNAVAILABLE" "the break is reported"
expect_in "$(cat "$work/resume.err")" "reconnecting" "and the reconnect"

# The --status success watcher saw nothing: interrupting it is clean too.
stop_watcher "$quiet" "watch with no events"

summary "metactl_watch_e2e"
