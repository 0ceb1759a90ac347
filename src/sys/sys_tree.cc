// The real kernel behind the seam's tree and metadata calls: directory
// listing, entry creation, ownership, modes, times, xattrs and btrfs
// snapshots.  Same rule as sys.cc: -errno at the call, errno never travels.
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>

#include "sys/sys.h"

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

int Sys::lstat(const char* path, struct stat* st) { return ret(::lstat(path, st)); }

int Sys::realpath(const char* path, std::string* out) {
  char buf[PATH_MAX];
  if (::realpath(path, buf) == nullptr) return -errno;
  *out = buf;
  return 0;
}

mode_t Sys::read_umask() {
  const mode_t m = ::umask(022);
  ::umask(m);
  return m;
}

int Sys::list_dir(const char* path, std::vector<DirEntry>* out) {
  DIR* d = ::opendir(path);
  if (d == nullptr) return -errno;
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) return errno == 0 ? 0 : -errno;
    if (e->d_name[0] == '.' &&
        (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0'))) {
      continue;
    }
    out->push_back(DirEntry{e->d_name, e->d_type});
  }
}

int Sys::mkdir(const char* path, unsigned mode) { return ret(::mkdir(path, mode)); }
int Sys::rmdir(const char* path) { return ret(::rmdir(path)); }
int Sys::symlink(const char* target, const char* path) {
  return ret(::symlink(target, path));
}

int Sys::readlink(const char* path, std::string* target) {
  // st_size of a link is its length on most filesystems, but not on
  // procfs and some others: grow until the answer fits.
  for (size_t size = 256;; size *= 4) {
    target->resize(size);
    const ssize_t n = ::readlink(path, target->data(), size);
    if (n < 0) return -errno;
    if (static_cast<size_t>(n) < size) {
      target->resize(static_cast<size_t>(n));
      return 0;
    }
    if (size > (1u << 20)) return -ENAMETOOLONG;
  }
}

int Sys::mknod(const char* path, unsigned mode, dev_t dev) {
  return ret(::mknod(path, mode, dev));
}
int Sys::link(const char* from, const char* to) { return ret(::link(from, to)); }

int Sys::chown(MetaTarget t, uid_t uid, gid_t gid) {
  if (t.fd >= 0) return ret(::fchown(t.fd, uid, gid));
  return ret(::lchown(t.path, uid, gid));
}

int Sys::chmod(MetaTarget t, unsigned mode) {
  if (t.fd >= 0) return ret(::fchmod(t.fd, mode));
  return ret(::chmod(t.path, mode));
}

int Sys::utimens(MetaTarget t, const struct timespec times[2]) {
  if (t.fd >= 0) return ret(::futimens(t.fd, times));
  return ret(::utimensat(AT_FDCWD, t.path, times, AT_SYMLINK_NOFOLLOW));
}

int Sys::list_xattrs(MetaTarget t, std::string* names) {
  return read_sized(
      [&](char* buf, size_t n) {
        return t.fd >= 0 ? ::flistxattr(t.fd, buf, n) : ::llistxattr(t.path, buf, n);
      },
      names);
}

int Sys::get_xattr(MetaTarget t, const char* name, std::string* value) {
  return read_sized(
      [&](char* buf, size_t n) {
        return t.fd >= 0 ? ::fgetxattr(t.fd, name, buf, n)
                         : ::lgetxattr(t.path, name, buf, n);
      },
      value);
}

int Sys::set_xattr(MetaTarget t, const char* name, const std::string& value) {
  if (t.fd >= 0) return ret(::fsetxattr(t.fd, name, value.data(), value.size(), 0));
  return ret(::lsetxattr(t.path, name, value.data(), value.size(), 0));
}

int Sys::btrfs_snapshot(int src_fd, int parent_fd, const char* name) {
  btrfs_ioctl_vol_args_v2 args;
  memset(&args, 0, sizeof args);
  args.fd = src_fd;
  if (strlen(name) > BTRFS_SUBVOL_NAME_MAX) return -ENAMETOOLONG;
  strncpy(args.name, name, BTRFS_SUBVOL_NAME_MAX);
  return ret(::ioctl(parent_fd, BTRFS_IOC_SNAP_CREATE_V2, &args));
}

int Sys::btrfs_has_child_subvolumes(int fd) {
  auto args = std::make_unique<btrfs_ioctl_get_subvol_rootref_args>();
  memset(args.get(), 0, sizeof *args);
  const int r = ::ioctl(fd, BTRFS_IOC_GET_SUBVOL_ROOTREF, args.get());
  // EOVERFLOW: more children than one answer holds -- there are some.
  if (r < 0) return errno == EOVERFLOW ? 1 : -errno;
  return args->num_items > 0 ? 1 : 0;
}

}  // namespace offcopy::sys
