// copy_range: validates the request, then walks the mechanism ladder over
// the range in order -- an unaligned head, the clonable middle, the tail --
// finding holes on the way down and recreating them at the end.
#include "ladder/copier.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "mech/rung.h"
#include "mech/transfer.h"

namespace offcopy::ladder {

using mech::Context;
using mech::Control;
using mech::kUntilEof;
using mech::ProbeCache;
using mech::Rung;
using mech::RungTable;
using mech::Segment;
using mech::SegmentResult;
using mech::Transfer;
using mech::Verdict;

namespace {

Error make_error(int code, std::string op, Role role, std::string detail = {}) {
  Error e;
  e.code = code;
  e.op = std::move(op);
  e.role = role;
  e.detail = std::move(detail);
  return e;
}

bool is_stream(const struct stat& st) {
  return S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode);
}

// Filesystems whose files are generated on read: st_size means nothing.
bool is_pseudo_fs(int64_t f_type) {
  switch (f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case 0x62656570:  // configfs
      return true;
    default:
      return false;
  }
}

Status inspect(Transfer& xfer, const OpenedFds* known, bool lazy_flags) {
  sys::Sys& s = xfer.sys();
  if (known != nullptr) {
    xfer.src_st = known->src_st;
    xfer.dst_st = known->dst_st;
  } else if (int r = s.fstat(xfer.src_fd, &xfer.src_st); r < 0) {
    return make_error(-r, "fstat", Role::source);
  } else if (int r = s.fstat(xfer.dst_fd, &xfer.dst_st); r < 0) {
    return make_error(-r, "fstat", Role::destination);
  }
  if (S_ISDIR(xfer.src_st.st_mode)) return make_error(EISDIR, "open", Role::source);
  if (S_ISDIR(xfer.dst_st.st_mode)) return make_error(EISDIR, "open", Role::destination);
  // Generated files allocate no blocks; only then is fstatfs worth a call
  // (it is one of the few syscalls a 4 KiB copy makes).
  if (xfer.src_st.st_blocks == 0 && S_ISREG(xfer.src_st.st_mode)) {
    struct statfs fs {};
    xfer.src_pseudo = s.fstatfs(xfer.src_fd, &fs) == 0 && is_pseudo_fs(fs.f_type);
  }
  xfer.flags_assumed = known == nullptr && lazy_flags && S_ISREG(xfer.dst_st.st_mode) &&
                      xfer.size_known();
  int src_fl = O_RDONLY;
  int dst_fl = O_WRONLY;
  if (known != nullptr) {
    src_fl = known->src_flags;
    dst_fl = known->dst_flags;
  } else if (!xfer.flags_assumed) {
    src_fl = s.fcntl_getfl(xfer.src_fd);
    dst_fl = s.fcntl_getfl(xfer.dst_fd);
  }
  if (src_fl < 0) return make_error(-src_fl, "fcntl", Role::source);
  if (dst_fl < 0) return make_error(-dst_fl, "fcntl", Role::destination);
  if ((src_fl & O_ACCMODE) == O_WRONLY) {
    return make_error(EBADF, "read", Role::source, "not open for reading");
  }
  if ((dst_fl & O_ACCMODE) == O_RDONLY) {
    return make_error(EBADF, "write", Role::destination, "not open for writing");
  }
  xfer.src_stream = is_stream(xfer.src_st);
  xfer.src_nonblock = xfer.src_stream && (src_fl & O_NONBLOCK) != 0;
  if (known != nullptr && known->src_nonblock_ours && !xfer.src_stream) {
    xfer.src_clear_nonblock = src_fl & ~O_NONBLOCK;
  }
  xfer.dst_regular = S_ISREG(xfer.dst_st.st_mode);
  xfer.dst_append = (dst_fl & O_APPEND) != 0;
  xfer.dst_stream = is_stream(xfer.dst_st) || xfer.dst_append;
  return Ok{};
}

// Reads the flags inspect() assumed (once), before a step that an
// offload call does not cover.  Ok when they are what was assumed;
// otherwise an error with Transfer::flags_wrong set, and copy_range starts
// over with them read: nothing has been written, as an offload call
// refuses such fds with EBADF before writing.
Status settle_flags(Transfer& xfer) {
  if (!xfer.flags_assumed || xfer.flags_read) return Ok{};
  xfer.flags_read = true;
  const int src_fl = xfer.sys().fcntl_getfl(xfer.src_fd);
  const int dst_fl = xfer.sys().fcntl_getfl(xfer.dst_fd);
  if (src_fl >= 0 && dst_fl >= 0 && (src_fl & O_ACCMODE) != O_WRONLY &&
      (dst_fl & O_ACCMODE) != O_RDONLY && (dst_fl & O_APPEND) == 0) {
    return Ok{};
  }
  xfer.flags_wrong = true;
  return make_error(EBADF, "fcntl", Role::none, "flags other than assumed");
}

// Reads an offset pointer, or the file position when it is null.
Result<int64_t> start_offset(Transfer& xfer, int fd, const int64_t* off,
                             bool stream, Role role) {
  if (off != nullptr) {
    if (stream) {
      return make_error(xfer.dst_append && role == Role::destination ? EBADF : ESPIPE,
                        "offset", role, "an offset was given for a stream or O_APPEND fd");
    }
    if (*off < 0) return make_error(EINVAL, "offset", role, "negative offset");
    return *off;
  }
  if (stream) return int64_t{0};
  int64_t pos = xfer.sys().lseek(fd, 0, SEEK_CUR);
  if (pos < 0) return make_error(static_cast<int>(-pos), "lseek", role);
  return pos;
}

// Turns the requested length into the one to copy: clipped at the source's
// EOF when its size is known, "until EOF" under whole_file otherwise.
Result<int64_t> effective_length(const Transfer& xfer, int64_t src_pos, int64_t len) {
  if (!xfer.flags.whole_file && len < 0) {
    return make_error(EINVAL, "length", Role::none, "negative length");
  }
  if (!xfer.size_known()) return xfer.flags.whole_file ? kUntilEof : len;
  const int64_t avail = std::max<int64_t>(0, xfer.src_st.st_size - src_pos);
  return xfer.flags.whole_file ? avail : std::min(len, avail);
}

Status check_overlap(const Transfer& xfer, const Segment& seg) {
  if (xfer.src_st.st_dev != xfer.dst_st.st_dev ||
      xfer.src_st.st_ino != xfer.dst_st.st_ino || xfer.src_stream) {
    return Ok{};
  }
  const int64_t end = seg.len == kUntilEof ? kUntilEof : seg.len;
  if (seg.src < seg.dst + end && seg.dst < seg.src + end) {
    return make_error(EINVAL, "copy", Role::none,
                      "source and destination ranges overlap in the same file");
  }
  return Ok{};
}

const RungTable& rungs(const Transfer& xfer) {
  return xfer.ctx.rungs != nullptr ? *xfer.ctx.rungs : mech::default_rungs();
}

// Where m is in the ladder walked (kLadder's order for the default one);
// a mechanism not in it comes after.
int rank_in_ladder(const Transfer& xfer, Mechanism m) {
  if (xfer.ctx.rungs == nullptr) return ladder_rank(m);
  const RungTable& table = *xfer.ctx.rungs;
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].mech == m) return static_cast<int>(i);
  }
  return static_cast<int>(table.size()) + ladder_rank(m);
}

