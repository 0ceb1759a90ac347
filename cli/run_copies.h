// Stage three: the planned (source, destination) pairs are copied by the
// asynchronous engine (offcopy/engine.h), several at once, and their
// results are handed back in operand order, so output reads as cp's does.
#ifndef OFFCOPY_CLI_RUN_COPIES_H_
#define OFFCOPY_CLI_RUN_COPIES_H_

#include <functional>
#include <string>
#include <vector>

#include "options.h"
#include "render.h"

namespace offcopy::cli {

struct Pair {
  std::string src;
  std::string dst;
  // cp's "source file 'a' specified more than once": this pair repeats an
  // earlier one and is not copied; the warning is told in operand order.
  std::string repeated;
};

// True when `path` names a directory (symlinks followed).
bool is_dir(const std::string& path);

// Copies every pair and calls `on_result` once per pair, in order, on the
// calling thread.  Pairs cp would refuse (a directory source without -r, a
// DEST ending in '/', a destination an earlier pair of this run writes)
// fail without being submitted.  Returns false, having called nothing,
// only when the engine cannot start (the reason is printed on stderr).
bool run_copies(const Options& o, const std::vector<Pair>& pairs,
                const std::function<void(FileResult)>& on_result);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_RUN_COPIES_H_
