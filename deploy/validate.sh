#!/usr/bin/env bash
# Validates deploy/ as far as this machine can (no container engine, no
# Kubernetes, systemd not running as PID 1). Exits non-zero on any failure.
#
# Static checks (always):
#   - YAML of compose and Kubernetes files, JSON of the dashboard
#   - promtool check rules / test rules / check config, plus a mutation check
#     that every alert's unit tests notice when the alert is broken
#   - the dashboard's PromQL parses (promtool) and uses only metad's metrics
#   - Kubernetes manifests and compose file hang together (validate.py), and
#     docker-compose's own schema check
#   - the Dockerfile's instructions, stages and COPY sources, and that every
#     package it installs exists in Debian's archive
#   - systemd-analyze verify and security (offline) of the unit
#   - shellcheck of the scripts
# With a built metad (METAD_BIN_DIR) also:
#   - the runtime-package list the image would install, from the real binary
#   - every METAD_* variable the files set is one metad documents
#   - the unit verified against the real binary
# With a PostgreSQL for tests (METAD_TEST_PG, as scripts/test.sh exports):
#   - metad run as the containers run it: `metad migrate up`, then serve with
#     the environment of the image (password file, no auto-migration)
#   - the image's HEALTHCHECK script against it (SERVING, and a dead port)
#   - /metrics exposes every metric the alerts and the dashboard use
#   - a real Prometheus on loopback scrapes it, evaluates every alert without
#     error, and answers every dashboard query
#
# Usage: deploy/validate.sh   (scripts/test.sh runs it with the live checks)
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DEPLOY=$METAD_ROOT/deploy
PY=/usr/bin/python3 # Debian's, with python3-yaml

# Other sessions may hold the dpkg lock: wait for it rather than fail.
apt_conf=$(mktemp)
printf 'DPkg::Lock::Timeout "300";\n' >"$apt_conf"
export APT_CONFIG=$apt_conf
install_packages prometheus systemd python3-yaml docker-compose shellcheck curl \
  postgresql-client-15

work=$(mktemp -d /tmp/metad-deploy.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work" "$apt_conf"
}
trap cleanup EXIT

failures=()
passed=0
# check NAME COMMAND...: runs COMMAND, output to the log; records the result.
check() {
  local name=$1 start=$SECONDS
  shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    printf '  ok    %s (%ds)\n' "$name" $((SECONDS - start))
    # One-line summaries some checks print.
    grep -E '^(alerts|metrics|prometheus):' "$work/out" | sed 's/^/        /' || true
  else
    failures+=("$name")
    printf '  FAIL  %s (%ds)\n' "$name" $((SECONDS - start))
    sed 's/^/        /' "$work/out" | tail -40
  fi
}
# Fails when COMMAND prints anything (for tools that warn but exit 0).
silent() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out"; return 1; }
  [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}

