# Sourced: sets up an offline, module-mode build of the metad Go client with
# Debian's Go 1.19 and Debian's Go sources (no module proxy is needed or used).
#
#   source clients/go/env.sh      # exports GOWORK & co
#   cd "$METAD_GO_DIR" && go test ./...
#
# How it works (see README.md, "Building offline"): go.mod is an ordinary
# module file (module github.com/metad-project/metad/clients/go, the versions
# Debian ships). offline_gowork.sh writes clients/go/.offline/go.work, a Go
# workspace that `use`s this module and `replace`s every module of its
# requirement graph with Debian's source tree (/usr/share/gocode/src) or an
# empty stub; GOWORK points the go tool at it. go.mod stays untouched, and
# nothing is downloaded: GOPROXY=off.

METAD_GO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export METAD_GO_DIR="$METAD_GO_ROOT/clients/go"
export GO111MODULE=on
export GOPROXY=off
export GOFLAGS=
export GOWORK="$METAD_GO_DIR/.offline/go.work"
"$METAD_GO_DIR/offline_gowork.sh" "$METAD_GO_DIR/.offline"

# metad_go_generate [OUT]: generates the stubs of proto/metad/v1 into
# OUT/metadv1 (default: clients/go, where they are committed; rerun it after
# changing a .proto, check_stubs.sh compares).
metad_go_generate() {
  local out=${1:-$METAD_GO_DIR}
  mkdir -p "$out/metadv1"
  rm -f "$out"/metadv1/*.pb.go
  protoc -I "$METAD_GO_ROOT/proto" -I /usr/include \
    --go_out="$out" --go_opt=module=github.com/metad-project/metad/clients/go \
    --go-grpc_out="$out" --go-grpc_opt=module=github.com/metad-project/metad/clients/go \
    "$METAD_GO_ROOT"/proto/metad/v1/*.proto
}

# metad_go_build_producer OUT: builds the example producer into the file OUT.
metad_go_build_producer() {
  local out
  out=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  (cd "$METAD_GO_DIR" && go build -o "$out" ./cmd/producer)
}
