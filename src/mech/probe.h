// What the library learned about a pair of filesystems: probe once, decide
// once, say why.  When a mechanism says "not supported here" in a way that
// holds for every file on the pair (EXDEV, EOPNOTSUPP, ENOSYS, ...), the
// verdict is cached so later files skip the rung with the same reason.
//
// Thread-safety: all methods are safe to call concurrently (they lock mu_,
// which guards both maps).
#ifndef OFFCOPY_MECH_PROBE_H_
#define OFFCOPY_MECH_PROBE_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "offcopy/copy.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace offcopy::mech {

struct Verdict {
  int err = 0;      // the errno that showed the rung unsupported
  std::string why;  // the reason --debug prints
};

class ProbeCache {
 public:
  // The cached "unsupported" verdict for mechanism `m` between the
  // filesystems holding devices `src` and `dst`, if any.
  std::optional<Verdict> get(Mechanism m, dev_t src, dev_t dst) const;
  void set(Mechanism m, dev_t src, dev_t dst, Verdict v);
  // The verdict for a rung that holds for the whole process, not a pair
  // (io_uring: the kernel has it or not).
  std::optional<Verdict> get_process(Mechanism m) const;
  void set_process(Mechanism m, Verdict v);
  void clear();

 private:
  using Key = std::tuple<int, dev_t, dev_t>;
  mutable util::Mutex mu_;
  std::map<Key, Verdict> pairs_ OFFCOPY_GUARDED_BY(mu_);
  std::map<int, Verdict> process_ OFFCOPY_GUARDED_BY(mu_);
};

}  // namespace offcopy::mech

#endif  // OFFCOPY_MECH_PROBE_H_
