#!/usr/bin/env bash
# Generates the Python stubs from proto/ (in-tree, clients/python/metad) and
# runs the Python client's tests against a real metad (the tests start their
# own on a fresh database; test_install.py pip-installs the package into a
# throwaway venv).
#   METAD_TEST_PG="host=... port=5432 user=postgres" METAD_BIN_DIR=build \
#     clients/python/run_tests.sh [pytest args...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${METAD_TEST_PG:?set METAD_TEST_PG (scripts/test.sh exports it)}"
: "${METAD_BIN_DIR:?set METAD_BIN_DIR to the build directory holding metad}"
METAD_BIN_DIR=$(cd "$METAD_BIN_DIR" && pwd)
[ -x "$METAD_BIN_DIR/metad" ] || { echo "no metad in $METAD_BIN_DIR" >&2; exit 1; }
export METAD_BIN_DIR
cd "$here"
# Debian's python3 with python3-grpcio/protobuf/pytest, not a pyenv python3.
PY=/usr/bin/python3
"$PY" codegen.py >/dev/null
exec "$PY" -m pytest -q -p no:cacheprovider tests "$@"
