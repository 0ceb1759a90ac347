#include "sys/long_path.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <string>

namespace offcopy::sys {

AtPath::AtPath(const char* path) : dir_(AT_FDCWD), leaf_(path) {
  // PATH_MAX counts the terminating '\0': the kernel takes up to
  // PATH_MAX - 1 bytes.  strnlen keeps the check short on a short path.
  if (strnlen(path, PATH_MAX) < PATH_MAX) return;

  // The leaf is the last component; trailing slashes stay on it.
  size_t end = strlen(path);
  while (end > 0 && path[end - 1] == '/') --end;
  size_t leaf = end;
  while (leaf > 0 && path[leaf - 1] != '/') --leaf;
  leaf_ = path + leaf;

  // Open the parent a stretch at a time: each stretch is as many whole
  // components as fit in one lookup, so an 8 KiB path costs two or three
  // openat() calls, not one per component.  The kernel resolves each
  // stretch as it would have resolved it within the whole path: symlinks
  // in it are followed (O_PATH|O_DIRECTORY follows the last one too, as
  // the whole path would have), ".." goes up from where the walk is, and
  // search permission is checked on every directory.  O_PATH needs no
  // read permission, which a plain lookup does not need either.
  std::string stretch;
  size_t pos = 0;
  while (pos < leaf) {
    size_t stop = leaf;
    if (stop - pos >= PATH_MAX) {
      // Cut after the last '/' that fits; none means a single component
      // of PATH_MAX bytes or more, too long for any filesystem.
      stop = pos + PATH_MAX - 1;
      while (stop > pos && path[stop - 1] != '/') --stop;
      if (stop == pos) {
        err_ = -ENAMETOOLONG;
        return;
      }
    }
    stretch.assign(path + pos, stop - pos);
    int fd;
    do {
      fd = ::openat(dir_, stretch.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      err_ = -errno;
      return;
    }
    parent_.reset(fd);
    dir_ = fd;
    // A run of slashes split between two stretches must not start the
    // next one, which would then be absolute.
    pos = stop;
    while (pos < leaf && path[pos] == '/') ++pos;
  }
  // Only a path of slashes has no parent to open; the kernel answers for
  // it (ENAMETOOLONG), as it would have.
}

XattrPath::XattrPath(const char* path) : path_(path) {
  AtPath at(path);
  if (at.error() < 0 || !at.split()) {
    err_ = at.error();
    return;
  }
  int fd;
  do {
    fd = ::openat(at.dir(), at.leaf(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    err_ = -errno;
    return;
  }
  entry_.reset(fd);
  snprintf(proc_, sizeof proc_, "/proc/self/fd/%d", fd);
  path_ = proc_;
}

}  // namespace offcopy::sys
