#!/usr/bin/env bash
# Installs what the Go client needs (Debian packages only: Go 1.19, grpc-go
# and protobuf-go sources, protoc plugins), checks that the committed stubs
# match proto/ (check_stubs.sh), and runs `go vet` and `go test` offline in
# module mode, then the install test (a consumer module, install_test.sh). The tests start their own metad
# on a fresh database (or use METAD_ADDRESS when set).
#   METAD_TEST_PG="host=... port=5432 user=postgres" METAD_BIN_DIR=build-x \
#     clients/go/run_tests.sh [go test flags...]
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

# golang-github-golang-protobuf-1-5-dev, not the 1-3 one that grpc-go's
# package also accepts: 1.3 cannot marshal the stubs protoc-gen-go 1.28
# generates (it panics "protobuf tag not enough fields"). apt replaces 1-3.
GO_PACKAGES=(
  golang-go golang-google-grpc-dev golang-google-protobuf-dev
  golang-google-genproto-dev  # errdetails: decoding metad's error details
  golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc
  protobuf-compiler libprotobuf-dev postgresql-client-15
)
install_packages "${GO_PACKAGES[@]}"

if [ -z "${METAD_ADDRESS:-}" ]; then
  : "${METAD_TEST_PG:?set METAD_TEST_PG (scripts/test.sh exports it) or METAD_ADDRESS}"
  : "${METAD_BIN_DIR:?set METAD_BIN_DIR to the build directory holding metad}"
  METAD_BIN_DIR=$(cd "$METAD_BIN_DIR" && pwd)
  [ -x "$METAD_BIN_DIR/metad" ] || die "no metad in $METAD_BIN_DIR"
  export METAD_BIN_DIR
fi
export METAD_REQUIRE_DAEMON=1 # a missing daemon fails the tests, never skips them

source "$METAD_ROOT/clients/go/env.sh"
"$METAD_GO_DIR/check_stubs.sh"
cd "$METAD_GO_DIR"
unformatted=$(gofmt -l metad cmd internal)
[ -z "$unformatted" ] || die "gofmt wants to change: $unformatted"
go vet ./...
go test -count=1 "$@" ./...
"$METAD_GO_DIR/install_test.sh"
