#include "engine/job.h"

namespace offcopy::engine {
namespace {

Step& step_for(Report& report, Mechanism m) {
  for (Step& s : report.steps) {
    if (s.mech == m) return s;
  }
  report.steps.push_back(Step{m, Outcome::skipped});
  return report.steps.back();
}

}  // namespace

Context& Context::process() {
  static ProbeCache* cache = new ProbeCache();
  static Context* ctx = new Context{&sys::Sys::real(), cache, Tunables{}};
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
