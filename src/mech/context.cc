#include "mech/context.h"

#include <cstdlib>
#include <string>

namespace offcopy::mech {
namespace {

// OFFCOPY_TUNE="uring_depth=8,uring_buffer=2097152,..." overrides the
// measured defaults, for benchmarking the ladder; unknown keys are ignored.
Tunables tunables_from_env() {
  Tunables t;
  const char* env = std::getenv("OFFCOPY_TUNE");
  if (env == nullptr) return t;
  std::string spec(env);
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = item.substr(0, eq);
    const int64_t v = std::strtoll(item.c_str() + eq + 1, nullptr, 0);
    if (v <= 0) continue;
    if (key == "kernel_chunk") t.kernel_chunk = v;
    if (key == "uring_depth") t.uring_depth = static_cast<unsigned>(v);
    if (key == "uring_buffer") t.uring_buffer = v;
    if (key == "uring_min") t.uring_min = v;
    if (key == "rw_buffer") t.rw_buffer = v;
    if (key == "splice_min") t.splice_min = v;
    if (key == "splice_pipe") t.splice_pipe = v;
  }
  return t;
}

}  // namespace

Context& Context::process() {
  static ProbeCache* cache = new ProbeCache();
  static Context* ctx = new Context{&sys::Sys::real(), cache, tunables_from_env()};
  return *ctx;
}

}  // namespace offcopy::mech
