#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DMETAD_SANITIZE=ON) in build-asan and runs the whole C++ suite (ctest)
# under them against a throwaway PostgreSQL, like scripts/test.sh. Any ASan
# error, leak or UBSan report fails the test that hit it; the daemons the
# end-to-end tests spawn are the sanitized metad too.
#
#   scripts/sanitize.sh                 build + every ctest entry
#   scripts/sanitize.sh -R bad_input    extra arguments go to ctest
#
# METAD_SANITIZE_TARGETS="metad bad_input_pgtest" builds only those targets
# (about 90 files to compile otherwise); pass the matching -R to ctest.
# METAD_ASAN_BUILD_DIR overrides the build directory, METAD_JOBS the
# parallelism (default 2). Prints how long the build and the tests took.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

METAD_BUILD_DIR=${METAD_ASAN_BUILD_DIR:-$METAD_ROOT/build-asan}
# -O1 is what ASan recommends; -g1 (line tables) is enough for its stack
# traces and compiles much faster than full debug info. Asserts stay on. (A
# build type of our own has no flags of its own; CXXFLAGS is read when the
# build directory is first configured.)
METAD_BUILD_TYPE=Sanitize
export CXXFLAGS="${CXXFLAGS:--O1 -g1}"
# The benchmark harness has no tests, and the fuzzer is built with both
# sanitizers in every build (tests/bad_input/fuzz.cmake): skip them here.
METAD_CMAKE_ARGS="-DMETAD_SANITIZE=ON -DMETAD_BUILD_BENCH=OFF -DMETAD_FUZZ=OFF ${METAD_CMAKE_ARGS:-}"

install_packages "${METAD_PACKAGES[@]}"

started=$(date +%s)
if [ -n "${METAD_SANITIZE_TARGETS:-}" ]; then
  say "building $METAD_SANITIZE_TARGETS in $METAD_BUILD_DIR"
  cmake -S "$METAD_ROOT" -B "$METAD_BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=$METAD_BUILD_TYPE ${METAD_CMAKE_ARGS} >/dev/null
  # shellcheck disable=SC2086  # a list of targets
  cmake --build "$METAD_BUILD_DIR" -j "${METAD_JOBS:-2}" \
    --target $METAD_SANITIZE_TARGETS
else
  build_metad
fi
built=$(date +%s)

work=$(mktemp -d /tmp/metad-asan.XXXXXX)
chmod 755 "$work"
cleanup() { pg_stop "$work/pgdata"; rm -rf "$work"; }
trap cleanup EXIT
pg_start "$work/pgdata" "$work/sock" fsync=off synchronous_commit=off \
  full_page_writes=off max_connections=300
export METAD_TEST_PG="host=$work/sock port=5432 user=postgres"
export METAD_BIN_DIR=$METAD_BUILD_DIR

# Leaks are reported at exit. No suppressions are needed today: every
# leak report is a finding (add one here only with the reason next to it).
cat >"$work/lsan.supp" <<'EOF'
EOF
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0:print_summary=1"
export LSAN_OPTIONS="suppressions=$work/lsan.supp:print_suppressions=0"
# UBSan only prints by default; make every report fail its test.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

say "C++ suites under ASan+UBSan (ctest in $METAD_BUILD_DIR)"
failed=0
(cd "$METAD_BUILD_DIR" && ctest --output-on-failure -j "${METAD_JOBS:-2}" \
  --timeout 1200 "$@") || failed=1
finished=$(date +%s)

say "build $((built - started)) s, tests $((finished - built)) s, total $((finished - started)) s"
if [ $failed -ne 0 ]; then
  say "FAILED under sanitizers"
  exit 1
fi
say "all suites passed under ASan+UBSan"
