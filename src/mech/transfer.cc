#include "mech/transfer.h"

#include <string>

namespace offcopy::mech {
namespace {

Step& step_for(Report& report, Mechanism m) {
  for (Step& s : report.steps) {
    if (s.mech == m) return s;
  }
  report.steps.push_back(Step{m, Outcome::skipped});
  return report.steps.back();
}

}  // namespace

void Transfer::used(Mechanism m, int64_t bytes, std::string why) {
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

void Transfer::skip(Mechanism m, int err, std::string why) {
  Step& s = step_for(report, m);
  if (s.outcome == Outcome::skipped && s.why.empty()) {
    s.err = err;
    s.why = std::move(why);
  }
  if (!off[static_cast<int>(m)]) off[static_cast<int>(m)] = Verdict{err, s.why};
}

void Transfer::fail(Mechanism m, int err, std::string why) {
  Step& s = step_for(report, m);
  s.outcome = Outcome::failed;
  s.err = err;
  s.why = std::move(why);
}

bool Transfer::keep_going(Mechanism m, int64_t moved_in_segment) const {
  if (control == nullptr) return true;
  if (control->progress) control->progress(done + moved_in_segment, m);
  return !control->cancelled();
}

void Transfer::add_hole(const Segment& hole) {
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

const char* not_two_regular_files(const Transfer& xfer) {
  if (xfer.src_stream || !S_ISREG(xfer.src_st.st_mode)) return "source is not a regular file";
  if (!xfer.dst_regular) return "destination is not a regular file";
  if (xfer.dst_stream) return "destination is opened O_APPEND";
  return nullptr;
}

const char* not_for_bulk_host_copy(const Transfer& xfer) {
  if (xfer.src_stream || xfer.dst_stream || !xfer.size_known()) {
    return "stream or size 0: read/write until EOF";
  }
  if (xfer.flags.sparse == Sparse::always) return "--sparse=always looks for zero blocks";
  return nullptr;
}

}  // namespace offcopy::mech
