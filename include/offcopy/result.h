// Result<T> and Error: how liboffcopy reports failure.
//
// The library never throws for I/O and never exits.  Every failing call
// returns an Error that keeps the errno, the step that failed ("op"), which
// side of the copy it happened on, and where.  Callers can tell EXDEV from
// ENOSPC; the CLI turns an Error into one line of text.
//
// Thread-safety: plain values; const methods may be called concurrently.
#ifndef OFFCOPY_RESULT_H_
#define OFFCOPY_RESULT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "offcopy/export.h"

namespace offcopy {

struct Report;  // offcopy/copy.h

// Which file an error concerns.
enum class Role { none, source, destination };

// What kind of failure an Error is.  A call that failed is `system`, and
// Error::code is its errno.  The others are offcopy's own verdicts; their
// code is the nearest errno (for callers that look at nothing else), and
// the kind tells them apart from the kernel's own EOPNOTSUPP or EAGAIN.
enum class ErrorKind {
  system,
  // Offload only was asked (CopyFlags::no_fallback) and no rung below the
  // host could copy; nothing was written by a host copy.  Code EOPNOTSUPP.
  offload_unsupported,
  // The source kept changing while copy_file copied it (twice); the
  // detail says so.  Code EAGAIN.
  source_changed,
};

// The codes the two kinds above carry.
inline constexpr int kOffloadUnsupported = 95;  // == EOPNOTSUPP on Linux
inline constexpr int kSourceChanged = 11;       // == EAGAIN on Linux

struct OFFCOPY_API Error {
  ErrorKind kind = ErrorKind::system;
  int code = 0;            // errno value (positive)
  std::string op;          // the step: "open", "FICLONE", "copy_file_range", ...
  Role role = Role::none;  // which file the step was acting on
  int64_t offset = -1;     // source offset where it failed, -1 if not known
  std::string path;        // file name when the caller supplied one
  std::string detail;      // extra human text, e.g. "ranges overlap"
  int64_t bytes_done = 0;  // bytes of the request already copied
  // For copies: what each rung did before the error (null when the copy
  // never started, e.g. an open failed).
  std::shared_ptr<const Report> report;

  // "<op> <path>: <strerror>[ (<detail>)]", e.g.
  // "write 'b': No space left on device".
  std::string message() const;
  bool offload_unsupported() const { return kind == ErrorKind::offload_unsupported; }
};

// Either a value or an Error.  Cheap to move; no exceptions.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !ok()
  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing on success.
struct Ok {};
using Status = Result<Ok>;

}  // namespace offcopy

#endif  // OFFCOPY_RESULT_H_
