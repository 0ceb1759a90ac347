// Rung 4: an io_uring read/write pipeline for large host copies.  A few
// buffers ("slots") each own one chunk of the range: read it, write what
// was read, repeat until the chunk is done, then take the next chunk.  Reads
// of one slot overlap with writes of the others, so source and destination
// devices stay busy at once.  Short reads and writes are re-queued for the
// rest (liburing's io_uring-cp.c does the same); -EAGAIN is re-queued as is.
#include <errno.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mech/rung.h"
#include "mech/transfer.h"

namespace offcopy::mech {
namespace {

void classify_first_error(SegmentResult& r);

// The ring, made on first use and kept for the transfer.
struct RingState : RungState {
  std::unique_ptr<sys::Ring> ring;
};

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

struct Slot {
  std::unique_ptr<char, FreeDeleter> buf;
  int64_t start = 0;    // chunk start, relative to the segment
  int64_t end = 0;      // chunk end, relative to the segment
  int64_t done = 0;     // bytes of the chunk written so far
  int64_t filled = 0;   // bytes in buf read but not yet written
  int64_t written = 0;  // bytes of buf written in the current write
  bool busy = false;    // owns a chunk
  int again = 0;
};

class Pipeline {
 public:
  Pipeline(Transfer& xfer, const Segment& seg)
      : xfer_(xfer), ring_(xfer.state<RingState>(Mechanism::uring).ring), seg_(seg) {}
  SegmentResult run();

 private:
  bool start_slot(Slot& s, uint64_t tag);
  void queue_read(Slot& s, uint64_t tag);
  void queue_write(Slot& s, uint64_t tag);
  void on_completion(const sys::RingCompletion& c);
  void on_read(Slot& s, uint64_t tag, int64_t res);
  void on_write(Slot& s, uint64_t tag, int64_t res);
  void stop(int err, const char* op, Role role);
  int64_t contiguous_done() const;

  Transfer& xfer_;
  std::unique_ptr<sys::Ring>& ring_;  // the transfer's (RingState)
  const Segment seg_;
  std::vector<Slot> slots_;
  int64_t next_ = 0;      // next chunk start handed out
  int inflight_ = 0;
  int err_ = 0;
  const char* op_ = "";
  Role role_ = Role::none;
  bool eof_ = false;
  int64_t eof_at_ = -1;   // where the source ended (segment-relative), -1: not yet
};

bool Pipeline::start_slot(Slot& s, uint64_t tag) {
  if (err_ != 0 || eof_ || next_ >= seg_.len) {
    s.busy = false;
    return false;
  }
  s.start = next_;
  s.end = std::min(seg_.len, next_ + xfer_.ctx.tun.uring_buffer);
  s.done = 0;
  s.busy = true;
  next_ = s.end;
  queue_read(s, tag);
  return true;
}

void Pipeline::queue_read(Slot& s, uint64_t tag) {
  const int64_t pos = s.start + s.done;
  sys::RingOp op{false, xfer_.src_fd, s.buf.get(),
                 static_cast<uint32_t>(s.end - pos), seg_.src + pos, tag};
  if (int r = ring_->queue(op); r < 0) return stop(-r, "io_uring_get_sqe", Role::none);
  ++inflight_;
}

void Pipeline::queue_write(Slot& s, uint64_t tag) {
  const int64_t pos = s.start + s.done + s.written;
  sys::RingOp op{true, xfer_.dst_fd, s.buf.get() + s.written,
                 static_cast<uint32_t>(s.filled - s.written), seg_.dst + pos,
                 tag | 1u << 31};
  if (int r = ring_->queue(op); r < 0) return stop(-r, "io_uring_get_sqe", Role::none);
  ++inflight_;
}

void Pipeline::stop(int err, const char* op, Role role) {
  if (err_ == 0) {
    err_ = err;
    op_ = op;
    role_ = role;
  }
}

void Pipeline::on_completion(const sys::RingCompletion& c) {
  --inflight_;
  const bool write = (c.tag >> 31) & 1u;
  const uint64_t tag = c.tag & ~(1ull << 31);
  Slot& s = slots_[tag];
  if (write) {
    on_write(s, tag, c.res);
  } else {
    on_read(s, tag, c.res);
  }
}

void Pipeline::on_read(Slot& s, uint64_t tag, int64_t res) {
  if ((res == -EINTR || res == -EAGAIN) && ++s.again < kMaxAgain) {
    return queue_read(s, tag);
  }
  if (res < 0) return stop(static_cast<int>(-res), "io_uring read", Role::source);
  if (res == 0) {  // the source ended inside this chunk
    eof_ = true;
    const int64_t at = s.start + s.done;
    eof_at_ = eof_at_ < 0 ? at : std::min(eof_at_, at);
    s.busy = false;
    return;
  }
  s.filled = res;
  s.written = 0;
  queue_write(s, tag);
}

void Pipeline::on_write(Slot& s, uint64_t tag, int64_t res) {
  if ((res == -EINTR || res == -EAGAIN) && ++s.again < kMaxAgain) {
    return queue_write(s, tag);
  }
  if (res < 0) return stop(static_cast<int>(-res), "io_uring write", Role::destination);
  if (res == 0) return stop(EIO, "io_uring write returned 0", Role::destination);
  s.written += res;
  if (s.written < s.filled) return queue_write(s, tag);
  s.done += s.filled;
  s.filled = 0;
  if (err_ == 0 && !xfer_.keep_going(Mechanism::uring, contiguous_done())) {
    stop(ECANCELED, "cancel", Role::none);
  }
  if (err_ != 0) {
    s.busy = false;
  } else if (s.start + s.done < s.end) {
    queue_read(s, tag);
  } else {
    start_slot(s, tag);
  }
}

// Bytes from the segment start that are fully written with no gap.
int64_t Pipeline::contiguous_done() const {
  int64_t done = next_;
  for (const Slot& s : slots_) {
    if (s.busy || s.start + s.done < s.end) {
      if (s.end > s.start) done = std::min(done, s.start + s.done);
    }
  }
  if (eof_) done = std::min(done, eof_at_);
  return done;
}

SegmentResult Pipeline::run() {
  const unsigned depth = xfer_.ctx.tun.uring_depth;
  slots_.resize(depth);
  for (Slot& s : slots_) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, xfer_.ctx.tun.uring_buffer) != 0) {
      SegmentResult r;
      r.err = ENOMEM;
      r.op = "posix_memalign";
      return r;
    }
    s.buf.reset(static_cast<char*>(p));
  }
  for (unsigned i = 0; i < depth; ++i) start_slot(slots_[i], i);
  std::vector<sys::RingCompletion> done;
  while (inflight_ > 0) {
    done.clear();
    if (int r = ring_->submit_and_wait(done); r < 0) {
      // The ring itself failed: completions for queued ops may never come.
      // Destroying the ring cancels and waits for them before our buffers
      // are freed.
      stop(-r, "io_uring_submit", Role::none);
      ring_.reset();
      break;
    }
    for (const auto& c : done) on_completion(c);
  }
  SegmentResult res = SegmentResult::done(contiguous_done(), eof_);
  if (err_ != 0) {
    res.err = err_;
    res.op = op_;
    res.role = role_;
    res.why = "host copy failed";
    if (res.moved == 0) classify_first_error(res);
  }
  return res;
}

