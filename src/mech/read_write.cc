// Rung 5: pread/pwrite through one host buffer -- never unsupported.  Also
// the rung for streams: a FIFO or character-device source is read with
// read(), an O_APPEND or FIFO destination written with write().  Under
// --sparse=always it turns all-zero blocks into holes instead of writing them.
#include <errno.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "mech/rung.h"
#include "mech/transfer.h"

namespace offcopy::mech {
namespace {

constexpr int64_t kZeroBlock = 4096;

SegmentResult io_error(int err, const char* op, Role role, int64_t moved) {
  SegmentResult r;
  r.err = err;
  r.op = op;
  r.role = role;
  r.moved = moved;
  r.why = "host copy failed";
  return r;
}

// How long a wait for a stream's data lasts before cancellation is looked
// at again.
constexpr int kStreamWaitMs = 100;

// A non-blocking stream (a FIFO copy_file opened for a cancellable copy)
// is waited on with poll, so that a cancel is seen while the writer is
// idle -- or has not come yet: poll waits for the first writer, where a
// read would say end of file.  Returns 0, -ECANCELED or -errno.
int wait_readable(Transfer& xfer) {
  for (;;) {
    if (xfer.control != nullptr && xfer.control->cancelled()) return -ECANCELED;
    const int r = xfer.sys().poll_in(xfer.src_fd, kStreamWaitMs);
    if (r != 0) return r < 0 ? r : 0;
  }
}

// Reads up to `len` bytes at `off` (or the file position for streams).
// Returns bytes read (0 at EOF) or -errno (-ECANCELED while waiting).
int64_t read_some(Transfer& xfer, char* buf, int64_t len, int64_t off) {
  int again = 0;
  for (;;) {
    if (xfer.src_nonblock) {
      if (int w = wait_readable(xfer); w < 0) return w;
    }
    int64_t r = xfer.src_stream ? xfer.sys().read(xfer.src_fd, buf, len)
                               : xfer.sys().pread(xfer.src_fd, buf, len, off);
    if (r == -EINTR || (r == -EAGAIN && (xfer.src_nonblock || ++again < kMaxAgain))) continue;
    return r;
  }
}

// Writes all of buf.  Returns 0 or -errno; a write that returns 0 is EIO.
int write_all(Transfer& xfer, const char* buf, int64_t len, int64_t off) {
  int again = 0;
  while (len > 0) {
    int64_t r = xfer.dst_stream ? xfer.sys().write(xfer.dst_fd, buf, len)
                               : xfer.sys().pwrite(xfer.dst_fd, buf, len, off);
    if (r == -EINTR || (r == -EAGAIN && ++again < kMaxAgain)) continue;
    if (r < 0) return static_cast<int>(r);
    if (r == 0) return -EIO;
    buf += r;
    off += r;
    len -= r;
  }
  return 0;
}

bool all_zero(const char* p, int64_t n) {
  return n > 0 && p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0;
}

// Writes buf, leaving all-zero blocks as holes (--sparse=always).
int write_sparse(Transfer& xfer, const char* buf, int64_t len, int64_t off,
                 int64_t* hole_bytes) {
  for (int64_t i = 0; i < len;) {
    const int64_t n = std::min(kZeroBlock - (off + i) % kZeroBlock, len - i);
    const bool zero = n == kZeroBlock && all_zero(buf + i, n);
    int64_t j = i + n;
    while (j < len && (len - j) >= kZeroBlock &&
           all_zero(buf + j, kZeroBlock) == zero) {
      j += kZeroBlock;
    }
    if (zero) {
      xfer.add_hole({off + i, off + i, j - i});
      *hole_bytes += j - i;
    } else if (int w = write_all(xfer, buf + i, j - i, off + i); w < 0) {
      return w;
    }
    i = j;
  }
  return 0;
}

SegmentResult read_write_segment(Transfer& xfer, const Segment& seg) {
  const int64_t size = xfer.ctx.tun.rw_buffer;
  std::unique_ptr<char[]> buf(new char[size]);
  const bool sparse = xfer.flags.sparse == Sparse::always && xfer.dst_regular &&
                      !xfer.dst_stream;
  int64_t moved = 0;
  int64_t holes = 0;
  while (moved < seg.len) {
    const int64_t want = std::min(seg.len - moved, size);
    const int64_t r = read_some(xfer, buf.get(), want, seg.src + moved);
    if (r == -ECANCELED) {
      SegmentResult c = SegmentResult::cancelled(moved);
      c.holes = holes;
      return c;
    }
    if (r < 0) {
      return io_error(static_cast<int>(-r), xfer.src_stream ? "read" : "pread", Role::source,
                      moved);
    }
    if (r == 0) break;
    const int w = sparse ? write_sparse(xfer, buf.get(), r, seg.dst + moved, &holes)
                         : write_all(xfer, buf.get(), r, seg.dst + moved);
    if (w < 0) {
      return io_error(-w, xfer.dst_stream ? "write" : "pwrite", Role::destination, moved);
    }
    moved += r;
    if (moved < seg.len && !xfer.keep_going(Mechanism::read_write, moved)) {
      SegmentResult c = SegmentResult::cancelled(moved);
      c.holes = holes;
      return c;
    }
  }
  SegmentResult res = SegmentResult::done(moved, moved < seg.len);
  res.holes = holes;
  return res;
}

std::string read_write_used_why(const Transfer& xfer) {
  return std::string(xfer.src_stream ? "read" : "pread") + "/" +
         (xfer.dst_stream ? "write" : "pwrite") + ", " +
         std::to_string(xfer.ctx.tun.rw_buffer >> 10) + " KiB buffer" +
         (xfer.flags.sparse == Sparse::always ? ", zero blocks left as holes" : "");
}

}  // namespace

// Never ruled out and never unsupported: the ladder's last rung.
const Rung kReadWriteRung = {
    .mech = Mechanism::read_write,
    .kind = Rung::Kind::host,
    .probe = Rung::Probe::none,
    .run = read_write_segment,
    .used_why = read_write_used_why,
};

}  // namespace offcopy::mech
