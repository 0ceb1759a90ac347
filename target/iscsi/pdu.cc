#include "iscsi/pdu.h"

#include <algorithm>

#include "iscsi/crc32c.h"

namespace offcopy::iscsi {
namespace {

size_t padded(size_t n) { return (n + 3) & ~size_t{3}; }

uint32_t data_segment_length(const uint8_t* bhs) {
  return uint32_t{bhs[5]} << 16 | uint32_t{bhs[6]} << 8 | bhs[7];
}

void append_digest(std::vector<uint8_t>& out, size_t from) {
  const uint32_t c = crc32c(out.data() + from, out.size() - from);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(c >> (8 * i)));
}

bool digest_matches(const uint8_t* bytes, size_t len, const uint8_t* digest) {
  const uint32_t c = crc32c(bytes, len);
  for (int i = 0; i < 4; ++i) {
    if (digest[i] != static_cast<uint8_t>(c >> (8 * i))) return false;
  }
  return true;
}

}  // namespace

std::vector<uint8_t> serialize(const Pdu& pdu, Digests digests) {
  std::vector<uint8_t> out(pdu.bhs.begin(), pdu.bhs.end());
  out[4] = static_cast<uint8_t>(pdu.ahs.size() / 4);
  const size_t n = pdu.data.size();
  out[5] = static_cast<uint8_t>(n >> 16);
  out[6] = static_cast<uint8_t>(n >> 8);
  out[7] = static_cast<uint8_t>(n);
  out.insert(out.end(), pdu.ahs.begin(), pdu.ahs.end());
  if (digests.header) append_digest(out, 0);
  if (n == 0) return out;
  const size_t data_at = out.size();
  out.insert(out.end(), pdu.data.begin(), pdu.data.end());
  out.resize(data_at + padded(n), 0);
  if (digests.data) append_digest(out, data_at);
  return out;
}

size_t PduReader::wire_length() const {
  const size_t ahs = size_t{buf_[4]} * 4;
  const size_t data = data_segment_length(buf_.data());
  size_t total = kBhsLength + ahs + (digests_.header ? 4 : 0);
  if (data > 0) total += padded(data) + (digests_.data ? 4 : 0);
  return total;
}

size_t PduReader::feed(const uint8_t* bytes, size_t len) {
  size_t taken = 0;
  while (taken < len && !ready_ && fault_ == Fault::none) {
    const size_t want = buf_.size() < kBhsLength ? kBhsLength : wire_length();
    const size_t n = std::min(want - buf_.size(), len - taken);
    buf_.insert(buf_.end(), bytes + taken, bytes + taken + n);
    taken += n;
    if (buf_.size() == kBhsLength && data_segment_length(buf_.data()) > max_data_) {
      fault_ = Fault::too_long;  // before waiting for megabytes not asked for
      break;
    }
    if (buf_.size() >= kBhsLength && buf_.size() == wire_length()) finish();
  }
  return taken;
}

void PduReader::finish() {
  const size_t header = kBhsLength + size_t{buf_[4]} * 4;
  if (digests_.header && !digest_matches(buf_.data(), header, buf_.data() + header)) {
    fault_ = Fault::header_digest;
    return;
  }
  const size_t data_at = header + (digests_.header ? 4 : 0);
  const size_t data = data_segment_length(buf_.data());
  if (data > 0 && digests_.data &&
      !digest_matches(buf_.data() + data_at, padded(data), buf_.data() + data_at + padded(data))) {
    fault_ = Fault::data_digest;
  }
  ready_ = true;
}

Pdu PduReader::take() {
  Pdu p;
  if (buf_.size() >= kBhsLength) {
    std::copy(buf_.begin(), buf_.begin() + kBhsLength, p.bhs.begin());
    const size_t header = kBhsLength + size_t{buf_[4]} * 4;
    p.ahs.assign(buf_.begin() + kBhsLength, buf_.begin() + std::min(header, buf_.size()));
    const size_t data_at = header + (digests_.header ? 4 : 0);
    const size_t data = data_segment_length(buf_.data());
    if (ready_ && fault_ == Fault::none && data > 0)
      p.data.assign(buf_.begin() + data_at, buf_.begin() + data_at + data);
  }
  buf_.clear();
  ready_ = false;
  if (fault_ == Fault::data_digest) fault_ = Fault::none;
  return p;
}

}  // namespace offcopy::iscsi
