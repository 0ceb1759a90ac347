#!/usr/bin/env bash
# Installs what offcopy needs to build, test and benchmark (Debian 12), then
# configures and builds it in ./build.  Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PKGS=(
  build-essential cmake pkg-config          # toolchain
  liburing-dev nlohmann-json3-dev           # library / CLI dependencies
  libxxhash-dev                             # --verify (xxh3-128, header-only use)
  libgtest-dev libgmock-dev googletest libbenchmark-dev   # tests, micro benchmarks
  btrfs-progs xfsprogs e2fsprogs util-linux # test filesystems, losetup, mount
  coreutils bc python3                      # peers and helpers for benchmarks
  rsync gnuplot-nox                         # bench/suite.py: a peer tool, the plots
  hyperfine                                 # bench/compare_cli.sh
  attr acl                                  # setfattr/getfattr, setfacl for tree tests
  strace                                    # reliability tests: the calls --atomic/--fsync make
  scdoc                                     # the man page (docs/offcopy.1.scd -> offcopy.1)
  bash-completion                           # completion/offcopy.bash: its directory, its test
  dpkg-dev fakeroot file lintian            # scripts/package.sh: the .deb, checked by lintian
  debootstrap                               # tests/install/deb_test.sh: a fresh Debian 12 to install it in
  libtomlplusplus-dev                       # offcopy-target --config (TOML)
  libssl-dev                                # offcopy-target CHAP: MD5/SHA digests (libcrypto)
  libiscsi-dev libiscsi-bin                 # the target's initiators: iscsi-test-cu, iscsi-ls, iscsi-inq, iscsi-perf
  qemu-utils qemu-block-extra               # qemu-img convert to and from iscsi:// LUNs
  tgt                                       # tgtd: the peer offcopy-target is measured against
  iperf3                                    # bench: the machine's loopback TCP limit
  clang libclang-rt-14-dev                  # scripts/test-clang-tsa.sh; scripts/fuzz.sh (libFuzzer)
  ccache                                    # .ci/run: compiles kept across runs
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing packages (run as root to install): ${missing[*]}" >&2
    exit 1
  fi
fi
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$here/build" -j"$(nproc)"
