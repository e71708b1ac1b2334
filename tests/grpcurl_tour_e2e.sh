#!/usr/bin/env bash
# README's grpcurl tour through a reflection client nobody here wrote: `buf
# curl` (npm @bufbuild/buf, pinned by tests/grpcurl_tour/package-lock.json),
# which resolves services the way grpcurl does (reflection v1, then v1alpha).
# Starts a fresh metad and replays README.md's "### With grpcurl" block call
# by call (tests/grpcurl_tour/replay.py); also checks that reflection v1 and
# v1alpha both describe every service they list, health and reflection
# included (issue 13).
# Needs METAD_TEST_PG and METAD_BIN_DIR (scripts/test.sh exports them) and
# node/npm (clients/node/run_tests.sh installs them). buf is installed under
# $METAD_BIN_DIR/grpcurl_tour, again only when the lock file changed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/daemon_for_tests.sh"
source "$root/scripts/lib.sh"
trap 'stop_test_daemon || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v npm >/dev/null ||
  fail "npm is not installed (clients/node/run_tests.sh installs it)"
: "${METAD_BIN_DIR:?run through scripts/test.sh}"
METAD_BIN_DIR=$(cd "$METAD_BIN_DIR" && pwd)

buf=$(ensure_buf "$METAD_BIN_DIR/grpcurl_tour")
dir=$METAD_BIN_DIR/grpcurl_tour
"$buf" --version >/dev/null || fail "$buf does not run"
# buf keeps a cache; keep it out of $HOME.
export BUF_CACHE_DIR=$dir/cache

start_test_daemon grpcurl_tour
/usr/bin/python3 "$root/tests/grpcurl_tour/replay.py" --buf "$buf" \
  --address "$METAD_ADDRESS" --readme "$root/README.md"
stop_test_daemon
