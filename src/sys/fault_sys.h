// A Sys that forwards to another Sys (the real kernel by default) and
// injects scripted faults into the data-moving calls (Call): an errno, a
// short transfer, a zero return, or an errno once N bytes have passed.  It
// logs those calls so a test can assert the ladder that ran.  Every other
// call goes to the wrapped Sys (SysWrapper).
//
// Thread-safety: all methods lock mu_, which guards the faults, counts and
// log; one FaultSys may serve several threads.
#ifndef OFFCOPY_SYS_FAULT_SYS_H_
#define OFFCOPY_SYS_FAULT_SYS_H_

#include <array>
#include <vector>

#include "sys/sys.h"
#include "sys/sys_wrapper.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace offcopy::sys {

struct Fault {
  enum class Kind {
    fail,         // return -err without calling through
    short_io,     // call through with at most `bytes` bytes
    zero,         // return 0 without calling through
    error_after,  // pass `bytes` bytes in total over the calls, then -err
  };
  Call call;
  Kind kind = Kind::fail;
  int err = 0;
  int64_t bytes = 0;
  int first = 1;   // first occurrence of `call` (1-based) the fault hits
  int times = 1;   // occurrences hit from `first`; 0 = every one after
};

struct LoggedCall {
  Call call;
  int64_t ret;  // what the caller saw
};

class FaultSys : public SysWrapper {
 public:
  explicit FaultSys(Sys& base = Sys::real()) : SysWrapper(base) {}

  void add(const Fault& f);
  std::vector<LoggedCall> log() const;
  int count(Call c) const;
  // Calls that reached the kernel (not replaced by a fault) of kind c.
  int passed(Call c) const;

  int clone(int dst, int src) override;
  int clone_range(int dst, int src, int64_t src_off, int64_t len,
                  int64_t dst_off) override;
  int64_t copy_file_range(int src, int64_t* src_off, int dst, int64_t* dst_off,
                          int64_t len) override;
  int64_t pread(int fd, void* buf, int64_t len, int64_t off) override;
  int64_t splice_read(int fd, int64_t off, int pipe_w, int64_t len) override;
  int64_t splice_write(int pipe_r, int fd, int64_t off, int64_t len) override;
  int64_t pwrite(int fd, const void* buf, int64_t len, int64_t off) override;
  int64_t read(int fd, void* buf, int64_t len) override;
  int64_t write(int fd, const void* buf, int64_t len) override;
  int fallocate(int fd, int mode, int64_t off, int64_t len) override;
  int ftruncate(int fd, int64_t len) override;
  std::unique_ptr<Ring> make_ring(unsigned depth, int* err) override;

  // Decides what happens to one call of kind c asking for `len` bytes:
  // returns true and sets *ret to the faked result when the call must not
  // go through, else possibly lowers *len (short transfer) and returns
  // false.  Used by the ring wrapper too.
  bool decide(Call c, int64_t* len, int64_t* ret);
  // Records what a call returned; counts bytes for error_after faults.
  int64_t record(Call c, int64_t ret, bool passed);

 private:
  template <typename F>
  int64_t io(Call c, int64_t len, F call_through);

  mutable util::Mutex mu_;
  std::vector<Fault> faults_ OFFCOPY_GUARDED_BY(mu_);
  std::array<int, kCallCount> seen_ OFFCOPY_GUARDED_BY(mu_) = {};
  std::array<int, kCallCount> passed_ OFFCOPY_GUARDED_BY(mu_) = {};
  std::array<int64_t, kCallCount> bytes_ OFFCOPY_GUARDED_BY(mu_) = {};
  std::vector<LoggedCall> log_ OFFCOPY_GUARDED_BY(mu_);
};

}  // namespace offcopy::sys

#endif  // OFFCOPY_SYS_FAULT_SYS_H_
