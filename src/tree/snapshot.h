// Rung 0 of the ladder: a whole subvolume copied as a btrfs snapshot.
#ifndef OFFCOPY_TREE_SNAPSHOT_H_
#define OFFCOPY_TREE_SNAPSHOT_H_

#include <sys/stat.h>

#include <string>

#include "offcopy/result.h"
#include "offcopy/tree.h"
#include "sys/sys.h"

namespace offcopy::tree {

struct SnapshotOutcome {
  bool taken = false;
  std::string why;  // when not taken: the reason, for --debug and errors
};

// Takes `src` (lstat/stat in st) as a read-write snapshot at `dst` when
// it can and the options allow.  Under SnapshotMode::automatic, only when
// the result equals what the copy would make: the source is a subvolume
// root without subvolumes below it (unless -x, where a copy leaves those
// empty too, as a snapshot does), `dst` does not exist, every piece of
// metadata is preserved (a snapshot keeps them all), and links are not
// followed.  Returns an Error only under SnapshotMode::always (the
// request cannot be met) or when the ioctl fails for a reason other than
// "not here" (ENOSPC, EIO, ...).
Result<SnapshotOutcome> try_snapshot(sys::Sys& s, const std::string& src,
                                     const struct stat& st, const std::string& dst,
                                     const TreeOptions& opt);

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_SNAPSHOT_H_
