#include "scsi/backing_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace offcopy::scsi {
namespace {

std::string say(const std::string& path, const std::string& what) { return path + ": " + what; }
std::string say_errno(const std::string& path, const std::string& what, int err) {
  return say(path, what + ": " + std::strerror(err));
}

// The size of an open regular file or block device, or -errno.
int64_t size_of(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) return -errno;
    return static_cast<int64_t>(bytes);
  }
  return st.st_size;
}

// Makes `path`, sparse, of `size` bytes.  Another process making it at the
// same moment is fine: then it exists, which is all that is asked.
int create_sparse(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno == EEXIST ? 0 : errno;
  const int err = ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  ::close(fd);
  if (err != 0) ::unlink(path.c_str());
  return err;
}

// Whether the filesystem punches holes: punch one block past the end of
// the file, where there is nothing to lose and KEEP_SIZE keeps the size.
// A read-only descriptor cannot tell (EBADF); such a unit never unmaps.
bool probe_punch(int fd, uint64_t size, uint32_t block_size) {
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(size),
                   block_size) == 0;
}

}  // namespace

std::unique_ptr<BackingFile> BackingFile::open(const std::string& path,
                                               const BackingOptions& options, std::string& error) {
  const uint32_t bs = options.block_size;
  if (bs == 0) {
    error = say(path, "block size 0");
    return nullptr;
  }
  const int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0 && errno == ENOENT && options.create_size > 0) {
    if (options.create_size % bs != 0) {
      error = say(path, "cannot create it: its size " + std::to_string(options.create_size) +
                            " is not a multiple of the block size " + std::to_string(bs));
      return nullptr;
    }
    if (const int err = create_sparse(path, options.create_size); err != 0) {
      error = say_errno(path, "cannot create it", err);
      return nullptr;
    }
    fd = ::open(path.c_str(), flags);
  }
  if (fd < 0) {
    const int err = errno;
    error = say_errno(path, "cannot open it", err);
    if (err == ENOENT) error += " (--create SIZE makes it)";
    return nullptr;
  }
  struct stat st;
  std::string why;
  if (fstat(fd, &st) != 0) {
    why = say_errno(path, "cannot stat it", errno);
  } else if (S_ISDIR(st.st_mode)) {
    why = say_errno(path, "cannot serve it", EISDIR);
  } else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    why = say(path, "cannot serve it: not a regular file or a block device");
  }
  const int64_t size = why.empty() ? size_of(fd) : 0;
  if (why.empty() && size < 0) {
    why = say_errno(path, "cannot read its size", static_cast<int>(-size));
  } else if (why.empty() && size == 0) {
    why = say(path, "cannot serve it: it is empty");
  } else if (why.empty() && size % bs != 0) {
    why = say(path, "cannot serve it: its size " + std::to_string(size) +
                        " is not a multiple of the block size " + std::to_string(bs));
  }
  if (!why.empty()) {
    ::close(fd);
    error = why;
    return nullptr;
  }
  const bool punch = S_ISREG(st.st_mode) && probe_punch(fd, size, bs);
  return std::unique_ptr<BackingFile>(new BackingFile(path, fd, size, punch));
}

BackingFile::BackingFile(std::string path, int fd, uint64_t size, bool can_punch)
    : path_(std::move(path)), fd_(fd), size_(size), can_punch_(can_punch) {}

BackingFile::~BackingFile() { ::close(fd_); }

uint64_t BackingFile::size() const { return size_.load(std::memory_order_relaxed); }

uint64_t BackingFile::refresh_size() {
  const int64_t now = size_of(fd_);
  if (now >= 0) size_.store(static_cast<uint64_t>(now), std::memory_order_relaxed);
  return size();
}

int BackingFile::read(uint64_t offset, uint8_t* buf, size_t len) const {
  while (len > 0) {
    const ssize_t n = pread(fd_, buf, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) {  // past the end (the file shrank under us): zeros
      std::memset(buf, 0, len);
      return 0;
    }
    buf += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

int BackingFile::write(uint64_t offset, const uint8_t* buf, size_t len) {
  while (len > 0) {
    const ssize_t n = pwrite(fd_, buf, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress and no errno: do not spin
    buf += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

int BackingFile::read_nowait(uint64_t offset, uint8_t* buf, size_t len) const {
  iovec iov{buf, len};
  ssize_t n;
  do {
    n = preadv2(fd_, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EOPNOTSUPP ? EAGAIN : errno;
  return static_cast<size_t>(n) == len ? 0 : EAGAIN;  // short: past EOF or not cached
}

int BackingFile::write_nowait(uint64_t offset, const uint8_t* buf, size_t len) {
  iovec iov{const_cast<uint8_t*>(buf), len};
  ssize_t n;
  do {
    n = pwritev2(fd_, &iov, 1, static_cast<off_t>(offset), RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EOPNOTSUPP) {
    // This filesystem cannot say whether a buffered write would block
    // (ext4 on 6.x kernels; xfs and btrfs can): stop asking.
    nowait_writes_.store(false, std::memory_order_relaxed);
    return EAGAIN;
  }
  if (n < 0) return errno;
  return static_cast<size_t>(n) == len ? 0 : EAGAIN;
}

int BackingFile::sync() {
  syncs_.fetch_add(1, std::memory_order_relaxed);
  while (fdatasync(fd_) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int BackingFile::prefetch(uint64_t offset, uint64_t len) const {
  // posix_fadvise returns its error rather than setting errno.
  return posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len),
                       POSIX_FADV_WILLNEED);
}

int BackingFile::punch_hole(uint64_t offset, uint64_t len) {
  if (len == 0) return 0;
  while (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                   static_cast<off_t>(len)) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int BackingFile::extent_at(uint64_t offset, uint64_t max_len, bool& mapped,
                           uint64_t& run_len) const {
  const uint64_t end = size();
  const uint64_t limit = offset >= end ? 0 : std::min(max_len, end - offset);
  const off_t data = lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) {  // no data from here on: a hole to the end
      mapped = false;
      run_len = limit;
      return 0;
    }
    if (errno == EINVAL) {  // SEEK_DATA unsupported here: all of it is data
      mapped = true;
      run_len = limit;
      return 0;
    }
    return errno;
  }
  if (static_cast<uint64_t>(data) > offset) {
    mapped = false;
    run_len = std::min(limit, static_cast<uint64_t>(data) - offset);
    return 0;
  }
  const off_t hole = lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0) return errno;
  mapped = true;
  run_len = std::min(limit, static_cast<uint64_t>(hole) - offset);
  return 0;
}

}  // namespace offcopy::scsi
