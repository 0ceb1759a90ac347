// CHAP for the iSCSI login (RFC 7143 12.1.3, RFC 1994): the digests, the
// binary values of the CHAP keys, and the random challenges.
//
// A response is H(identifier || secret || challenge) with the algorithm
// the two sides agreed in CHAP_A.  Binary values travel as "0x" hex or
// "0b" base64 (RFC 7143 6.1); this target sends hex, which every
// initiator reads, and accepts both.
//
// Thread-safety: plain functions.
#ifndef OFFCOPY_TARGET_ISCSI_CHAP_H_
#define OFFCOPY_TARGET_ISCSI_CHAP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offcopy::iscsi::chap {

using Bytes = std::vector<uint8_t>;

// CHAP_A values (IANA "PPP Authentication Algorithms"): 5 is the one RFC
// 7143 requires; newer initiators (libiscsi 1.20, Linux) offer the others.
inline constexpr int kMd5 = 5;
inline constexpr int kSha1 = 6;
inline constexpr int kSha256 = 7;
inline constexpr int kSha3_256 = 8;

// Whether this target computes algorithm `a`.
bool supported(int a);
// H(id || secret || challenge) with algorithm `a` (supported(a)).
Bytes response(int a, uint8_t id, std::string_view secret, const Bytes& challenge);

// A binary value: "0x" then hex digits (an odd count has an implied
// leading 0), or "0b" then base64; either prefix in either case.  Null if
// malformed or empty.
std::optional<Bytes> decode(std::string_view value);
// "0x" and lower-case hex.
std::string encode_hex(const Bytes& b);
// "0b" and base64 (for the tests' other encoding).
std::string encode_base64(const Bytes& b);

// Equal contents, in a time that depends on the lengths only (a
// response's bytes must not leak through timing).
bool equal(const Bytes& a, const Bytes& b);

// `n` bytes from the kernel's CSPRNG (getrandom(2)); false if it failed.
bool random_bytes(uint8_t* p, size_t n);

}  // namespace offcopy::iscsi::chap

#endif  // OFFCOPY_TARGET_ISCSI_CHAP_H_
