// Internal to target/scsi: what EXTENDED COPY (third_party_copy.cc) and
// WRITE USING TOKEN (token_copy.cc) share -- a copy made of pieces run
// one after another on the copy engine, the status kept of it for
// RECEIVE COPY STATUS and RECEIVE ROD TOKEN INFORMATION, and the limits
// both are held to.
#ifndef OFFCOPY_TARGET_SCSI_COPY_RUN_H_
#define OFFCOPY_TARGET_SCSI_COPY_RUN_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scsi/unit_impl.h"

namespace offcopy::scsi {

// Copies a unit runs at once, and ended ones whose status it keeps.
inline constexpr size_t kMaxConcurrentCopies = 64;
inline constexpr size_t kMaxKeptCopies = 256;
// An ended copy whose list identifier said discard is kept this long when
// it was IMMED, so that an initiator polling it still learns how it ended.
inline constexpr auto kDiscardedKeptFor = std::chrono::seconds(60);

// What token copy takes (token_copy.cc), as VPD page 0x8F says it.
struct TokenLimits {
  uint16_t max_ranges;           // range descriptors per command
  uint32_t max_inactivity;       // seconds
  uint32_t default_inactivity;   // seconds, for an INACTIVITY TIMEOUT of 0
  uint64_t max_token_bytes;      // what one token may stand for
  uint64_t optimal_bytes;        // what one WRITE USING TOKEN should copy
};
TokenLimits token_limits();

// COPY ABORTED with `asc`, the COMMAND-SPECIFIC INFORMATION naming the
// segment being processed (SPC-4 6.3.6).
Result copy_aborted(Asc asc, uint16_t segment);

// The directory a unit's file is in: hidden files (O_TMPFILE) are made
// there, on the same filesystem, so that they can share its extents.
std::string directory_of(const std::string& path);

// A unit a copy reads or writes, and what keeps it alive while it does.
struct LogicalUnit::Impl::CopyTarget {
  LogicalUnit::Impl* unit = nullptr;
  std::shared_ptr<LogicalUnit> hold;  // null for the copy manager's own unit
};

// One copy on its way: its pieces run one after another on the copy
// engine, each started by the previous one's completion, from go() to
// finish(), which completes `done` and the operation's status.
struct LogicalUnit::Impl::CopyRun : std::enable_shared_from_this<CopyRun> {
  struct Step {
    CopyPiece piece;
    LogicalUnit::Impl* destination = nullptr;
    uint16_t segment = 0;
    bool ends_segment = false;
  };

  LogicalUnit::Impl* manager = nullptr;  // the unit the command came to
  std::vector<CopyTarget> targets;       // alive until the run ends
  std::vector<Step> steps;
  size_t next = 0;
  std::shared_ptr<CopyOperation> op;
  Completion done;
  // Runs last, on the engine thread, and may change the result (WRITE
  // USING TOKEN: the token was revoked while it copied).
  std::function<Result(Result)> finishing;

  void go();
  void advance(const Step& s, const CopyOutcome& out);
  void finish(Result r);
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_COPY_RUN_H_
