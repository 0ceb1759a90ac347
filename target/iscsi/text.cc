#include "iscsi/text.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace offcopy::iscsi {

KeyValues parse_text(const std::vector<uint8_t>& data) {
  KeyValues out;
  size_t at = 0;
  while (at < data.size()) {
    size_t end = at;
    while (end < data.size() && data[end] != 0) ++end;
    if (end > at) {
      const std::string pair(data.begin() + at, data.begin() + end);
      const size_t eq = pair.find('=');
      if (eq == std::string::npos) {
        out.emplace_back(pair, "");
      } else {
        out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
      }
    }
    at = end + 1;
  }
  return out;
}

std::vector<uint8_t> format_text(const KeyValues& pairs) {
  std::vector<uint8_t> out;
  for (const auto& [key, value] : pairs) {
    out.insert(out.end(), key.begin(), key.end());
    out.push_back('=');
    out.insert(out.end(), value.begin(), value.end());
    out.push_back(0);
  }
  return out;
}

std::optional<uint64_t> parse_number(const std::string& value, uint64_t lo, uint64_t hi) {
  if (value.empty() || value.size() > 20) return std::nullopt;
  const bool hex = value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X');
  const char* digits = value.c_str() + (hex ? 2 : 0);
  for (const char* p = digits; *p; ++p) {
    if (hex ? !std::isxdigit(static_cast<unsigned char>(*p))
            : !std::isdigit(static_cast<unsigned char>(*p))) {
      return std::nullopt;
    }
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(digits, &end, hex ? 16 : 10);
  if (*end != 0 || errno == ERANGE || v < lo || v > hi) return std::nullopt;
  return v;
}

}  // namespace offcopy::iscsi
