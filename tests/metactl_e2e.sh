#!/usr/bin/env bash
# End to end: the seed scenario through the built metactl against a real
# metad (scripts/daemon_for_tests.sh) on the test PostgreSQL. Checks JSON
# fields, table text, exit codes (gRPC codes; 64/65 for local mistakes) and
# that `deps graph` is valid dot.
#   METAD_TEST_PG=... METAD_BIN_DIR=build-dir bash tests/metactl_e2e.sh
# METAD_BIN_DIR may also be given as the first argument (ctest does).
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
work=$(mktemp -d /tmp/metactl-e2e.XXXXXX)
trap 'stop_test_daemon >/dev/null 2>&1; rm -rf "$work"' EXIT
start_test_daemon metactl || exit 1

# shellcheck source=support/metactl_e2e_lib.sh
source "$here/support/metactl_e2e_lib.sh"

B=2024-03
SRC=s3://sales
SEED=sales_report_2024-03.csv

echo "--- tasks and the dependency"
mc tasks register load_sales --description "Load the monthly sales CSV" \
  --max-attempts 2 --output json
expect_rc 0 "tasks register load_sales"
expect_eq "$(js 'd["created"]')" true "load_sales created"
expect_eq "$(js 'd["task"]["max_attempts"]')" 2 "load_sales max_attempts"
LOAD_ID=$(js 'd["task"]["id"]')
mc tasks register calculate_profit --lease 30 --output json
expect_rc 0 "tasks register calculate_profit"
expect_eq "$(js 'd["task"]["default_lease_seconds"]')" 30 "lease"
CALC_ID=$(js 'd["task"]["id"]')
mc tasks register load_sales --description "Load sales" --max-attempts 2 \
  --output json
expect_eq "$(js 'd["created"]')" false "re-register is not new"
expect_eq "$(js 'd["task"]["description"]')" "Load sales" "description updated"
mc tasks register "bad name!"
expect_rc 3 "invalid task name is INVALID_ARGUMENT"
expect_in "$ERR" "metactl: INVALID_ARGUMENT: " "error format"

mc deps add load_sales calculate_profit --output json
expect_rc 0 "deps add"
expect_eq "$(js 'd["created"]')" true "edge created"
mc deps add load_sales calculate_profit
expect_rc 0 "deps add again"
expect_in "$OUT" "load_sales -> calculate_profit (already there)" "no-op add"
mc deps add calculate_profit load_sales
expect_rc 9 "cycle refused with FAILED_PRECONDITION"
expect_in "$ERR" "metactl: FAILED_PRECONDITION: " "cycle message"
expect_in "$ERR" "reason: DEPENDENCY_CYCLE (metad.dev)" "cycle reason shown"
expect_in "$ERR" "cycle=calculate_profit,load_sales,calculate_profit" \
  "cycle path shown"
mc deps add load_sales load_sales
expect_rc 9 "self-edge refused"
mc deps add load_sales no_such_task
expect_rc 5 "unknown task is NOT_FOUND"

echo "--- the seed file"
mc files register "$SRC" "$SEED" --checksum sha256:abc --size 2048 \
  --rows 120 --attr month=2024-03 --attr origin=erp --output json
expect_rc 0 "files register"
expect_eq "$(js 'd["created"]')" true "file created"
expect_eq "$(js 'd["file"]["status"]')" FILE_STATUS_NEW "new file status"
expect_eq "$(js 'd["file"]["attributes"]["month"]')" 2024-03 "attribute"
expect_eq "$(js 'd["file"]["row_count"]')" 120 "row_count"
FILE_ID=$(js 'd["file"]["id"]')
mc files register "$SRC" "$SEED" --size 2048 --output json
expect_eq "$(js 'd["created"]')" false "registered twice is not new"
expect_eq "$(js 'd["changed"]')" false "same content is no change"
expect_eq "$(js 'd["file"]["size_bytes"]')" 2048 "stored record unchanged"
expect_eq "$(js 'd["file"]["version"]')" 1 "first version"
mc files register "$SRC" "$SEED"
expect_in "$OUT" "created:" "table output of register"
mc files register "" x.csv
expect_rc 3 "empty source is INVALID_ARGUMENT"

echo "--- a batch run"
mc runs start calculate_profit --batch "$B"
expect_rc 9 "child before parent is FAILED_PRECONDITION"
expect_in "$ERR" "load_sales" "unmet parent named"
expect_in "$ERR" "unmet DEPENDENCY load_sales: load_sales has no SUCCESS run in batch $B" \
  "unmet parent listed from the error details"
