// --verify: after a copy, read both files back and compare them, skipping
// only what the filesystem proves equal (extents both files share at the
// same place on the device, holes in both).
#ifndef OFFCOPY_LADDER_VERIFY_H_
#define OFFCOPY_LADDER_VERIFY_H_

#include <cstdint>

#include "mech/context.h"
#include "offcopy/result.h"

namespace offcopy::ladder {

struct Verified {
  int64_t compared = 0;  // bytes read from both files and compared
  int64_t skipped = 0;   // bytes proven equal by the extent maps
};

// Compares bytes [0, size) of two regular files by their xxh3-128 digests,
// one chunk at a time.  The destination's data is written back (fdatasync)
// and its cached pages dropped first, so what is compared is what the
// storage holds, not the page cache.  Errors: EIO with op "verify" and the
// offset of the first differing byte when the contents differ (or the
// destination's size is not `size`); read errors as they come; ECANCELED
// when `control` cancels between chunks.
Result<Verified> verify_copy(const mech::Context& ctx, int src_fd, int dst_fd, int64_t size,
                             const mech::Control* control);

}  // namespace offcopy::ladder

#endif  // OFFCOPY_LADDER_VERIFY_H_
