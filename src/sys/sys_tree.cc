// The real kernel behind the seam's tree and metadata calls: directory
// listing, entry creation, ownership, modes, times, xattrs and btrfs
// snapshots.  Same rule as sys.cc: -errno at the call, errno never travels.
// Paths may be of any length: they go through long_path.h's AtPath (the
// *at() calls) or XattrPath, at no cost for a path shorter than PATH_MAX.
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>


#include "sys/long_path.h"
#include "sys/kernel_sys.h"

namespace offcopy::sys {
namespace {

int ret(int r) { return r < 0 ? -errno : r; }

// listxattr/getxattr answer ERANGE when the value grew between the size
// query and the read; ask again a few times.
template <typename F>
int read_sized(F call, std::string* out) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    const ssize_t n = call(nullptr, 0);
    if (n < 0) return -errno;
    out->resize(static_cast<size_t>(n));
    if (n == 0) return 0;
    const ssize_t got = call(out->data(), out->size());
    if (got >= 0) {
      out->resize(static_cast<size_t>(got));
      return 0;
    }
    if (errno != ERANGE) return -errno;
  }
  return -ERANGE;
}

}  // namespace

int KernelSys::lstat(const char* path, struct stat* st) {
  return at_call(path, [&](int dir, const char* name) {
    return ::fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW);
  });
}

// The one path call left without long-path support: realpath(3) answers
// ENAMETOOLONG when the path or its result reaches PATH_MAX.  It is only
// used on command-line roots, where TreeCopy falls back to the path as
// given when it fails.
int KernelSys::realpath(const char* path, std::string* out) {
  char buf[PATH_MAX];
  if (::realpath(path, buf) == nullptr) return -errno;
  *out = buf;
  return 0;
}

int64_t KernelSys::open_files_limit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) return INT64_MAX;
  return static_cast<int64_t>(rl.rlim_cur);
}

mode_t KernelSys::read_umask() {
  const mode_t m = ::umask(022);
  ::umask(m);
  return m;
}

// Opened as opendir(3) opens, then read by list_dir_fd: one reading loop.
int KernelSys::list_dir(const char* path, DirList* out) {
  AtPath at(path);
  if (at.error() < 0) return at.error();
  const int fd = ::openat(at.dir(), at.leaf(), O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  UniqueFd guard(fd);
  return list_dir_fd(fd, out);
}

int KernelSys::list_dir_fd(int dir, DirList* out) {
  struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
  };
  alignas(8) char buf[32768];  // opendir's buffer size
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long at = 0; at < n;) {
      const auto* e = reinterpret_cast<const linux_dirent64*>(buf + at);
      at += e->d_reclen;
      const char* name = e->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      out->add(name, strlen(name), e->d_type);
    }
  }
}

int KernelSys::mkdir(const char* path, unsigned mode) {
  return at_call(path, [&](int dir, const char* name) { return ::mkdirat(dir, name, mode); });
}
int KernelSys::rmdir(const char* path) {
  return at_call(path,
                 [](int dir, const char* name) { return ::unlinkat(dir, name, AT_REMOVEDIR); });
}
int KernelSys::symlink(const char* target, const char* path) {
  return at_call(path,
                 [&](int dir, const char* name) { return ::symlinkat(target, dir, name); });
}

int KernelSys::readlink(const char* path, std::string* target) {
  AtPath at(path);
  if (at.error() < 0) return at.error();
  // st_size of a link is its length on most filesystems, but not on
  // procfs and some others: grow until the answer fits.
  for (size_t size = 256;; size *= 4) {
    target->resize(size);
    const ssize_t n = ::readlinkat(at.dir(), at.leaf(), target->data(), size);
    if (n < 0) return -errno;
    if (static_cast<size_t>(n) < size) {
      target->resize(static_cast<size_t>(n));
      return 0;
    }
    if (size > (1u << 20)) return -ENAMETOOLONG;
  }
}