mc runs start calculate_profit --batch "$B" --output json
expect_rc 9 "child before parent, JSON"
expect_eq "$(js 'd["code"]')" 9 "JSON error code"
expect_eq "$(js '[x["reason"] for x in d["details"] if "reason" in x]')" \
  '["PARENTS_NOT_SUCCEEDED"]' "JSON error reason"
expect_eq "$(js '[v["subject"] for x in d["details"] for v in x.get("violations", [])]')" \
  '["load_sales"]' "JSON unmet parents"
mc deps ready --batch "$B" --output json
expect_eq "$(js '[t["name"] for t in d["tasks"]]')" '["load_sales"]' \
  "only load_sales is ready"
mc runs start load_sales --batch "$B" --worker w1 --request-id req-1 \
  --output json
expect_rc 0 "runs start load_sales"
expect_eq "$(js 'd["run"]["status"]')" RUN_STATUS_PROCESSING "run status"
RUN1=$(js 'd["run"]["id"]')
mc runs start load_sales --batch "$B" --worker w1 --request-id req-1 \
  --output json
expect_eq "$(js 'd["run"]["id"]')" "$RUN1" "same request_id, same run"
expect_eq "$(js 'd["created"]')" false "retried start is not new"
mc runs start load_sales --batch "$B"
expect_rc 9 "second PROCESSING run refused"

mc files claim "$RUN1" --limit 10 --source "$SRC" --request-id claim-1 \
  --output json
expect_rc 0 "files claim"
expect_eq "$(js '[f["id"] for f in d["files"]]')" "[\"$FILE_ID\"]" \
  "the seed file is claimed"
mc files claim "$RUN1" --limit 10 --source "$SRC" --request-id claim-1 \
  --output json
expect_eq "$(js '[f["id"] for f in d["files"]]')" "[\"$FILE_ID\"]" \
  "a retried claim returns the same file"
expect_eq "$(js 'd["replayed"]')" true "the retry is replayed"
mc files claim "$RUN1" --limit 10 --source "$SRC" --output json
expect_eq "$(js 'len(d["files"])')" 0 "nothing left to claim"
mc runs heartbeat "$RUN1" --lease 120 --output json
expect_rc 0 "runs heartbeat"
mc deps graph --format dot --batch "$B"
expect_in "$OUT" "t$LOAD_ID [label=\"load_sales\\nPROCESSING (1 attempt)\", fillcolor=\"#fce38a\"]" \
  "running task is yellow"

mc runs finish "$RUN1" --status success --files "$FILE_ID" --output json
expect_rc 0 "runs finish"
expect_eq "$(js 'd["files_finished"]')" 1 "held file finished with the run"
expect_eq "$(js 'd["run"]["status"]')" RUN_STATUS_SUCCESS "run succeeded"
mc runs finish "$RUN1" --status success --files "$FILE_ID" --output json
expect_rc 0 "a retried finish is answered again"
expect_eq "$(js 'd["replayed"]')" true "the retried finish is replayed"
mc runs finish "$RUN1" --status error --message late
expect_rc 9 "finishing otherwise is FAILED_PRECONDITION"
mc runs heartbeat "$RUN1"
expect_rc 9 "heartbeat of an ended run"
mc runs get "$RUN1"
expect_rc 0 "runs get"
expect_in "$OUT" "status:" "run record"
expect_in "$OUT" "SUCCESS" "run record status"
mc runs get 99999999
expect_rc 5 "unknown run"

mc files get --source "$SRC" --name "$SEED" --output json
expect_eq "$(js 'd["status"]')" FILE_STATUS_SUCCESS "file SUCCESS after run"
expect_eq "$(js 'd["run_id"]')" "$RUN1" "file linked to its run"
mc files get "$FILE_ID"
expect_in "$OUT" "SUCCESS" "files get by id (table)"
mc files get 99999999
expect_rc 5 "unknown file is NOT_FOUND"
expect_in "$ERR" "metactl: NOT_FOUND: " "NOT_FOUND message"
mc files reset "$FILE_ID"
expect_rc 9 "reset of a SUCCESS file refused"

mc deps ready --batch "$B"
expect_rc 0 "deps ready (table)"
expect_in "$OUT" "calculate_profit" "calculate_profit ready"
mc deps graph --format dot --batch "$B"
expect_in "$OUT" "t$CALC_ID [label=\"calculate_profit\\nready\", fillcolor=\"#a9cdf5\"]" \
  "ready task is blue"
