#include "mech/probe.h"

namespace offcopy::mech {

std::optional<Verdict> ProbeCache::get(Mechanism m, dev_t src,
                                       dev_t dst) const {
  util::MutexLock lock(mu_);
  auto it = pairs_.find({static_cast<int>(m), src, dst});
  if (it == pairs_.end()) return std::nullopt;
  return it->second;
}

void ProbeCache::set(Mechanism m, dev_t src, dev_t dst, Verdict v) {
  util::MutexLock lock(mu_);
  pairs_[{static_cast<int>(m), src, dst}] = std::move(v);
}

std::optional<Verdict> ProbeCache::get_process(Mechanism m) const {
  util::MutexLock lock(mu_);
  auto it = process_.find(static_cast<int>(m));
  if (it == process_.end()) return std::nullopt;
  return it->second;
}

void ProbeCache::set_process(Mechanism m, Verdict v) {
  util::MutexLock lock(mu_);
  process_[static_cast<int>(m)] = std::move(v);
}

void ProbeCache::clear() {
  util::MutexLock lock(mu_);
  pairs_.clear();
  process_.clear();
}

}  // namespace offcopy::mech
