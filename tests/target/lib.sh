# shellcheck shell=bash
# Shared by the target's shell tests (sourced): starting and stopping
# offcopy-target, and reading libiscsi's conformance suite, iscsi-test-cu.
# The starting and stopping use the script's $T (its temporary
# directory) and $TARGET_BIN.

# pass WHAT / fail WHAT: a check's result, counted in $passed, $failed.
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
}

# kill_now PID...: the processes gone, whatever they were doing (a trap's
# cleanup: a test that fails stops its servers too).
kill_now() {
  for p in "$@"; do
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
}

# require NAME TOOL...: each TOOL (a command, or a path to an executable)
# must be there; else says which are missing and exits 77 (skipped), or 1
# under OFFCOPY_REQUIRE_TARGET=1 (CI, where scripts/setup.sh installed
# them).
require() {
  local name=$1 tool missing=()
  shift
  for tool in "$@"; do
    case $tool in
      */*) [ -x "$tool" ] || missing+=("$tool") ;;
      *) command -v "$tool" >/dev/null || missing+=("$tool") ;;
    esac
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo "$name: cannot run without ${missing[*]} (scripts/setup.sh installs the tools; build the binaries)"
  [ "${OFFCOPY_REQUIRE_TARGET:-0}" = 1 ] && exit 1
  exit 77
}

# start_target ARGS...: offcopy-target in the background on a free port of
# 127.0.0.1 (its log in $T/target.log), with ARGS; sets $PID and $PORT.
# Its control socket is $T/control.sock unless ARGS give another --control
# (the last one counts): never the default, which tests run in parallel
# would share.  If it does not start, says so with its log and exits 1.
start_target() {
  rm -f "$T/port"
  "$TARGET_BIN" --listen 127.0.0.1:0 --port-file "$T/port" --control "$T/control.sock" "$@" \
    >"$T/target.log" 2>&1 </dev/null &
  PID=$!
  for _ in $(seq 100); do
    [ -s "$T/port" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$T/port" ]; then
    echo "$(basename "$0" .sh): the target did not start:"
    sed 's/^/     /' "$T/target.log"
    exit 1
  fi
  # shellcheck disable=SC2034 # PORT is the caller's
  PORT=$(cat "$T/port")
}

# stop_target [SECONDS]: SIGTERM, which must end it with status 0 within
# SECONDS (10): it flushes every LUN first.
stop_target() {
  local limit=$((${1:-10} * 10)) waited=0
  kill -TERM "$PID"
  while kill -0 "$PID" 2>/dev/null && [ $waited -lt "$limit" ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$PID" 2>/dev/null; then
    fail "the target did not stop within ${1:-10} s of SIGTERM"
    kill -KILL "$PID"
  fi
  wait "$PID"
  local rc=$?
  PID=
  if [ $rc = 0 ]; then
    pass "SIGTERM: the target flushed and exited 0"
  else
    fail "SIGTERM: exit status $rc"
  fi
}

# free_port: a TCP port of 127.0.0.1 that is free now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
#
# iscsi-test-cu (CUnit, basic mode) prints "Suite: NAME", then for each test
# "  Test: NAME ...", what the test logs, and its result, "passed" or
# "FAILED", right after the "..." or at the start of a later line.  A test
# that cannot run says "[SKIPPED] why" (once or several times) and then
# passes: CUnit counts it as passed.  Test names repeat across suites
# (Simple, Truncate, ...), so a test is SUITE.NAME here.  Between tests the
# suite's cleanup probes PERSISTENT RESERVE IN and, on a target without it,
# logs "[SKIPPED] PERSISTENT RESERVE IN is not implemented." after the
# previous test's result: a note that belongs to no test, so only the notes
# between a test's "..." and its result count.  That holds whether or not
# the target implements PERSISTENT RESERVE: with it, the probe says
# nothing, and a Pr*/Prout*/Reserve6 test counts as skipped only if it logs
# a [SKIPPED] of its own.

# cu_results FILE: one line per test, "passed|skipped|failed SUITE.NAME".
cu_results() {
  awk '
    /^Suite: / { suite = $2 }
    {
      line = $0
      if (match(line, /Test: [^ ]+ \.\.\./)) {
        name = substr(line, RSTART + 6, RLENGTH - 10)
        line = substr(line, RSTART + RLENGTH)
        open = 1
        skipped = 0
      }
      if (!open) next
      # The result opens its line (or what follows the "..."): a note
      # on the same line comes after it.
      result = match(line, /^(passed|FAILED)/) ? substr(line, 1, RLENGTH) : ""
      if (result == "" && index(line, "[SKIPPED]") > 0) skipped = 1
      if (result != "") {
        print (result == "FAILED" ? "failed" : skipped ? "skipped" : "passed"), suite "." name
        open = 0
      }
    }' "$1"
}

# cu_counts FILE: "RAN PASSED FAILED SKIPPED" -- RAN and FAILED from the
# suite's own summary ("?" if it did not get that far), PASSED the tests
# that passed without skipping, SKIPPED those that skipped; a test that
# skipped and failed counts as failed.  RAN = PASSED + FAILED + SKIPPED
# when the suite ran to its end.
cu_counts() {
  local ran failed
  ran=$(awk '/^ *tests / {print $3}' "$1")
  failed=$(awk '/^ *tests / {print $5}' "$1")
  cu_results "$1" | awk -v ran="${ran:-?}" -v failed="$failed" '
    { n[$1]++ }
    END { printf "%s %d %s %d\n", ran, n["passed"], failed != "" ? failed : n["failed"] + 0, n["skipped"] }'
}

# cu_failed FILE: the failed tests, "SUITE.NAME" a line.
cu_failed() {
  cu_results "$1" | awk '$1 == "failed" {print $2}'
}
