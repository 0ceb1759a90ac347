// Rung 1: FICLONE / FICLONERANGE.  The filesystem shares the source's
// extents with the destination; no data moves.  The caller hands this rung
// only block-aligned ranges (or ranges ending at the source's EOF), since
// the ioctls do not pass REMAP_FILE_CAN_SHORTEN and fail whole otherwise.
#include <errno.h>

#include <string>

#include "mech/rung.h"
#include "mech/transfer.h"

namespace offcopy::mech {
namespace {

SegmentResult fall_back(int err, bool cacheable, std::string why) {
  SegmentResult r;
  r.err = err;
  r.fall_back = true;
  r.cacheable = cacheable;
  r.why = std::move(why);
  return r;
}

// One line per errno; docs/fallbacks.md carries the same table.
SegmentResult classify(int err, const char* op) {
  SegmentResult r;
  switch (err) {
    // The filesystem has no ->remap_file_range (ext4, tmpfs, 4.5+).
    case EOPNOTSUPP:
      r = fall_back(err, true, "filesystem cannot share extents");
      break;
    // Different superblocks or mounts: clones never cross filesystems.
    case EXDEV:
      r = fall_back(err, true, "source and destination on different filesystems");
      break;
    // No clone ioctl on this kernel or file type.
    case ENOTTY:
    case ENOSYS:
      r = fall_back(err, true, "clone ioctl not available");
      break;
    // Unaligned range, EOF block inside the destination (4.20+), same-file
    // overlap, or a file type the fs refuses (btrfs inline extents < 4.20).
    case EINVAL:
      r = fall_back(err, false, "range cannot be cloned here");
      break;
    // Immutable or append-only destination, or a seccomp filter.
    case EPERM:
      r = fall_back(err, false, "clone not permitted");
      break;
    // Destination opened O_APPEND, or not opened for writing.
    case EBADF:
      r = fall_back(err, false, "destination fd cannot take a clone");
      break;
    // Active swap file.
    case ETXTBSY:
      r = fall_back(err, false, "file is busy (swap file)");
      break;
    // Terminal: after a writeback EIO the page cache is clean, so any
    // fallback would copy stale on-disk data (coreutils 9.2).  ENOSPC,
    // EDQUOT and ENOMEM would fail the same way on the next rung.
    case EIO:
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
      r.err = err;
      r.why = "terminal error from clone";
      break;
    // Anything else: fall back, as cp does for every non-terminal errno.
    default:
      r = fall_back(err, false, "unexpected error from clone");
      break;
  }
  r.op = op;
  r.role = Role::destination;
  return r;
}

// Why this pair of files cannot be cloned at all, or null.
const char* clone_rule_out(const Transfer& xfer) {
  if (const char* why = not_two_regular_files(xfer)) return why;
  const CopyFlags& f = xfer.flags;
  if (f.reflink == Reflink::never) return "--reflink=never";
  if (f.sparse == Sparse::never) return "--sparse=never writes holes as zeros";
  if (f.sparse == Sparse::always) {
    return "--sparse=always turns zero blocks into holes; a clone keeps them";
  }
  if (!xfer.size_known()) return "source reports size 0 (empty, or procfs/sysfs): read until EOF";
  return nullptr;
}

SegmentResult clone_segment(Transfer& xfer, const Segment& seg) {
  // FICLONE replaces the whole (empty) destination in one call.
  const bool whole = seg.src == 0 && seg.dst == 0 &&
                     seg.len == xfer.src_st.st_size && xfer.dst_st.st_size == 0;
  int r = whole ? xfer.sys().clone(xfer.dst_fd, xfer.src_fd)
                : xfer.sys().clone_range(xfer.dst_fd, xfer.src_fd, seg.src,
                                        seg.len, seg.dst);
  if (r == 0) return SegmentResult::done(seg.len);
  return classify(-r, whole ? "FICLONE" : "FICLONERANGE");
}

std::string clone_used_why(const Transfer&) { return "extents shared"; }

}  // namespace

const Rung kCloneRung = {
    .mech = Mechanism::clone,
    .kind = Rung::Kind::aligned,
    .probe = Rung::Probe::pair,
    .rule_out = clone_rule_out,
    .run = clone_segment,
    .used_why = clone_used_why,
};

}  // namespace offcopy::mech
