#!/usr/bin/env bash
# Installs the Node client's packages (npm ci from package-lock.json) and
# runs its tests with node's test runner. The tests start their own metad
# on a fresh database (or use METAD_ADDRESS when set); test/install.test.js
# packs the client (npm pack), installs it into an empty temporary folder and
# runs a worker and tsc there.
#   METAD_TEST_PG="host=... port=5432 user=postgres" METAD_BIN_DIR=build-x \
#     clients/node/run_tests.sh [node --test flags...]
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

# Node >= 18 (node:test, util.parseArgs). A machine that has node from
# elsewhere (with its own npm) keeps it: Debian's npm would conflict.
command -v node >/dev/null || install_packages nodejs
command -v npm >/dev/null || install_packages npm
# golang-github-gogo-googleapis-dev: google/rpc protos (errorDetails, npm pack).
install_packages openssl postgresql-client-15 golang-github-gogo-googleapis-dev
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old: the tests need node 18 or later"

if [ -z "${METAD_ADDRESS:-}" ]; then
  : "${METAD_TEST_PG:?set METAD_TEST_PG (scripts/test.sh exports it) or METAD_ADDRESS}"
  : "${METAD_BIN_DIR:?set METAD_BIN_DIR to the build directory holding metad}"
  METAD_BIN_DIR=$(cd "$METAD_BIN_DIR" && pwd)
  [ -x "$METAD_BIN_DIR/metad" ] || die "no metad in $METAD_BIN_DIR"
  export METAD_BIN_DIR
fi
export METAD_REQUIRE_DAEMON=1 # a missing daemon fails the tests, never skips them

cd "$METAD_ROOT/clients/node"
# Reinstall only when package-lock.json changed since the last npm ci.
stamp=node_modules/.metad-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
node --test "$@" test/*.test.js
