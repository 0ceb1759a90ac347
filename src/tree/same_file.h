// cp's rule for copying onto a destination that exists and may be the
// source itself (coreutils' same_file_ok): a file onto itself, a symlink
// onto the file it points to, two hard links of one file.  Replacing the
// destination there would destroy the very data the copy is of -- `cp -d
// LINK FILE` with LINK -> FILE would leave FILE a link to itself.
#ifndef OFFCOPY_TREE_SAME_FILE_H_
#define OFFCOPY_TREE_SAME_FILE_H_

#include <sys/stat.h>

#include <string>

#include "sys/sys.h"

namespace offcopy::tree {

// The options cp's rule depends on.
struct SameFileRules {
  bool deref_never = false;    // links are copied as links (-P, -d, -a, -R)
  bool backup = false;         // the destination is moved aside first (-b)
  bool unlink_first = false;   // --remove-destination
  bool hard_link = false;      // -l
  bool symbolic_link = false;  // -s
};

enum class SameFile {
  distinct,  // go on and replace the destination
  refuse,    // "'SRC' and 'DST' are the same file"
  done,      // nothing to do: already the link -l would make
};

// Whether the destination's stat should not follow a link (cp's use_lstat):
// only a regular file (or a special file read as one, `copy_as_regular`:
// cp without -r, or with --copy-contents) is written through a symlink at
// the destination.
bool lstat_destination(const struct stat& src_st, const SameFileRules& rules,
                       bool copy_as_regular);

// `src_st` is the source as the copy sees it (followed or not, per the
// dereference option); `dst_st` the existing destination, stat'ed as
// lstat_destination() says.
SameFile same_file(sys::Sys& s, const std::string& src, const struct stat& src_st,
                   const std::string& dst, const struct stat& dst_st,
                   const SameFileRules& rules);

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_SAME_FILE_H_
