// Where a third-party copy's bytes are moved: liboffcopy's engine, which
// tries a reflink (FICLONERANGE) first, then copy_file_range, then a host
// copy (docs/fallbacks.md), on threads of its own -- so a long copy holds
// neither the event loop nor a unit's I/O threads, and can be cancelled
// between chunks.  One per target process; every unit's EXTENDED COPY and
// WRITE USING TOKEN run through it, and it keeps their ROD tokens.
//
// Thread-safety: start() and cancel() may be called from any thread,
// also from a completion; completions run on engine threads.
#ifndef OFFCOPY_TARGET_SCSI_COPY_ENGINE_H_
#define OFFCOPY_TARGET_SCSI_COPY_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "scsi/rod_tokens.h"

namespace offcopy {
class Engine;
}

namespace offcopy::scsi {

// One contiguous byte range of one file copied to another (or the same)
// file.  The ranges of one piece never overlap.
struct CopyPiece {
  int source_fd = -1;
  uint64_t source_offset = 0;
  int destination_fd = -1;
  uint64_t destination_offset = 0;
  uint64_t length = 0;
};

// How a piece ended: the bytes copied (a prefix of the piece when it
// failed or was cancelled) by how they moved, and the errno that ended it
// early (ECANCELED when cancelled), 0 when all of it was copied.
struct CopyOutcome {
  int error = 0;
  uint64_t cloned = 0, kernel_copied = 0, host_copied = 0;
  uint64_t bytes() const { return cloned + kernel_copied + host_copied; }
};

class CopyEngine {
 public:
  // `workers` threads (1..256).  Null, and a sentence in `error`, if the
  // engine cannot start.
  static std::unique_ptr<CopyEngine> open(int workers, std::string& error);
  // Cancels what still runs, and waits for every completion to return.
  ~CopyEngine();

  CopyEngine(const CopyEngine&) = delete;
  CopyEngine& operator=(const CopyEngine&) = delete;

  using Done = std::function<void(CopyOutcome)>;
  // Starts copying `piece`; `done` runs exactly once, on an engine
  // thread (or on this one, if the engine refuses the job).  Returns an id
  // for cancel().  The descriptors must stay open until `done` has run.
  uint64_t start(const CopyPiece& piece, Done done);
  // Asks the piece to stop at its next chunk: it ends with ECANCELED and
  // the bytes it had copied.  Unknown or finished ids are ignored.
  void cancel(uint64_t id);

  // The ROD tokens of this target process: any of its units may be asked
  // to use one another made (POPULATE TOKEN here, WRITE USING TOKEN there).
  RodTokens& tokens() { return tokens_; }

 private:
  explicit CopyEngine(std::unique_ptr<Engine> engine);
  RodTokens tokens_;  // after the engine in destruction: no run uses a token then
  std::unique_ptr<Engine> engine_;
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_COPY_ENGINE_H_
