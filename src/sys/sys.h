// The syscall seam: the only code in liboffcopy that calls the kernel or
// reads errno.  Every call returns -errno on failure (liburing's rule), so
// no caller ever looks at errno.
//
// Sys is an interface: the kernel is behind it (KernelSys, reached through
// Sys::real()); SysWrapper forwards every call to another Sys, so a seam
// that changes a few calls overrides only those -- FaultSys (fault_sys.h)
// scripts errnos, short transfers and zero returns and logs the data calls.
// Sockets and the network are not in this seam.
//
// Thread-safety: the real Sys is stateless and safe to share; a Ring
// belongs to one thread.
#ifndef OFFCOPY_SYS_SYS_H_
#define OFFCOPY_SYS_SYS_H_

#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace offcopy::sys {

// The calls FaultSys can fault and logs (the data-moving ones).
enum class Call {
  clone, clone_range, copy_file_range, pread, pwrite, read, write,
  fallocate, ftruncate, ring_read, ring_write, splice_read, splice_write,
};
inline constexpr int kCallCount = 13;
const char* call_name(Call c);

// One extent of a file as FIEMAP maps it.
struct Extent {
  int64_t logical = 0;   // offset in the file
  int64_t physical = 0;  // offset on the device
  int64_t length = 0;
  uint32_t flags = 0;    // FIEMAP_EXTENT_*
};

// One directory entry as getdents gives it; `name` points into the
// DirList it came from.
struct DirEntry {
  const char* name;
  unsigned char type;  // DT_* (DT_UNKNOWN on some filesystems)
};

// A directory's entries, their names packed in one buffer: a directory of
// 10,000 entries costs its names' bytes and 5 bytes each, not a string
// object and an allocation each (cp's link-heap test reads two such
// directories at once under a 4 MB allowance).
class DirList {
 public:
  void clear() {
    names_.clear();
    at_.clear();
    types_.clear();
  }
  void add(const char* name, size_t len, unsigned char type) {
    at_.push_back(static_cast<uint32_t>(names_.size()));
    types_.push_back(type);
    names_.append(name, len);
    names_.push_back('\0');
  }
  size_t size() const { return at_.size(); }
  bool empty() const { return at_.empty(); }
  DirEntry operator[](size_t i) const { return {names_.data() + at_[i], types_[i]}; }

  class Iterator {
   public:
    Iterator(const DirList* l, size_t i) : list_(l), i_(i) {}
    DirEntry operator*() const { return (*list_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return i_ != o.i_; }

   private:
    const DirList* list_;
    size_t i_;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, size()}; }

 private:
  std::string names_;  // each name followed by '\0'
  std::vector<uint32_t> at_;
  std::vector<unsigned char> types_;
};

// One submitted io_uring operation and, after completion, its result.
struct RingOp {
  bool write = false;
  int fd = -1;
  void* buf = nullptr;
  uint32_t len = 0;
  int64_t off = 0;
  uint64_t tag = 0;  // caller's cookie, returned in the completion
};
struct RingCompletion {
  uint64_t tag = 0;
  int64_t res = 0;  // bytes, or -errno
};

// A small io_uring: queue reads and writes, submit, wait for completions.
class Ring {
 public:
  virtual ~Ring() = default;
  // Queues one operation; returns -EBUSY when the submission queue is full.
  virtual int queue(const RingOp& op) = 0;
  // Submits what is queued and waits for at least one completion; appends
  // every available completion to `out`.  Returns 0 or -errno.
  virtual int submit_and_wait(std::vector<RingCompletion>& out) = 0;
};

class Sys {
 public:
  virtual ~Sys() = default;

  // The real kernel.  Never destroyed.
  static Sys& real();