// The aligned rung (clone) of the ladder, if it has one.
const Rung* aligned_rung(const Transfer& xfer) {
  for (const Rung& r : rungs(xfer)) {
    if (r.kind == Rung::Kind::aligned) return &r;
  }
  return nullptr;
}

// Rungs that the flags, the file types or the probe cache rule out.
void rule_out(Transfer& xfer) {
  const ProbeCache* probes = xfer.ctx.probes;
  for (const Rung& r : rungs(xfer)) {
    if (r.rule_out != nullptr) {
      if (const char* why = r.rule_out(xfer)) xfer.skip(r.mech, 0, why);
    }
    if (r.probe == Rung::Probe::pair && probes != nullptr) {
      if (auto v = probes->get(r.mech, xfer.src_st.st_dev, xfer.dst_st.st_dev)) {
        xfer.skip(r.mech, v->err, v->why + " (probed before for this pair)");
      }
    }
  }
}

// `at` is the source offset where the failing call started.
Error mech_error(const Transfer& xfer, const SegmentResult& r, Mechanism m, int64_t at) {
  Error e = make_error(r.err, r.op, r.role);
  e.offset = at;
  e.detail = std::string(mechanism_name(m)) + ": " + r.why;
  e.bytes_done = xfer.done;
  return e;
}

