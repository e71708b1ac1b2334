#!/usr/bin/env bash
# The API's hygiene, checked by buf (proto/buf.yaml): lint (STANDARD and
# COMMENTS, with the AIP-correct exceptions marked in the files), format, and
# no breaking change against the previous commit's proto/. Run by
# scripts/test.sh after the Node suite (which installs npm).
#   scripts/proto_check.sh [--against GIT_REF]   (default HEAD~1)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
against=HEAD~1
[ "${1:-}" = --against ] && against=$2

command -v npm >/dev/null || die "npm is not installed (clients/node/run_tests.sh installs it)"
buf=$(ensure_buf "$METAD_BUILD_DIR/grpcurl_tour")
export BUF_CACHE_DIR=$METAD_BUILD_DIR/grpcurl_tour/cache
cd "$METAD_ROOT/proto"

failed=0
"$buf" lint || { say "buf lint: the findings above break proto/buf.yaml's rules"; failed=1; }
"$buf" format --diff --exit-code ||
  { say "buf format: run \`buf format -w proto\` (diff above)"; failed=1; }
if git -C "$METAD_ROOT" rev-parse -q --verify "$against^{commit}" >/dev/null; then
  "$buf" breaking --against "$METAD_ROOT/.git#ref=$against,subdir=proto" ||
    { say "buf breaking: proto/ breaks compatibility with $against (above)"; failed=1; }
else
  say "buf breaking skipped: no commit $against in this clone (shallow?)"
fi
[ $failed -eq 0 ] && say "proto/: lint, format and compatibility with $against hold"
exit $failed