cd "$DEPLOY" || exit 1
say "deploy/: static checks"
k8s_files=(kubernetes/*.yaml)
check "YAML parses: compose, kubernetes, prometheus, patroni" \
  "$PY" validate.py yaml compose.yaml "${k8s_files[@]}" prometheus/*.yml \
  patroni/patroni.yml
check "JSON parses: grafana dashboard" "$PY" validate.py json grafana/metad-dashboard.json

check "promtool check rules alerts.yml" promtool check rules prometheus/alerts.yml
check "promtool test rules alerts_test.yml" promtool test rules prometheus/alerts_test.yml
check "every alert fires and stays silent in a test; broken alerts are caught" \
  "$PY" validate.py alerts prometheus/alerts.yml prometheus/alerts_test.yml
check "promtool check config prometheus.yml" promtool check config prometheus/prometheus.yml
check "alerts and dashboard use only metrics metad exports" \
  "$PY" validate.py metric-names prometheus/alerts.yml grafana/metad-dashboard.json
check "dashboard structure and panels" "$PY" validate.py dashboard grafana/metad-dashboard.json
dash_rules() {
  "$PY" validate.py dashboard-rules grafana/metad-dashboard.json "$work/dashboard-rules.yml" &&
    promtool check rules "$work/dashboard-rules.yml"
}
check "dashboard PromQL parses (promtool)" dash_rules

check "kubernetes manifests hang together" "$PY" validate.py kubernetes kubernetes
if command -v kubectl >/dev/null; then
  check "kubectl kustomize renders" kubectl kustomize kubernetes
else
  printf '  skip  kubectl kustomize (no kubectl on this machine)\n'
fi
check "compose file hangs together" "$PY" validate.py compose compose.yaml
check "docker-compose config (compose schema)" \
  docker-compose --project-directory "$DEPLOY" -f compose.yaml config -q

# apt_known PACKAGE...: prints those Debian's archive has.
apt_known() {
  apt-cache show --no-all-versions "$@" 2>/dev/null | sed -n 's/^Package: //p' | sort -u
}
dockerfile() {
  local packages found missing pkgs
  packages=$("$PY" validate.py dockerfile Dockerfile "$METAD_ROOT") || return 1
  mapfile -t pkgs <<<"$packages"
  found=$(apt_known "${pkgs[@]}")
  if [ -z "$found" ]; then # no package lists yet on this machine
    apt-get update -q >/dev/null || return 1
    found=$(apt_known "${pkgs[@]}")
  fi
  missing=$(comm -23 <(sort -u <<<"$packages") <(printf '%s\n' "$found"))
  if [ -n "$missing" ]; then
    echo "not in Debian's archive (or apt lists not updated): ${missing//$'\n'/ }"
    return 1
  fi
  echo "$(wc -w <<<"$packages") apt packages of the Dockerfile exist"
}
check "Dockerfile: instructions, stages, COPY sources, apt packages" dockerfile
check "shellcheck" shellcheck -x healthcheck.sh runtime-packages.sh validate.sh \
  ../tests/faults/patroni_failover.sh

# systemd-analyze verify needs the unit's world: its binary and the units
# it orders against. A private root holds a copy of the unit, the system's
# units, and at /usr/local/bin/metad the real build (or, without one, a stub,
# which verify accepts as well: it checks that ExecStart is executable).
metad_bin=
has_metrics=
if [ -n "${METAD_BIN_DIR:-}" ] && [ -x "$METAD_BIN_DIR/metad" ]; then
  metad_bin=$METAD_BIN_DIR/metad
  # The metrics port came after the core; say so rather than fail on an
  # older build.
  if "$metad_bin" serve --help | grep -q -- '--metrics_listen'; then has_metrics=1; fi
fi
systemd_root() {
  local root=$work/systemd-root
  mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/metad" \
    "$root/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  cp systemd/metad.service "$root/etc/systemd/system/"
  cp systemd/metad.env.example "$root/etc/metad/metad.env"
  printf 'unused\n' >"$root/etc/metad/db_password"
  if [ -n "$metad_bin" ]; then
    cp "$metad_bin" "$root/usr/local/bin/metad"
  else
    printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/metad"
    chmod 755 "$root/usr/local/bin/metad"
  fi
  echo "$root"
}
sd_root=$(systemd_root)
check "systemd-analyze verify metad.service${metad_bin:+ (real binary)}" \
  silent systemd-analyze verify --root="$sd_root" metad.service
check "systemd-analyze security: exposure at most 2.0" \
  systemd-analyze security --offline=true --root="$sd_root" --threshold=20 metad.service

if [ -n "$metad_bin" ]; then
  runtime_packages() {
    local bins=("$metad_bin") packages
    [ -x "$METAD_BIN_DIR/metactl" ] && bins+=("$METAD_BIN_DIR/metactl")
    packages=$(sh runtime-packages.sh "${bins[@]}") || return 1
    echo "$packages" | tr '\n' ' '
    echo
    local p
    for p in libgrpc++1.51 libpqxx-6.4 libprotobuf32 libpq5 libabsl20220623; do
      grep -qx "$p" <<<"$packages" || { echo "missing $p"; return 1; }
    done
    if grep -E -- '-dev$' <<<"$packages"; then
      echo "a -dev package at run time"
      return 1
    fi
  }
  check "runtime packages from the built binaries (image runtime stage)" runtime_packages
  env_vars() {
    local flags=()
    [ -n "$has_metrics" ] || flags=(--without-metrics)
    {
      "$metad_bin" serve --help
      "$metad_bin" migrate --help
    } >"$work/help.txt" &&
      "$PY" validate.py env-vars "${flags[@]}" "$work/help.txt" Dockerfile compose.yaml \
        "${k8s_files[@]}" systemd/metad.service systemd/metad.env.example healthcheck.sh
  }
  check "every METAD_* variable set is one metad reads" env_vars
else
  printf '  skip  runtime packages, environment variables (no METAD_BIN_DIR/metad)\n'
fi

# ---- live: metad as the image runs it, and a real Prometheus -----------------
if [ -n "$metad_bin" ] && [ -n "${METAD_TEST_PG:-}" ]; then
  say "deploy/: live checks against a running metad and Prometheus"
  # shellcheck source=../scripts/daemon_for_tests.sh
  source "$METAD_ROOT/scripts/daemon_for_tests.sh"
  grpc_port=$(free_port)
  metrics_port=$(free_port)
  prom_port=$(free_port)
  url=$(create_test_database deploy)
  printf 'unused-with-trust-auth\n' >"$work/db_password"
  # The environment of deploy/Dockerfile and compose.yaml's replicas.
  container_env=(
    METAD_DATABASE_URL="$url"
    METAD_DATABASE_PASSWORD_FILE="$work/db_password"
    METAD_LISTEN="127.0.0.1:$grpc_port"
    METAD_METRICS_LISTEN="127.0.0.1:$metrics_port"
    METAD_AUTO_MIGRATE=false
    METAD_STATE_METRICS_INTERVAL=1
    METAD_REAPER_INTERVAL=0.5
  )
  check "metad migrate up (the migration service)" \
    env "${container_env[@]}" "$metad_bin" migrate up
  env "${container_env[@]}" "$metad_bin" serve >"$work/metad.log" 2>&1 &
  metad_pid=$!
  pids+=("$metad_pid")
  wait_healthy() {
    for _ in $(seq 1 40); do
      if METAD_LISTEN=0.0.0.0:$grpc_port sh healthcheck.sh; then return 0; fi
      kill -0 "$metad_pid" 2>/dev/null || { cat "$work/metad.log"; return 1; }
      sleep 0.25
    done
    tail -20 "$work/metad.log"
    return 1
  }
  check "HEALTHCHECK script: SERVING (schema migrated, no auto-migration)" wait_healthy
  dead_port() { ! sh healthcheck.sh "127.0.0.1:$(free_port)"; }
  check "HEALTHCHECK script: fails against a port with no metad" dead_port
  not_grpc() { ! sh healthcheck.sh "127.0.0.1:$metrics_port"; }
  check "HEALTHCHECK script: fails against a port that is not gRPC" not_grpc
  # One real call over h2c, so that the call counters and the latency
  # histogram have series: TaskService/ListTasks with an empty request.
  one_call() {
    local headers
    headers=$(printf '\000\000\000\000\000' |
      curl --silent --show-error --http2-prior-knowledge --max-time 5 \
        --header 'content-type: application/grpc' --header 'te: trailers' \
        --data-binary @- --dump-header - --output /dev/null \
        "http://127.0.0.1:$grpc_port/metad.v1.TaskService/ListTasks") || return 1
    printf '%s\n' "$headers"
    grep -qx 'grpc-status: 0' <<<"${headers//$'\r'/}"
  }
  check "a gRPC call over h2c answers OK" one_call
  if [ -n "$has_metrics" ]; then
    check "/metrics exposes every metric the alerts and dashboard use" \
      "$PY" validate.py metrics "http://127.0.0.1:$metrics_port/metrics"

    mkdir -p "$work/prometheus"
    cp prometheus/alerts.yml "$work/prometheus/alerts.yml"
    cat >"$work/prometheus/prometheus.yml" <<EOF
global:
    scrape_interval: 1s
    evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
    - job_name: metad
      static_configs:
        - targets: ['127.0.0.1:$metrics_port']
EOF
    prometheus --config.file="$work/prometheus/prometheus.yml" \
      --storage.tsdb.path="$work/prometheus/data" \
      --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
    pids+=($!)
    check "Prometheus scrapes metad, evaluates the alerts, answers the dashboard" \
      "$PY" validate.py prometheus "http://127.0.0.1:$prom_port" \
      prometheus/alerts.yml "$work/dashboard-rules.yml"
  else
    printf '  skip  /metrics and Prometheus (this metad has no --metrics_listen)\n'
  fi

  sigterm_exit0() {
    kill -TERM "$metad_pid"
    local rc=0
    wait "$metad_pid" || rc=$?
    [ $rc -eq 0 ] || { echo "metad exited $rc"; tail -20 "$work/metad.log"; }
    return $rc
  }
  check "metad drains and exits 0 on SIGTERM (docker stop, Kubernetes)" sigterm_exit0
else
  printf '  skip  live checks (need METAD_BIN_DIR and METAD_TEST_PG: run through scripts/test.sh)\n'
fi

printf '%d passed, %d failed\n' "$passed" "${#failures[@]}"
[ ${#failures[@]} -eq 0 ]
