// Option values as cp takes them (gnulib's argmatch): a word or any prefix
// of it that names one value ("--reflink=al" is always, "--sparse=a" is
// ambiguous), and cp's messages when the value is not one of them.
#ifndef OFFCOPY_CLI_ARGMATCH_H_
#define OFFCOPY_CLI_ARGMATCH_H_

#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <string>
#include <utility>

#include "messages.h"

namespace offcopy::cli {

enum class Match { found, invalid, ambiguous };

// An exact word wins; otherwise the words `arg` is a prefix of must all
// mean the same value (synonyms such as "nil" and "existing" do).
template <typename Words, typename E>
Match argmatch(const char* arg, const Words& words, E* out) {
  const size_t n = std::strlen(arg);
  bool found = false, ambiguous = false;
  for (const auto& [word, value] : words) {
    if (std::strcmp(arg, word) == 0) {
      *out = value;
      return Match::found;
    }
    if (n == 0 || std::strncmp(arg, word, n) != 0) continue;
    if (found && !(*out == value)) ambiguous = true;
    *out = value;
    found = true;
  }
  if (ambiguous) return Match::ambiguous;
  return found ? Match::found : Match::invalid;
}

// cp's complaint about a value: "invalid argument 'X' for '--OPT'" (or
// ambiguous), then the valid words, synonyms on one line.
template <typename Words>
void argmatch_complain(Match m, const char* arg, const char* option, const Words& words) {
  std::fprintf(stderr, "%s: %s argument '%s' for '%s'\nValid arguments are:", program_name(),
               m == Match::ambiguous ? "ambiguous" : "invalid", arg, option);
  const auto* last = &*std::begin(words);
  bool first = true;
  for (const auto& w : words) {
    if (!first && last->second == w.second) {
      std::fprintf(stderr, ", '%s'", w.first);
    } else {
      std::fprintf(stderr, "\n  - '%s'", w.first);
    }
    last = &w;
    first = false;
  }
  std::fputc('\n', stderr);
}

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_ARGMATCH_H_
