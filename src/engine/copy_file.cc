// copy_file: open the source, create or replace the destination the way cp
// does, copy the whole file, and clean up a destination it created when the
// copy fails.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <string>

#include "engine/copier.h"
#include "meta/metadata.h"
#include "util/error.h"

namespace offcopy::engine {
namespace {

using util::path_error;

struct Dest {
  sys::UniqueFd fd;
  bool created = false;
};

// Opens the destination for writing, truncating it; with force, a
// destination that cannot be opened is unlinked and created anew.
Result<Dest> open_dest(const Context& ctx, const std::string& dst, mode_t mode,
                       const FileOptions& opt, bool exists) {
  sys::Sys& s = *ctx.sys;
  Dest d;
  const int how = opt.create_new ? O_CREAT | O_EXCL : O_CREAT | O_TRUNC;
  int fd = s.open(dst.c_str(), O_WRONLY | how, mode);
  if (fd == -EACCES || fd == -EPERM || fd == -ETXTBSY) {
    if (opt.overwrite == Overwrite::force && exists && s.unlink(dst.c_str()) == 0) {
      exists = false;
      fd = s.open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
    }
  }
  if (fd < 0) return path_error(-fd, "open", Role::destination, dst);
  d.fd.reset(fd);
  d.created = !exists;
  return d;
}

// Looks at an existing destination the way cp does before opening it:
// the same file, -n, a directory.  `exists` tells whether there is one.
Status check_dest(const Context& ctx, const std::string& src, const std::string& dst,
                  const struct stat& sst, const FileOptions& options, bool* exists) {
  struct stat dst_st {};
  *exists = !options.create_new && ctx.sys->stat(dst.c_str(), &dst_st) == 0;
  if (!*exists) return Ok{};
  if (dst_st.st_dev == sst.st_dev && dst_st.st_ino == sst.st_ino) {
    return path_error(EINVAL, "copy", Role::none, src,
                      "'" + src + "' and '" + dst + "' are the same file");
  }
  if (options.overwrite == Overwrite::no_clobber) {
    return path_error(EEXIST, "create", Role::destination, dst, "not overwritten (-n)");
  }
  if (S_ISDIR(dst_st.st_mode)) return path_error(EISDIR, "open", Role::destination, dst);
  return Ok{};
}

// Readahead advice pays for itself only beyond the default window.
constexpr int64_t kAdviseMin = 128 << 10;

}  // namespace

Result<Report> copy_file(const Context& ctx, const std::string& src,
                         const std::string& dst, const FileOptions& options,
                         const Control* control) {
  sys::Sys& s = *ctx.sys;
  int sfd = s.open(src.c_str(), O_RDONLY, 0);
  if (sfd < 0) return path_error(-sfd, "open", Role::source, src);
  sys::UniqueFd in(sfd);
  OpenedFds known{.src_flags = O_RDONLY, .dst_flags = O_WRONLY};
  struct stat& sst = known.src_st;
  if (int r = s.fstat(in.get(), &sst); r < 0) {
    return path_error(-r, "fstat", Role::source, src);
  }
  if (S_ISDIR(sst.st_mode)) {
    return path_error(EISDIR, "copy", Role::source, src, "is a directory");
  }
  // As cp: sequential readahead (a doubled window) for the whole source.
  // Only here, where the fd is ours -- the advice sticks to the open file.
  if (S_ISREG(sst.st_mode) && sst.st_size >= kAdviseMin) s.fadvise_sequential(in.get());
  bool exists = false;
  if (Status st = check_dest(ctx, src, dst, sst, options, &exists); !st) return st.error();
  const mode_t mode =
      options.default_mode ? 0666 : sst.st_mode & 07777 & ~mode_t{S_ISUID | S_ISGID};
  auto out = open_dest(ctx, dst, mode, options, exists);
  if (!out) return out.error();
  if (int r = s.fstat(out->fd.get(), &known.dst_st); r < 0) {
    if (out->created) s.unlink(dst.c_str());
    return path_error(-r, "fstat", Role::destination, dst);
  }
  int64_t src_off = 0;
  int64_t dst_off = 0;
  auto rep = copy_range(ctx, in.get(), S_ISREG(sst.st_mode) ? &src_off : nullptr,
                        out->fd.get(), S_ISREG(known.dst_st.st_mode) ? &dst_off : nullptr,
                        0, options.flags, control, &known);
  if (rep) {
    const Preserve& p = options.preserve;
    if (p.mode || p.ownership || p.timestamps || p.xattr) {
      meta::apply(s, sst, {in.get()}, {out->fd.get()}, p, &rep->warnings, &known.dst_st);
    }
    return rep;
  }
  Error e = rep.error();
  if (e.path.empty()) e.path = e.role == Role::source ? src : dst;
  if (out->created && s.unlink(dst.c_str()) == 0) {
    e.detail += e.detail.empty() ? "" : "; ";
    e.detail += e.bytes_done > 0 ? "removed the partly written '" + dst + "'"
                                 : "removed '" + dst + "', which this copy had created";
  }
  return e;
}

}  // namespace offcopy::engine

namespace offcopy {

Result<Report> copy_file(const std::string& src, const std::string& dst,
                         const FileOptions& options) {
  return engine::copy_file(engine::Context::process(), src, dst, options);
}

}  // namespace offcopy