mc runs start calculate_profit --batch "$B" --output json
expect_rc 0 "child starts after parent succeeded"
RUN2=$(js 'd["run"]["id"]')
mc runs finish "$RUN2" --status error --message "division by zero"
expect_rc 0 "runs finish error"

echo "--- batch show and graph"
mc batch show "$B"
expect_rc 0 "batch show"
expect_in "$OUT" "batch_id:" "batch record"
expect_in "$OUT" "1 success, 1 error" "batch counts"
expect_in "$OUT" "division by zero" "latest error shown"
load_line=$(grep -E "^$LOAD_ID +load_sales +SUCCESS +1 " <<<"$OUT")
expect_eq "$([ -n "$load_line" ] && echo yes)" yes "load_sales row SUCCESS"
mc batch show "$B" --output json
expect_eq "$(js '{t["task_name"]: t["status"] for t in d["tasks"]}')" \
  '{"load_sales": "RUN_STATUS_SUCCESS", "calculate_profit": "RUN_STATUS_ERROR"}' \
  "per-task state"
mc batch show no-such-batch
expect_rc 5 "unknown batch"

echo "--- deadlines, freshness, alerts"
mc batch deadline "$B" calculate_profit --at 2000-01-01T00:00:00Z
expect_rc 0 "batch deadline"
expect_in "$OUT" "2000-01-01 00:00:00Z" "deadline echoed"
mc batch show "$B" --output json
expect_eq "$(js '{t["task_name"]: t.get("late", False) for t in d["tasks"]}')" \
  '{"load_sales": false, "calculate_profit": true}' "late per task"
mc batch deadline "$B" calculate_profit
expect_rc 64 "batch deadline needs --at or --clear"
mc tasks update load_sales --expected-duration 90m --output json
expect_rc 0 "tasks update --expected-duration"
expect_eq "$(js 'd["expected_duration"]')" 5400s "expected_duration set"
mc tasks update load_sales --expected-duration "" --output json
expect_eq "$(js 'd.get("expected_duration", "unset")')" unset "expected_duration cleared"
mc sources freshness sales --max-age 1h
expect_rc 0 "sources freshness"
expect_in "$OUT" "stale" "freshness state shown"
mc sources freshness sales --max-age 1ms
expect_rc 3 "a max age under 1s is INVALID_ARGUMENT"
expect_in "$ERR" "max_age: " "names the field"
mc alerts list --kind LATE
expect_rc 3 "unknown alert kind"
mc alerts list
expect_rc 0 "alerts list"

mc deps graph --format dot --batch "$B"
expect_rc 0 "deps graph --batch"
printf '%s\n' "$OUT" >"$work/graph.dot"
expect_eq "$(head -1 "$work/graph.dot")" "digraph metad {" "dot header"
expect_eq "$(tail -1 "$work/graph.dot")" "}" "dot closes"
expect_in "$OUT" "t$LOAD_ID [label=\"load_sales\\nSUCCESS (1 attempt)\", fillcolor=\"#8fd19e\"]" \
  "succeeded task is green"
expect_in "$OUT" "t$CALC_ID [label=\"calculate_profit\\nERROR (1 attempt)\", fillcolor=\"#f4a09c\"]" \
  "failed task is red"
expect_in "$OUT" "  t$LOAD_ID -> t$CALC_ID;" "edge drawn"
expect_in "$OUT" 'label="batch 2024-03"' "batch label"
# Structure: braces balance, every statement line ends with ';'.
bad=$(sed '1d;$d' "$work/graph.dot" | grep -cv ';$')
expect_eq "$bad" 0 "every dot statement ends with ;"
expect_eq "$(grep -c '{' "$work/graph.dot")" "$(grep -c '}' "$work/graph.dot")" \
  "braces balance"
if command -v dot >/dev/null; then
  dot -Tsvg "$work/graph.dot" >"$work/graph.svg" 2>"$work/dot.err"
  RC=$? ERR=$(cat "$work/dot.err")
  expect_rc 0 "graphviz accepts the dot"
else
  echo "(graphviz not installed: structural dot checks only)"
