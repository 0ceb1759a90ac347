// copy_range against an explicit Context (syscall seam, probe cache,
// sizes).  The public offcopy::copy_range uses Context::process(); tests
// pass a FaultSys and a fresh ProbeCache.
#ifndef OFFCOPY_ENGINE_COPIER_H_
#define OFFCOPY_ENGINE_COPIER_H_

#include "engine/job.h"
#include "offcopy/copy.h"

namespace offcopy::engine {

// `control` (may be null) adds cancellation and progress; a cancelled copy
// returns ECANCELED with Error::bytes_done and Error::report filled in.
Result<Report> copy_range(const Context& ctx, int src_fd, int64_t* src_off,
                          int dst_fd, int64_t* dst_off, int64_t len,
                          CopyFlags flags, const Control* control = nullptr);

Result<Report> copy_file(const Context& ctx, const std::string& src,
                         const std::string& dst, const FileOptions& options,
                         const Control* control = nullptr);

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_COPIER_H_
