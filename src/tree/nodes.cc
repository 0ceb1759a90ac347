#include "tree/nodes.h"

#include <errno.h>

#include "util/error.h"

namespace offcopy::tree {
namespace {

// Runs `make` (returning 0 or -errno); on EEXIST with `replace`, removes
// what is at `dst` -- unless it is a directory -- and tries once more.
template <typename F>
int make_replacing(sys::Sys& s, const std::string& dst, bool replace, F make) {
  int r = make();
  if (r != -EEXIST || !replace) return r;
  struct stat st {};
  if (s.lstat(dst.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return -EISDIR;
  if (int u = s.unlink(dst.c_str()); u < 0) return u;
  return make();
}

}  // namespace

std::string parent_of(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

std::string base_of(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

Error entry_error(int code, std::string op, Role role, const std::string& path,
                  std::string detail) {
  return util::path_error(code, std::move(op), role, path, std::move(detail));
}

Result<DirMade> make_dir(sys::Sys& s, const std::string& src, const std::string& dst) {
  const int r = s.mkdir(dst.c_str(), 0700);
  if (r == 0) return DirMade::created;
  if (r != -EEXIST) return entry_error(-r, "mkdir", Role::destination, dst);
  struct stat st {};
  if (int l = s.lstat(dst.c_str(), &st); l < 0) {
    return entry_error(-l, "stat", Role::destination, dst);
  }
  if (!S_ISDIR(st.st_mode)) {
    return entry_error(ENOTDIR, "mkdir", Role::destination, dst,
                       "cannot overwrite non-directory '" + dst + "' with directory '" + src +
                           "'");
  }
  return DirMade::existed;
}

Status make_symlink(sys::Sys& s, const std::string& src, const std::string& dst,
                    bool replace) {
  std::string target;
  if (int r = s.readlink(src.c_str(), &target); r < 0) {
    return entry_error(-r, "readlink", Role::source, src);
  }
  const int r = make_replacing(s, dst, replace,
                               [&] { return s.symlink(target.c_str(), dst.c_str()); });
  if (r < 0) return entry_error(-r, "symlink", Role::destination, dst);
  return Ok{};
}

Status make_special(sys::Sys& s, const struct stat& st, const std::string& dst,
                    mode_t umask, bool replace) {
  const mode_t mode = (st.st_mode & S_IFMT) | (st.st_mode & 0777 & ~umask);
  const int r = make_replacing(s, dst, replace,
                               [&] { return s.mknod(dst.c_str(), mode, st.st_rdev); });
  if (r < 0) return entry_error(-r, S_ISFIFO(st.st_mode) ? "mkfifo" : "mknod",
                                Role::destination, dst);
  return Ok{};
}

Status make_link(sys::Sys& s, const std::string& first, const std::string& dst,
                 bool replace) {
  const int r = make_replacing(s, dst, replace,
                               [&] { return s.link(first.c_str(), dst.c_str()); });
  if (r < 0) return entry_error(-r, "link", Role::destination, dst, "to '" + first + "'");
  return Ok{};
}

Status link_to_source(sys::Sys& s, const std::string& src, const std::string& dst,
                      bool follow, bool replace) {
  std::string from = src;
  if (follow) {
    if (int r = s.realpath(src.c_str(), &from); r < 0) {
      return entry_error(-r, "stat", Role::source, src);
    }
  }
  if (int r = make_replacing(s, dst, replace, [&] { return s.link(from.c_str(), dst.c_str()); });
      r < 0) {
    return entry_error(-r, "link", Role::destination, dst, "to '" + src + "'");
  }
  return Ok{};
}

Status symlink_to_source(sys::Sys& s, const std::string& src, const std::string& dst,
                         bool replace) {
  if (src.empty() || src[0] != '/') {
    // "." and the destination's directory are the same directory.
    struct stat here {}, there {};
    const std::string dir = parent_of(dst);
    const bool in_cwd = dir == "." || (s.stat(".", &here) == 0 && s.stat(dir.c_str(), &there) == 0 &&
                                       here.st_dev == there.st_dev && here.st_ino == there.st_ino);
    if (!in_cwd) {
      return entry_error(EINVAL, "symlink", Role::destination, dst,
                         dst + ": can make relative symbolic links only in current directory");
    }
  }
  if (int r = make_replacing(s, dst, replace, [&] { return s.symlink(src.c_str(), dst.c_str()); });
      r < 0) {
    return entry_error(-r, "symlink", Role::destination, dst, "to '" + src + "'");
  }
  return Ok{};
}

}  // namespace offcopy::tree