// An error before any byte moved: some mean the ring cannot do this
// copy, and pread/pwrite should; EIO, ENOSPC, EDQUOT, EFBIG stay errors.
void classify_first_error(SegmentResult& r) {
  switch (r.err) {
    // Kernels 5.1-5.5 set up rings but lack IORING_OP_READ/WRITE (5.6):
    // the operations complete with -EINVAL.  ENOSYS/EOPNOTSUPP: io_uring
    // restricted or the file type refuses it.  These hold for the process.
    case EINVAL:
    case EOPNOTSUPP:
    case ENOSYS:
      r.fall_back = true;
      r.cacheable = true;
      r.why = "io_uring cannot read/write here";
      break;
    // Refused for this file only (seccomp on io_uring ops, odd files):
    // pread/pwrite will either work or report the real error.
    case EPERM:
    case EXDEV:
      r.fall_back = true;
      r.why = "io_uring refused this file";
      break;
    default:
      break;
  }
}

int64_t uring_min_len(const Tunables& t) { return t.uring_min; }

// Makes the ring on first use; an io_uring the process cannot have (seen
// before, or now) turns the rung off for the process.
bool ring_ready(Transfer& xfer) {
  RingState& st = xfer.state<RingState>(Mechanism::uring);
  if (st.ring) return true;
  ProbeCache* probes = xfer.ctx.probes;
  if (probes != nullptr) {
    if (auto v = probes->get_process(Mechanism::uring)) {
      xfer.skip(Mechanism::uring, v->err, v->why);
      return false;
    }
  }
  int err = 0;
  st.ring = xfer.sys().make_ring(xfer.ctx.tun.uring_depth, &err);
  if (st.ring) return true;
  Verdict v{-err, "io_uring unavailable (" + std::string(sys::errno_name(-err)) + ")"};
  if (probes != nullptr) probes->set_process(Mechanism::uring, v);
  xfer.skip(Mechanism::uring, v.err, v.why);
  return false;
}

SegmentResult uring_segment(Transfer& xfer, const Segment& seg) {
  return Pipeline(xfer, seg).run();
}

std::string uring_used_why(const Transfer& xfer) {
  const Tunables& t = xfer.ctx.tun;
  return "io_uring pipeline, " + std::to_string(t.uring_depth) + " x " +
         std::to_string(t.uring_buffer >> 10) + " KiB buffers";
}

}  // namespace

const Rung kUringRung = {
    .mech = Mechanism::uring,
    .kind = Rung::Kind::host,
    .probe = Rung::Probe::process,
    .rule_out = not_for_bulk_host_copy,
    .min_len = uring_min_len,
    .too_short = "range shorter than the pipeline's minimum",
    .ready = ring_ready,
    .run = uring_segment,
    .used_why = uring_used_why,
};

}  // namespace offcopy::mech
