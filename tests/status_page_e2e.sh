#!/usr/bin/env bash
# The status page in headless Chromium against a running metad: starts a
# daemon with the operator HTTP port on, then tests/status_page/
# browser_check.js (Node, DevTools protocol over a pipe) creates a batch with
# metactl, checks what the page shows, finishes a run while it is open and
# waits for the page to show it. Keeps a screenshot in
# $METAD_BUILD_DIR/test-artifacts/status_page.png.
# Needs METAD_TEST_PG and METAD_BIN_DIR (scripts/test.sh exports them),
# node >= 18 and chromium (scripts/lib.sh METAD_PACKAGES).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/daemon_for_tests.sh"
trap 'stop_test_daemon || true' EXIT

command -v node >/dev/null || { echo "FAIL: node is not installed (clients/node/run_tests.sh installs it)" >&2; exit 1; }
chromium=${METAD_CHROMIUM:-$(command -v chromium || true)}
[ -n "$chromium" ] || { echo "FAIL: chromium is not installed (scripts/lib.sh installs it)" >&2; exit 1; }
artifacts=${METAD_ARTIFACT_DIR:-$METAD_BIN_DIR/test-artifacts}
mkdir -p "$artifacts"

http_port=$(free_port)
start_test_daemon status_page --metrics_listen "127.0.0.1:$http_port"
node "$root/tests/status_page/browser_check.js" \
  --metactl "$METAD_BIN_DIR/metactl" --address "$METAD_ADDRESS" \
  --http "$http_port" --chromium "$chromium" \
  --screenshot "$artifacts/status_page.png"
stop_test_daemon