fi
mc deps graph
expect_rc 0 "deps graph without batch"
expect_in "$OUT" "t$CALC_ID [label=\"calculate_profit\"];" "plain node"
expect_eq "$(grep -c fillcolor <<<"$OUT")" 1 "no colours without a batch"
mc deps graph --format svg
expect_rc 64 "unsupported graph format is a usage error"

echo "--- lists, events, dependency queries"
mc runs list --batch "$B" --status error --output json
expect_eq "$(js '[r["task_name"] for r in d["runs"]]')" '["calculate_profit"]' \
  "runs list --status error"
mc runs list --task load_sales
expect_in "$OUT" "load_sales" "runs list table"
mc runs events --batch "$B" --output json
expect_eq "$(js '[e["kind"] for e in d["events"]]')" \
  '["STARTED", "FINISHED", "STARTED", "FINISHED"]' "run events of the batch"
mc runs events "$RUN2" --output json
expect_eq "$(js 'd["events"][-1]["to_status"]')" RUN_STATUS_ERROR "run event"
mc files events "$FILE_ID" --output json
expect_eq "$(js '[e["kind"] for e in d["events"]]')" \
  '["REGISTERED", "CLAIMED", "FINISHED"]' "file events"
mc files events
expect_in "$OUT" "REGISTERED" "all file events (table)"
mc deps list calculate_profit --parents --output json
expect_eq "$(js '[x["parent_task"] for x in d["dependencies"]]')" \
  '["load_sales"]' "deps list --parents"
mc deps list load_sales --children
expect_in "$OUT" "calculate_profit" "deps list --children"
mc deps upstream calculate_profit --output json
expect_eq "$(js '[(t["depth"], t["task"]["name"]) for t in d["tasks"]]')" \
  '[[1, "load_sales"]]' "upstream"
mc deps downstream load_sales --depth 1 --output json
expect_eq "$(js '[t["task"]["name"] for t in d["tasks"]]')" \
  '["calculate_profit"]' "downstream"
mc deps plan calculate_profit --output json
expect_eq "$(js '[[t["name"] for t in l["tasks"]] for l in d["layers"]]')" \
  '[["load_sales"], ["calculate_profit"]]' "execution plan"
mc deps plan calculate_profit
expect_in "$OUT" "LAYER" "plan table"
mc deps plan nope
expect_rc 5 "plan of an unknown task"
mc tasks get load_sales --output json
expect_eq "$(js 'd["id"]')" "$LOAD_ID" "tasks get by name"
mc tasks get "$CALC_ID" --output json
expect_eq "$(js 'd["name"]')" calculate_profit "tasks get by id"
mc tasks list --prefix calc --output json
expect_eq "$(js '[t["name"] for t in d["tasks"]]')" '["calculate_profit"]' \
  "tasks list --prefix"
mc tasks delete load_sales
expect_rc 9 "task with runs is not deleted"

echo "--- complete and reset a file"
mc tasks register ingest
mc files register s3://other a.csv
mc runs start ingest --batch b2 --output json
RUN3=$(js 'd["run"]["id"]')
mc files claim "$RUN3" --limit 5 --source s3://other --output json
A_ID=$(js 'd["files"][0]["id"]')
mc files complete "$A_ID" --run "$RUN3" --status error --message "bad header" \
  --output json
expect_rc 0 "files complete"
expect_eq "$(js 'd["file"]["status"]')" FILE_STATUS_ERROR "completed as ERROR"
mc files complete "$A_ID" --run "$RUN3" --status success
expect_rc 9 "completing twice refused"
mc files reset "$A_ID" --reason "fixed upstream" --output json
expect_rc 0 "files reset"
expect_eq "$(js 'd["file"]["status"]')" FILE_STATUS_NEW "reset to NEW"
mc files list --status new --source s3://other --output json
expect_eq "$(js '[f["id"] for f in d["files"]]')" "[\"$A_ID\"]" \
  "files list --status new"
mc runs finish "$RUN3" --status success

echo "--- file versions and reprocess"
mc files register s3://ver v.csv --checksum c1 --output json
V_ID=$(js 'd["file"]["id"]')
mc files register s3://ver v.csv --checksum c2 --size 5 --output json
expect_eq "$(js 'd["changed"]')" true "new checksum: changed"
expect_eq "$(js 'd["file"]["version"]')" 2 "new checksum: version 2"
mc files register s3://ver v.csv --checksum c2
expect_in "$OUT" "changed:" "table output of register says changed"
mc files events "$V_ID" --output json
expect_eq "$(js '[e["kind"] for e in d["events"]]')" '["REGISTERED", "CHANGED"]' \
  "a CHANGED event"
