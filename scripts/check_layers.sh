#!/usr/bin/env bash
# The rooms of the tree and whom each may include (docs/architecture.md).
# Fails naming the file and the include that crosses a wall. Run by
# scripts/test.sh before the build; needs nothing but bash and grep.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

# room: the rooms (besides itself) it may include.
declare -A allowed=(
  [common]=""
  [store]="common"
  [daemon/rpc]="common store"
  [daemon/http]="common store daemon/rpc"
  [daemon/background]="common store daemon/http"
  [daemon/services]="common store daemon/rpc daemon/background"
  [daemon/app]="common store daemon/rpc daemon/http daemon/background daemon/services"
  [clients/cpp]=""
  [clients/cpp/include/metad/client]="clients/cpp"  # its public headers
)

violations=0
for room in "${!allowed[@]}"; do
  for file in "$room"/*.h "$room"/*.cc; do
    [ -f "$file" ] || continue
    while IFS= read -r line; do
      inc=$(sed -E 's/^#include "([^"]+)".*/\1/' <<<"$line")
      case "$inc" in
        metad/v1/* | google/* | grpc/*) continue ;;  # generated protos
        # The C++ client's public headers, as installed.
        metad/client/*) inc="clients/cpp/include/$inc" ;;
      esac
      target=$(sed -E 's#^(daemon/[a-z_]+|clients/[a-z_]+|[a-z_]+)/.*#\1#' <<<"$inc")
      [ "$target" = "$room" ] && continue
      case " ${allowed[$room]} " in
        *" $target "*) continue ;;
      esac
      echo "$file: includes $inc ($room may not use $target)"
      violations=$((violations + 1))
    done < <(grep -E '^#include "' "$file" | grep -v '^#include "absl/')
  done
done
# libpqxx is spoken in store/ only.
while IFS= read -r hit; do
  echo "$hit: libpqxx outside store/"
  violations=$((violations + 1))
done < <(grep -l -E '#include <pqxx/' common/* daemon/*/* clients/cpp/* 2>/dev/null)

if [ "$violations" -ne 0 ]; then
  echo "check_layers: $violations include(s) cross a wall"
  exit 1
fi
echo "check_layers: every room includes only what it may"
