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

#include "mech/rung.h"
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

SegmentResult failure(int err, const char* op, Role role, int64_t moved) {
  SegmentResult r;
  r.err = err;
  r.op = op;
  r.role = role;
  r.moved = moved;
  r.fall_back = moved == 0 && unsupported(err);
  r.cacheable = r.fall_back && pair_wide(err);
  r.why = r.fall_back ? "filesystem cannot splice this file" : "error from splice";
  if (moved > 0 && unsupported(err)) {
    r.why += " after " + std::to_string(moved) + " bytes had moved";
  }
  return r;
}

// The pipe, made on first use and kept for the transfer; `size` is its
// capacity.  Emptied or closed before the rung returns: no byte stays in it.
struct Pipe : RungState {
  sys::UniqueFd r, w;
  int64_t size = 0;
};

// Drops whatever a failed write left in the pipe: the next rung starts
// again from the first byte not written.
void discard_pipe(Pipe& pipe) {
  pipe.r.reset();
  pipe.w.reset();
  pipe.size = 0;
}

const char* splice_rule_out(const Transfer& xfer) {
  if (const char* why = not_for_bulk_host_copy(xfer)) return why;
  if (!xfer.dst_regular) return "destination is not a regular file";
  return nullptr;
}

int64_t splice_min_len(const Tunables& t) { return t.splice_min; }

bool pipe_ready(Transfer& xfer) {
  Pipe& pipe = xfer.state<Pipe>(Mechanism::splice);
  if (pipe.size > 0) return true;
  int fds[2];
  const int64_t size = xfer.sys().make_pipe(fds, xfer.ctx.tun.splice_pipe);
  if (size <= 0) {
    xfer.skip(Mechanism::splice, static_cast<int>(-size), "cannot make a pipe");
    return false;
  }
  pipe.r.reset(fds[0]);
  pipe.w.reset(fds[1]);
  pipe.size = size;
  return true;
}

SegmentResult splice_segment(Transfer& xfer, const Segment& seg) {
  Pipe& pipe = xfer.state<Pipe>(Mechanism::splice);
  sys::Sys& s = xfer.sys();
  int64_t moved = 0;  // bytes written to the destination
  int again = 0;
  while (moved < seg.len) {
    const int64_t want = std::min(seg.len - moved, pipe.size);
    const int64_t in = s.splice_read(xfer.src_fd, seg.src + moved, pipe.w.get(), want);
    if (in == 0) return SegmentResult::done(moved, /*eof=*/true);
    if (in < 0) {
      const int err = static_cast<int>(-in);
      if (err == EINTR || (err == EAGAIN && ++again < kMaxAgain)) continue;
      return failure(err, "splice read", Role::source, moved);
    }
    for (int64_t left = in; left > 0;) {
      const int64_t out = s.splice_write(pipe.r.get(), xfer.dst_fd, seg.dst + moved, left);
      if (out > 0) {
        moved += out;
        left -= out;
        continue;
      }
      const int err = out == 0 ? EIO : static_cast<int>(-out);
      if (err == EINTR || (err == EAGAIN && ++again < kMaxAgain)) continue;
      discard_pipe(pipe);
      return failure(err, "splice write", Role::destination, moved);
    }
    if (moved < seg.len && !xfer.keep_going(Mechanism::splice, moved)) {
      return SegmentResult::cancelled(moved);
    }
  }
  return SegmentResult::done(moved);
}

std::string splice_used_why(const Transfer& xfer) {
  const Pipe* pipe = xfer.state_if_made<Pipe>(Mechanism::splice);
  const int64_t size = pipe != nullptr ? pipe->size : 0;
  return "splice through a " + std::to_string(size >> 10) + " KiB pipe: in-kernel host copy";
}

}  // namespace

const Rung kSpliceRung = {
    .mech = Mechanism::splice,
    .kind = Rung::Kind::host,
    .probe = Rung::Probe::pair,
    .rule_out = splice_rule_out,
    .min_len = splice_min_len,
    .too_short = "range shorter than a pipe is worth",
    .ready = pipe_ready,
    .run = splice_segment,
    .used_why = splice_used_why,
};

}  // namespace offcopy::mech
