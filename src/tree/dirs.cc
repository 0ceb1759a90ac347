#include "tree/dirs.h"

#include "meta/metadata.h"

namespace offcopy::tree {

Dir::~Dir() {
  finisher.finish_dir(*this);
  // The ancestors this was the last holder of are finished in this loop,
  // not by nested destructors: a chain thousands deep would otherwise
  // recurse as deep on a small thread stack.
  std::shared_ptr<Dir> up = std::move(parent);
  while (up && up.use_count() == 1) {
    std::shared_ptr<Dir> next = std::move(up->parent);
    up.reset();
    up = std::move(next);
  }
}

void apply_dir_metadata(sys::Sys& sys, const Dir& d, const Preserve& preserve,
                        bool default_mode, mode_t umask, std::vector<Warning>* warnings) {
  meta::apply(sys, d.st, {-1, d.src.c_str()}, {-1, d.dst.c_str()}, preserve, warnings);
  if (preserve.mode || !d.created) return;  // an existing one keeps its own
  // mkdir(2) takes the sticky bit but not set-id bits (setgid comes from
  // the parent), so neither does this.
  const mode_t from = default_mode ? 0777 | (d.st.st_mode & S_ISVTX) : d.st.st_mode & 01777;
  if (int r = sys.chmod({-1, d.dst.c_str()}, from & ~umask); r < 0) {
    warnings->push_back(Warning{"chmod", -r, {}});
  }
}

}  // namespace offcopy::tree
