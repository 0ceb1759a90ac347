#!/usr/bin/env bash
# deb_test.sh DEB_DIR
#
# Installs the packages scripts/package.sh built (DEB_DIR/*.deb: offcopy,
# liboffcopy0, liboffcopy-dev) on a fresh Debian 12 as a user would, with
# `apt-get install ./*.deb`, uses them -- `offcopy --version`, a copy,
# `man -w offcopy`, the bash completion, the C consumer built with
# pkg-config against the shared library -- then removes them with
# `apt-get purge --autoremove` and checks that /usr is as before.
#
# The fresh Debian is a debootstrap minbase chroot (plus gcc, man-db and
# pkg-config), made once and kept in /var/cache/offcopy-debootstrap
# (OFFCOPY_DEB_CACHE; the mirror is OFFCOPY_DEB_MIRROR).  Each run works on
# an overlay of it in /tmp, so the cache stays fresh and the run leaves
# nothing behind.  When no chroot can be made (no debootstrap, no mirror),
# or with OFFCOPY_DEB_TEST_HOST=1, it tests on this machine itself, as CI
# can (a throw-away machine): with dpkg, which installs no dependency, so
# that the purge puts everything back; it then skips if an offcopy package
# is installed already.
#
# Needs root: skips (exit 77) otherwise.  Needs no stdin.
# Prints "deb_test: N passed, M failed"; exits 1 when anything failed.
set -uo pipefail
debs=${1:?usage: deb_test.sh DEB_DIR}
here=$(cd "$(dirname "$0")" && pwd)
packages=(offcopy liboffcopy0 liboffcopy-dev)
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: deb_test.sh needs root (it installs packages, in a chroot or here)"
  exit 77
fi
for p in "${packages[@]}"; do
  if ! ls "$debs/${p}"_*.deb >/dev/null 2>&1; then
    echo "deb_test: no $debs/${p}_*.deb; build them with scripts/package.sh" >&2
    exit 1
  fi
done
cache=${OFFCOPY_DEB_CACHE:-/var/cache/offcopy-debootstrap}/bookworm
mirror=${OFFCOPY_DEB_MIRROR:-$("$here/../../scripts/debian-mirror.sh" bookworm || true)}
tmp=$(mktemp -d /tmp/offcopy-deb.XXXXXX)
root=$tmp/root
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
exec </dev/null

# shellcheck source=tests/install/check.sh
. "$here/check.sh"

# make_cache: debootstrap a minbase bookworm into $cache, once.  Built
# beside it and renamed, so that an interrupted run leaves no half cache.
make_cache() {
  [ -x "$cache/usr/bin/gcc" ] && return 0
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed"; return 1; }
  echo "deb_test: making the Debian 12 chroot in $cache (once, about 2 minutes)"
  rm -rf "$cache.new" && mkdir -p "$(dirname "$cache")" &&
    debootstrap --variant=minbase --include=gcc,libc6-dev,man-db,pkg-config \
      bookworm "$cache.new" "$mirror" >"$tmp/debootstrap.log" 2>&1 &&
    mv "$cache.new" "$cache" && return 0
  tail -n 5 "$tmp/debootstrap.log"; rm -rf "$cache.new"; return 1
}

# installed: dpkg knows of any of the packages (installed, half-installed,
# config files left...).  Run through in_root.
installed() {
  in_root dpkg-query -W -f '${Package} ${Status}\n' "${packages[@]}" 2>/dev/null |
    grep -v ' not-installed$' | grep -q .
}

# The system under test: in_root runs a command in it, $w is a scratch
# directory in it (as its own commands see it; "$root$w" from here).
if [ "${OFFCOPY_DEB_TEST_HOST:-0}" != 1 ] && make_cache; then
  mode=chroot
  w=/tmp/offcopy-deb-test
  mkdir -p "$root" "$tmp/upper" "$tmp/work"
  { mount -t overlay overlay -o "lowerdir=$cache,upperdir=$tmp/upper,workdir=$tmp/work" \
      "$root" && mounts+=("$root") && mount -t proc proc "$root/proc" && mounts+=("$root/proc")
  } || exit 1
  cp /etc/resolv.conf "$root/etc/resolv.conf"  # apt-get fetches the dependencies
  in_root() { chroot "$root" "$@"; }
  install_debs() { in_root apt-get update -q && in_root apt-get install -y -q "${debfiles[@]}"; }
  remove_debs() { in_root apt-get purge -y -q --autoremove "${packages[@]}"; }
else
  mode=host
  in_root() { "$@"; }
  echo "deb_test: no chroot: testing on this machine"
  if installed; then
    echo "SKIP: an offcopy package is installed here already; not touching it"
    exit 77
  fi
  root='' w=$tmp/w
  install_debs() { dpkg -i "${debfiles[@]}" || { dpkg --purge "${packages[@]}"; false; }; }
  remove_debs() { dpkg --purge "${packages[@]}"; }
fi
mkdir -p "$root$w/debs" "$root$w/scratch" && cp "$debs"/*.deb "$root$w/debs/" &&
  cp "$here/c_consumer.c" "$root$w/" || exit 1
debfiles=()
for p in "${packages[@]}"; do debfiles+=("$w/debs/$(basename "$(ls "$debs/${p}"_*.deb | tail -n1)")"); done

# The checks, run as in_root COMMAND, the pipes on this side.
version() { in_root offcopy --version | tee /dev/stderr | grep -qx 'offcopy [0-9.]*'; }
man_path() { in_root man -w offcopy | tee /dev/stderr | grep -qx /usr/share/man/man1/offcopy.1.gz; }
man_page() { in_root man -P cat offcopy | grep -q 'copy files, offloading'; }

in_root find /usr -xdev | sort >"$tmp/usr.before"
check install install_debs
check version version
check copy in_root sh -c "offcopy /etc/os-release $w/os-release && cmp /etc/os-release $w/os-release"
check man_path man_path
check man_page man_page
check completion in_root bash -c '. /usr/share/bash-completion/completions/offcopy && complete -p offcopy'
check c_build in_root sh -c "cd $w && gcc -std=c11 -Wall -Werror c_consumer.c -o c_consumer \$(pkg-config --cflags --libs offcopy)"
check c_shared in_root sh -c "readelf -d $w/c_consumer | grep -F '[liboffcopy.so.0]'"
check c_run in_root "$w/c_consumer" "$w/scratch"
check remove remove_debs
check nothing_left eval '! installed'
in_root find /usr -xdev | sort >"$tmp/usr.after"
check usr_as_before diff "$tmp/usr.before" "$tmp/usr.after"

echo "deb_test ($mode): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
