# Shared by the scripts: paths, package installation, a private PostgreSQL.
# Sourced, not run.
set -euo pipefail

METAD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
METAD_BUILD_DIR=${METAD_BUILD_DIR:-$METAD_ROOT/build}
PG_BIN=/usr/lib/postgresql/15/bin

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages everything needs (build, tests, clients, tools).
METAD_PACKAGES=(
  g++ cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libpqxx-dev libgtest-dev libgmock-dev libbenchmark-dev prometheus-cpp-dev
  postgresql-15 postgresql-contrib postgresql-client-15 grpc-proto
  python3 python3-grpcio python3-protobuf python3-pytest graphviz openssl
  golang-github-gogo-googleapis-dev  # google/rpc/*.proto: error details
  clang libclang-rt-14-dev  # the libFuzzer target (tests/bad_input/fuzz)
  libcivetweb-dev  # the operator port's HTTP server (daemon/http/http_server.cc)
  python3-venv python3-setuptools python3-build mypy-protobuf  # Python client: offline pip install / sdist+wheel (clients/python/pyproject.toml), .pyi stubs
)
# Only the tests need these (scripts/test.sh): the status page's browser test.
METAD_TEST_PACKAGES=(chromium
  pgbouncer  # tests/pgbouncer_e2e.sh: metad behind a session pool (docs/scaling.md)
)

# Installs what is missing (apt-get update first), as root or through sudo.
install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}) and no sudo"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build_metad() {
  say "building in $METAD_BUILD_DIR"
  cmake -S "$METAD_ROOT" -B "$METAD_BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE="${METAD_BUILD_TYPE:-RelWithDebInfo}" \
    ${METAD_CMAKE_ARGS:-} >/dev/null
  cmake --build "$METAD_BUILD_DIR" -j "${METAD_JOBS:-2}"
}

# --- a private PostgreSQL -----------------------------------------------
# initdb refuses to run as root, so as root the cluster belongs to the
# 'postgres' system user. The socket lives in a short private directory;
# the cluster listens on no TCP port at all.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DATA_DIR SOCKET_DIR [extra postgres -c settings...]
pg_start() {
  local data=$1 sock=$2; shift 2
  mkdir -p "$sock"
  if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$data"
    chown postgres "$sock" "$data"
    chmod 700 "$data"
    runuser -u postgres -- test -w "$data" ||
      die "the postgres user cannot write $data (is a parent directory private?)"
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    pg_as_owner "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust \
      -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  local opts="-c listen_addresses= -c unix_socket_directories=$sock -c port=5432"
  local setting
  for setting in "$@"; do opts="$opts -c $setting"; done
  pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "$opts" start >/dev/null || { tail -20 "$data/server.log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
  local data=$1
  [ -s "$data/postmaster.pid" ] || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# A data directory the cluster owner can reach: DIR itself when it can,
# else one under /var/tmp named after DIR.
pg_reachable_dir() {
  local dir=$1
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
    dir=/var/tmp/metad-$(printf '%s' "$dir" | md5sum | cut -c1-12)
    mkdir -p "$dir"
  fi
  printf '%s\n' "$dir"
}

# ensure_buf DIR: prints the path of buf (npm @bufbuild/buf, pinned by
# tests/grpcurl_tour/package-lock.json), installed under DIR with npm ci, again
# only when the lock file changed (so a machine that has it needs no network).
ensure_buf() {
  local dir=$1 lock=$METAD_ROOT/tests/grpcurl_tour/package-lock.json
  mkdir -p "$dir"
  local stamp=$dir/node_modules/.metad-lock.sha256
  local want
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$dir/node_modules/.bin/buf" ]; then
    cp "$METAD_ROOT/tests/grpcurl_tour/package.json" "$lock" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
  fi
  echo "$dir/node_modules/.bin/buf"
}
