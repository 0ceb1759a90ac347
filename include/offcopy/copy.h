// liboffcopy's copy primitive: copy_file_range(2) in user space, with the
// whole mechanism ladder behind it.
//
//   clone (FICLONE / FICLONERANGE)  ->  kernel copy (copy_file_range)
//   ->  [device copy, a later issue]  ->  splice through a pipe
//   ->  io_uring read/write pipeline  ->  pread/pwrite
//
// A rung is left for the next one only when it says "unsupported here"
// having moved zero bytes of the range; EIO, ENOSPC, EDQUOT and ENOMEM are
// terminal and never fall back (a fallback after a clone EIO can copy stale
// data).  docs/fallbacks.md lists every errno and the kernel reason.
//
// Thread-safety: copy_range and copy_file may be called from many threads at
// once on different files.  The probe cache they share is internally locked.
#ifndef OFFCOPY_COPY_H_
#define OFFCOPY_COPY_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "offcopy/export.h"
#include "offcopy/result.h"

namespace offcopy {

// How bytes moved.  The values are stable (the C API and JSON use them);
// the ladder's order is kLadder's, as splice and device came after the
// others were numbered.
enum class Mechanism : int {
  snapshot = 0,     // btrfs subvolume snapshot (whole trees)
  clone = 1,        // FICLONE / FICLONERANGE: extents shared, no data moved
  kernel_copy = 2,  // copy_file_range: server-side or in-kernel copy
  uring = 3,        // io_uring read/write pipeline through host memory
  read_write = 4,   // pread/pwrite (or read/write on streams)
  device = 5,       // SCSI EXTENDED COPY / token copy (later issue)
  splice = 6,       // splice(2) through a pipe: the host's kernel copies
                    // page cache to page cache, no user-space buffer
};
inline constexpr int kMechanismCount = 7;

// Every mechanism in ladder order: the order the rungs are tried in and
// reports list them in.  Everything that moves data below the host comes
// before everything that moves it through the host.
inline constexpr Mechanism kLadder[kMechanismCount] = {
    Mechanism::snapshot, Mechanism::clone, Mechanism::kernel_copy, Mechanism::device,
    Mechanism::splice,   Mechanism::uring, Mechanism::read_write};

// Position of m in kLadder.
OFFCOPY_API int ladder_rank(Mechanism m);

// Stable lower-case names: "snapshot", "clone", "kernel_copy", "uring",
// "read_write", "device", "splice".  Used in --debug and JSON output.
OFFCOPY_API const char* mechanism_name(Mechanism m);

// As cp's --reflink.
enum class Reflink {
  auto_,   // clone where possible, else copy (default)
  always,  // clone or fail; nothing is written when cloning is impossible
  never,   // never clone; also skips copy_file_range, which may clone
};

// As cp's --sparse.
enum class Sparse {
  auto_,   // find holes with SEEK_DATA/SEEK_HOLE when st_blocks says the
           // source may be sparse, and recreate them
  always,  // always look for holes, and also turn all-zero blocks into holes
  never,   // write holes out as zeros (no clone, no kernel copy)
};

struct CopyFlags {
  // Copy from the source offset to the source's end of file, whatever the
  // length says.  Sources whose size is unknown (FIFOs, /proc and /sys
  // files reporting size 0) are read until read() returns 0.
  bool whole_file = false;
  // Offload only: when neither clone nor kernel copy can move the bytes,
  // fail with Error::offload_unsupported (code kOffloadUnsupported) having
  // written nothing, so the caller decides what to do.
  bool no_fallback = false;
  Reflink reflink = Reflink::auto_;
  Sparse sparse = Sparse::auto_;
};

// What one rung did for one copy.
enum class Outcome { used, skipped, failed };

struct Step {
  Mechanism mech;
  Outcome outcome;
  int64_t bytes = 0;  // bytes this rung moved
  int err = 0;        // the errno that made it skip or fail, 0 if none
  std::string why;    // human reason, e.g. "EXDEV: different filesystems"
};

// A piece of metadata the destination did not take (an xattr a filesystem
// refuses, an owner an unprivileged user may not give).  The copy itself
// succeeded, as with cp.
struct Warning {
  std::string op;      // "fsetxattr", "fchown", ...
  int code = 0;        // errno
  std::string detail;  // e.g. the xattr's name
};

struct OFFCOPY_API Report {
  std::array<int64_t, kMechanismCount> bytes_by{};  // indexed by Mechanism
  int64_t hole_bytes = 0;   // bytes of holes recreated, not written
  std::vector<Step> steps;  // one per rung tried, in ladder order
  std::vector<Warning> warnings;  // metadata not preserved (copy_file)
  // copy_file with FileOptions::verify: bytes read back from both files
  // and compared, and bytes the extent maps proved equal without reading
  // (blocks both files share on the device, holes in both).
  int64_t verified_bytes = 0;
  int64_t verify_skipped_bytes = 0;
  // copy_file: times the source changed during the copy and the copy was
  // started again (at most once).
  int retries = 0;

