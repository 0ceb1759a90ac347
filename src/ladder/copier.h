// copy_range against an explicit Context (syscall seam, probe cache,
// sizes).  The public offcopy::copy_range uses Context::process(); tests
// pass a FaultSys and a fresh ProbeCache.
#ifndef OFFCOPY_LADDER_COPIER_H_
#define OFFCOPY_LADDER_COPIER_H_

#include "mech/context.h"
#include "offcopy/copy.h"

namespace offcopy::ladder {

// What the caller already knows of fds it opened itself (copy_file), so
// copy_range does not ask the kernel again: both fstats (the
// destination's taken after it was opened) and both open modes.
struct OpenedFds {
  struct stat src_st {};
  struct stat dst_st {};
  int src_flags = 0;
  int dst_flags = 0;
  // src_flags has O_NONBLOCK only so that opening (and reading) a FIFO can
  // be interrupted.  Offload rungs ignore the flag, io_uring honours it:
  // for anything but a stream it is cleared before a host rung reads.
  bool src_nonblock_ours = false;
};

// `control` (may be null) adds cancellation and progress; a cancelled copy
// returns ECANCELED with Error::bytes_done and Error::report filled in.
Result<Report> copy_range(const mech::Context& ctx, int src_fd, int64_t* src_off,
                          int dst_fd, int64_t* dst_off, int64_t len,
                          CopyFlags flags, const mech::Control* control = nullptr,
                          const OpenedFds* known = nullptr);

Result<Report> copy_file(const mech::Context& ctx, const std::string& src,
                         const std::string& dst, const FileOptions& options,
                         const mech::Control* control = nullptr);

}  // namespace offcopy::ladder

#endif  // OFFCOPY_LADDER_COPIER_H_
