# Sourced by test scripts of every language: starts a metad on a free
# loopback port with its own fresh database on the test cluster.
#   source scripts/daemon_for_tests.sh
#   start_test_daemon NAME [extra metad serve flags...]   # sets METAD_ADDRESS, METAD_PID
#   stop_test_daemon                                      # SIGTERM, waits, checks exit 0
# Needs METAD_TEST_PG (scripts/test.sh exports it) and METAD_BIN_DIR (the
# build directory with metad and metactl).

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# create_test_database NAME -> prints a libpq URL of a new empty database
create_test_database() {
  local name="t_$1_$$_$RANDOM"
  psql "$METAD_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE \"$name\"" >/dev/null
  printf '%s dbname=%s\n' "$METAD_TEST_PG" "$name"
}

start_test_daemon() {
  local name=$1; shift
  : "${METAD_TEST_PG:?run through scripts/test.sh}"
  : "${METAD_BIN_DIR:?run through scripts/test.sh}"
  local port url log
  port=$(free_port)
  url=$(create_test_database "$name")
  log=${METAD_LOG_DIR:-/tmp}/metad-$name-$$.log
  "$METAD_BIN_DIR/metad" serve --listen "127.0.0.1:$port" --database "$url" \
    --reaper_interval 0.2 "$@" >"$log" 2>&1 &
  METAD_PID=$!
  METAD_ADDRESS=127.0.0.1:$port
  METAD_DATABASE_URL=$url
  METAD_DAEMON_LOG=$log
  export METAD_ADDRESS METAD_PID METAD_DATABASE_URL METAD_DAEMON_LOG
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$METAD_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "metad did not start listening on $METAD_ADDRESS" >&2
  cat "$log" >&2
  return 1
}

stop_test_daemon() {
  [ -n "${METAD_PID:-}" ] || return 0
  kill -TERM "$METAD_PID" 2>/dev/null || true
  local rc=0
  wait "$METAD_PID" || rc=$?
  METAD_PID=
  if [ $rc -ne 0 ]; then
    echo "metad exited with $rc after SIGTERM" >&2
    tail -20 "$METAD_DAEMON_LOG" >&2
    return 1
  fi
}
