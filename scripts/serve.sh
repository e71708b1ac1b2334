#!/usr/bin/env bash
# The first command: install what is missing, build, start a private
# PostgreSQL under .metad/ (kept between runs), migrate and serve metad on
# 127.0.0.1:50051 until Ctrl-C, then stop that PostgreSQL.
# Pass metad serve flags after the script, e.g. --listen 127.0.0.1:6000.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages "${METAD_PACKAGES[@]}"
build_metad

state=$(pg_reachable_dir "${METAD_DATA_DIR:-$METAD_ROOT/.metad}")
sock=$(mktemp -d /tmp/metad-pg.XXXXXX)
pg_start "$state/pgdata" "$sock"
cleanup() { pg_stop "$state/pgdata"; rm -rf "$sock"; }
trap cleanup EXIT
pg_as_owner "$PG_BIN/psql" -h "$sock" -U postgres -d postgres -Atqc \
  "SELECT 1 FROM pg_database WHERE datname = 'metad'" | grep -q 1 ||
  pg_as_owner "$PG_BIN/createdb" -h "$sock" -U postgres metad

export METAD_DATABASE_URL="host=$sock port=5432 user=postgres dbname=metad"
say "PostgreSQL data in $state/pgdata; serving until Ctrl-C"
# Not exec: the trap must stop PostgreSQL when metad exits.
"$METAD_BUILD_DIR/metad" serve "$@" &
metad_pid=$!
trap 'kill -TERM $metad_pid 2>/dev/null || true' INT TERM
wait $metad_pid || true
wait $metad_pid 2>/dev/null || true
