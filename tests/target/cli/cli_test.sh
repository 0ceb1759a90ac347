#!/usr/bin/env bash
# offcopy-target as a command: usage and exit statuses, the errors that
# serve nothing (status 2), and a real start on port 0 (the port read from
# --port-file), SIGHUP and a stop by SIGTERM and SIGINT (status 0).
#
#   bash cli_test.sh /path/to/offcopy-target
#
# Runs anywhere, as any user, in a fresh directory under /tmp.  With
# libiscsi's tools (iscsi-inq, iscsi-readcapacity16) installed it also
# asks the running target about its LUN.  Every server it starts is
# killed on exit, whatever happens.  The last line is always
#   target_cli: N passed, M failed
# and the exit status is non-zero when anything failed.
set -u

BIN=$(realpath -- "${1:?usage: cli_test.sh /path/to/offcopy-target}")  # the test cd's away
if [ ! -x "$BIN" ]; then
  echo "target_cli: $1 is not an executable"
  exit 1
fi
IQN=iqn.2026-12.org.offcopy:cli-test
T=$(mktemp -d /tmp/offcopy-target-cli.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 2

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
  [ -s "$T/err" ] && sed 's/^/     stderr: /' "$T/err" | head -20
}

# run ARGS...: runs the target to its end (at most 10 s: a case that is
# wrongly accepted would serve forever); $rc, $T/out, $T/err.
run() {
  timeout 10 "$BIN" "$@" >"$T/out" 2>"$T/err" </dev/null
  rc=$?
}
err_has() { grep -Fq -- "$1" "$T/err"; }
out_has() { grep -Fq -- "$1" "$T/out"; }

# check NAME STATUS [TEXT-IN-STDERR]...
check() {
  local name=$1 want=$2 text
  shift 2
  if [ "$rc" != "$want" ]; then
    fail "$name: exit status $rc, expected $want"
    return
  fi
  for text in "$@"; do
    if ! err_has "$text"; then
      fail "$name: stderr lacks '$text'"
      return
    fi
  done
  pass "$name"
}

# ---------------------------------------------------------------- usage

run
check "no arguments: usage on stderr, status 2" 2 "Usage: offcopy-target"
[ -s "$T/out" ] && fail "no arguments: stdout not empty"

run --help
if [ "$rc" = 0 ] && out_has "Usage: offcopy-target" && out_has "--port-file" && [ ! -s "$T/err" ]
then pass "--help: usage on stdout, status 0"
else fail "--help: status $rc"
fi

run --version
if [ "$rc" = 0 ] && grep -Eq '^offcopy-target [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"
then pass "--version"
else fail "--version: status $rc, '$(cat "$T/out")'"
fi

run --bogus
check "unknown option" 2 "unknown option '--bogus'" "Try 'offcopy-target --help'"

run --target "$IQN" --lun
check "option without its value" 2 "option '--lun' needs a value"

run --lun 0=/x --target "$IQN"
check "--lun before --target" 2 "give --target IQN before it"

run --target not-an-iqn --lun 0=/x
check "a bad IQN" 2 "'not-an-iqn' is not an iSCSI name"

run --target "$IQN" --lun 0=/x --create 64Q
check "a bad --create size" 2 "--create '64Q': not a size"

run --config "$T/none.toml"
check "a missing config file" 2 "$T/none.toml" "No such file or directory"

run --target "$IQN" --lun 0=/x --max-sessions 0
check "--max-sessions 0" 2 "--max-sessions '0': expected a number from 1 to 65535"

run --target "$IQN" --lun 0=/x --queue-depth 70000
check "--queue-depth past 65535" 2 "--queue-depth '70000': expected a number from 1 to 65535"

run --target "$IQN" --lun 0=/x --max-session-data 4K
check "--max-session-data below 1M" 2 "--max-session-data '4K': expected a size from 1M to 1T"

run --target "$IQN" --lun 0=/x --max-logins-in-progress 0
check "--max-logins-in-progress 0" 2 "--max-logins-in-progress '0': expected a number from 1 to 65535"