Error offload_error(const Transfer& xfer) {
  Error e = make_error(kOffloadUnsupported, "offload", Role::none,
                       "no offload mechanism can copy this range; nothing "
                       "was written by a host copy (--offload=require)");
  e.kind = ErrorKind::offload_unsupported;
  e.bytes_done = xfer.done;
  return e;
}

// The first rung still on for this segment, the aligned one aside; null
// when every one is off.  A rung too short for the segment records why and
// stays on for a longer one; a rung that cannot be set up turns itself off.
// Under --offload=require the first host rung is returned, to be refused.
const Rung* pick(Transfer& xfer, const Segment& seg) {
  for (const Rung& r : rungs(xfer)) {
    if (r.kind == Rung::Kind::aligned || xfer.is_off(r.mech)) continue;
    if (r.kind == Rung::Kind::host && xfer.flags.no_fallback) return &r;
    if (r.min_len != nullptr && seg.len < r.min_len(xfer.ctx.tun)) {
      xfer.skip(r.mech, 0, r.too_short);
      xfer.off[static_cast<int>(r.mech)].reset();  // size-dependent
      continue;
    }
    if (r.ready != nullptr && !r.ready(xfer)) continue;
    return &r;
  }
  return nullptr;
}

void turn_off(Transfer& xfer, const Rung& rung, const SegmentResult& r) {
  std::string why = r.op;
  if (r.err != 0) why += std::string(" ") + sys::errno_name(r.err);
  why += ": " + r.why;
  xfer.skip(rung.mech, r.err, why);
  ProbeCache* probes = xfer.ctx.probes;
  if (!r.cacheable || probes == nullptr) return;
  if (rung.probe == Rung::Probe::process) {
    probes->set_process(rung.mech, Verdict{r.err, why});
  } else if (rung.probe == Rung::Probe::pair) {
    probes->set(rung.mech, xfer.src_st.st_dev, xfer.dst_st.st_dev, Verdict{r.err, why});
  }
}

// A regular source that reads EOF before its known size is not a short
// copy to hide: if it did not shrink, something returned 0 wrongly.
// `at` is the source offset where EOF was read.
Status check_early_eof(Transfer& xfer, int64_t at) {
  xfer.eof = true;
  if (!xfer.size_known()) return Ok{};
  struct stat st {};
  if (xfer.sys().fstat(xfer.src_fd, &st) == 0 && st.st_size > at) {
    Error e = make_error(EIO, "read", Role::source,
                         "end of file reached at offset " + std::to_string(at) +
                             " but the source is " + std::to_string(st.st_size) + " bytes");
    e.offset = at;
    e.bytes_done = xfer.done;
    return e;
  }
  return Ok{};
}

Error no_rung_error(const Transfer& xfer) {
  Error e = make_error(EOPNOTSUPP, "copy", Role::none,
                       "every rung of the ladder is off for this range");
  e.bytes_done = xfer.done;
  return e;
}