  virtual int clone(int dst, int src) = 0;  // ioctl FICLONE
  virtual int clone_range(int dst, int src, int64_t src_off, int64_t len,
                          int64_t dst_off) = 0;  // ioctl FICLONERANGE
  virtual int64_t copy_file_range(int src, int64_t* src_off, int dst,
                                  int64_t* dst_off, int64_t len) = 0;
  virtual int64_t pread(int fd, void* buf, int64_t len, int64_t off) = 0;
  virtual int64_t pwrite(int fd, const void* buf, int64_t len, int64_t off) = 0;
  virtual int64_t read(int fd, void* buf, int64_t len) = 0;
  virtual int64_t write(int fd, const void* buf, int64_t len) = 0;
  virtual int64_t lseek(int fd, int64_t off, int whence) = 0;
  // A close-on-exec pipe for splice, its capacity raised towards `size`
  // (F_SETPIPE_SZ; kept at the default when refused): the capacity, or
  // -errno.
  virtual int64_t make_pipe(int fds[2], int64_t size) = 0;
  // splice(2) from a file at `off` into a pipe, and from a pipe into a file
  // at `off`; neither moves a file position.  Bytes moved or -errno.
  virtual int64_t splice_read(int fd, int64_t off, int pipe_w, int64_t len) = 0;
  virtual int64_t splice_write(int pipe_r, int fd, int64_t off, int64_t len) = 0;
  virtual int fstat(int fd, struct stat* st) = 0;
  virtual int fstatfs(int fd, struct statfs* st) = 0;
  virtual int fcntl_getfl(int fd) = 0;
  virtual int fcntl_setfl(int fd, int flags) = 0;
  // poll(2) for POLLIN on one fd: 1 when readable (or hung up), 0 on
  // timeout, -errno.
  virtual int poll_in(int fd, int timeout_ms) = 0;
  virtual int fallocate(int fd, int mode, int64_t off, int64_t len) = 0;
  virtual int ftruncate(int fd, int64_t len) = 0;
  // open(2)/openat(2) returning the fd or -errno.
  virtual int open(const char* path, int flags, unsigned mode) = 0;
  virtual int close(int fd) = 0;
  // A non-blocking, close-on-exec eventfd (the engine's completion fd).
  virtual int eventfd() = 0;
  virtual int unlink(const char* path) = 0;
  virtual int stat(const char* path, struct stat* st) = 0;
  // The *at() forms, for a caller that holds the parent directory open
  // (`dir`, which may be an O_PATH fd) and names one entry in it: the
  // kernel does not walk the path from the root again.
  virtual int open_at(int dir, const char* name, int flags, unsigned mode) = 0;
  virtual int unlink_at(int dir, const char* name) = 0;
  // lstat, or stat with follow, of dir/name.
  virtual int stat_at(int dir, const char* name, struct stat* st, bool follow) = 0;
  // Tree and metadata calls (src/sys/sys_tree.cc).  A MetaTarget is an
  // open fd when fd >= 0 (f-calls), else a path whose last component is
  // not followed (l-calls, *at with AT_SYMLINK_NOFOLLOW).
  struct MetaTarget {
    int fd = -1;
    const char* path = nullptr;
  };
  virtual int lstat(const char* path, struct stat* st) = 0;
  // realpath(3): the canonical absolute path of an existing entry.
  virtual int realpath(const char* path, std::string* out) = 0;
  // RLIMIT_NOFILE's soft limit (descriptors this process may hold).
  virtual int64_t open_files_limit() = 0;
  // The process umask.  umask(2) can only be read by setting it, so this
  // sets and restores it: call it once, before files are being created.
  virtual mode_t read_umask() = 0;
  // Names and d_type of a directory's entries ("." and ".." left out), in
  // the order the filesystem gives them.
  virtual int list_dir(const char* path, DirList* out) = 0;
  // The same for a directory just opened for reading (O_RDONLY |
  // O_DIRECTORY); the fd stays open, read to its end.
  virtual int list_dir_fd(int dir, DirList* out) = 0;
  virtual int mkdir(const char* path, unsigned mode) = 0;
  virtual int rmdir(const char* path) = 0;
  virtual int symlink(const char* target, const char* path) = 0;
  virtual int readlink(const char* path, std::string* target) = 0;
  virtual int mknod(const char* path, unsigned mode, dev_t dev) = 0;
  virtual int link(const char* from, const char* to) = 0;
  virtual int chown(MetaTarget t, uid_t uid, gid_t gid) = 0;
  virtual int chmod(MetaTarget t, unsigned mode) = 0;  // path: follows links
  virtual int utimens(MetaTarget t, const struct timespec times[2]) = 0;
  // Every xattr name, '\0'-separated as listxattr(2) gives them.
  virtual int list_xattrs(MetaTarget t, std::string* names) = 0;
  virtual int get_xattr(MetaTarget t, const char* name, std::string* value) = 0;
  virtual int set_xattr(MetaTarget t, const char* name, const std::string& value) = 0;
  // BTRFS_IOC_SNAP_CREATE_V2: a read-write snapshot of the subvolume open
  // at `src_fd`, named `name` in the directory open at `parent_fd`.
  virtual int btrfs_snapshot(int src_fd, int parent_fd, const char* name) = 0;
  // BTRFS_IOC_GET_SUBVOL_ROOTREF: does the subvolume open at fd have
  // subvolumes below it?  1 yes, 0 no, -errno when it cannot tell.
  virtual int btrfs_has_child_subvolumes(int fd) = 0;

  // A ring with `depth` entries, or null with *err set (-errno) when the
  // kernel has no io_uring or refuses it (io_uring_disabled, seccomp).
  virtual std::unique_ptr<Ring> make_ring(unsigned depth, int* err) = 0;

  // Durability and verification (src/sys/sys_durable.cc).
  virtual int fsync(int fd) = 0;
  virtual int fdatasync(int fd) = 0;
  // Drops the file's clean cached pages, so the next read comes from the
  // storage (POSIX_FADV_DONTNEED).
  virtual int fadvise_dontneed(int fd) = 0;
  // rename(2); with `noreplace`, renameat2(RENAME_NOREPLACE): EEXIST when
  // `to` exists.
  virtual int rename(const char* from, const char* to, bool noreplace) = 0;
  // Every extent of the file (FIEMAP with FIEMAP_FLAG_SYNC, so delayed
  // allocations are mapped first).  EOPNOTSUPP where the filesystem has no
  // FIEMAP (tmpfs).
  virtual int extents(int fd, std::vector<Extent>* out) = 0;
};

// Owns a file descriptor; closes it (through Sys::real()) when destroyed.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// "EXDEV", "ENOSPC", ... for the errno, or "E<number>".
const char* errno_name(int err);

}  // namespace offcopy::sys

#endif  // OFFCOPY_SYS_SYS_H_
