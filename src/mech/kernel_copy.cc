// Rung 2: copy_file_range(2).  On NFS/CIFS/FUSE it is a server-side copy,
// on btrfs/xfs it may clone, on ext4/tmpfs it splices inside the kernel.
// Across different filesystems it returns EXDEV since 5.19 (868f9f2f8e00)
// unless both share the same ->copy_file_range.
#include <errno.h>

#include <algorithm>
#include <string>

#include "mech/rung.h"
#include "mech/transfer.h"

namespace offcopy::mech {
namespace {

// One line per errno; docs/fallbacks.md carries the same table.
// Only consulted when no byte of the segment has moved yet.
SegmentResult classify(int err) {
  SegmentResult r;
  r.err = err;
  r.op = "copy_file_range";
  r.role = Role::destination;
  r.fall_back = true;
  switch (err) {
    // Different superblocks without a shared ->copy_file_range (5.19+).
    case EXDEV:
      r.cacheable = true;
      r.why = "different filesystems";
      break;
    // Kernel before 4.5, qemu-user, some FUSE drivers.
    case ENOSYS:
      r.cacheable = true;
      r.why = "copy_file_range not available";
      break;
    // NFS before 4.2 (3.10 kernels), some FUSE servers.
    case EOPNOTSUPP:
      r.cacheable = true;
      r.why = "filesystem cannot copy in the kernel";
      break;
    // Non-regular file, overlap, or flags the kernel rejects.
    case EINVAL:
      r.why = "range or file type refused";
      break;
    // O_APPEND destination or an fd opened without the needed access.
    case EBADF:
      r.why = "fd cannot be used (O_APPEND destination?)";
      break;
    // seccomp / Docker profiles answer EPERM for unknown syscalls; also an
    // immutable destination, which the next rung reports properly.
    case EPERM:
      r.why = "not permitted (seccomp or immutable file)";
      break;
    // CephFS before 4.20 (RADOS copy-from), CIFS quirks.
    case EACCES:
    case ENOENT:
      r.why = "filesystem quirk (CephFS < 4.20, CIFS)";
      break;
    // Swap file.
    case ETXTBSY:
      r.why = "file is busy (swap file)";
      break;
    // Wrong counts at large offsets (6.17 EFBIG at 2^63-1, compat paths);
    // a real size limit shows up again on the next rung.
    case EFBIG:
    case EOVERFLOW:
      r.why = "offset or size limit of copy_file_range";
      break;
    case ENOTTY:
      r.why = "copy not supported for this file";
      break;
    // Terminal: EIO, ENOSPC, EDQUOT, ENOMEM and anything unexpected.
    default:
      r.fall_back = false;
      r.why = "error from copy_file_range";
      break;
  }
  return r;
}

// Why copy_file_range cannot take this pair of files at all, or null.
const char* kernel_copy_rule_out(const Transfer& xfer) {
  if (const char* why = not_two_regular_files(xfer)) return why;
  const CopyFlags& f = xfer.flags;
  if (f.reflink == Reflink::never) return "--reflink=never (copy_file_range may share extents)";
  if (f.sparse == Sparse::never) return "--sparse=never writes holes as zeros";
  if (!xfer.size_known()) return "source reports size 0 (empty, or procfs/sysfs): read until EOF";
  if (f.sparse == Sparse::always) return "--sparse=always looks for zero blocks";
  return nullptr;
}

SegmentResult kernel_copy_segment(Transfer& xfer, const Segment& seg) {
  int64_t moved = 0;
  int again = 0;
  while (moved < seg.len) {
    int64_t src_off = seg.src + moved;
    int64_t dst_off = seg.dst + moved;
    const int64_t want = std::min(seg.len - moved, xfer.ctx.tun.kernel_chunk);
    const int64_t r = xfer.sys().copy_file_range(xfer.src_fd, &src_off,
                                                xfer.dst_fd, &dst_off, want);
    if (r > 0) {
      moved += r;
      if (moved < seg.len && !xfer.keep_going(Mechanism::kernel_copy, moved)) {
        return SegmentResult::cancelled(moved);
      }
      continue;
    }
    if (r == 0) {
      if (moved > 0) return SegmentResult::done(moved, /*eof=*/true);
      // procfs/sysfs (5.3-5.18 across filesystems) and some overlay set-ups
      // "copy" 0 bytes of a non-empty file: read() is the way.
      SegmentResult fb;
      fb.fall_back = true;
      fb.op = "copy_file_range";
      fb.role = Role::destination;
      fb.why = "returned 0 at the start (source must be read)";
      return fb;
    }
    const int err = static_cast<int>(-r);
    if (err == EINTR || (err == EAGAIN && ++again < kMaxAgain)) continue;
    SegmentResult c = classify(err);
    if (moved > 0 && c.fall_back) {
      // Fall back only when zero bytes of the range moved.
      c.fall_back = false;
      c.why += " after " + std::to_string(moved) + " bytes had moved";
    }
    c.moved = moved;
    return c;
  }
  return SegmentResult::done(moved);
}

std::string kernel_copy_used_why(const Transfer&) {
  return "copy_file_range: in-kernel or server-side copy (may share extents)";
}

}  // namespace

const Rung kKernelCopyRung = {
    .mech = Mechanism::kernel_copy,
    .kind = Rung::Kind::offload,
    .probe = Rung::Probe::pair,
    .rule_out = kernel_copy_rule_out,
    .run = kernel_copy_segment,
    .used_why = kernel_copy_used_why,
};

}  // namespace offcopy::mech
