#include "iscsi/chap.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace offcopy::iscsi::chap {
namespace {

const EVP_MD* digest_of(int a) {
  switch (a) {
    case kMd5: return EVP_md5();
    case kSha1: return EVP_sha1();
    case kSha256: return EVP_sha256();
    case kSha3_256: return EVP_sha3_256();
    default: return nullptr;
  }
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<Bytes> decode_hex(std::string_view s) {
  if (s.empty()) return std::nullopt;
  Bytes out;
  out.reserve(s.size() / 2 + 1);
  size_t at = 0;
  if (s.size() % 2 == 1) {
    // An odd count: the first digit stands alone (RFC 7143 6.1).
    const int d = hex_digit(s[0]);
    if (d < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(d));
    at = 1;
  }
  for (; at < s.size(); at += 2) {
    const int hi = hex_digit(s[at]), lo = hex_digit(s[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

// Base64 with its '=' padding (RFC 7143 6.1 refers to RFC 4648).
std::optional<Bytes> decode_base64(std::string_view s) {
  size_t pad = 0;
  while (!s.empty() && s.back() == '=' && pad < 2) s.remove_suffix(1), ++pad;
  if (s.empty() || (s.size() + pad) % 4 != 0) return std::nullopt;
  Bytes out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const int d = base64_digit(c);
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

}  // namespace

bool supported(int a) { return digest_of(a) != nullptr; }

Bytes response(int a, uint8_t id, std::string_view secret, const Bytes& challenge) {
  const EVP_MD* md = digest_of(a);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  if (md == nullptr || !ctx || !EVP_DigestInit_ex(ctx.get(), md, nullptr) ||
      !EVP_DigestUpdate(ctx.get(), &id, 1) ||
      !EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) ||
      !EVP_DigestUpdate(ctx.get(), challenge.data(), challenge.size()) ||
      !EVP_DigestFinal_ex(ctx.get(), out.data(), &len)) {
    return {};  // matches no response: the login fails
  }
  out.resize(len);
  return out;
}

std::optional<Bytes> decode(std::string_view value) {
  if (value.size() < 3 || value[0] != '0') return std::nullopt;
  if (value[1] == 'x' || value[1] == 'X') return decode_hex(value.substr(2));
  if (value[1] == 'b' || value[1] == 'B') return decode_base64(value.substr(2));
  return std::nullopt;
}

std::string encode_hex(const Bytes& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (uint8_t c : b) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

std::string encode_base64(const Bytes& b) {
  std::string s = "0b";
  size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    const uint32_t v = b[i] << 16 | b[i + 1] << 8 | b[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) s += kBase64[(v >> shift) & 63];
  }
  if (const size_t rest = b.size() - i; rest > 0) {
    const uint32_t v = b[i] << 16 | (rest == 2 ? b[i + 1] << 8 : 0);
    s += kBase64[(v >> 18) & 63];
    s += kBase64[(v >> 12) & 63];
    s += rest == 2 ? kBase64[(v >> 6) & 63] : '=';
    s += '=';
  }
  return s;
}

bool equal(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool random_bytes(uint8_t* p, size_t n) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  // The fuzz build only (fuzz/, -DOFFCOPY_FUZZ=ON): a fixed challenge, so
  // that a seed input can carry the right CHAP response and the fuzzer
  // gets past CHAP to the full feature phase.
  std::fill(p, p + n, uint8_t{0x5a});
  return true;
#else
  while (n > 0) {
    const ssize_t got = ::getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
#endif
}

}  // namespace offcopy::iscsi::chap
