# Sourced by the metactl end-to-end scripts (tests/metactl*_e2e.sh): running
# metactl and checking what it did. The script sets MC (the metactl binary)
# and work (a scratch directory) first.

failures=0
checks=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# mc ARGS...: runs metactl (stdin from $MC_STDIN, else nothing); sets OUT,
# ERR and RC.
mc() {
  "$MC" "$@" >"$work/out" 2>"$work/err" <"${MC_STDIN:-/dev/null}"
  RC=$?
  OUT=$(cat "$work/out")
  ERR=$(cat "$work/err")
}

# expect_rc CODE WHAT: the last mc exited with CODE.
expect_rc() {
  checks=$((checks + 1))
  [ "$RC" == "$1" ] || fail "$2: exit $RC, want $1; stderr: $ERR"
}

# expect_eq ACTUAL WANT WHAT
expect_eq() {
  checks=$((checks + 1))
  [ "$1" == "$2" ] || fail "$3: got '$1', want '$2'"
}

# expect_in HAYSTACK NEEDLE WHAT
expect_in() {
  checks=$((checks + 1))
  case "$1" in
    *"$2"*) ;;
    *) fail "$3: '$2' not in: $1" ;;
  esac
}

# js EXPR: evaluates a Python expression over d = the JSON in $OUT; strings
# print raw, anything else as JSON (true/false, numbers, lists).
js() {
  printf '%s' "$OUT" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))' "$1" 2>&1
}

# summary NAME: the counts; succeeds only when no check failed.
summary() {
  echo "$1: $checks checks, $failures failed"
  [ "$failures" -eq 0 ]
}
