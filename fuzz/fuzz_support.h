// What the fuzz targets share: a check that aborts, so that libFuzzer
// keeps the input that broke an invariant as a crash, and scratch backing
// files that nothing outlives.
#ifndef OFFCOPY_FUZZ_FUZZ_SUPPORT_H_
#define OFFCOPY_FUZZ_FUZZ_SUPPORT_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "scsi/backing_file.h"
#include "util/log.h"

// An invariant of the code under test: on violation, say which and abort
// (libFuzzer then writes the input to crash-<sha1>).
#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace offcopy::fuzz {

// A sparse file of `size` bytes that backs units, made once per process.
// Its name is unlinked at once and the file reopened through
// /proc/self/fd, so no file is left behind however the process ends (a
// crash, a timeout, -max_total_time).  In /dev/shm when there is one:
// tmpfs makes the fdatasync of FUA and of a unit without a write cache
// free, where a disk would cost milliseconds per input.
class ScratchFile {
 public:
  explicit ScratchFile(uint64_t size) : size_(size) {
    const char* tmpdir = std::getenv("TMPDIR");
    struct stat st;
    std::string dir = tmpdir && *tmpdir                ? tmpdir
                      : stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
                                                                          : "/tmp";
    std::string name = dir + "/offcopy-fuzz.XXXXXX";
    fd_ = mkstemp(name.data());
    if (fd_ < 0) {
      std::perror(name.c_str());
      std::abort();
    }
    unlink(name.c_str());
    path_ = "/proc/self/fd/" + std::to_string(fd_);
    reset();
  }
  ~ScratchFile() { close(fd_); }

  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Back to all holes at its size: each input starts on the same disk.
  void reset() {
    if (ftruncate(fd_, 0) != 0 || ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      std::perror("ftruncate");
      std::abort();
    }
  }
  // The file grows (what an administrator does before SIGHUP).
  void grow(uint64_t bytes) {
    if (ftruncate(fd_, static_cast<off_t>(size_ + bytes)) != 0) std::abort();
  }

  std::unique_ptr<scsi::BackingFile> open(uint32_t block_size, bool read_only = false) const {
    scsi::BackingOptions o;
    o.block_size = block_size;
    o.read_only = read_only;
    std::string error;
    std::unique_ptr<scsi::BackingFile> f = scsi::BackingFile::open(path_, o, error);
    if (!f) {
      std::fprintf(stderr, "fuzz: %s\n", error.c_str());
      std::abort();
    }
    return f;
  }

 private:
  int fd_ = -1;
  uint64_t size_;
  std::string path_;
};

// The target's log costs time on every input: errors only, unless
// OFFCOPY_FUZZ_LOG=1 (to see what a seed or a crash does: logins,
// refusals, resets, each Reject).
inline void quiet_log() {
  const char* v = std::getenv("OFFCOPY_FUZZ_LOG");
  tlog::set_level(v && *v == '1' ? tlog::Level::debug : tlog::Level::error);
}

// Reads an input front to back; past its end every read is 0.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : p_(data), left_(size) {}
  size_t left() const { return left_; }
  uint8_t peek() const { return left_ > 0 ? *p_ : 0; }
  uint8_t u8() {
    if (left_ == 0) return 0;
    --left_;
    return *p_++;
  }
  uint16_t u16() {
    const uint8_t hi = u8();  // two statements: the order of u8() | u8() is unspecified
    return static_cast<uint16_t>(hi << 8 | u8());
  }
  // Up to `n` bytes (fewer at the end).
  const uint8_t* take(size_t& n) {
    if (n > left_) n = left_;
    const uint8_t* at = p_;
    p_ += n;
    left_ -= n;
    return at;
  }

 private:
  const uint8_t* p_;
  size_t left_;
};

}  // namespace offcopy::fuzz

#endif  // OFFCOPY_FUZZ_FUZZ_SUPPORT_H_
