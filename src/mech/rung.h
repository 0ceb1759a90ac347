// A rung of the ladder as the copier (src/ladder/copier.cc) sees it: what
// it is, when it cannot take a transfer and why, the shortest segment it
// is worth, its set-up on first use, how it moves one segment, and what the
// report says when it did.  The ladder is a table of these, in the order
// they are tried (rungs.cc); a Context may carry a table of its own (a
// test's).  docs/design.md, "How to add a rung", lists what a new one
// touches.
//
// Thread-safety: a Rung is immutable and shared; its per-transfer state
// (RungState) belongs to the Transfer's thread.
#ifndef OFFCOPY_MECH_RUNG_H_
#define OFFCOPY_MECH_RUNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "mech/context.h"
#include "offcopy/copy.h"

namespace offcopy::mech {

struct Transfer;
struct Segment;
struct SegmentResult;

// What a rung keeps for the rest of one transfer (a pipe, a ring): made on
// first use through Transfer::state<T>(), destroyed with the transfer.
struct RungState {
  virtual ~RungState() = default;
};

struct Rung {
  enum class Kind {
    // Takes a block-aligned middle whole, or nothing (clone): tried on
    // that middle first, the other rungs take the unaligned ends.  Under
    // --reflink=always it is the only rung allowed.
    aligned,
    // Moves data below the host (copy_file_range, a device's own copy).
    // It refuses, before writing, fds it cannot use (EBADF), so the fds'
    // flags need not be read first.
    offload,
    // Moves data through the host (splice, io_uring, read/write): refused
    // under --offload=require; the fds' flags are read first and a
    // non-blocking source is made blocking.
    host,
  };
  // Where an "unsupported here" verdict (SegmentResult::cacheable) is kept.
  enum class Probe {
    none,
    pair,     // for the pair of filesystems: later files skip the rung
    process,  // for the process (io_uring: the kernel has it or not)
  };

  Mechanism mech;
  Kind kind;
  Probe probe;
  // Why the rung cannot take this transfer at all (file types, flags), or
  // null.  Looked at once, before any byte moves.
  const char* (*rule_out)(const Transfer&) = nullptr;
  // The shortest segment worth its set-up (null: any), and the reason
  // recorded when a segment is shorter (the rung stays on for longer ones).
  int64_t (*min_len)(const Tunables&) = nullptr;
  const char* too_short = "";
  // Set-up on first use in a transfer (null: none).  False when it cannot
  // be set up; it has then turned itself off with the reason (skip).
  bool (*ready)(Transfer&) = nullptr;
  // Moves `seg` (or a prefix of it) and says what happened.  Never moves a
  // file position.
  SegmentResult (*run)(Transfer&, const Segment&) = nullptr;
  // The report's reason for the bytes it moved.
  std::string (*used_why)(const Transfer&) = nullptr;
};

using RungTable = std::vector<Rung>;

// The rungs of src/mech/, one per file.
extern const Rung kCloneRung;
extern const Rung kKernelCopyRung;
extern const Rung kSpliceRung;
extern const Rung kUringRung;
extern const Rung kReadWriteRung;

// The ladder every copy walks unless its Context names another (rungs.cc).
const RungTable& default_rungs();

}  // namespace offcopy::mech

#endif  // OFFCOPY_MECH_RUNG_H_