printf 'max_logins_in_progress = 0\n' >"$T/logins.toml"
run --config "$T/logins.toml"
check "max_logins_in_progress 0 names its line" 2 "$T/logins.toml:1: 'max_logins_in_progress' must be from 1 to 65535, not 0"

printf 'max_session_data = "2T"\n' >"$T/limit.toml"
run --config "$T/limit.toml"
check "max_session_data past 1T names its line" 2 "$T/limit.toml:1: 'max_session_data' must be from 1M to 1T"

printf 'listen = ["127.0.0.1:0"]\nport = 3260\n' >"$T/bad.toml"
run --config "$T/bad.toml"
check "an unknown config key names its line" 2 "$T/bad.toml:2: unknown key 'port'"

# ---------------------------------------------------------------- backing files

# Nothing is served: the port file never appears.
run --listen 127.0.0.1:0 --port-file "$T/port.missing" --target "$IQN" --lun "0=$T/missing.img"
check "a missing backing file" 2 "$T/missing.img" "No such file or directory"
[ -e "$T/port.missing" ] && fail "a missing backing file: a port file was written"

mkdir "$T/dir.img"
run --listen 127.0.0.1:0 --target "$IQN" --lun "0=$T/dir.img"
check "a directory as backing file" 2 "$T/dir.img"

head -c 1000 /dev/zero >"$T/odd.img"
run --listen 127.0.0.1:0 --target "$IQN" --lun "0=$T/odd.img"
check "a size not a multiple of 512" 2 "$T/odd.img"

# Open before bind: a good LUN 0 does not get served when LUN 1 is bad.
truncate -s 1M "$T/good.img"
run --listen 127.0.0.1:0 --port-file "$T/port.half" --target "$IQN" --lun "0=$T/good.img" \
    --lun "1=$T/missing.img"
check "one bad LUN serves nothing" 2 "$T/missing.img"
[ -e "$T/port.half" ] && fail "one bad LUN: a port file was written"

# ---------------------------------------------------------------- serving

# start NAME ARGS...: starts a server in the background on 127.0.0.1:0;
# $pid, $port (from --port-file), its stderr in $T/NAME.err.  Its control
# socket is $T/NAME.sock, not the default, which parallel tests would share.
start() {
  local name=$1
  shift
  rm -f "$T/$name.port"
  "$BIN" --foreground --listen 127.0.0.1:0 --port-file "$T/$name.port" \
    --control "$T/$name.sock" "$@" \
    >/dev/null 2>"$T/$name.err" </dev/null &
  pid=$!
  PIDS+=("$pid")
  port=
  for _ in $(seq 100); do
    if [ -s "$T/$name.port" ]; then
      port=$(cat "$T/$name.port")
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cp "$T/$name.err" "$T/err"
  return 1
}

# stop_with SIGNAL: sends it and waits at most 5 s; $rc is the status, or
# "timeout" (and the server is killed).
stop_with() {
  kill -s "$1" "$pid"
  for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      rc=$?
      return
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rc=timeout
}

log_has() { grep -Fq -- "$2" "$T/$1.err"; }

