// copy_file: open the source, create or replace the destination the way cp
// does, copy the whole file, and clean up a destination it created when the
// copy fails.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <string>

#include "engine/copier.h"

namespace offcopy::engine {
namespace {

Error file_error(int code, std::string op, Role role, const std::string& path,
                 std::string detail = {}) {
  Error e;
  e.code = code;
  e.op = std::move(op);
  e.role = role;
  e.path = path;
  e.detail = std::move(detail);
  return e;
}

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
  int fd = s.open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd == -EACCES || fd == -EPERM || fd == -ETXTBSY) {
    if (opt.overwrite == Overwrite::force && exists && s.unlink(dst.c_str()) == 0) {
      exists = false;
      fd = s.open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
    }
  }
  if (fd < 0) return file_error(-fd, "open", Role::destination, dst);
  d.fd.reset(fd);
  d.created = !exists;
  return d;
}

}  // namespace

Result<Report> copy_file(const Context& ctx, const std::string& src,
                         const std::string& dst, const FileOptions& options,
                         const Control* control) {
  sys::Sys& s = *ctx.sys;
  int sfd = s.open(src.c_str(), O_RDONLY, 0);
  if (sfd < 0) return file_error(-sfd, "open", Role::source, src);
  sys::UniqueFd in(sfd);
  struct stat sst {};
  if (int r = s.fstat(in.get(), &sst); r < 0) {
    return file_error(-r, "fstat", Role::source, src);
  }
  if (S_ISDIR(sst.st_mode)) {
    return file_error(EISDIR, "copy", Role::source, src, "is a directory");
  }
  // As cp: sequential readahead (a doubled window) for the whole source.
  // Only here, where the fd is ours -- the advice sticks to the open file.
  if (S_ISREG(sst.st_mode)) s.fadvise_sequential(in.get());
  struct stat dst_st {};
  const bool exists = s.stat(dst.c_str(), &dst_st) == 0;
  if (exists && dst_st.st_dev == sst.st_dev && dst_st.st_ino == sst.st_ino) {
    return file_error(EINVAL, "copy", Role::none, src,
                      "'" + src + "' and '" + dst + "' are the same file");
  }
  if (exists && options.overwrite == Overwrite::no_clobber) {
    return file_error(EEXIST, "create", Role::destination, dst, "not overwritten (-n)");
  }
  if (exists && S_ISDIR(dst_st.st_mode)) {
    return file_error(EISDIR, "open", Role::destination, dst);
  }
  auto out = open_dest(ctx, dst, sst.st_mode & 07777 & ~mode_t{S_ISUID | S_ISGID},
                       options, exists);
  if (!out) return out.error();
  int64_t src_off = 0;
  int64_t dst_off = 0;
  auto rep = copy_range(ctx, in.get(), S_ISREG(sst.st_mode) ? &src_off : nullptr,
                        out->fd.get(), S_ISREG(dst_st.st_mode) || !exists ? &dst_off : nullptr,
                        0, options.flags, control);
  if (rep) return rep;
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
