// Giving a copy the source's metadata: owner, xattrs (POSIX ACLs among
// them), mode and times, in the order that keeps each one: chown first (it
// clears set-id bits and file capabilities), then xattrs, then the mode
// (after an ACL, chmod rewrites only its mask, which the source's mode
// already matches), then the times (last: nothing after them writes).
//
// Nothing here fails a copy.  What the destination refuses is appended to
// `warnings`, as cp reports "preserving times for ..." and goes on;
// ownership refused to an unprivileged user (EPERM) is dropped silently,
// as cp -a does, together with set-id bits it would have made unsafe.
#ifndef OFFCOPY_META_METADATA_H_
#define OFFCOPY_META_METADATA_H_

#include <sys/stat.h>

#include <vector>

#include "offcopy/copy.h"
#include "sys/sys.h"

namespace offcopy::meta {

// `src` is where the xattrs are read (an fd or a path not followed), `st`
// the source's lstat/fstat; `dst` what receives them.  For a symlink
// (S_ISLNK(st.st_mode)) the mode is skipped: links have none of their own.
// `dst_now`, when given, is the destination's current stat: an owner or
// mode it already has is not set again (two syscalls per file saved on a
// tree of files owned by the copier).
void apply(sys::Sys& s, const struct stat& st, sys::Sys::MetaTarget src,
           sys::Sys::MetaTarget dst, const Preserve& what,
           std::vector<Warning>* warnings, const struct stat* dst_now = nullptr);

// Only the xattrs: the POSIX ACLs when `acls`; with `others` every other
// one cp would copy (not a filesystem's private ones, not labels).
void copy_xattrs(sys::Sys& s, sys::Sys::MetaTarget src, sys::Sys::MetaTarget dst,
                 bool acls, bool others, std::vector<Warning>* warnings);

}  // namespace offcopy::meta

#endif  // OFFCOPY_META_METADATA_H_
