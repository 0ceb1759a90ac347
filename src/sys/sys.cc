// The real kernel behind the syscall seam.  Each wrapper turns errno into a
// negative return at the call, so errno never travels.
#include "sys/kernel_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/fs.h>
#include <liburing.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/long_path.h"
#include "sys/no_eintr.h"

namespace offcopy::sys {
namespace {

class RealRing final : public Ring {
 public:
  RealRing() = default;
  ~RealRing() override { io_uring_queue_exit(&ring_); }
  int init(unsigned depth) { return io_uring_queue_init(depth, &ring_, 0); }

  int queue(const RingOp& op) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return -EBUSY;
    if (op.write) {
      io_uring_prep_write(sqe, op.fd, op.buf, op.len, op.off);
    } else {
      io_uring_prep_read(sqe, op.fd, op.buf, op.len, op.off);
    }
    io_uring_sqe_set_data64(sqe, op.tag);
    return 0;
  }

  int submit_and_wait(std::vector<RingCompletion>& out) override {
    int r;
    do {
      r = io_uring_submit_and_wait(&ring_, 1);
    } while (r == -EINTR);
    if (r < 0) return r;
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      out.push_back({io_uring_cqe_get_data64(cqe), cqe->res});
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    return 0;
  }

 private:
  io_uring ring_{};
};

}  // namespace

Sys& Sys::real() {
  static Sys* instance = new KernelSys();
  return *instance;
}

int KernelSys::clone(int dst, int src) {
  return static_cast<int>(no_eintr([&] { return ::ioctl(dst, FICLONE, src); }));
}

int KernelSys::clone_range(int dst, int src, int64_t src_off, int64_t len,
                     int64_t dst_off) {
  file_clone_range arg{};
  arg.src_fd = src;
  arg.src_offset = static_cast<uint64_t>(src_off);
  arg.src_length = static_cast<uint64_t>(len);
  arg.dest_offset = static_cast<uint64_t>(dst_off);
  return static_cast<int>(
      no_eintr([&] { return ::ioctl(dst, FICLONERANGE, &arg); }));
}

int64_t KernelSys::copy_file_range(int src, int64_t* src_off, int dst,
                             int64_t* dst_off, int64_t len) {
  static_assert(sizeof(off64_t) == sizeof(int64_t));
  // syscall(2) rather than glibc's wrapper, which is a cancellation point:
  // in a process with threads each call pays two locked instructions to
  // enable and disable asynchronous cancellation (measured: 4 KiB on
  // tmpfs, 575 ns a call against 552, docs/benchmarks.md), and liboffcopy
  // never uses cancellation.
  return neg_errno(::syscall(SYS_copy_file_range, src, src_off, dst, dst_off,
                             static_cast<size_t>(len), 0u));
}

int64_t KernelSys::make_pipe(int fds[2], int64_t size) {
  if (::pipe2(fds, O_CLOEXEC) < 0) return -errno;
  const int got = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(size));
  if (got > 0) return got;
  return neg_errno(::fcntl(fds[1], F_GETPIPE_SZ));
}

int64_t KernelSys::splice_read(int fd, int64_t off, int pipe_w, int64_t len) {
  loff_t o = off;
  return neg_errno(::splice(fd, &o, pipe_w, nullptr, static_cast<size_t>(len), SPLICE_F_MOVE));
}

int64_t KernelSys::splice_write(int pipe_r, int fd, int64_t off, int64_t len) {
  loff_t o = off;
  return neg_errno(::splice(pipe_r, nullptr, fd, &o, static_cast<size_t>(len), SPLICE_F_MOVE));
}

