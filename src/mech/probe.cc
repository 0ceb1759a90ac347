#include "mech/probe.h"

namespace offcopy::mech {

std::optional<Verdict> ProbeCache::get(Mechanism m, dev_t src,
                                       dev_t dst) const {
  std::lock_guard lock(mu_);
  auto it = pairs_.find({static_cast<int>(m), src, dst});
  if (it == pairs_.end()) return std::nullopt;
  return it->second;
}

void ProbeCache::set(Mechanism m, dev_t src, dev_t dst, Verdict v) {
  std::lock_guard lock(mu_);
  pairs_[{static_cast<int>(m), src, dst}] = std::move(v);
}

std::optional<Verdict> ProbeCache::ring() const {
  std::lock_guard lock(mu_);
  return ring_;
}

void ProbeCache::set_ring(Verdict v) {
  std::lock_guard lock(mu_);
  ring_ = std::move(v);
}

void ProbeCache::clear() {
  std::lock_guard lock(mu_);
  pairs_.clear();
  ring_.reset();
}

}  // namespace offcopy::mech
