// Paths longer than PATH_MAX for the syscall seam.  The kernel refuses a
// path of PATH_MAX bytes or more (ENAMETOOLONG), yet a tree may nest
// deeper than that.  AtPath splits such a path into an open parent
// directory and a last component, to pass to the *at() form of a call;
// a shorter path it leaves whole, relative to AT_FDCWD, which the kernel
// treats exactly as the plain call (glibc implements most of them so).
//
// Thread-safety: an AtPath belongs to one thread; nothing is shared.
#ifndef OFFCOPY_SYS_LONG_PATH_H_
#define OFFCOPY_SYS_LONG_PATH_H_

#include <errno.h>

#include "sys/sys.h"

namespace offcopy::sys {

class AtPath {
 public:
  // Opens the parent of a long `path` (which must outlive this object);
  // a short one costs no system call.
  explicit AtPath(const char* path);

  // 0, or -errno when the parent could not be opened.
  int error() const { return err_; }
  // The directory fd for the *at() call (AT_FDCWD for a short path).
  int dir() const { return dir_; }
  // The name relative to dir(): the last component of a long path, with
  // its trailing slashes, which keep their meaning ("must be a directory").
  const char* leaf() const { return leaf_; }
  // Whether dir() is an opened directory: the path was long, and had a
  // parent to open.
  bool split() const { return parent_.valid(); }

 private:
  UniqueFd parent_;  // an O_PATH directory
  int dir_;
  const char* leaf_;
  int err_ = 0;
};

// The name to give the l*xattr calls, which have no *at() form (before
// Linux 6.13's getxattrat and kin, which glibc does not wrap).  A short
// path is used as it is, with the l-calls.  For a long one, the entry
// itself is opened with O_PATH|O_NOFOLLOW -- a symlink, not its target --
// and named /proc/self/fd/N: the kernel follows that magic link to exactly
// the opened entry and no further, so the *following* calls (getxattr,
// not lgetxattr, which would act on the /proc link itself) do what the
// l-calls would have done on the path.  That needs /proc, for long paths
// only.
class XattrPath {
 public:
  explicit XattrPath(const char* path);

  int error() const { return err_; }
  const char* path() const { return path_; }
  // Use the following calls (getxattr) rather than the l-calls.
  bool follow() const { return entry_.valid(); }

 private:
  UniqueFd entry_;
  char proc_[32];
  const char* path_;
  int err_ = 0;
};

// Runs f(dirfd, name), an *at() call returning -1 with errno set, on a
// path of any length; returns its result or -errno.
template <typename F>
int at_call(const char* path, F f) {
  AtPath at(path);
  if (at.error() < 0) return at.error();
  const int r = f(at.dir(), at.leaf());
  return r < 0 ? -errno : r;  // before ~AtPath's close() can touch errno
}

}  // namespace offcopy::sys

#endif  // OFFCOPY_SYS_LONG_PATH_H_