int64_t KernelSys::pread(int fd, void* buf, int64_t len, int64_t off) {
  return neg_errno(::pread(fd, buf, static_cast<size_t>(len), off));
}
int64_t KernelSys::pwrite(int fd, const void* buf, int64_t len, int64_t off) {
  return neg_errno(::pwrite(fd, buf, static_cast<size_t>(len), off));
}
int64_t KernelSys::read(int fd, void* buf, int64_t len) {
  return neg_errno(::read(fd, buf, static_cast<size_t>(len)));
}
int64_t KernelSys::write(int fd, const void* buf, int64_t len) {
  return neg_errno(::write(fd, buf, static_cast<size_t>(len)));
}
int64_t KernelSys::lseek(int fd, int64_t off, int whence) {
  return neg_errno(::lseek(fd, off, whence));
}
int KernelSys::fstat(int fd, struct stat* st) {
  return static_cast<int>(neg_errno(::fstat(fd, st)));
}
int KernelSys::fstatfs(int fd, struct statfs* st) {
  return static_cast<int>(neg_errno(::fstatfs(fd, st)));
}
int KernelSys::fcntl_getfl(int fd) {
  return static_cast<int>(neg_errno(::fcntl(fd, F_GETFL)));
}
int KernelSys::fcntl_setfl(int fd, int flags) {
  return static_cast<int>(neg_errno(::fcntl(fd, F_SETFL, flags)));
}
int KernelSys::poll_in(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, timeout_ms);
  if (r < 0) return errno == EINTR ? 0 : -errno;
  return r;
}
int KernelSys::fallocate(int fd, int mode, int64_t off, int64_t len) {
  return static_cast<int>(no_eintr([&] { return ::fallocate(fd, mode, off, len); }));
}
int KernelSys::ftruncate(int fd, int64_t len) {
  return static_cast<int>(no_eintr([&] { return ::ftruncate(fd, len); }));
}
// The path calls take the *at() form so that a path of any length works
// (long_path.h); for a short one that is AT_FDCWD and the whole path,
// the very call the plain form makes.
int KernelSys::open(const char* path, int flags, unsigned mode) {
  AtPath at(path);
  if (at.error() < 0) return at.error();
  return static_cast<int>(no_eintr(
      [&] { return ::openat(at.dir(), at.leaf(), flags | O_CLOEXEC, mode); }));
}
int KernelSys::eventfd() {
  return static_cast<int>(neg_errno(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)));
}
int KernelSys::close(int fd) { return static_cast<int>(neg_errno(::close(fd))); }
int KernelSys::unlink(const char* path) {
  return at_call(path, [](int dir, const char* name) { return ::unlinkat(dir, name, 0); });
}
int KernelSys::stat(const char* path, struct stat* st) {
  return at_call(path, [&](int dir, const char* name) { return ::fstatat(dir, name, st, 0); });
}
int KernelSys::open_at(int dir, const char* name, int flags, unsigned mode) {
  return static_cast<int>(
      no_eintr([&] { return ::openat(dir, name, flags | O_CLOEXEC, mode); }));
}
int KernelSys::unlink_at(int dir, const char* name) {
  return static_cast<int>(neg_errno(::unlinkat(dir, name, 0)));
}
int KernelSys::stat_at(int dir, const char* name, struct stat* st, bool follow) {
  return static_cast<int>(neg_errno(::fstatat(dir, name, st, follow ? 0 : AT_SYMLINK_NOFOLLOW)));
}

std::unique_ptr<Ring> KernelSys::make_ring(unsigned depth, int* err) {
  auto ring = std::make_unique<RealRing>();
  int r = ring->init(depth);
  if (r < 0) {
    *err = r;
    return nullptr;
  }
  *err = 0;
  return ring;
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) Sys::real().close(fd_);
  fd_ = fd;
}

const char* call_name(Call c) {
  static const char* const kNames[kCallCount] = {
      "FICLONE", "FICLONERANGE", "copy_file_range", "pread", "pwrite",
      "read", "write", "fallocate", "ftruncate", "uring_read", "uring_write",
      "splice_read", "splice_write"};
  return kNames[static_cast<int>(c)];
}

const char* errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "E?";
}

}  // namespace offcopy::sys
