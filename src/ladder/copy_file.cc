// copy_file: open the source, create or replace the destination the way cp
// does (or write a temporary and rename it, for atomic copies), copy the
// whole file -- again if the source changed meanwhile -- verify, apply the
// metadata, make it durable when asked, and clean up whatever this call
// created when any step fails.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "ladder/copier.h"
#include "ladder/verify.h"
#include "meta/metadata.h"
#include "util/error.h"

namespace offcopy::ladder {

using mech::Context;
using mech::Control;
namespace {

using util::path_error;

// Where the bytes go.
struct Dest {
  sys::UniqueFd fd;
  std::string final_name;  // the name the copy ends up under
  std::string path;        // the file written: final_name, or a temporary
  bool created = false;    // `path` was made by this call: removed on failure
  bool temp = false;       // `path` is a temporary name (atomic)
  bool existed = false;    // final_name existed before
  struct stat old {};      // the existing destination, when existed
  int dir = -1;            // `path` was opened in this directory (unlink_at)
  mode_t mode = 0;         // the mode a new file is to end up with
  mode_t withheld = 0;     // bits of `mode` left out while it was filled
};

// The last component of a path, for an *at() call in its directory.
const char* leaf_of(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p.c_str() : p.c_str() + slash + 1;
}

std::string dir_of(const std::string& p) {
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

// ".NAME.offcopy-XXXXXXXX" beside `final_name`, within NAME_MAX.
std::string temp_name(const std::string& final_name) {
  static std::atomic<uint64_t> counter{0};
  const size_t slash = final_name.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : final_name.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? final_name : final_name.substr(slash + 1);
  if (base.size() > 230) base.resize(230);
  // Unique enough with O_EXCL retries behind it: a process-wide counter
  // mixed with the clock and an address (differs between processes).
  uint64_t x = counter.fetch_add(1) + 0x9E3779B97F4A7C15ull *
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x ^= reinterpret_cast<uintptr_t>(&counter) >> 4;
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(x ^ (x >> 32)));
  return dir + "." + base + ".offcopy-" + suffix;
}

// --verify reads the copy back through the same descriptor.
int access_mode(const FileOptions& opt) { return opt.verify ? O_RDWR : O_WRONLY; }

// Opens the destination itself for writing, truncating it; with force, a
// destination that cannot be opened is unlinked and created anew (cp -f:
// whatever the open's error).  A destination not there is created with
// O_EXCL, so that a dangling symlink in its place is not written through.
Status open_in_place(const Context& ctx, const FileOptions& opt, Dest* d) {
  sys::Sys& s = *ctx.sys;
  const char* name = d->final_name.c_str();
  const int how = opt.create_new || !d->existed ? O_CREAT | O_EXCL : O_CREAT | O_TRUNC;
  if (opt.create_new && opt.destination_dir >= 0) d->dir = opt.destination_dir;
  const mode_t mode = d->mode & ~d->withheld;
  int fd = d->dir >= 0 ? s.open_at(d->dir, leaf_of(d->final_name), access_mode(opt) | how, mode)
                       : s.open(name, access_mode(opt) | how, mode);
  if (fd == -EEXIST && !d->existed && !opt.create_new) {
    // stat() found nothing, O_EXCL found something: a symlink to nothing
    // (or a file that appeared meanwhile, which cp does not replace either).
    std::string target;
    if (s.readlink(name, &target) < 0) {
      return path_error(EEXIST, "open", Role::destination, d->final_name);
    }
    if (!opt.write_through_dangling) {
      return path_error(EEXIST, "open", Role::destination, d->final_name,
                        "not writing through dangling symlink '" + d->final_name + "'");
    }
    fd = s.open(name, access_mode(opt) | O_CREAT, mode);
    // Not removed on failure: that would remove the link, not its target.
    d->existed = true;
  }
  bool existed = d->existed;
  // An existing file opened with O_TRUNC keeps its mode: nothing withheld.
  bool kept_mode = existed && (how & O_TRUNC) != 0;
  if (fd < 0 && opt.overwrite == Overwrite::force && existed) {
    // The open's error is the one to report; that -f could not remove the
    // file either is the detail.
    if (int r = s.unlink(name); r < 0 && r != -ENOENT) {
      return path_error(-fd, "open", Role::destination, d->final_name,
                        "-f could not remove it: " + std::string(strerror(-r)));
    }
    existed = kept_mode = false;
    fd = s.open(name, access_mode(opt) | O_CREAT | O_EXCL, mode);
  }
  if (fd < 0) return path_error(-fd, "open", Role::destination, d->final_name);
  d->fd.reset(fd);
  d->path = d->final_name;
  d->created = !existed;
  if (kept_mode) d->withheld = 0;
  return Ok{};
}

// Creates a temporary beside the final name.  An existing destination's
// owner and mode are carried over unless the source's are to be kept.
Status open_temporary(const Context& ctx, const FileOptions& opt, Dest* d) {
  sys::Sys& s = *ctx.sys;
  const mode_t mode = d->mode & ~d->withheld;
  int fd = -EEXIST;
  for (int tries = 0; fd == -EEXIST && tries < 100; ++tries) {
    d->path = temp_name(d->final_name);
    fd = s.open(d->path.c_str(), access_mode(opt) | O_CREAT | O_EXCL, mode);
  }
  if (fd < 0) {
    return path_error(-fd, "open", Role::destination, d->final_name,
                      "creating a temporary file beside it");
  }
  d->fd.reset(fd);
  d->created = true;
  d->temp = true;
  if (!d->existed) return Ok{};
  d->withheld = 0;  // the old file's mode, set below
  // As a rewrite in place would: the file keeps its owner and mode.
  // Ownership may be refused to non-root users; the mode is then kept
  // without the set-id bits, which a new owner must not inherit.
  bool owner_kept = opt.preserve.ownership;
  if (!opt.preserve.ownership) {
    owner_kept = s.chown({fd}, d->old.st_uid, d->old.st_gid) == 0;
  }
  if (!opt.preserve.mode) {
    mode_t keep = d->old.st_mode & 07777;
    if (!owner_kept) keep &= ~mode_t{S_ISUID | S_ISGID};
    s.chmod({fd}, keep);
  }
  return Ok{};
}

// Looks at an existing destination the way cp does before opening it:
// the same file, -n, a directory.  Fills d->existed, d->old and
// d->final_name (for atomic copies, a symlink's target: the file that a
// rewrite in place would change).
Status check_dest(const Context& ctx, const std::string& src, const std::string& dst,
                  const struct stat& sst, const FileOptions& options, Dest* d) {
  sys::Sys& s = *ctx.sys;
  d->final_name = dst;
  if (options.create_new) return Ok{};
  const int r = s.stat(dst.c_str(), &d->old);
  if (r == -ELOOP && options.overwrite == Overwrite::force &&
      s.lstat(dst.c_str(), &d->old) == 0) {
    d->existed = true;  // a symlink loop: -f removes it when the open fails
    return Ok{};
  }
  if (r == -ENOENT) return Ok{};
  if (r < 0) return path_error(-r, "stat", Role::destination, dst);
  d->existed = true;
  if (d->old.st_dev == sst.st_dev && d->old.st_ino == sst.st_ino) {
    return path_error(EINVAL, "copy", Role::none, src,
                      "'" + src + "' and '" + dst + "' are the same file");
  }
  if (options.overwrite == Overwrite::no_clobber) {
    return path_error(EEXIST, "create", Role::destination, dst, "not overwritten (-n)");
  }
  if (S_ISDIR(d->old.st_mode)) {
    return path_error(EISDIR, "open", Role::destination, dst,
                      "cannot overwrite directory '" + dst + "' with non-directory");
  }
  if (!options.atomic || !S_ISREG(d->old.st_mode)) return Ok{};
  struct stat l {};
  if (s.lstat(dst.c_str(), &l) == 0 && S_ISLNK(l.st_mode)) {
    if (int r = s.realpath(dst.c_str(), &d->final_name); r < 0) {
      return path_error(-r, "realpath", Role::destination, dst);
    }
  }
  return Ok{};
}

// Did the source change between two fstats?  A write changes mtime and
// ctime (and perhaps the size); a truncate to the same size still changes
// ctime.
bool changed(const struct stat& a, const struct stat& b) {
  return a.st_size != b.st_size || a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
         a.st_mtim.tv_nsec != b.st_mtim.tv_nsec || a.st_ctim.tv_sec != b.st_ctim.tv_sec ||
         a.st_ctim.tv_nsec != b.st_ctim.tv_nsec;
}

Error with_path(Error e, const std::string& src, const std::string& dst) {
  if (e.path.empty()) e.path = e.role == Role::source ? src : dst;
  return e;
}

// The data: copied whole, and once more when the source changed meanwhile.
Result<Report> copy_data(const Context& ctx, const std::string& src, int in, OpenedFds* known,
                         Dest& out, const FileOptions& options, const Control* control) {
  sys::Sys& s = *ctx.sys;
  struct stat& sst = known->src_st;
  const bool regular = S_ISREG(sst.st_mode);
  for (int attempt = 0;; ++attempt) {
    int64_t src_off = 0;
    int64_t dst_off = 0;
    auto rep = copy_range(ctx, in, regular ? &src_off : nullptr, out.fd.get(),
                          S_ISREG(known->dst_st.st_mode) ? &dst_off : nullptr, 0,
                          options.flags, control, known);
    if (!rep) return with_path(rep.error(), src, out.final_name);
    rep->retries = attempt;
    struct stat now {};
    if (!regular) return rep;
    if (int r = s.fstat(in, &now); r < 0) return path_error(-r, "fstat", Role::source, src);
    if (!changed(sst, now)) return rep;
    if (attempt == 1) {
      Error e = path_error(kSourceChanged, "copy", Role::source, src,
                           "the source changed while it was copied, twice");
      e.kind = ErrorKind::source_changed;
      e.bytes_done = rep->total_bytes();
      e.report = std::make_shared<Report>(*rep);
      return e;
    }
    sst = now;
    if (S_ISREG(known->dst_st.st_mode)) {
      if (int r = s.ftruncate(out.fd.get(), 0); r < 0) {
        return path_error(-r, "ftruncate", Role::destination, out.final_name);
      }
    }
  }
}

// Verification, metadata and durability, after the data.
Status finish_file(const Context& ctx, const std::string& src, int in, const OpenedFds& known,
                   Dest& out, const FileOptions& options, const Control* control,
                   Report* rep) {
  sys::Sys& s = *ctx.sys;
  const int dfd = out.fd.get();
  if (options.verify && S_ISREG(known.src_st.st_mode) && S_ISREG(known.dst_st.st_mode)) {
    auto v = verify_copy(ctx, in, dfd, known.src_st.st_size, control);
    if (!v) return with_path(v.error(), src, out.final_name);
    rep->verified_bytes = v->compared;
    rep->verify_skipped_bytes = v->skipped;
  }
  const Preserve& p = options.preserve;
  if (p.mode || p.ownership || p.timestamps || p.xattr) {
    meta::apply(s, known.src_st, {in}, {dfd}, p, &rep->warnings, &known.dst_st);
  }
  // The bits withheld while the file was filled, now that its owner is
  // final (--preserve=mode has set the whole mode already).
  if (out.withheld != 0 && !p.mode) {
    if (int r = s.chmod({dfd}, out.mode & ~s.read_umask()); r < 0) {
      rep->warnings.push_back(Warning{"fchmod", -r, {}});
    }
  }
  // A temporary is made durable before the rename publishes it, or a
  // crash could leave the new name with no data behind it.
  if (options.fsync || options.atomic) {
    if (int r = s.fsync(dfd); r < 0) return path_error(-r, "fsync", Role::destination, out.final_name);
  }
  return Ok{};
}

// Gives the finished file its final name (atomic), and makes a new name
// durable under fsync.
Status publish(const Context& ctx, Dest& out, const FileOptions& options) {
  sys::Sys& s = *ctx.sys;
  const bool new_name = out.temp || !out.existed;
  if (out.temp) {
    // -n and files in a directory this copy made must not replace anything
    // that appeared meanwhile.
    const bool noreplace = options.overwrite == Overwrite::no_clobber || options.create_new;
    if (int r = s.rename(out.path.c_str(), out.final_name.c_str(), noreplace); r < 0) {
      return path_error(-r, "rename", Role::destination, out.final_name);
    }
    out.temp = false;
    out.created = false;
  }
  if (options.fsync && new_name) {
    sys::UniqueFd dir(s.open(dir_of(out.final_name).c_str(), O_RDONLY | O_DIRECTORY, 0));
    const int r = dir.valid() ? s.fsync(dir.get()) : dir.get();
    if (r < 0) return path_error(-r, "fsync", Role::destination, dir_of(out.final_name));
  }
  return Ok{};
}

// After a failure: removes what this call created, and says so.
Error clean_up(const Context& ctx, Dest& out, Error e) {
  if (!out.created) return e;
  const int r = out.dir >= 0 ? ctx.sys->unlink_at(out.dir, leaf_of(out.path))
                             : ctx.sys->unlink(out.path.c_str());
  if (r != 0) return e;
  e.detail += e.detail.empty() ? "" : "; ";
  if (out.temp) {
    e.detail += "removed the temporary copy; '" + out.final_name + "' is " +
                (out.existed ? "unchanged" : "not created");
  } else {
    e.detail += e.bytes_done > 0 ? "removed the partly written '" + out.path + "'"
                                 : "removed '" + out.path + "', which this copy had created";
  }
  return e;
}

}  // namespace

Result<Report> copy_file(const Context& ctx, const std::string& src,
                         const std::string& dst, const FileOptions& options,
                         const Control* control) {
  sys::Sys& s = *ctx.sys;
  // A cancellable copy must not hang in open() or read() of a FIFO whose
  // writer is missing or idle: it opens without blocking and polls
  // (read_write.cc); anything but a stream gets blocking reads back
  // before a host rung reads it.
  const bool cancellable = control != nullptr && control->cancel != nullptr;
  const int src_flags = cancellable ? O_RDONLY | O_NONBLOCK : O_RDONLY;
  int sfd = options.source_dir >= 0 ? s.open_at(options.source_dir, leaf_of(src), src_flags, 0)
                                     : s.open(src.c_str(), src_flags, 0);
  if (sfd < 0) return path_error(-sfd, "open", Role::source, src);
  sys::UniqueFd in(sfd);
  OpenedFds known{.src_flags = src_flags, .dst_flags = access_mode(options)};
  const struct stat& sst = known.src_st;
  if (int r = s.fstat(in.get(), &known.src_st); r < 0) {
    return path_error(-r, "fstat", Role::source, src);
  }
  // The copier clears O_NONBLOCK if a host rung reads a non-stream; a
  // clone or copy_file_range (the whole of most copies) never needs it.
  known.src_nonblock_ours = cancellable;
  if (S_ISDIR(sst.st_mode)) {
    return path_error(EISDIR, "copy", Role::source, src, "is a directory");
  }
  // No POSIX_FADV_SEQUENTIAL (cp gives it): on ext4 -> xfs it doubled the
  // time before the final sync, for cp and offcopy alike (benchmarks.md).
  Dest out;
  if (Status st = check_dest(ctx, src, dst, sst, options, &out); !st) return st.error();
  // A device or FIFO destination is written to, as cp would: there is no
  // file to replace.
  FileOptions opt = options;
  if (out.existed && !S_ISREG(out.old.st_mode)) opt.atomic = false;
  out.mode = opt.default_mode ? 0666 : sst.st_mode & 07777 & ~mode_t{S_ISUID | S_ISGID};
  // A file whose owner is about to change is made without group and other
  // permissions until it is complete (cp's rule): until the chown, those
  // bits would give the copy's data to the copier's group and everyone.
  if (opt.preserve.ownership) out.withheld = out.mode & 077;
  Status opened = opt.atomic ? open_temporary(ctx, opt, &out) : open_in_place(ctx, opt, &out);
  if (!opened) return opened.error();
  if (int r = s.fstat(out.fd.get(), &known.dst_st); r < 0) {
    return clean_up(ctx, out, path_error(-r, "fstat", Role::destination, dst));
  }
  auto rep = copy_data(ctx, src, in.get(), &known, out, opt, control);
  if (!rep) return clean_up(ctx, out, std::move(rep.error()));
  if (Status st = finish_file(ctx, src, in.get(), known, out, opt, control, &*rep); !st) {
    Error e = std::move(st.error());
    e.bytes_done = rep->total_bytes();
    e.report = std::make_shared<Report>(*rep);
    return clean_up(ctx, out, std::move(e));
  }
  if (Status st = publish(ctx, out, opt); !st) return clean_up(ctx, out, std::move(st.error()));
  return rep;
}

}  // namespace offcopy::ladder

namespace offcopy {

Result<Report> copy_file(const std::string& src, const std::string& dst,
                         const FileOptions& options) {
  return ladder::copy_file(mech::Context::process(), src, dst, options);
}

}  // namespace offcopy
