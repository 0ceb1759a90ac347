// Rung 3: splice(2) through a pipe, for host copies between regular files
// that copy_file_range refuses (EXDEV across filesystems, --reflink=never).
// The source's page-cache pages go into the pipe by reference; the write
// side copies them into the destination's page cache: one copy in the
// kernel, where the io_uring and read/write rungs make two through a user
// buffer.  Python's shutil (sendfile) and Rust's std::fs::copy do the same.
// Neither splice moves a file position (both are given offsets).
#include <errno.h>

#include <algorithm>
#include <string>

#include "mech/transfer.h"

namespace offcopy::mech {
namespace {

// Errors that say "this pair cannot splice" rather than "the copy failed"
// (EINVAL: a filesystem without splice support; EPERM: seccomp); they fall
// back only while nothing has been written.  The first three hold for the
// whole filesystem pair.
bool unsupported(int err) {
  return err == EXDEV || err == EOPNOTSUPP || err == ENOSYS || err == EINVAL || err == EPERM;
}
bool pair_wide(int err) { return err == EXDEV || err == EOPNOTSUPP || err == ENOSYS; }

SegmentResult failure(int err, const char* op, int64_t moved) {
  SegmentResult r;
  r.err = err;
  r.op = op;
  r.moved = moved;
  r.fall_back = moved == 0 && unsupported(err);
  r.cacheable = r.fall_back && pair_wide(err);
  r.why = r.fall_back ? "filesystem cannot splice this file" : "error from splice";
  if (moved > 0 && unsupported(err)) {
    r.why += " after " + std::to_string(moved) + " bytes had moved";
  }
  return r;
}

// Drops whatever a failed write left in the pipe: the next rung starts
// again from the first byte not written.
void discard_pipe(Transfer& xfer) {
  xfer.pipe_r.reset();
  xfer.pipe_w.reset();
  xfer.pipe_size = 0;
}

}  // namespace

bool pipe_ready(Transfer& xfer) {
  if (xfer.pipe_size > 0) return true;
  int fds[2];
  const int64_t size = xfer.sys().make_pipe(fds, xfer.ctx.tun.splice_pipe);
  if (size <= 0) {
    xfer.skip(Mechanism::splice, static_cast<int>(-size), "cannot make a pipe");
    return false;
  }
  xfer.pipe_r.reset(fds[0]);
  xfer.pipe_w.reset(fds[1]);
  xfer.pipe_size = size;
  return true;
}

SegmentResult splice_segment(Transfer& xfer, const Segment& seg) {
  sys::Sys& s = xfer.sys();
  int64_t moved = 0;  // bytes written to the destination
  int again = 0;
  while (moved < seg.len) {
    const int64_t want = std::min(seg.len - moved, xfer.pipe_size);
    const int64_t in = s.splice_read(xfer.src_fd, seg.src + moved, xfer.pipe_w.get(), want);
    if (in == 0) return SegmentResult::done(moved, /*eof=*/true);
    if (in < 0) {
      const int err = static_cast<int>(-in);
      if (err == EINTR || (err == EAGAIN && ++again < kMaxAgain)) continue;
      return failure(err, "splice read", moved);
    }
    for (int64_t left = in; left > 0;) {
      const int64_t out = s.splice_write(xfer.pipe_r.get(), xfer.dst_fd, seg.dst + moved, left);
      if (out > 0) {
        moved += out;
        left -= out;
        continue;
      }
      const int err = out == 0 ? EIO : static_cast<int>(-out);
      if (err == EINTR || (err == EAGAIN && ++again < kMaxAgain)) continue;
      discard_pipe(xfer);
      return failure(err, "splice write", moved);
    }
    if (moved < seg.len && !xfer.keep_going(Mechanism::splice, moved)) {
      return SegmentResult::cancelled(moved);
    }
  }
  return SegmentResult::done(moved);
}

}  // namespace offcopy::mech
