#include "tree/hard_links.h"

#include <utility>

namespace offcopy::tree {

bool HardLinks::claim_first(InodeKey key, const std::string& dst, State state) {
  util::MutexLock lk(mu_);
  return firsts_.try_emplace(key, First{dst, state}).second;
}

bool HardLinks::claim_or_defer(InodeKey key, const std::string& src, const std::string& dst,
                               std::shared_ptr<Dir> in) {
  util::MutexLock lk(mu_);
  if (firsts_.try_emplace(key, First{dst}).second) return true;
  deferred_.push_back(Deferred{src, dst, key, std::move(in)});
  return false;
}

void HardLinks::settle(InodeKey key, bool ok) {
  util::MutexLock lk(mu_);
  firsts_[key].state = ok ? State::ok : State::failed;
}

HardLinks::First HardLinks::first(InodeKey key) const {
  util::MutexLock lk(mu_);
  auto it = firsts_.find(key);
  return it == firsts_.end() ? First{} : it->second;
}

std::vector<HardLinks::Deferred> HardLinks::take_deferred() {
  util::MutexLock lk(mu_);
  return std::exchange(deferred_, {});
}

}  // namespace offcopy::tree
