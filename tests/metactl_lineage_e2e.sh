#!/usr/bin/env bash
# End to end: outputs and lineage through the built metactl against a real
# metad (scripts/daemon_for_tests.sh): `runs outputs`, then `lineage` as a
# table, JSON and dot, and its refusals (exit codes: gRPC codes; 64 for a
# bad command line).
#   METAD_TEST_PG=... METAD_BIN_DIR=build-dir bash tests/metactl_lineage_e2e.sh
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
work=$(mktemp -d /tmp/metactl-lineage.XXXXXX)
trap 'stop_test_daemon >/dev/null 2>&1; rm -rf "$work"' EXIT
start_test_daemon metactl-lineage || exit 1

# shellcheck source=support/metactl_e2e_lib.sh
source "$here/support/metactl_e2e_lib.sh"

echo "--- a two-step pipeline: raw/in0 -> a -> mid/mid0 -> b -> out/out0"
mc tasks register a
mc tasks register b
mc files register raw in0 --output json
IN0=$(js 'd["file"]["id"]')
mc runs start a --batch b1 --output json
A=$(js 'd["run"]["id"]')
mc files claim "$A" --limit 10 --source raw
expect_rc 0 "a claims in0"
mc runs outputs "$A" mid0 --source mid --output json
expect_rc 0 "runs outputs"
expect_eq "$(js '[o["created"] for o in d["outputs"]]')" '[true]' "created"
MID0=$(js 'd["outputs"][0]["file"]["id"]')
mc runs outputs "$A" mid0 --source mid
expect_rc 0 "runs outputs again (table)"
expect_in "$OUT" "false" "recorded again: not created"
mc runs finish "$A" --status success
expect_rc 0 "a finishes"
mc runs outputs "$A" late --source mid
expect_rc 9 "outputs of an ended run: FAILED_PRECONDITION"
expect_in "$ERR" "RUN_ENDED" "reason shown"
mc runs start b --batch b1 --output json
B=$(js 'd["run"]["id"]')
mc files claim "$B" --limit 10 --source mid
mc runs outputs "$B" out0 --source out --output json
OUT0=$(js 'd["outputs"][0]["file"]["id"]')
mc runs finish "$B" --status success
expect_rc 0 "b finishes"

echo "--- lineage"
mc lineage --file "$OUT0" --up --depth 16 --output json
expect_rc 0 "lineage upstream, JSON"
expect_eq "$(js '[(e["depth"], e["kind"], e["run_id"], e["file_id"]) for e in d["edges"]]')" \
  "[[1, \"LINEAGE_EDGE_KIND_OUTPUT\", \"$B\", \"$OUT0\"], [2, \"LINEAGE_EDGE_KIND_INPUT\", \"$B\", \"$MID0\"], [3, \"LINEAGE_EDGE_KIND_OUTPUT\", \"$A\", \"$MID0\"], [4, \"LINEAGE_EDGE_KIND_INPUT\", \"$A\", \"$IN0\"]]" \
  "upstream edges"
expect_eq "$(js 'sorted(f["file_name"] for f in d["files"])')" \
  '["in0", "mid0", "out0"]' "files carried"
mc lineage --file "$IN0" --down --depth 2
expect_rc 0 "lineage downstream, table"
expect_in "$OUT" "DEPTH" "table header"
expect_in "$OUT" "mid0" "downstream output named"
mc lineage --run "$A" --dot
expect_rc 0 "lineage --dot"
expect_in "$OUT" "digraph lineage {" "dot header"
expect_in "$OUT" "f$IN0 -> r$A;" "input edge"
expect_in "$OUT" "r$A -> f$MID0;" "output edge"
expect_in "$OUT" "r$A [shape=box" "run node"
if command -v dot >/dev/null; then
  printf '%s\n' "$OUT" | dot -Tsvg >/dev/null 2>"$work/dot.err"
  RC=$?
  expect_rc 0 "dot accepts it"
fi

echo "--- refusals"
mc lineage
expect_rc 64 "no start"
mc lineage --file 1 --run 1
expect_rc 64 "two starts"
mc lineage --file 1 --up --down
expect_rc 64 "up and down"
mc lineage --file "$IN0" --depth 1000000000
expect_rc 3 "depth 10^9 is INVALID_ARGUMENT"
expect_in "$ERR" "max_depth" "names the field"
mc lineage --file 99999999
expect_rc 5 "unknown file is NOT_FOUND"
mc lineage --help
expect_rc 0 "help"
expect_in "$OUT" "usage: metactl lineage [flags]" "usage line"

stop_test_daemon || fail "metad did not stop cleanly"
trap 'rm -rf "$work"' EXIT
summary "metactl lineage e2e"