  int64_t bytes(Mechanism m) const { return bytes_by[static_cast<int>(m)]; }
  int64_t total_bytes() const;  // data bytes moved (holes excluded)
  // Adds another report's counts and merges its steps (same rung: bytes
  // add up, the first reason is kept).
  void merge(const Report& other);
};

// Copies up to `len` bytes from `src_fd` to `dst_fd`, like copy_file_range(2):
// - a null offset pointer uses and advances the file position; a non-null
//   one is read and updated, and the file position is left alone;
// - the copy stops short at the source's end of file (a short count is not
//   an error); `len` is ignored under flags.whole_file;
// - the destination is never truncated; it is extended when the copied
//   range ends beyond its size (also when the range ends in a hole);
// - source and destination may be on different filesystems.
// Unlike copy_file_range, streams are accepted: a FIFO or character-device
// source is read with read() (offset pointer must be null), and an O_APPEND
// destination with a null dst_off is appended to with write().
//
// Errors (Error::code):
//   EINVAL  overlapping ranges in one file; negative length or offset
//   EBADF   an fd not open for reading/writing; O_APPEND with dst_off set
//   ESPIPE  an offset pointer given for a non-seekable fd
//   EISDIR  a directory
//   kOffloadUnsupported  no_fallback and no offload rung could copy
//   anything the kernel returns (EIO, ENOSPC, EDQUOT, EFBIG, ...)
// On error, Error::bytes_done bytes were copied and the offsets (or file
// positions) were advanced by exactly that much; the destination holds the
// source's bytes in that prefix (a hole found but not yet made ends it).
// With a source offset pointer, the source's file position is never moved
// (hole detection's lseeks are undone).
OFFCOPY_API Result<Report> copy_range(int src_fd, int64_t* src_off, int dst_fd,
                                      int64_t* dst_off, int64_t len, CopyFlags flags);

// What copy_file does with an existing destination.
enum class Overwrite {
  replace,     // truncate and rewrite it (cp's default)
  force,       // as replace; if it cannot be opened for writing, unlink it
               // and create it anew (cp -f)
  no_clobber,  // leave it alone: the result is an Error with code EEXIST
};

// Metadata copy_file gives the destination besides its bytes (cp's
// --preserve).  Without `mode` a created file gets the source's mode less
// the umask and set-id bits, and an existing one keeps its own.
struct Preserve {
  bool mode = false;        // all 07777 bits, set after ownership, and
                            // the POSIX ACLs
  bool ownership = false;   // uid and gid; EPERM as non-root falls back to
                            // the gid alone, silently (cp -a)
  bool timestamps = false;  // atime and mtime, with nanoseconds
  bool xattr = false;       // xattrs as cp copies them (not a filesystem's
                            // private ones); POSIX ACLs come with `mode`
  static Preserve all() { return {true, true, true, true}; }
};

struct FileOptions {
  CopyFlags flags{.whole_file = true};
  Overwrite overwrite = Overwrite::replace;
  Preserve preserve;  // applied to the open destination after the data;
                      // what it refuses becomes a Report::warnings entry
  // The destination is known not to exist (a tree copy filling a
  // directory it made): create it with O_EXCL without looking first.  If
  // it does exist after all, the copy fails with EEXIST.
  bool create_new = false;
  // Create the destination as a new file would be, 0666 less the umask,
  // not with the source's mode (cp --no-preserve=mode).
  bool default_mode = false;
  // A destination that is a symbolic link to nothing is refused (EEXIST,
  // detail "not writing through dangling symlink"), as cp refuses it: in
  // a shared directory such a link can point anywhere.  true creates the
  // link's target, as POSIX asks (cp under POSIXLY_CORRECT).
  bool write_through_dangling = false;
  // Write the copy under a temporary name in the destination's directory
  // (".NAME.offcopy-XXXXXX"), fsync it, and rename it over `dst` only once
  // it is complete, metadata included: a failure, a cancel or a crash
  // leaves the old destination or the new one, never a mix.  An existing
  // destination's mode and owner are carried over (unless preserved from
  // the source); its other hard links keep the old content.  A symlink at
  // `dst` is followed: its target is replaced.  An existing device or FIFO
  // at `dst` is written to in place (nothing to replace).
  bool atomic = false;
  // fsync the destination (and, for a new name, its directory) before the
  // copy is reported done.
  bool fsync = false;
  // After the copy, read both files back and compare them (xxh3-128 per
  // chunk; the destination's cached pages are dropped first), skipping
  // only what the extent maps prove equal.  A difference is an EIO error
  // with op "verify".  Regular files only.
  bool verify = false;
  // Optional, for a caller that holds the parent directories open (a tree
  // copy): the directory that contains `src`, and the one that is to
  // contain `dst`, as openat(2) dirfds (O_PATH will do).  The file is then
  // opened by its last path component in that directory, without the
  // kernel walking the whole path again.  `src` and `dst` are still given
  // in full, for errors and reports, and must name entries of these
  // directories.  destination_dir is used with create_new (and not
  // atomic) only.  The caller keeps both open until the copy returns.
  int source_dir = -1;
  int destination_dir = -1;
};

// Copies the file `src` to the path `dst`, creating it (mode of the source,
// less the umask, as cp does) or replacing its contents.
// - Same file (same device and inode, through any link): EINVAL with detail
//   "are the same file"; nothing is touched.
// - A destination that is a dangling symlink: EEXIST, nothing created
//   (see FileOptions::write_through_dangling).  A symlink loop: ELOOP,
//   or under Overwrite::force the link is removed and a file made.
// - A new destination whose owner is to be preserved is created without
//   group and other permissions, which it gets once its data, owner and
//   metadata are in (cp's rule): nobody else can open it half-made.
// - A directory source: EISDIR.
// - If the copy fails and this call created `dst`, `dst` is removed and the
//   Error's detail says so; an existing destination is left as the failed
//   copy made it (FileOptions::atomic avoids that).
// - A regular source whose size, mtime or ctime changed while it was copied
//   is copied once more; if it changes again the copy fails with
//   kSourceChanged (op "copy") and is cleaned up as any failure.
// - Cancelled (engine jobs): ECANCELED, cleaned up as any failure.
// The source is opened read-only and never modified.
OFFCOPY_API Result<Report> copy_file(const std::string& src, const std::string& dst,
                                     const FileOptions& options);

}  // namespace offcopy

#endif  // OFFCOPY_COPY_H_
