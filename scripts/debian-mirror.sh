#!/usr/bin/env bash
# Prints the Debian archive this machine's apt uses (the URI of the first
# source that carries the release's main suite), so that scripts fetching
# Debian sources or making a chroot use the same mirror as apt-get does
# rather than one written into them.  Exits 1 when none is configured.
set -euo pipefail
suite=${1:-bookworm}
# deb822 sources (Debian 12's default): a stanza's URIs and Suites.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -r "$f" ] || continue
  uri=$(awk -v s="$suite" '
    /^URIs:/ { u = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) found = 1 }
    /^$/ { if (found && u != "") { print u; done = 1; exit } ; u = ""; found = 0 }
    END { if (!done && found && u != "") print u }' "$f")
  if [ -n "$uri" ]; then echo "$uri"; exit 0; fi
done
# One-line sources.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -r "$f" ] || continue
  uri=$(awk -v s="$suite" '$1 == "deb" { for (i = 3; i <= NF; i++) if ($i == s) { print $(i - 1); exit } }' "$f")
  if [ -n "$uri" ]; then echo "$uri"; exit 0; fi
done
exit 1