expect_eq "$(js '[d["events"][1]["previous"]["checksum"], d["events"][1]["current"]["checksum"]]')" \
  '["c1", "c2"]' "CHANGED event's previous and current"
mc files reprocess "$V_ID"
expect_rc 9 "a NEW file is not reprocessed"
mc files reprocess
expect_rc 3 "reprocess needs ids or a filter"
mc tasks register verify
mc runs start verify --batch b3 --output json
RUN4=$(js 'd["run"]["id"]')
mc files claim "$RUN4" --limit 5 --source s3://ver --output json
VER_IDS=$(js '",".join(f["id"] for f in d["files"])')
mc runs finish "$RUN4" --status success --files "$VER_IDS"
mc files reprocess "$V_ID" --reason "new parser" --output json
expect_rc 0 "files reprocess by id"
expect_eq "$(js 'd["file_ids"]')" "[\"$V_ID\"]" "reprocessed ids"
mc files get "$V_ID" --output json
expect_eq "$(js 'd["status"]')" FILE_STATUS_NEW "reprocessed file is NEW"
mc files reprocess --source s3://ver --status success --output json
expect_eq "$(js 'd.get("file_ids", [])')" "[]" "nothing left to reprocess"
mc files reprocess --source s3://ver
expect_in "$OUT" "0 files back to NEW" "reprocess table output"
echo "--- cancel a run, rerun a task"
mc runs start ingest --batch b3 --output json
RUN5=$(js 'd["run"]["id"]')
mc runs cancel "$RUN5" --reason "wrong input" --output json
expect_rc 0 "runs cancel"
expect_eq "$(js 'd["run"]["cancelled"]')" true "cancelled flag"
expect_eq "$(js 'd["run"]["error_message"]')" "cancelled: wrong input" \
  "cancel message"
mc runs cancel "$RUN5"
expect_rc 0 "runs cancel again"
expect_in "$OUT" "replayed" "second cancel is a replay"
mc runs heartbeat "$RUN5"
expect_rc 9 "a cancelled run's heartbeat is refused"
expect_in "$ERR" "reason: RUN_CANCELLED (metad.dev)" "RUN_CANCELLED shown"
mc runs rerun ingest --batch b2 --reason "fixed upstream" --output json
expect_rc 0 "runs rerun"
expect_eq "$(js 'd["tasks"]')" '["ingest"]' "rerun reopened ingest"
expect_eq "$(js 'd["runs_superseded"]')" 1 "rerun superseded the run"
mc runs list --batch b2
expect_in "$OUT" "SUCCESS (superseded)" "superseded run listed"
mc runs start ingest --batch b2 --output json
expect_rc 0 "reopened task starts again"
expect_eq "$(js 'd["run"]["attempt"]')" 2 "attempts keep counting"
mc runs rerun ingest --batch b2
expect_rc 9 "rerun with a PROCESSING run is refused"
expect_in "$ERR" "reason: RUN_IN_PROGRESS (metad.dev)" "RUN_IN_PROGRESS shown"
mc runs rerun nope --batch b2
expect_rc 5 "rerun of an unknown task is NOT_FOUND"
mc runs rerun ingest
expect_rc 64 "rerun without --batch is a usage error"
mc tasks events ingest --output json
expect_rc 0 "tasks events"
expect_eq "$(js '[e["kind"] for e in d["events"]][0]')" REGISTERED \
  "the task's first event is its registration"
expect_eq "$(js '[e["batch_id"] for e in d["events"] if e["kind"] == "REOPENED"]')" \
  '["b2"]' "the rerun is a REOPENED event of its batch"
mc tasks events
expect_in "$OUT" "DEPENDENCY_ADDED" "dependency changes are task events"

