// The state of one copy_range call as the ladder works through it (a
// Transfer), the pieces it is cut into, and what a rung did with one.
//
// Thread-safety: a Transfer belongs to one thread.
#ifndef OFFCOPY_MECH_TRANSFER_H_
#define OFFCOPY_MECH_TRANSFER_H_

#include <errno.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mech/context.h"
#include "mech/probe.h"
#include "mech/rung.h"
#include "offcopy/copy.h"
#include "sys/sys.h"

namespace offcopy::mech {

// A contiguous piece of the copy: source offset, destination offset, length.
struct Segment {
  int64_t src = 0;
  int64_t dst = 0;
  int64_t len = 0;
};

// What a mechanism did with one segment.
struct SegmentResult {
  int64_t moved = 0;       // bytes copied, from the start of the segment
  int err = 0;             // errno if it stopped with an error, else 0
  bool fall_back = false;  // "not supported here" with moved == 0
  bool cacheable = false;  // the verdict holds beyond this file (Rung::probe)
  bool eof = false;        // the source ended before the segment did
  int64_t holes = 0;       // bytes of `moved` left as holes, not written
  const char* op = "";     // the call that failed
  Role role = Role::none;  // the file that call failed on
  std::string why;         // reason text when it fell back or failed

  static SegmentResult cancelled(int64_t moved) {
    SegmentResult r;
    r.moved = moved;
    r.err = ECANCELED;
    r.op = "cancel";
    r.why = "cancelled";
    return r;
  }

  static SegmentResult done(int64_t moved, bool eof = false) {
    SegmentResult r;
    r.moved = moved;
    r.eof = eof;
    return r;
  }
};

struct Transfer {
  const Context& ctx;
  const Control* control = nullptr;  // may be null
  int src_fd = -1;
  int dst_fd = -1;
  struct stat src_st {};
  struct stat dst_st {};
  CopyFlags flags;
  bool src_stream = false;  // read() at the file position (FIFO, chardev)
  bool src_nonblock = false;  // a stream opened O_NONBLOCK: poll before reads
  int src_clear_nonblock = -1;  // >= 0: flags to set on src_fd before a host
                                // rung reads it (OpenedFds::src_nonblock_ours)
  bool dst_stream = false;  // write() at the file position (O_APPEND, FIFO)
  bool dst_append = false;  // destination opened O_APPEND
  bool src_pseudo = false;  // procfs/sysfs/...: st_size is not the length
  bool dst_regular = false;
  Report report;
  std::vector<Segment> holes;  // destination ranges to leave as holes
  int64_t done = 0;            // bytes of the range finished, in order
  bool eof = false;            // the source ended early
  // The caller gave a source offset, so the file position must be left
  // as it was; SEEK_DATA/SEEK_HOLE move it, so it is saved before the
  // first of them (-1: not saved) and put back at the end.
  bool keep_src_pos = false;
  // copy_range on fds it was handed reads their flags (fcntl F_GETFL, two
  // syscalls of the five a 4 KiB copy makes) only when something needs
  // them: two regular files are assumed open for reading and for writing
  // without O_APPEND, which is all the offload rungs need and which they
  // check themselves (EBADF, before writing anything).  Before any other
  // step -- a host rung, a hole, an offload failure reported -- the flags
  // are read (flags_read), and a copy that assumed wrong starts over.
  bool flags_assumed = false;
  bool flags_read = false;
  bool flags_wrong = false;  // read, and not as assumed: start over
  int64_t saved_src_pos = -1;
  // A reason per rung that is off for the rest of this transfer.
  std::array<std::optional<Verdict>, kMechanismCount> off;
  // What each rung keeps for the rest of the transfer (Rung::ready).
  std::array<std::unique_ptr<RungState>, kMechanismCount> rung_state;

  sys::Sys& sys() const { return *ctx.sys; }
  // The kernel gives the source's length: a regular file with a size, not
  // a generated one (procfs, sysfs) or a stream, which are read until EOF.
  bool size_known() const {
    return S_ISREG(src_st.st_mode) && src_st.st_size > 0 && !src_pseudo;
  }
  // Rung m's state, made on first use.
  template <typename T>
  T& state(Mechanism m) {
    std::unique_ptr<RungState>& p = rung_state[static_cast<int>(m)];
    if (!p) p = std::make_unique<T>();
    return static_cast<T&>(*p);
  }
  // Rung m's state if it was made, else null.
  template <typename T>
  T* state_if_made(Mechanism m) const {
    return static_cast<T*>(rung_state[static_cast<int>(m)].get());
  }
  int64_t moved() const { return report.total_bytes(); }
  void used(Mechanism m, int64_t bytes, std::string why = {});
  void skip(Mechanism m, int err, std::string why);
  void fail(Mechanism m, int err, std::string why);
  // Records a destination range to leave as a hole (merged with the last
  // one when adjacent) and counts it in report.hole_bytes.
  void add_hole(const Segment& hole);
  // Called by the mechanisms between chunks with the bytes they have moved
  // so far in the current segment: reports progress and returns false when
  // the copy is cancelled.
  bool keep_going(Mechanism m, int64_t moved_in_segment) const;
  bool is_off(Mechanism m) const { return off[static_cast<int>(m)].has_value(); }
};

// For the rungs that take only two regular files at offsets (clone,
// copy_file_range): why this transfer is not that, or null.
const char* not_two_regular_files(const Transfer& xfer);
// For the bulk host rungs (splice, io_uring): why they cannot take this
// transfer, or null.  A stream or a source of unknown size is read until
// EOF, and --sparse=always needs the zero-block check: read/write does both.
const char* not_for_bulk_host_copy(const Transfer& xfer);

}  // namespace offcopy::mech

#endif  // OFFCOPY_MECH_TRANSFER_H_