if start create --target "$IQN" --lun "0=$T/new.img" --create 64M; then
  pass "--create 64M: serving on port $port"
  size=$(stat -c %s "$T/new.img")
  alloc=$(($(stat -c %b "$T/new.img") * $(stat -c %B "$T/new.img")))
  if [ "$size" = 67108864 ] && [ "$alloc" -lt 1048576 ]
  then pass "--create 64M: a sparse file of 64 MiB ($alloc bytes allocated)"
  else fail "--create 64M: size $size, $alloc bytes allocated"
  fi
  if [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] &&
     (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  then pass "--port-file: port $port accepts connections"
  else fail "--port-file: '$port' is not a listening port"
  fi
  if log_has create "listening on 127.0.0.1:$port" && log_has create "$T/new.img" &&
     log_has create "67108864 bytes" && log_has create "block size 512"
  then pass "the start is logged: portal and LUN"
  else cp "$T/create.err" "$T/err"; fail "the start is logged: portal and LUN"
  fi

  # libiscsi's tools, when installed, see the unit.
  if command -v iscsi-readcapacity16 >/dev/null; then
    url="iscsi://127.0.0.1:$port/$IQN/0"
    if timeout 10 iscsi-readcapacity16 "$url" >"$T/out" 2>"$T/err" &&
       grep -Eq 'Returned Logical Block Address *: *131071|131071' "$T/out"
    then pass "iscsi-readcapacity16: 131072 blocks"
    else fail "iscsi-readcapacity16 $url: $(head -c 300 "$T/out")"
    fi
  else
    echo "skip iscsi-readcapacity16: not installed (apt-get install libiscsi-bin)"
  fi

  # A second server cannot bind the same portal: status 2, nothing served.
  run --listen "127.0.0.1:$port" --target "$IQN" --lun "0=$T/good.img"
  check "a portal in use" 2 "127.0.0.1:$port"

  # SIGHUP: the grown file's new size is taken.
  truncate -s 128M "$T/new.img"
  kill -HUP "$pid"
  for _ in $(seq 50); do
    log_has create "134217728 bytes" && break
    sleep 0.1
  done
  if log_has create "134217728 bytes" && kill -0 "$pid" 2>/dev/null
  then pass "SIGHUP: the new size is taken and the server goes on"
  else cp "$T/create.err" "$T/err"; fail "SIGHUP: the new size is taken and the server goes on"
  fi

  stop_with TERM
  if [ "$rc" = 0 ] && log_has create "SIGTERM: stopping" &&
     log_has create "1 unit(s) flushed; exiting"
  then pass "SIGTERM: a clean stop, status 0"
  else cp "$T/create.err" "$T/err"; fail "SIGTERM: status $rc"
  fi
else
  fail "--create 64M: the server did not start (no port file)"
fi

# SIGINT stops it too; this time the file exists and is served as it is.
if start existing --target "$IQN" --lun "0=$T/new.img" --create 1M; then
  if log_has existing "134217728 bytes"
  then pass "--create leaves an existing file as it is"
  else cp "$T/existing.err" "$T/err"; fail "--create leaves an existing file as it is"
  fi
  stop_with INT
  if [ "$rc" = 0 ]
  then pass "SIGINT: a clean stop, status 0"
  else cp "$T/existing.err" "$T/err"; fail "SIGINT: status $rc"
  fi
else
  fail "SIGINT: the server did not start (no port file)"
fi

# The limits, from the flags over the config file, are what it serves with.
printf 'max_sessions = 8\nqueue_depth = 16\nmax_logins_in_progress = 9\n' >"$T/limits.toml"
if start limits --config "$T/limits.toml" --target "$IQN" --lun "0=$T/good.img" \
     --max-sessions 4 --max-session-data 64M --max-logins-in-progress 3; then
  if log_has limits "limits: 4 sessions, 3 logins in progress; per session 16 commands and 64 MiB of buffers"
  then pass "--max-sessions, --max-session-data and --max-logins-in-progress over the config file's limits"
  else cp "$T/limits.err" "$T/err"; fail "the limits served are not the ones asked for"
  fi
  stop_with TERM
  [ "$rc" = 0 ] || fail "limits: SIGTERM gave status $rc"
else
  fail "limits: the server did not start (no port file)"
fi

# A config file says the same, with a 4096-byte block read-only LUN.
cat >"$T/good.toml" <<EOF
listen = ["127.0.0.1:0"]
[[target]]
iqn = "$IQN"
  [[target.lun]]
  lun = 3
  path = "$T/four.img"
  block_size = 4096
  read_only = true
  serial = "CLI-TEST-3"
EOF
truncate -s 8M "$T/four.img"
if start config --config "$T/good.toml" -v; then
  if log_has config "$T/four.img" && log_has config "block size 4096" &&
     log_has config "read-only"
  then pass "--config: a 4096-byte read-only LUN"
  else cp "$T/config.err" "$T/err"; fail "--config: a 4096-byte read-only LUN"
  fi
  stop_with TERM
  [ "$rc" = 0 ] || fail "--config: SIGTERM gave status $rc"
else
  fail "--config: the server did not start (no port file)"
fi

echo "target_cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
