// The syscall seam, durability and verification: fsync, renames that
// publish a finished file, dropping cached pages, and FIEMAP extent maps.
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "sys/long_path.h"
#include "sys/no_eintr.h"
#include "sys/kernel_sys.h"

namespace offcopy::sys {
namespace {

// Extents asked for per FIEMAP call; a file with more is read in rounds.
constexpr unsigned kExtentsPerCall = 256;

}  // namespace

int KernelSys::fsync(int fd) {
  return static_cast<int>(no_eintr([&] { return ::fsync(fd); }));
}

int KernelSys::fdatasync(int fd) {
  return static_cast<int>(no_eintr([&] { return ::fdatasync(fd); }));
}

int KernelSys::fadvise_dontneed(int fd) {
  // posix_fadvise returns the error number instead of setting errno.
  return -::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

int KernelSys::rename(const char* from, const char* to, bool noreplace) {
  // renameat2 is in glibc since 2.28; RENAME_NOREPLACE needs Linux 3.15
  // and the filesystem's support (all of btrfs, xfs, ext4, tmpfs have it).
  // Both names may be longer than PATH_MAX (a deep tree copy).
  AtPath a(from);
  AtPath b(to);
  if (a.error() < 0) return a.error();
  if (b.error() < 0) return b.error();
  return static_cast<int>(no_eintr([&] {
    return ::renameat2(a.dir(), a.leaf(), b.dir(), b.leaf(), noreplace ? RENAME_NOREPLACE : 0);
  }));
}

int KernelSys::extents(int fd, std::vector<Extent>* out) {
  out->clear();
  std::vector<char> buf(sizeof(fiemap) + kExtentsPerCall * sizeof(fiemap_extent));
  auto* fm = reinterpret_cast<fiemap*>(buf.data());
  uint64_t start = 0;
  for (;;) {
    std::memset(buf.data(), 0, buf.size());
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kExtentsPerCall;
    const int r = static_cast<int>(no_eintr([&] { return ::ioctl(fd, FS_IOC_FIEMAP, fm); }));
    if (r < 0) return r;
    if (fm->fm_mapped_extents == 0) return 0;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      out->push_back({static_cast<int64_t>(e.fe_logical), static_cast<int64_t>(e.fe_physical),
                      static_cast<int64_t>(e.fe_length), e.fe_flags});
      if (e.fe_flags & FIEMAP_EXTENT_LAST) return 0;
    }
    const fiemap_extent& last = fm->fm_extents[fm->fm_mapped_extents - 1];
    start = last.fe_logical + last.fe_length;
  }
}

}  // namespace offcopy::sys