// Copies one data segment down the ladder (the aligned rung aside).
Status copy_data(Transfer& xfer, Segment seg) {
  while (seg.len > 0) {
    const Rung* rung = pick(xfer, seg);
    const bool host = rung == nullptr || rung->kind == Rung::Kind::host;
    if (host) {
      if (Status s = settle_flags(xfer); !s) return s;
    }
    if (host && xfer.flags.no_fallback) return offload_error(xfer);
    if (rung == nullptr) return no_rung_error(xfer);
    if (host && xfer.src_clear_nonblock >= 0) {
      if (int r = xfer.sys().fcntl_setfl(xfer.src_fd, xfer.src_clear_nonblock); r < 0) {
        return make_error(-r, "fcntl", Role::source);
      }
      xfer.src_clear_nonblock = -1;
    }
    const Mechanism m = rung->mech;
    const SegmentResult r = rung->run(xfer, seg);
    xfer.used(m, r.moved - r.holes, rung->used_why(xfer));
    xfer.done += r.moved;
    seg.src += r.moved;
    seg.dst += r.moved;
    if (seg.len != kUntilEof) seg.len -= r.moved;
    if (r.fall_back) {
      turn_off(xfer, *rung, r);
      continue;
    }
    if (r.err != 0) {
      if (Status s = settle_flags(xfer); !s) return s;
      xfer.fail(m, r.err, r.why);
      return mech_error(xfer, r, m, seg.src);
    }
    if (r.eof) return check_early_eof(xfer, seg.src);
  }
  return Ok{};
}

// The data and holes of [seg.src, seg.src + seg.len), in order.
std::vector<std::pair<Segment, bool>> map_extents(Transfer& xfer, const Segment& seg) {
  if (xfer.keep_src_pos && xfer.saved_src_pos < 0) {
    xfer.saved_src_pos = xfer.sys().lseek(xfer.src_fd, 0, SEEK_CUR);
  }
  std::vector<std::pair<Segment, bool>> out;
  const int64_t end = seg.src + seg.len;
  int64_t pos = seg.src;
  while (pos < end) {
    int64_t data = xfer.sys().lseek(xfer.src_fd, pos, SEEK_DATA);
    if (data == -ENXIO) data = end;           // only a hole remains
    if (data < 0) return {{seg, false}};      // no hole support: all data
    data = std::min(data, end);
    if (data > pos) out.push_back({{pos, seg.dst + (pos - seg.src), data - pos}, true});
    if (data >= end) break;
    int64_t hole = xfer.sys().lseek(xfer.src_fd, data, SEEK_HOLE);
    if (hole < 0) hole = end;
    hole = std::min(hole, end);
    out.push_back({{data, seg.dst + (data - seg.src), hole - data}, false});
    pos = hole;
  }
  return out;
}

bool detect_holes(const Transfer& xfer) {
  if (xfer.flags.sparse == Sparse::never || !xfer.size_known()) return false;
  if (!xfer.dst_regular || xfer.dst_stream) return false;
  return xfer.flags.sparse == Sparse::always ||
         xfer.src_st.st_blocks * 512 < xfer.src_st.st_size;
}

// Copies a piece that is not cloned: holes are noted, data goes down.
Status copy_piece(Transfer& xfer, const Segment& seg) {
  if (seg.len <= 0 || xfer.eof) return Ok{};
  if (!detect_holes(xfer)) return copy_data(xfer, seg);
  for (const auto& [ext, hole] : map_extents(xfer, seg)) {
    if (hole) {
      xfer.add_hole({ext.dst, ext.dst, ext.len});
      xfer.done += ext.len;
      continue;
    }
    if (Status s = copy_data(xfer, ext); !s || xfer.eof) return s;
  }
  return Ok{};
}

int64_t clone_block_size(Transfer& xfer) {
  struct statfs fs {};
  if (xfer.sys().fstatfs(xfer.dst_fd, &fs) == 0 && fs.f_bsize > 0) return fs.f_bsize;
  return 4096;
}

// The clonable middle of seg: block-aligned, except that it may run to the
// source's EOF when that lands at or past the destination's EOF (4.20's
// rule against cloning a partial EOF block into the middle of a file).
Segment clonable_middle(Transfer& xfer, const Segment& seg) {
  const int64_t end = seg.src + seg.len;
  const bool to_eof = end == xfer.src_st.st_size && seg.dst + seg.len >= xfer.dst_st.st_size;
  // A whole file at offset 0 is clonable whatever the block size: no
  // fstatfs for it (one syscall of the few a small file's copy makes).
  if (seg.src == 0 && seg.dst == 0 && to_eof) return seg;
  const int64_t bs = clone_block_size(xfer);
  if (seg.src % bs != seg.dst % bs) return {seg.src, seg.dst, 0};
  const int64_t head = std::min(seg.len, (bs - seg.src % bs) % bs);
  const int64_t mid_end = to_eof ? end : end - end % bs;
  const int64_t start = seg.src + head;
  return {start, seg.dst + head, std::max<int64_t>(0, mid_end - start)};
}

