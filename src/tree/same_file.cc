#include "tree/same_file.h"

#include "tree/nodes.h"

namespace offcopy::tree {
namespace {

bool same_inode(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool is_link(const struct stat& st) { return S_ISLNK(st.st_mode); }

// Whether two paths name one directory entry: the same last component in
// the same directory.  Then moving the destination aside moves the source.
bool same_entry(sys::Sys& s, const std::string& a, const std::string& b) {
  if (base_of(a) != base_of(b)) return false;
  struct stat pa {}, pb {};
  return s.stat(parent_of(a).c_str(), &pa) == 0 && s.stat(parent_of(b).c_str(), &pb) == 0 &&
         same_inode(pa, pb);
}

// Both entries are symlinks and links are copied as links: only the same
// entry is refused; a hard-linked pair of links is already the copy.
SameFile two_links(sys::Sys& s, const std::string& src, const std::string& dst, bool same,
                   const SameFileRules& r) {
  if (same_entry(s, src, dst)) return SameFile::refuse;
  if (!r.backup && same) return SameFile::done;
  return SameFile::distinct;
}

}  // namespace

bool lstat_destination(const struct stat& src_st, const SameFileRules& r,
                       bool copy_as_regular) {
  const mode_t m = src_st.st_mode;
  const bool as_node = !S_ISREG(m) && (!copy_as_regular || S_ISDIR(m) || S_ISLNK(m));
  return as_node || r.symbolic_link || r.hard_link || r.backup || r.unlink_first;
}

SameFile same_file(sys::Sys& s, const std::string& src, const struct stat& src_st,
                   const std::string& dst, const struct stat& dst_st,
                   const SameFileRules& r) {
  const bool same = same_inode(src_st, dst_st);
  if (same && r.hard_link) return SameFile::done;
  // The entries themselves, links not followed.
  struct stat src_l = src_st, dst_l = dst_st;
  if (r.deref_never) {
    if (is_link(src_l) && is_link(dst_l)) return two_links(s, src, dst, same, r);
  } else {
    if (!same) return SameFile::distinct;
    if (s.lstat(dst.c_str(), &dst_l) != 0 || s.lstat(src.c_str(), &src_l) != 0) {
      return SameFile::distinct;
    }
    // Two links to one file: fine when the destination link is removed,
    // not opened (opening it would truncate the source).
    if (is_link(src_l) && is_link(dst_l) && r.unlink_first) return SameFile::distinct;
  }
  const bool same_l = same_inode(src_l, dst_l);
  if (r.backup) {
    // Moving a destination aside keeps its data -- unless it is the
    // source's own entry, or the file a followed source link points to.
    if (same_l) return same_entry(s, src, dst) ? SameFile::refuse : SameFile::distinct;
    const bool dangles_after = !r.deref_never && is_link(src_l) && !is_link(dst_l);
    return dangles_after ? SameFile::refuse : SameFile::distinct;
  }
  if (r.unlink_first) {
    if (is_link(dst_l)) return SameFile::distinct;
    // Another hard link of the file: removing it loses nothing.
    if (same_l && dst_l.st_nlink > 1 && !same_entry(s, src, dst)) return SameFile::distinct;
  }
  if (!is_link(src_l) && !is_link(dst_l)) {
    if (!same_l) return SameFile::distinct;
    if (r.hard_link) return SameFile::done;
  }
  if (r.symbolic_link && is_link(dst_l)) return SameFile::distinct;  // remade
  if (r.deref_never) {
    // A link onto the file it points to, or a file onto a link to itself.
    struct stat a = src_l, b = dst_l;
    if (is_link(src_l) && s.stat(src.c_str(), &a) != 0) return SameFile::distinct;
    if (is_link(dst_l) && s.stat(dst.c_str(), &b) != 0) return SameFile::distinct;
    if (!same_inode(a, b)) return SameFile::distinct;
    if (r.hard_link) return is_link(dst_l) ? SameFile::distinct : SameFile::done;
  }
  return SameFile::refuse;
}

}  // namespace offcopy::tree