int KernelSys::mknod(const char* path, unsigned mode, dev_t dev) {
  return at_call(path,
                 [&](int dir, const char* name) { return ::mknodat(dir, name, mode, dev); });
}

int KernelSys::link(const char* from, const char* to) {
  AtPath a(from), b(to);
  if (a.error() < 0) return a.error();
  if (b.error() < 0) return b.error();
  return ret(::linkat(a.dir(), a.leaf(), b.dir(), b.leaf(), 0));
}

int KernelSys::chown(MetaTarget t, uid_t uid, gid_t gid) {
  if (t.fd >= 0) return ret(::fchown(t.fd, uid, gid));
  return at_call(t.path, [&](int dir, const char* name) {
    return ::fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW);
  });
}

int KernelSys::chmod(MetaTarget t, unsigned mode) {
  if (t.fd >= 0) return ret(::fchmod(t.fd, mode));
  return at_call(t.path, [&](int dir, const char* name) { return ::fchmodat(dir, name, mode, 0); });
}

int KernelSys::utimens(MetaTarget t, const struct timespec times[2]) {
  if (t.fd >= 0) return ret(::futimens(t.fd, times));
  return at_call(t.path, [&](int dir, const char* name) {
    return ::utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW);
  });
}

int KernelSys::list_xattrs(MetaTarget t, std::string* names) {
  if (t.fd >= 0) {
    return read_sized([&](char* buf, size_t n) { return ::flistxattr(t.fd, buf, n); }, names);
  }
  XattrPath p(t.path);
  if (p.error() < 0) return p.error();
  return read_sized(
      [&](char* buf, size_t n) {
        return p.follow() ? ::listxattr(p.path(), buf, n) : ::llistxattr(p.path(), buf, n);
      },
      names);
}

int KernelSys::get_xattr(MetaTarget t, const char* name, std::string* value) {
  if (t.fd >= 0) {
    return read_sized([&](char* buf, size_t n) { return ::fgetxattr(t.fd, name, buf, n); },
                      value);
  }
  XattrPath p(t.path);
  if (p.error() < 0) return p.error();
  return read_sized(
      [&](char* buf, size_t n) {
        return p.follow() ? ::getxattr(p.path(), name, buf, n)
                          : ::lgetxattr(p.path(), name, buf, n);
      },
      value);
}

int KernelSys::set_xattr(MetaTarget t, const char* name, const std::string& value) {
  if (t.fd >= 0) return ret(::fsetxattr(t.fd, name, value.data(), value.size(), 0));
  XattrPath p(t.path);
  if (p.error() < 0) return p.error();
  return ret(p.follow() ? ::setxattr(p.path(), name, value.data(), value.size(), 0)
                        : ::lsetxattr(p.path(), name, value.data(), value.size(), 0));
}

int KernelSys::btrfs_snapshot(int src_fd, int parent_fd, const char* name) {
  btrfs_ioctl_vol_args_v2 args;
  memset(&args, 0, sizeof args);
  args.fd = src_fd;
  if (strlen(name) > BTRFS_SUBVOL_NAME_MAX) return -ENAMETOOLONG;
  strncpy(args.name, name, BTRFS_SUBVOL_NAME_MAX);
  return ret(::ioctl(parent_fd, BTRFS_IOC_SNAP_CREATE_V2, &args));
}

int KernelSys::btrfs_has_child_subvolumes(int fd) {
  auto args = std::make_unique<btrfs_ioctl_get_subvol_rootref_args>();
  memset(args.get(), 0, sizeof *args);
  const int r = ::ioctl(fd, BTRFS_IOC_GET_SUBVOL_ROOTREF, args.get());
  // EOVERFLOW: more children than one answer holds -- there are some.
  if (r < 0) return errno == EOVERFLOW ? 1 : -errno;
  return args->num_items > 0 ? 1 : 0;
}

}  // namespace offcopy::sys