// The aligned rung on the middle; what it cannot take goes down the ladder.
Status clone_or_copy(Transfer& xfer, const Rung& rung, const Segment& mid) {
  const Mechanism m = rung.mech;
  if (!xfer.keep_going(m, 0)) {
    return mech_error(xfer, SegmentResult::cancelled(0), m, mid.src);
  }
  const SegmentResult r = rung.run(xfer, mid);
  if (r.err == 0) {
    xfer.used(m, mid.len, rung.used_why(xfer));
    xfer.done += mid.len;
    xfer.keep_going(m, 0);  // a one-shot clone reports at the end
    return Ok{};
  }
  // EBADF may be an O_APPEND or read-only destination, and an error is
  // about to be reported: either way the flags must be known.
  const bool fails = !r.fall_back || xfer.flags.reflink == Reflink::always;
  if (r.err == EBADF || fails) {
    if (Status s = settle_flags(xfer); !s) return s;
  }
  if (fails) {
    xfer.fail(m, r.err, r.why);
    Error e = mech_error(xfer, r, m, mid.src);
    if (r.fall_back) e.detail += " (--reflink=always)";
    return e;
  }
  turn_off(xfer, rung, r);
  return copy_piece(xfer, mid);
}

Status run_known_size(Transfer& xfer, const Segment& seg) {
  const bool always = xfer.flags.reflink == Reflink::always;
  const Rung* aligned = aligned_rung(xfer);
  if (aligned == nullptr) {
    if (!always) return copy_piece(xfer, seg);
    return make_error(EOPNOTSUPP, "clone", Role::destination,
                      "--reflink=always: cannot clone: the ladder has no clone rung");
  }
  const Mechanism m = aligned->mech;
  Segment mid{seg.src, seg.dst, 0};
  if (!xfer.is_off(m)) mid = clonable_middle(xfer, seg);
  if (always && xfer.is_off(m)) {
    // Ruled out by the file types or by a cached verdict: report the
    // verdict's errno, as the ioctl itself would have.
    const Verdict& v = *xfer.off[static_cast<int>(m)];
    return make_error(v.err != 0 ? v.err : EOPNOTSUPP, v.err != 0 ? "FICLONE" : "clone",
                      Role::destination, "--reflink=always: cannot clone: " + v.why);
  }
  if (always && mid.len != seg.len) {
    return make_error(EINVAL, "clone", Role::destination,
                      "--reflink=always: cannot clone: range is not aligned to "
                      "the filesystem block size");
  }
  if (mid.len == 0) {
    if (!xfer.is_off(m)) xfer.skip(m, 0, "range not block-aligned");
    return copy_piece(xfer, seg);
  }
  const Segment head{seg.src, seg.dst, mid.src - seg.src};
  const int64_t tail_off = mid.src + mid.len - seg.src;
  const Segment tail{seg.src + tail_off, seg.dst + tail_off, seg.len - tail_off};
  if (Status s = copy_piece(xfer, head); !s || xfer.eof) return s;
  if (Status s = clone_or_copy(xfer, *aligned, mid); !s || xfer.eof) return s;
  return copy_piece(xfer, tail);
}

// Writes zeros where a hole cannot be punched.  Returns 0 or -errno.
int zero_fill(Transfer& xfer, int64_t off, int64_t len) {
  static const char kZeros[64 << 10] = {};
  while (len > 0) {
    const int64_t n = std::min<int64_t>(len, sizeof kZeros);
    const int64_t r = xfer.sys().pwrite(xfer.dst_fd, kZeros, n, off);
    if (r == -EINTR) continue;
    if (r <= 0) return r == 0 ? -EIO : static_cast<int>(r);
    off += r;
    len -= r;
  }
  return 0;
}

