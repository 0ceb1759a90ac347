// The directories of a tree copy: each one made (or merged into) by the
// walk is a Dir, finished -- given its metadata -- when its last holder
// lets go.  Holders are the walker that reads it, its files' jobs, its
// hard links made at the end, and its subdirectories (each holds its
// parent).  So a directory is finished after everything inside it (its
// times are not changed by what is made in it later), and only the
// directories still being filled are in memory: cp's link-heap test copies
// 20,000 directories under a 4 MB allowance.
//
// Thread-safety: a Dir is immutable once made; the last holder's thread
// finishes it, never under a lock the finisher takes.
#ifndef OFFCOPY_TREE_DIRS_H_
#define OFFCOPY_TREE_DIRS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "offcopy/copy.h"
#include "sys/sys.h"

namespace offcopy::tree {

// A file or directory as the kernel names it: (device, inode).
using InodeKey = std::pair<dev_t, ino_t>;

struct Dir;

// What finishes a directory (the tree copier).
class DirFinisher {
 public:
  virtual void finish_dir(const Dir& d) = 0;

 protected:
  ~DirFinisher() = default;
};

struct Dir {
  Dir(DirFinisher& f, std::string s, std::string d, const struct stat& sst, bool c,
      std::shared_ptr<Dir> up)
      : finisher(f), src(std::move(s)), dst(std::move(d)), st(sst), created(c),
        parent(std::move(up)) {}
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir();

  DirFinisher& finisher;
  const std::string src, dst;
  const struct stat st;  // the source's
  const bool created;    // made by this copy (not merged into)
  std::shared_ptr<Dir> parent;  // null for a root
};

// A directory on the path from the root (for -L loop detection).
struct Ancestor {
  InodeKey key;
  std::shared_ptr<const Ancestor> up;
};

// A directory made, waiting for a walker to read it.
struct DirTask {
  std::shared_ptr<Dir> dir;
  bool fresh;  // made by this copy: nothing in it yet
  int depth;
  std::shared_ptr<const Ancestor> path;  // set under -L only
};

// Sets a finished directory's metadata: what `preserve` asks for, and
// without --preserve=mode a directory this copy made gets the source's
// mode less the umask, as mkdir would have given it (it was 0700 while
// being filled).  What the destination refuses is a warning.
void apply_dir_metadata(sys::Sys& sys, const Dir& d, const Preserve& preserve,
                        bool default_mode, mode_t umask, std::vector<Warning>* warnings);

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_DIRS_H_
