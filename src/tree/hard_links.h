// The hard links of a tree copy (--preserve=links): the first name of a
// multiply-linked file is copied, every later name becomes a link(2) to
// that copy.  A later name whose first copy may still be in flight waits
// for the end of the copy (take_deferred).
//
// Thread-safety: every method may be called from any thread.
#ifndef OFFCOPY_TREE_HARD_LINKS_H_
#define OFFCOPY_TREE_HARD_LINKS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tree/dirs.h"
#include "util/mutex.h"

namespace offcopy::tree {

class HardLinks {
 public:
  enum class State { copying, ok, failed };
  // The first copy of a file.
  struct First {
    std::string dst;
    State state = State::copying;
  };
  // A later name, to be linked to the first copy at the end.
  struct Deferred {
    std::string src, dst;
    InodeKey key;
    std::shared_ptr<Dir> in;  // finished once the link is made
  };

  // Names `dst` the first copy of `key` (in `state`), unless the file has
  // one already: then false.
  bool claim_first(InodeKey key, const std::string& dst, State state);
  // As claim_first (copying); when the file has a first copy already, the
  // name is deferred to the end instead, and false is returned.
  bool claim_or_defer(InodeKey key, const std::string& src, const std::string& dst,
                      std::shared_ptr<Dir> in);
  // The first copy of `key` is done.
  void settle(InodeKey key, bool ok);
  First first(InodeKey key) const;
  // The deferred names, in the order they were found; none are kept.
  std::vector<Deferred> take_deferred();

 private:
  mutable util::Mutex mu_;
  std::map<InodeKey, First> firsts_ OFFCOPY_GUARDED_BY(mu_);
  std::vector<Deferred> deferred_ OFFCOPY_GUARDED_BY(mu_);
};

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_HARD_LINKS_H_