// An error ends the copied prefix at destination offset `dst_at` when the
// destination does not hold the bytes beyond it: bytes_done (and the
// offsets advanced by it) never cover old data or a missing tail.
Error cut_back(Transfer& xfer, const Segment& seg, int64_t dst_at, Error e) {
  xfer.done = std::clamp<int64_t>(dst_at - seg.dst, 0, xfer.done);
  e.bytes_done = xfer.done;
  return e;
}

// Where the first noted hole inside the finished prefix starts (the end
// of the prefix if there is none).
int64_t first_hole(const Transfer& xfer, const Segment& seg) {
  int64_t at = seg.dst + xfer.done;
  for (const Segment& h : xfer.holes) at = std::min(at, h.dst);
  return at;
}

// Extends the destination over a trailing hole and punches the holes, so
// they stay holes even where the filesystem preallocated (xfs speculative
// preallocation) or the destination had data.  Holes are counted in
// xfer.done when noted; if one cannot be made, the prefix is cut back to it.
Status finish_holes(Transfer& xfer, const Segment& seg) {
  // Data rungs extend the destination themselves; only holes need this.
  if (!xfer.dst_regular || xfer.dst_stream || xfer.holes.empty()) return Ok{};
  if (Status s = settle_flags(xfer); !s) return s;
  std::sort(xfer.holes.begin(), xfer.holes.end(),
            [](const Segment& a, const Segment& b) { return a.dst < b.dst; });
  struct stat st {};
  if (int r = xfer.sys().fstat(xfer.dst_fd, &st); r < 0) {
    return cut_back(xfer, seg, first_hole(xfer, seg), make_error(-r, "fstat", Role::destination));
  }
  const int64_t end = seg.dst + xfer.done;
  for (const Segment& h : xfer.holes) {
    const int64_t len = std::min(h.len, std::min(st.st_size, end) - h.dst);
    if (len <= 0) continue;
    int r = xfer.sys().fallocate(xfer.dst_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                h.dst, len);
    if (r == -EOPNOTSUPP) r = zero_fill(xfer, h.dst, len);
    if (r < 0) {
      return cut_back(xfer, seg, h.dst,
                      make_error(-r, "fallocate", Role::destination, "punching a hole"));
    }
  }
  if (end > st.st_size) {
    if (int r = xfer.sys().ftruncate(xfer.dst_fd, end); r < 0) {
      return cut_back(xfer, seg, st.st_size,
                      make_error(-r, "ftruncate", Role::destination,
                                 "extending over a trailing hole"));
    }
  }
  return Ok{};
}

// A copy that failed part way reports a prefix that is really in the
// destination: it ends at the first hole noted but not yet made.  The
// holes are not made now: after a terminal error (EIO, ENOSPC) nothing
// more is written, and an offload refusal promises no more writes.
Error settle_prefix(Transfer& xfer, const Segment& seg, Error e) {
  return cut_back(xfer, seg, first_hole(xfer, seg), std::move(e));
}

// Without a size, only a host copy can move the bytes.  Under
// --reflink=always or no_fallback that is allowed only when there is
// nothing to move: one byte is read to tell an empty file from /proc.
Status check_unsized(Transfer& xfer, const Segment& seg) {
  const bool always = xfer.flags.reflink == Reflink::always;
  if (!always && !xfer.flags.no_fallback) return Ok{};
  char byte;
  const int64_t r = xfer.src_stream ? -ESPIPE : xfer.sys().pread(xfer.src_fd, &byte, 1, seg.src);
  if (r == 0) {
    xfer.eof = true;  // empty: done, nothing to clone or offload
    return Ok{};
  }
  if (!always) return offload_error(xfer);
  return make_error(EOPNOTSUPP, "clone", Role::source,
                    "--reflink=always: cannot clone a source without a size "
                    "(FIFO, device, procfs/sysfs file)");
}

Status run(Transfer& xfer, const Segment& seg) {
  rule_out(xfer);
  Status s = Ok{};
  if (xfer.size_known()) {
    s = run_known_size(xfer, seg);
  } else if (s = check_unsized(xfer, seg); s && !xfer.eof) {
    s = copy_piece(xfer, seg);
  }
  if (!s) return settle_prefix(xfer, seg, std::move(s.error()));
  return finish_holes(xfer, seg);
}

