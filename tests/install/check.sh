# shellcheck shell=bash
# Shared by install_test.sh and deb_test.sh (sourced): `check NAME
# COMMAND...` runs COMMAND with its output in $tmp/NAME.log, prints
# "ok   NAME" or "FAIL NAME" and the log, and counts into $passed/$failed.
passed=0 failed=0

check() {
  local name=$1; shift
  if "$@" >"$tmp/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/    /' "$tmp/$name.log"
  fi
}
