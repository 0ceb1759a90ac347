// The ladder: the rungs every copy walks, in the order they are tried.
// An aligned rung (clone) takes the block-aligned middle first; the others
// take what is left, the first one still on for a segment moving it.  A
// rung that says "unsupported here" is turned off (and its verdict cached,
// Rung::probe) and the next one takes the segment from where it stopped.
#include "mech/rung.h"

namespace offcopy::mech {

const RungTable& default_rungs() {
  static const RungTable* rungs = new RungTable{
      kCloneRung,
      kKernelCopyRung,
      kSpliceRung,
      kUringRung,
      kReadWriteRung,
  };
  return *rungs;
}

}  // namespace offcopy::mech
