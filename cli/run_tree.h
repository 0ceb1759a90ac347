// Stage three for -r/-a: every planned pair is copied by one
// offcopy::TreeCopy (so hard links across operands stay links), with cp's
// per-entry error rule, a live progress line on a terminal, and the
// --verbose / --debug / --stats / --json reports.
#ifndef OFFCOPY_CLI_RUN_TREE_H_
#define OFFCOPY_CLI_RUN_TREE_H_

#include <vector>

#include "options.h"
#include "run_copies.h"

namespace offcopy::cli {

// Returns the exit code (kExitOk, kExitFailed, kExitNoOffload).
int run_tree(const Options& o, const std::vector<Pair>& pairs);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_RUN_TREE_H_
