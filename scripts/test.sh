#!/usr/bin/env bash
# The second command: install what is missing, build, start a throwaway
# PostgreSQL, run every test suite against it, and drop it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages "${METAD_PACKAGES[@]}" "${METAD_TEST_PACKAGES[@]}"
# The proto is the contract: every item documented, docs/api.md current.
/usr/bin/python3 "$METAD_ROOT/scripts/gen_api_docs.py" --lint ||
  die "undocumented items in proto/ (listed above)"
/usr/bin/python3 "$METAD_ROOT/scripts/gen_api_docs.py" --check ||
  die "docs/api.md is stale: run scripts/gen_api_docs.py"
# Each room includes only what it may (docs/architecture.md).
bash "$METAD_ROOT/scripts/check_layers.sh" || die "an include crosses a wall"
build_metad

work=$(mktemp -d /tmp/metad-test.XXXXXX)
chmod 755 "$work"
cleanup() { pg_stop "$work/pgdata"; rm -rf "$work"; }
trap cleanup EXIT
# Durability is not under test here: fsync off keeps the suite fast.
pg_start "$work/pgdata" "$work/sock" fsync=off synchronous_commit=off \
  full_page_writes=off max_connections=300
export METAD_TEST_PG="host=$work/sock port=5432 user=postgres"
export METAD_BIN_DIR=$METAD_BUILD_DIR
say "PostgreSQL for tests at $work/sock"

failed=0
say "C++ suites (ctest)"
(cd "$METAD_BUILD_DIR" && ctest --output-on-failure -j "${METAD_JOBS:-2}" \
  ${METAD_CTEST_ARGS:-}) || failed=1

say "Fault injection, short version (scripts/faults.sh; --long for the full one)"
bash "$METAD_ROOT/scripts/faults.sh" --no-build || failed=1

say "Python client (pytest)"
"$METAD_ROOT/clients/python/run_tests.sh" || failed=1

say "Go client (go test)"
"$METAD_ROOT/clients/go/run_tests.sh" || failed=1

say "Node client (node --test)"
"$METAD_ROOT/clients/node/run_tests.sh" || failed=1

say "proto/ through buf: lint, format, breaking against the previous commit"
bash "$METAD_ROOT/scripts/proto_check.sh" || failed=1

say "Status page in headless Chromium (screenshot: $METAD_BUILD_DIR/test-artifacts/status_page.png)"
bash "$METAD_ROOT/tests/status_page_e2e.sh" || failed=1

say "Cross-language pipeline (Go producer, Python and Node workers, metactl) and reflection"
bash "$METAD_ROOT/tests/crosslang_e2e.sh" || failed=1

say "README's grpcurl tour through buf curl (reflection v1 and v1alpha, health)"
bash "$METAD_ROOT/tests/grpcurl_tour_e2e.sh" || failed=1

say "metad behind PgBouncer in session mode (migrations, claims, a watch stream)"
bash "$METAD_ROOT/tests/pgbouncer_e2e.sh" || failed=1

say "deploy/ checks"
bash "$METAD_ROOT/deploy/validate.sh" || failed=1

if [ $failed -ne 0 ]; then
  say "FAILED"
  exit 1
fi
say "all suites passed"