// Advances the caller's offsets (or the file positions) by what was copied.
void advance(Transfer& xfer, int fd, int64_t* off, int64_t start, bool stream) {
  if (off != nullptr) {
    *off = start + xfer.done;
  } else if (!stream) {
    xfer.sys().lseek(fd, start + xfer.done, SEEK_SET);
  }
}

}  // namespace

namespace {

Result<Report> attempt(const Context& ctx, int src_fd, int64_t* src_off, int dst_fd,
                       int64_t* dst_off, int64_t len, CopyFlags flags, const Control* control,
                       const OpenedFds* known, bool lazy_flags, bool* start_over) {
  Transfer xfer{ctx, control};
  xfer.src_fd = src_fd;
  xfer.dst_fd = dst_fd;
  xfer.flags = flags;
  xfer.keep_src_pos = src_off != nullptr;
  if (Status s = inspect(xfer, known, lazy_flags); !s) return s.error();
  auto src_pos = start_offset(xfer, src_fd, src_off, xfer.src_stream, Role::source);
  if (!src_pos) return src_pos.error();
  auto dst_pos = start_offset(xfer, dst_fd, dst_off, xfer.dst_stream, Role::destination);
  if (!dst_pos) return dst_pos.error();
  auto n = effective_length(xfer, *src_pos, len);
  if (!n) return n.error();
  if (control != nullptr && control->length && *n != kUntilEof) control->length(*n);
  const Segment seg{*src_pos, *dst_pos, *n};
  if (Status s = check_overlap(xfer, seg); !s) return s.error();
  Status s = seg.len > 0 ? run(xfer, seg) : Status(Ok{});
  if (!s && xfer.flags_wrong) {
    // Nothing written; offsets and positions as they were.
    if (xfer.saved_src_pos >= 0) xfer.sys().lseek(src_fd, xfer.saved_src_pos, SEEK_SET);
    *start_over = true;
    return std::move(s.error());
  }
  advance(xfer, src_fd, src_off, seg.src, xfer.src_stream);
  advance(xfer, dst_fd, dst_off, seg.dst, xfer.dst_stream);
  if (xfer.saved_src_pos >= 0) xfer.sys().lseek(src_fd, xfer.saved_src_pos, SEEK_SET);
  // Steps in the order of the ladder walked, whatever order the rungs
  // were ruled out in.  One step per mechanism (step_for), so the order is
  // total and std::sort is enough; std::stable_sort allocated a buffer on
  // every copy.
  std::sort(xfer.report.steps.begin(), xfer.report.steps.end(),
            [&](const Step& a, const Step& b) {
              return rank_in_ladder(xfer, a.mech) < rank_in_ladder(xfer, b.mech);
            });
  if (!s) {
    Error e = std::move(s.error());
    e.report = std::make_shared<const Report>(xfer.report);
    return e;
  }
  return std::move(xfer.report);
}

}  // namespace

Result<Report> copy_range(const Context& ctx, int src_fd, int64_t* src_off,
                          int dst_fd, int64_t* dst_off, int64_t len,
                          CopyFlags flags, const Control* control,
                          const OpenedFds* known) {
  bool start_over = false;
  auto r = attempt(ctx, src_fd, src_off, dst_fd, dst_off, len, flags, control, known,
                   /*lazy_flags=*/true, &start_over);
  if (!start_over) return r;
  return attempt(ctx, src_fd, src_off, dst_fd, dst_off, len, flags, control, known,
                 /*lazy_flags=*/false, &start_over);
}

}  // namespace offcopy::ladder

namespace offcopy {

Result<Report> copy_range(int src_fd, int64_t* src_off, int dst_fd,
                          int64_t* dst_off, int64_t len, CopyFlags flags) {
  return ladder::copy_range(mech::Context::process(), src_fd, src_off, dst_fd,
                            dst_off, len, flags);
}

}  // namespace offcopy
