// Making the entries of a tree copy that are not regular files: directories,
// symbolic links, FIFOs and device nodes, and hard links.  Each returns an
// Error naming the destination (or the source, for a read) and the step.
#ifndef OFFCOPY_TREE_NODES_H_
#define OFFCOPY_TREE_NODES_H_

#include <sys/stat.h>

#include <string>

#include "offcopy/copy.h"
#include "offcopy/result.h"
#include "sys/sys.h"

namespace offcopy::tree {

// "a/b/c" -> "a/b" and "c"; "c" -> "." and "c"; "/c" -> "/" and "c".
std::string parent_of(const std::string& path);
std::string base_of(const std::string& path);

Error entry_error(int code, std::string op, Role role, const std::string& path,
                  std::string detail = {});

// What make_dir found or did.
enum class DirMade { created, existed };

// Creates `dst` as a directory the copier can write into (0700 until the
// final mode is set, after its contents), or merges into an existing one.
// An existing non-directory is an error (cp: "cannot overwrite
// non-directory with directory").
Result<DirMade> make_dir(sys::Sys& s, const std::string& src, const std::string& dst);

// Recreates the link `src` at `dst`.  With `replace`, an existing
// non-directory at `dst` is unlinked first (cp -a run twice).
Status make_symlink(sys::Sys& s, const std::string& src, const std::string& dst,
                    bool replace);

// Recreates a FIFO or device node (st from the source) at `dst`, its mode
// less `umask` (the final mode comes with the metadata).
Status make_special(sys::Sys& s, const struct stat& st, const std::string& dst,
                    mode_t umask, bool replace);

// Links `dst` to the already copied `first`, replacing an existing
// non-directory at `dst` when `replace`.
Status make_link(sys::Sys& s, const std::string& first, const std::string& dst,
                 bool replace);

// cp -l: `dst` a hard link to the entry `src` (to what it points to, when
// `follow` and it is a symlink).  An existing `dst` is an error (EEXIST),
// unless `replace` (cp -f), which removes a non-directory there first.
Status link_to_source(sys::Sys& s, const std::string& src, const std::string& dst,
                      bool follow, bool replace);

// cp -s: `dst` a symlink to `src`, which must be absolute unless `dst` is
// in the current directory (a relative target would be read from the
// link's own directory).  An existing `dst` is an error (EEXIST), unless
// `replace`.
Status symlink_to_source(sys::Sys& s, const std::string& src, const std::string& dst,
                         bool replace);

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_NODES_H_
