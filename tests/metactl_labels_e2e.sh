#!/usr/bin/env bash
# End to end: labels and search (issue 15) through the built metactl
# against a real metad: runs start --label, runs list --label/--selector,
# files list --attr, watch runs --label, watch files --attr, and a bad
# selector refused naming its term.
#   METAD_TEST_PG=... METAD_BIN_DIR=build-dir bash tests/metactl_labels_e2e.sh
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
work=$(mktemp -d /tmp/metactl-labels.XXXXXX)
trap 'stop_test_daemon >/dev/null 2>&1; rm -rf "$work"' EXIT
start_test_daemon metactl_labels || exit 1

# shellcheck source=support/metactl_e2e_lib.sh
source "$here/support/metactl_e2e_lib.sh"

# ids: the ids of the JSON answer's `runs` or `files`, space-separated.
ids() { js "' '.join(str(x['id']) for x in d['$1'])"; }

echo "--- runs carry labels"
mc tasks register load --output json
expect_rc 0 "tasks register"
mc runs start load --batch b1 --label env=prod --label sha=4f2a --output json
expect_rc 0 "runs start with labels"
expect_eq "$(js 'd["run"]["labels"]["env"]')" prod "label env"
expect_eq "$(js 'd["run"]["labels"]["sha"]')" 4f2a "label sha"
PROD=$(js 'd["run"]["id"]')
mc runs start load --batch b2 --label env=dev --output json
expect_rc 0 "runs start b2"
DEV=$(js 'd["run"]["id"]')
mc runs get "$PROD"
expect_in "$OUT" "env=prod,sha=4f2a" "labels in the table"
mc runs start load --batch b3 --label "bad key=1"
expect_rc 3 "bad label key is INVALID_ARGUMENT"
expect_in "$ERR" 'labels: key "bad key" must be [A-Za-z0-9._/-] only' \
  "bad label named"

echo "--- runs list by label"
mc runs list --label env=prod --output json
expect_eq "$(ids runs)" "$PROD" "runs list --label env=prod"
mc runs list --label env --page-size 1 --all --output json
expect_eq "$(ids runs)" "$PROD $DEV" "runs list --label env (paged)"
mc runs list --label env=prod --label sha --output json
expect_eq "$(ids runs)" "$PROD" "two terms: AND"
mc runs list --selector env=dev --output json
expect_eq "$(ids runs)" "$DEV" "runs list --selector"
mc runs list --selector "env=prod,,sha"
expect_rc 3 "bad selector is INVALID_ARGUMENT"
expect_in "$ERR" 'label_selector: term 2 "": is empty' "bad term named"

echo "--- files list by attribute"
mc files register s3://x a.csv --attr region=eu --attr "a,b=x=y" --output json
EU=$(js 'd["file"]["id"]')
mc files register s3://x b.csv --attr region=us --output json
US=$(js 'd["file"]["id"]')
mc files list --attr region=eu --output json
expect_eq "$(ids files)" "$EU" "files list --attr region=eu"
mc files list --attr "a,b=x=y" --output json
expect_eq "$(ids files)" "$EU" "an attribute with ',' and '=' (escaped)"
mc files list --attr region --output json
expect_eq "$(ids files)" "$EU $US" "files list --attr region"

echo "--- watch streams by label and attribute"
mc watch runs --after -1 --label env=dev --limit 1 --output json
expect_rc 0 "watch runs --label"
expect_eq "$(js 'd["event"]["run_id"]')" "$DEV" "watch runs --label env=dev"
mc watch files --after -1 --attr region=us --limit 1 --output json
expect_rc 0 "watch files --attr"
expect_eq "$(js 'd["event"]["file_id"]')" "$US" "watch files --attr region=us"

summary "metactl labels e2e"
