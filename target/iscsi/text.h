// iSCSI text: the key=value pairs of Login and Text PDUs (RFC 7143 6.1),
// each ended by a NUL, in the order given.
//
// Thread-safety: plain values.
#ifndef OFFCOPY_TARGET_ISCSI_TEXT_H_
#define OFFCOPY_TARGET_ISCSI_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace offcopy::iscsi {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// The pairs of a data segment.  A pair with no '=' is kept with its whole
// text as the key and the value "" (negotiation answers it Reject).
// Trailing NUL padding is ignored; so is a last pair with no NUL.
KeyValues parse_text(const std::vector<uint8_t>& data);
// Each pair as "key=value\0".
std::vector<uint8_t> format_text(const KeyValues& pairs);

// An iSCSI number (decimal, or 0x hex), within [lo, hi].
std::optional<uint64_t> parse_number(const std::string& value, uint64_t lo, uint64_t hi);

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_TEXT_H_
