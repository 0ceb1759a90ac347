#include "engine/job.h"

#include <cstdlib>
#include <string>

namespace offcopy::engine {
namespace {

Step& step_for(Report& report, Mechanism m) {
  for (Step& s : report.steps) {
    if (s.mech == m) return s;
  }
  report.steps.push_back(Step{m, Outcome::skipped});
  return report.steps.back();
}

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

void Job::used(Mechanism m, int64_t bytes, std::string why) {
  if (bytes <= 0) return;
  report.bytes_by[static_cast<int>(m)] += bytes;
  Step& s = step_for(report, m);
  s.outcome = Outcome::used;
  s.bytes += bytes;
  if (s.why.empty() || s.err != 0) {
    s.why = std::move(why);
    s.err = 0;
  }
}

void Job::skip(Mechanism m, int err, std::string why) {
  Step& s = step_for(report, m);
  if (s.outcome == Outcome::skipped && s.why.empty()) {
    s.err = err;
    s.why = std::move(why);
  }
  if (!off[static_cast<int>(m)]) off[static_cast<int>(m)] = Verdict{err, s.why};
}

void Job::fail(Mechanism m, int err, std::string why) {
  Step& s = step_for(report, m);
  s.outcome = Outcome::failed;
  s.err = err;
  s.why = std::move(why);
}

bool Job::keep_going(Mechanism m, int64_t moved_in_segment) const {
  if (control == nullptr) return true;
  if (control->progress) control->progress(done + moved_in_segment, m);
  return !control->cancelled();
}

void Job::add_hole(const Segment& hole) {
  if (hole.len <= 0) return;
  report.hole_bytes += hole.len;
  if (!holes.empty()) {
    Segment& last = holes.back();
    if (last.dst + last.len == hole.dst) {
      last.len += hole.len;
      return;
    }
  }
  holes.push_back(hole);
}

}  // namespace offcopy::engine
