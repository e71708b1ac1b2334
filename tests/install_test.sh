#!/usr/bin/env bash
# `cmake --install` of a client-only build (METAD_CLIENT_ONLY) into a fresh
# prefix, then tests/install_consumer, an outside project, built against it
# with find_package(metad_client) and run against a real metad (the main
# build's). Also checks that the client-only configure looked for none of
# the daemon's dependencies (libpqxx, prometheus-cpp, GoogleTest).
#   bash tests/install_test.sh SOURCE_DIR BUILD_DIR
# The client-only build lives in BUILD_DIR/install_test/build and is kept,
# so a rerun is incremental; ccache (CCACHE_BASEDIR = the source tree) serves
# a fresh checkout at another path. Exits 77 (skipped) without METAD_TEST_PG.
set -euo pipefail

src=$(cd "$1" && pwd)
main_build=$(cd "$2" && pwd)
if [ -z "${METAD_TEST_PG:-}" ]; then
  echo "SKIP: needs METAD_TEST_PG (run scripts/test.sh)"
  exit 77
fi
export METAD_BIN_DIR=${METAD_BIN_DIR:-$main_build}
work=$main_build/install_test
prefix=$work/prefix
rm -rf "$prefix" "$work/consumer"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=$src
fi

echo "--- configure and build the client only"
cmake -S "$src" -B "$work/build" -G Ninja -DMETAD_CLIENT_ONLY=ON \
  -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >"$work.configure.log"
for dep in PQXX_FOUND prometheus-cpp_DIR GTest_DIR PostgreSQL; do
  if grep -q "^$dep" "$work/build/CMakeCache.txt"; then
    echo "FAIL: the client-only configure looked for $dep" >&2
    exit 1
  fi
done
cmake --build "$work/build" -j "${METAD_JOBS:-2}"
cmake --install "$work/build" --prefix "$prefix" >/dev/null

for f in bin/metactl include/metad/client/metad_client.h \
  include/metad/client/watch.h include/metad/v1/watch.grpc.pb.h \
  include/metad/v1/files.proto lib/libmetad_client.a lib/libmetad_proto.a \
  lib/cmake/metad_client/metad_clientConfig.cmake; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f is not installed" >&2; exit 1; }
done
if [ -e "$prefix/bin/metad" ]; then
  echo "FAIL: a client-only install has bin/metad" >&2
  exit 1
fi

echo "--- build tests/install_consumer against $prefix"
cmake -S "$src/tests/install_consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >/dev/null
cmake --build "$work/consumer"

echo "--- run it against a real metad"
# shellcheck source=../scripts/daemon_for_tests.sh
source "$src/scripts/daemon_for_tests.sh"
trap 'stop_test_daemon >/dev/null 2>&1' EXIT
start_test_daemon install_consumer
out=$("$work/consumer/consumer" "$METAD_ADDRESS")
echo "$out"
[ "$out" == "claimed incoming/a.csv in run 1; first event REGISTERED of a.csv" ] ||
  { echo "FAIL: unexpected consumer output" >&2; exit 1; }
# The installed metactl sees what the consumer did.
status=$("$prefix/bin/metactl" --address "$METAD_ADDRESS" --output json \
  files get 1 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[ "$status" == FILE_STATUS_SUCCESS ] ||
  { echo "FAIL: installed metactl: file 1 is $status" >&2; exit 1; }
echo "install_test: ok"
