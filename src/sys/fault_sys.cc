#include "sys/fault_sys.h"

#include <errno.h>

#include <algorithm>
#include <deque>

namespace offcopy::sys {
namespace {

bool hits(const Fault& f, int n) {
  return n >= f.first && (f.times == 0 || n < f.first + f.times);
}

// Wraps a real ring: faults on ring_read/ring_write are decided at queue
// time; a replaced operation completes with its faked result at the next
// submit_and_wait.
class FaultRing final : public Ring {
 public:
  FaultRing(FaultSys& fs, std::unique_ptr<Ring> base)
      : fs_(fs), base_(std::move(base)) {}

  int queue(const RingOp& op) override {
    const Call c = op.write ? Call::ring_write : Call::ring_read;
    RingOp real = op;
    int64_t len = op.len;
    int64_t ret = 0;
    if (fs_.decide(c, &len, &ret)) {
      fake_.push_back({op.tag, fs_.record(c, ret, false)});
      return 0;
    }
    real.len = static_cast<uint32_t>(len);
    kinds_.push_back({op.tag, c});
    if (int r = base_->queue(real); r < 0) return r;
    ++inflight_;
    return 0;
  }

  int submit_and_wait(std::vector<RingCompletion>& out) override {
    if (!fake_.empty()) {
      out.insert(out.end(), fake_.begin(), fake_.end());
      fake_.clear();
      return 0;
    }
    if (inflight_ == 0) return -EINVAL;
    const size_t before = out.size();
    if (int r = base_->submit_and_wait(out); r < 0) return r;
    for (size_t i = before; i < out.size(); ++i) {
      --inflight_;
      out[i].res = fs_.record(kind_of(out[i].tag), out[i].res, true);
    }
    return 0;
  }

 private:
  Call kind_of(uint64_t tag) {
    for (auto it = kinds_.begin(); it != kinds_.end(); ++it) {
      if (it->first == tag) {
        Call c = it->second;
        kinds_.erase(it);
        return c;
      }
    }
    return Call::ring_read;
  }

  FaultSys& fs_;
  std::unique_ptr<Ring> base_;
  std::vector<RingCompletion> fake_;
  std::deque<std::pair<uint64_t, Call>> kinds_;
  int inflight_ = 0;
};

}  // namespace

void FaultSys::add(const Fault& f) {
  util::MutexLock lock(mu_);
  faults_.push_back(f);
}

std::vector<LoggedCall> FaultSys::log() const {
  util::MutexLock lock(mu_);
  return log_;
}

int FaultSys::count(Call c) const {
  util::MutexLock lock(mu_);
  return seen_[static_cast<int>(c)];
}

int FaultSys::passed(Call c) const {
  util::MutexLock lock(mu_);
  return passed_[static_cast<int>(c)];
}

bool FaultSys::decide(Call c, int64_t* len, int64_t* ret) {
  util::MutexLock lock(mu_);
  const int i = static_cast<int>(c);
  const int n = ++seen_[i];
  for (const Fault& f : faults_) {
    if (f.call != c) continue;
    if (f.kind == Fault::Kind::error_after) {
      const int64_t left = f.bytes - bytes_[i];
      if (left <= 0) {
        *ret = -f.err;
        return true;
      }
      *len = std::min(*len, left);
      continue;
    }
    if (!hits(f, n)) continue;
    switch (f.kind) {
      case Fault::Kind::fail: *ret = -f.err; return true;
      case Fault::Kind::zero: *ret = 0; return true;
      case Fault::Kind::short_io: *len = std::min(*len, f.bytes); break;
      default: break;
    }
  }
  return false;
}

int64_t FaultSys::record(Call c, int64_t ret, bool passed) {
  util::MutexLock lock(mu_);
  const int i = static_cast<int>(c);
  if (passed) ++passed_[i];
  if (ret > 0) bytes_[i] += ret;
  log_.push_back({c, ret});
  return ret;
}

template <typename F>
int64_t FaultSys::io(Call c, int64_t len, F call_through) {
  int64_t ret = 0;
  if (decide(c, &len, &ret)) return record(c, ret, false);
  return record(c, call_through(len), true);
}

int FaultSys::clone(int dst, int src) {
  return static_cast<int>(io(Call::clone, 0, [&](int64_t) { return target().clone(dst, src); }));
}

int FaultSys::clone_range(int dst, int src, int64_t src_off, int64_t len, int64_t dst_off) {
  return static_cast<int>(io(Call::clone_range, len, [&](int64_t) {
    return target().clone_range(dst, src, src_off, len, dst_off);
  }));
}

int64_t FaultSys::copy_file_range(int src, int64_t* src_off, int dst, int64_t* dst_off,
                                  int64_t len) {
  return io(Call::copy_file_range, len, [&](int64_t n) {
    return target().copy_file_range(src, src_off, dst, dst_off, n);
  });
}

int64_t FaultSys::splice_read(int fd, int64_t off, int pipe_w, int64_t len) {
  return io(Call::splice_read, len,
            [&](int64_t n) { return target().splice_read(fd, off, pipe_w, n); });
}

int64_t FaultSys::splice_write(int pipe_r, int fd, int64_t off, int64_t len) {
  return io(Call::splice_write, len,
            [&](int64_t n) { return target().splice_write(pipe_r, fd, off, n); });
}

int64_t FaultSys::pread(int fd, void* buf, int64_t len, int64_t off) {
  return io(Call::pread, len, [&](int64_t n) { return target().pread(fd, buf, n, off); });
}

int64_t FaultSys::pwrite(int fd, const void* buf, int64_t len, int64_t off) {
  return io(Call::pwrite, len, [&](int64_t n) { return target().pwrite(fd, buf, n, off); });
}

int64_t FaultSys::read(int fd, void* buf, int64_t len) {
  return io(Call::read, len, [&](int64_t n) { return target().read(fd, buf, n); });
}

int64_t FaultSys::write(int fd, const void* buf, int64_t len) {
  return io(Call::write, len, [&](int64_t n) { return target().write(fd, buf, n); });
}

int FaultSys::fallocate(int fd, int mode, int64_t off, int64_t len) {
  return static_cast<int>(io(Call::fallocate, 0, [&](int64_t) {
    return target().fallocate(fd, mode, off, len);
  }));
}

int FaultSys::ftruncate(int fd, int64_t len) {
  return static_cast<int>(io(Call::ftruncate, 0, [&](int64_t) {
    return target().ftruncate(fd, len);
  }));
}

std::unique_ptr<Ring> FaultSys::make_ring(unsigned depth, int* err) {
  auto base = target().make_ring(depth, err);
  if (!base) return nullptr;
  return std::make_unique<FaultRing>(*this, std::move(base));
}

}  // namespace offcopy::sys
