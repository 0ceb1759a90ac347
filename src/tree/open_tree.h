// The library's own way into a TreeCopy, which the public header does not
// offer: one whose walk, metadata and file copies run against a given
// Context (a FaultSys or a recording seam, small chunk sizes, a rung table
// of its own) instead of the process's.  The tests use it to inject faults
// into tree copies without a loop mount.
#ifndef OFFCOPY_TREE_OPEN_TREE_H_
#define OFFCOPY_TREE_OPEN_TREE_H_

#include <memory>

#include "mech/context.h"
#include "offcopy/tree.h"

namespace offcopy::tree {

struct TreeAccess {
  // TreeCopy::open, with every call through ctx.sys and the files copied
  // by an engine on `ctx`, which must outlive the TreeCopy.
  static Result<std::unique_ptr<TreeCopy>> open(const TreeOptions& options,
                                                TreeObserver* observer,
                                                const mech::Context& ctx);
};

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_OPEN_TREE_H_
