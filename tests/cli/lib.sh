# Shared by the tests/cli/*_test.sh scripts (sourced, not run): running
# offcopy with its output captured, and ok/FAIL/skip lines with counts.
# The sourcing script sets BIN (the binary) and LOGDIR (where out/err go)
# and reads $pass, $fail, $skip at the end.
pass=0
fail=0
skip=0
rc=0
last_cmd=""

# Runs offcopy; stdout -> $LOGDIR/out, stderr -> $LOGDIR/err, status -> $rc.
oc() {
  last_cmd="offcopy $*"
  "$BIN" "$@" >"$LOGDIR/out" 2>"$LOGDIR/err"
  rc=$?
}

show_last() {
  echo "       \$ $last_cmd   -> exit $rc"
  sed -n '1,25s/^/       stdout| /p' "$LOGDIR/out"
  sed -n '1,25s/^/       stderr| /p' "$LOGDIR/err"
}

# expect DESCRIPTION COMMAND...: passes when COMMAND succeeds.
expect() {
  local desc=$1
  shift
  if "$@"; then
    pass=$((pass + 1))
    echo "ok   - $desc"
  else
    fail=$((fail + 1))
    echo "FAIL - $desc"
    show_last
  fi
}

skip_test() {
  skip=$((skip + 1))
  echo "skip - $1"
}
