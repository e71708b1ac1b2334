#!/usr/bin/env bash
# Fails when the committed Go stubs (clients/go/metadv1/*.pb.go) are not what
# protoc with Debian's protoc-gen-go and protoc-gen-go-grpc generates from
# proto/metad/v1 today: regenerates them into a temporary directory and diffs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"
tmp=$(mktemp -d /tmp/metad-go-stubs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
metad_go_generate "$tmp"
if ! diff -ru -x doc.go "$here/metadv1" "$tmp/metadv1" >"$tmp/diff"; then
  head -40 "$tmp/diff" >&2
  cat >&2 <<MSG
FAIL: clients/go/metadv1 is stale: the committed Go stubs differ from what
proto/metad/v1/*.proto generates (diff above). Regenerate and commit them:
    source clients/go/env.sh && metad_go_generate && git add clients/go/metadv1
MSG
  exit 1
fi
echo "clients/go/metadv1: the committed stubs match proto/metad/v1"
