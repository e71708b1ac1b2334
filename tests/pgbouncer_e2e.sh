#!/usr/bin/env bash
# metad behind Debian's PgBouncer 1.18 in session mode (docs/scaling.md,
# "Connections and poolers"): migrations, writes, claims from several
# clients at once and a watch stream (LISTEN) all go through the pooler, and
# the pooler's own console shows that they did.
# Needs METAD_TEST_PG and METAD_BIN_DIR (scripts/test.sh exports them).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/daemon_for_tests.sh"
work=$(mktemp -d /tmp/metad-pgbouncer.XXXXXX)
chmod 755 "$work"
bouncer_pid=
watch_pid=
cleanup() {
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
  stop_test_daemon || true
  [ -n "$bouncer_pid" ] && kill "$bouncer_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work/bouncer.log" "$work/metad.log"; do [ -f "$f" ] && tail -15 "$f" >&2; done
  exit 1
}
pass() { echo "ok: $*"; }

# PgBouncer refuses to run as root: as root it runs as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The test cluster's socket directory, from METAD_TEST_PG (host=DIR ...).
pg_sock=$(sed -n 's/.*host=\([^ ]*\).*/\1/p' <<<"$METAD_TEST_PG")
[ -d "$pg_sock" ] || fail "cannot read the socket directory from METAD_TEST_PG"
bouncer_port=$(free_port)
mkdir -p "$work/sock"
[ "$(id -u)" -eq 0 ] && chown postgres "$work" "$work/sock"
printf '"postgres" ""\n' >"$work/users.txt"
# Session mode, and fewer server connections than metad's pool would like
# across both daemons: the pooler is the one place that caps them.
cat >"$work/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_sock port=5432
[pgbouncer]
listen_addr =
listen_port = $bouncer_port
unix_socket_dir = $work/sock
auth_type = trust
auth_file = $work/users.txt
admin_users = postgres
pool_mode = session
default_pool_size = 20
max_client_conn = 200
logfile = $work/bouncer.log
pidfile = $work/bouncer.pid
EOF
as_owner pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 &
bouncer_pid=$!
for _ in $(seq 1 50); do
  [ -S "$work/sock/.s.PGSQL.$bouncer_port" ] && break
  kill -0 "$bouncer_pid" 2>/dev/null || fail "pgbouncer exited"
  sleep 0.1
done
[ -S "$work/sock/.s.PGSQL.$bouncer_port" ] || fail "pgbouncer did not listen"

# A fresh database, then metad whose only route to it is the pooler: its
# migrations (session advisory lock), prepared statements and LISTEN too.
db_url=$(create_test_database pgbouncer)
db_name=$(sed -n 's/.*dbname=\([^ ]*\).*/\1/p' <<<"$db_url")
via_bouncer="host=$work/sock port=$bouncer_port user=postgres dbname=$db_name"
start_test_daemon_on() {
  local port log
  port=$(free_port)
  log=$work/metad.log
  "$METAD_BIN_DIR/metad" serve --listen "127.0.0.1:$port" --database "$via_bouncer" \
    --pool_size 8 --reaper_interval 0.2 >"$log" 2>&1 &
  METAD_PID=$!
  METAD_ADDRESS=127.0.0.1:$port
  METAD_DAEMON_LOG=$log
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$METAD_PID" 2>/dev/null || { cat "$log" >&2; fail "metad exited"; }
    sleep 0.1
  done
  fail "metad did not listen"
}
start_test_daemon_on
metactl() { "$METAD_BIN_DIR/metactl" --address "$METAD_ADDRESS" "$@"; }

# A watch stream first: its events reach it through LISTEN on a pooled
# session connection.
files=200
metactl watch files --limit "$files" --output json >"$work/watch.jsonl" &
watch_pid=$!
sleep 1

metactl tasks register load >/dev/null || fail "tasks register"
for i in $(seq 1 "$files"); do printf 'in\tpart_%03d.csv\n' "$i"; done |
  metactl files register-batch >/dev/null || fail "files register-batch"
pass "registered $files files through the pooler"

# Four runs (one per batch) claim at once, each on its own pooled connection.
claim_worker() {
  local n=$1 run
  run=$(metactl runs start load --batch "b$n" --worker "w$n" --request-id "r$n" --output json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["id"])')
  while :; do
    local got
    got=$(metactl files claim "$run" --source in --limit 7 --output json |
      /usr/bin/python3 -c 'import json,sys; f=json.load(sys.stdin).get("files",[]); print(" ".join(str(x["id"]) for x in f))')
    [ -z "$got" ] && break
    echo "$got" | tr ' ' '\n' >>"$work/claimed.$n"
    metactl runs heartbeat "$run" >/dev/null
  done
}
claimers=()
for n in 1 2 3 4; do claim_worker "$n" & claimers+=($!); done
for pid in "${claimers[@]}"; do wait "$pid" || fail "a claiming worker failed"; done
claimed=$(cat "$work"/claimed.* | wc -l)
unique=$(cat "$work"/claimed.* | sort -u | wc -l)
[ "$claimed" -eq "$files" ] || fail "claimed $claimed of $files files"
[ "$unique" -eq "$files" ] || fail "a file was claimed twice ($claimed claims, $unique files)"
pass "4 concurrent claimers took $files files, each once"

# The watch saw every registration (and the claims after them): LISTEN works.
for _ in $(seq 1 100); do
  kill -0 "$watch_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$watch_pid" 2>/dev/null && fail "the watch stream did not deliver $files events"
wait "$watch_pid" || fail "metactl watch exited with $?"
watch_pid=
events=$(wc -l <"$work/watch.jsonl")
[ "$events" -eq "$files" ] || fail "watch printed $events events, wanted $files"
pass "a watch stream got $files events through the pooler"

# The pooler's console: metad's connections are its clients, in session mode.
show() { as_owner psql "host=$work/sock port=$bouncer_port user=postgres dbname=pgbouncer" -qAtF'|' -c "$1"; }
clients=$(show "SHOW CLIENTS" | awk -F'|' -v db="$db_name" '$3==db' | wc -l)
servers=$(show "SHOW SERVERS" | awk -F'|' -v db="$db_name" '$3==db' | wc -l)
[ "$clients" -ge 2 ] || fail "pgbouncer shows $clients client connections of metad"
[ "$servers" -ge 2 ] || fail "pgbouncer shows $servers server connections for metad"
pass "pgbouncer carries metad: $clients client and $servers server connections"

# And the database saw the writes (read directly, not through metad).
n=$(psql "$db_url" -qAtc "SELECT count(*) FROM files WHERE status = 'PROCESSING'")
[ "$n" -eq "$files" ] || fail "the database has $n PROCESSING files"
pass "the database holds the $files claims"

stop_test_daemon || fail "metad did not stop cleanly"
pass "metad stopped cleanly behind the pooler"
