// A logical unit's blocks: a regular file (or a block device) opened
// once, read and written at offsets, flushed with fdatasync, its ranges
// deallocated by punching holes and its allocation read back with
// SEEK_DATA / SEEK_HOLE.  Errors are errno values; the unit turns them
// into sense data (EIO: MEDIUM ERROR, ENOSPC: SPACE ALLOCATION FAILED).
//
// Thread-safety: the positional calls may run on several threads at once.
#ifndef OFFCOPY_TARGET_SCSI_BACKING_FILE_H_
#define OFFCOPY_TARGET_SCSI_BACKING_FILE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace offcopy::scsi {

struct BackingOptions {
  uint32_t block_size = 512;
  bool read_only = false;
  // Make the file, sparse, of this many bytes when it does not exist
  // (--create SIZE); 0: a missing file is an error.
  uint64_t create_size = 0;
};

class BackingFile {
 public:
  // Opens (or creates) `path`.  On failure returns null and sets `error`
  // to a sentence naming the file and the errno's text: missing without
  // create_size, a directory, unreadable, not a multiple of the block
  // size, read-write on a read-only file.
  static std::unique_ptr<BackingFile> open(const std::string& path, const BackingOptions& options,
                                           std::string& error);
  ~BackingFile();

  BackingFile(const BackingFile&) = delete;
  BackingFile& operator=(const BackingFile&) = delete;

  const std::string& path() const { return path_; }
  // The open file, for a copy engine that moves ranges of it by itself
  // (a reflink, copy_file_range).  Owned by this object.
  int fd() const { return fd_; }
  uint64_t size() const;    // bytes, as of open or the last refresh_size()
  uint64_t refresh_size();  // fstat again (the file may have grown)

  // Each returns 0 or an errno; a short read past the end reads zeros, a
  // short write is retried until done or an error.
  int read(uint64_t offset, uint8_t* buf, size_t len) const;
  int write(uint64_t offset, const uint8_t* buf, size_t len);
  // The same, only if it can be done without waiting for the disk
  // (preadv2/pwritev2 with RWF_NOWAIT): 0 when all of it was done, EAGAIN
  // when any of it would block (or the filesystem cannot say), another
  // errno on an error.  A write that returns EAGAIN may have written a
  // part: the caller writes the whole range again.
  int read_nowait(uint64_t offset, uint8_t* buf, size_t len) const;
  int write_nowait(uint64_t offset, const uint8_t* buf, size_t len);
  // False once write_nowait found the filesystem does not support it.
  bool can_write_nowait() const { return nowait_writes_.load(std::memory_order_relaxed); }
  int sync();                                     // fdatasync
  int punch_hole(uint64_t offset, uint64_t len);  // reads as zeros after
  // Starts reading [offset, offset + len) into the page cache and returns
  // (POSIX_FADV_WILLNEED): PRE-FETCH.  0 or an errno.
  int prefetch(uint64_t offset, uint64_t len) const;
  // Whether [offset, ...) starts with data or a hole, and how long that
  // run is (capped at `max_len`).  0 or an errno.
  int extent_at(uint64_t offset, uint64_t max_len, bool& mapped, uint64_t& run_len) const;
  // Whether punch_hole works on this file's filesystem (LBPME is set when
  // it does).
  bool can_punch() const { return can_punch_; }
  // How many times sync() has run: for tests (FUA and a unit without a
  // write cache must reach the disk) and for status.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

 private:
  BackingFile(std::string path, int fd, uint64_t size, bool can_punch);

  std::string path_;
  int fd_;
  std::atomic<uint64_t> size_;  // refresh_size() may race the I/O threads
  bool can_punch_;
  std::atomic<bool> nowait_writes_{true};
  std::atomic<uint64_t> syncs_{0};
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_BACKING_FILE_H_
