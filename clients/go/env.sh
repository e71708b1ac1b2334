# Sourced: sets up an offline Go build of the metad Go client with Debian's
# Go 1.19 and Debian's Go sources (no module proxy is needed or used).
#
#   source clients/go/env.sh      # exports GOPATH & co, generates the stubs
#   cd "$METAD_GO_DIR" && go test ./...
#
# How it works: GOPATH mode (GO111MODULE=off), the way Debian builds Go
# packages. GOPATH is a private directory whose src/metad is a symlink to the
# repository root, followed by /usr/share/gocode, where Debian's golang-*-dev
# packages put their sources (grpc-go 1.33, protobuf-go 1.28). The import path
# of the generated stubs, metad/clients/go/metadv1, is the go_package option
# of proto/metad/v1/*.proto. Generated *.pb.go files are never committed.

METAD_GO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export GO111MODULE=off
export GOPROXY=off
export GOFLAGS=
export GOPATH="$METAD_GO_ROOT/clients/go/.gopath:/usr/share/gocode"
# The package directory as the go tool must see it (through GOPATH), so that
# `go test ./...` run there knows its import paths.
export METAD_GO_DIR="$METAD_GO_ROOT/clients/go/.gopath/src/metad/clients/go"

mkdir -p "$METAD_GO_ROOT/clients/go/.gopath/src"
ln -sfn ../../../.. "$METAD_GO_ROOT/clients/go/.gopath/src/metad"

# metad_go_generate: (re)generates clients/go/metadv1/*.pb.go from proto/.
metad_go_generate() {
  local out="$METAD_GO_ROOT/clients/go"
  rm -f "$out"/metadv1/*.pb.go
  mkdir -p "$out/metadv1"
  protoc -I "$METAD_GO_ROOT/proto" -I /usr/include \
    --go_out="$out" --go_opt=module=metad/clients/go \
    --go-grpc_out="$out" --go-grpc_opt=module=metad/clients/go \
    "$METAD_GO_ROOT"/proto/metad/v1/*.proto
}

# metad_go_build_producer OUT: builds the example producer into the file OUT
# (after metad_go_generate).
metad_go_build_producer() {
  local out
  out=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  (cd "$METAD_GO_DIR" && go build -o "$out" ./cmd/producer)
}
