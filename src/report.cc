// Report and Error: the values liboffcopy hands back.
#include <string.h>

#include <string>

#include "offcopy/copy.h"
#include "offcopy/result.h"
#include "sys/sys.h"

namespace offcopy {

const char* mechanism_name(Mechanism m) {
  static const char* const kNames[kMechanismCount] = {
      "snapshot", "clone", "kernel_copy", "uring", "read_write", "device", "splice"};
  return kNames[static_cast<int>(m)];
}

int ladder_rank(Mechanism m) {
  for (int i = 0; i < kMechanismCount; ++i) {
    if (kLadder[i] == m) return i;
  }
  return kMechanismCount;
}

int64_t Report::total_bytes() const {
  int64_t sum = 0;
  for (int64_t b : bytes_by) sum += b;
  return sum;
}

void Report::merge(const Report& other) {
  for (int i = 0; i < kMechanismCount; ++i) bytes_by[i] += other.bytes_by[i];
  hole_bytes += other.hole_bytes;
  verified_bytes += other.verified_bytes;
  verify_skipped_bytes += other.verify_skipped_bytes;
  retries += other.retries;
  for (const Step& s : other.steps) {
    Step* mine = nullptr;
    for (Step& t : steps) {
      if (t.mech == s.mech) mine = &t;
    }
    if (mine == nullptr) {
      steps.push_back(s);
      continue;
    }
    mine->bytes += s.bytes;
    if (s.outcome == Outcome::failed || (s.outcome == Outcome::used &&
                                         mine->outcome == Outcome::skipped)) {
      mine->outcome = s.outcome;
    }
    if (mine->why.empty()) mine->why = s.why;
  }
}

std::string Error::message() const {
  std::string m = op;
  if (!path.empty()) m += " '" + path + "'";
  if (role != Role::none && path.empty()) {
    m += role == Role::source ? " (source)" : " (destination)";
  }
  if (offset >= 0) m += " at offset " + std::to_string(offset);
  m += ": ";
  m += strerror(code);
  m += " (";
  m += sys::errno_name(code);
  m += ")";
  if (!detail.empty()) m += "; " + detail;
  return m;
}

}  // namespace offcopy