echo "--- register-batch and paging"
{
  for i in $(seq 1 2500); do printf 's3://bulk\tpart-%05d.csv\n' "$i"; done
  printf '{"source":"s3://bulk","file_name":"extra.json","size_bytes":7}\n'
  printf '{"source":"%s","file_name":"%s"}\n' "$SRC" "$SEED"
} >"$work/batch.txt"
MC_STDIN=$work/batch.txt mc files register-batch --output json
expect_rc 0 "files register-batch"
expect_eq "$(js 'd["created_count"]')" 2501 "new files counted"
expect_eq "$(js 'len(d["results"])')" 2502 "one result per line"
expect_eq "$(js 'd["results"][-1]["created"]')" false "known file not new"
MC_STDIN=$work/batch.txt mc files register-batch
expect_in "$OUT" "2502 files, 0 new" "second batch registers nothing new"
mc files list --source s3://bulk --all --output json
expect_rc 0 "files list --all"
expect_eq "$(js 'len(d["files"])')" 2501 "every page fetched"
expect_eq "$(js 'len(set(f["id"] for f in d["files"]))')" 2501 "no repeats"
expect_eq "$(js 'd["next_page_token"]')" "" "merged list has no token"
mc files list --source s3://bulk --page-size 1000
expect_eq "$(wc -l <<<"$OUT")" 1001 "one page of 1000 rows plus header"
expect_in "$ERR" "more results: add --page-token" "next page announced"
token=${ERR##*--page-token }
token=${token%% *}
mc files list --source s3://bulk --page-size 1000 --page-token "$token" \
  --output json
expect_eq "$(js 'int(d["files"][0]["id"]) > 0')" true "second page"
printf 'no tab on this line\n' >"$work/bad.txt"
MC_STDIN=$work/bad.txt mc files register-batch
expect_rc 65 "malformed stdin is EX_DATAERR"

echo "--- cleanup commands and local errors"
mc tasks register scratch_task
mc tasks delete scratch_task
expect_rc 0 "tasks delete"
mc tasks get scratch_task
expect_rc 5 "deleted task is gone"
mc deps remove load_sales calculate_profit
expect_rc 0 "deps remove"
mc deps remove load_sales calculate_profit
expect_rc 5 "removing a missing edge"
mc files claim 1
expect_rc 64 "missing --limit is a usage error"
mc files list --page-size 5000
expect_rc 64 "page size out of range is a usage error"
echo tok >"$work/token"
mc tasks list --token-file "$work/token"
expect_rc 0 "token file accepted"
mc tasks list --token-file "$work/missing"
expect_rc 66 "missing token file"
mc --address 127.0.0.1:1 --timeout 1 tasks list
expect_rc 14 "unreachable daemon is UNAVAILABLE"
METAD_ADDRESS=127.0.0.1:1 "$MC" --timeout 1 tasks list >/dev/null 2>&1
RC=$?
expect_rc 14 "METAD_ADDRESS is the default address"

stop_test_daemon || fail "metad did not stop cleanly"

echo "--- tokens and mutual TLS"
(
  set -e
  cd "$work"
  key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  openssl req -x509 $key -days 2 -subj /CN=metactl-test-ca \
    -keyout ca.key -out ca.pem
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
  for n in server client; do
    openssl req $key -subj "/CN=$n" -keyout "$n.key" -out "$n.csr"
    openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
      -days 2 -extfile san.ext -out "$n.pem"
  done
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; exit 1; }
printf 'reader reader-token-0123456789\nadmin admin-token-0123456789\n' >"$work/tokens"
printf 'reader-token-0123456789\n' >"$work/reader"
printf 'admin-token-0123456789\n' >"$work/admin"
start_test_daemon metactl-tls --token_file "$work/tokens" \
  --tls_cert "$work/server.pem" --tls_key "$work/server.key" \
  --tls_client_ca "$work/ca.pem" || exit 1
TLS=(--ca-cert "$work/ca.pem" --client-cert "$work/client.pem"
  --client-key "$work/client.key" --timeout 5)
mc tasks list "${TLS[@]}"
expect_rc 16 "no token is UNAUTHENTICATED"
mc tasks list "${TLS[@]}" --token-file "$work/reader"
expect_rc 0 "reader may list over mTLS"
mc tasks register t1 "${TLS[@]}" --token-file "$work/reader"
expect_rc 7 "reader may not register: PERMISSION_DENIED"
mc tasks register t1 "${TLS[@]}" --token-file "$work/admin" --output json
expect_rc 0 "admin registers over mTLS"
expect_eq "$(js 'd["task"]["name"]')" t1 "registered over mTLS"
mc tasks list --ca-cert "$work/ca.pem" --token-file "$work/admin" --timeout 2
expect_rc 14 "no client certificate: refused"
mc tasks list --token-file "$work/admin" --timeout 2
expect_rc 14 "plaintext to a TLS daemon: refused"
stop_test_daemon || fail "TLS metad did not stop cleanly"

trap 'rm -rf "$work"' EXIT
summary "metactl e2e"
