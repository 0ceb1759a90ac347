// Tree copies: `cp -R` with cp's metadata, link and error rules, the
// regular files copied in parallel by an offcopy::Engine while the walk
// goes on, and a btrfs subvolume snapshot when a whole subvolume can be
// taken at once.
//
//   offcopy::TreeOptions opt;
//   opt.file.preserve = offcopy::Preserve::all();   // cp -a
//   opt.preserve_links = true;
//   auto tc = offcopy::TreeCopy::open(opt, &observer);
//   (*tc)->copy("/src/a", "/dst/a");                // any number of roots
//   offcopy::TreeReport r = (*tc)->finish();
//
// Errors: one entry failing (a file that cannot be read, a node that cannot
// be made) is told to the observer and counted; the copy goes on with the
// rest, and the caller decides the exit status (cp: 1).  Only a root that
// cannot be started at all (missing, a directory into itself, a snapshot
// demanded where none can be made) is returned as an Error by copy().
#ifndef OFFCOPY_TREE_H_
#define OFFCOPY_TREE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "offcopy/copy.h"
#include "offcopy/export.h"
#include "offcopy/result.h"

namespace offcopy {

// Which symbolic links are followed (cp -P, -H, -L).  Not followed, a link
// is copied as a link.
enum class Deref {
  never,         // -P (cp -R's default)
  command_line,  // -H: the roots given to copy(), nothing found in the walk
  always,        // -L
};

// btrfs: copy a whole subvolume as a read-write snapshot, in constant time.
enum class SnapshotMode {
  automatic,  // when the result is the same as a copy (see below)
  always,     // only as a snapshot: a root that cannot be one fails
  never,
};

// What a tree copy makes at the destination of an entry that is not a
// directory (directories are always made and descended into).
enum class MakeAs {
  copy,
  hard_link,      // cp -l: a hard link to the source entry (to what a
                  // link points to under Deref::always)
  symbolic_link,  // cp -s: a symlink to the source path, which must be
                  // absolute unless the destination is in the current
                  // directory
};

// How an existing destination is kept before it is replaced (cp -b,
// --backup=CONTROL): renamed to its backup name.
enum class Backup {
  none,
  simple,    // DST + TreeOptions::backup_suffix
  numbered,  // DST.~N~, N one more than the highest there
  existing,  // numbered if DST has numbered backups already, else simple
};

// The backup name `backup` gives `path` (the directory is listed for the
// numbered kinds).  Empty for Backup::none.
OFFCOPY_API std::string backup_name(const std::string& path, Backup backup,
                                    const std::string& suffix);

struct TreeOptions {
  // Per-file options: reflink/sparse flags, overwrite (-f, -n), and the
  // metadata to preserve (mode, ownership, timestamps, xattr).
  FileOptions file;
  bool recursive = true;         // false: a directory root is refused
                                 // (cp without -r), other kinds copied
  bool preserve_links = false;   // hard links inside the copy stay links
  Deref deref = Deref::never;
  bool one_file_system = false;  // -x: a directory on another filesystem
                                 // is made, its contents are not copied
  bool update = false;           // -u: keep a destination not older
                                 // than its source (mtime)
  bool interactive = false;      // -i: ask TreeObserver::overwrite
                                 // before replacing a non-directory
  bool copy_contents = false;    // cp --copy-contents: FIFOs and devices
                                 // found in the walk are read as files
                                 // (a FIFO until its writer closes it)
  MakeAs make_as = MakeAs::copy;
  // An existing destination that is not a directory is removed before the
  // entry is made, rather than opened and truncated
  // (cp --remove-destination).
  bool remove_destination = false;
  // Regular files get their attributes (FileOptions::preserve) but no
  // data: a missing one is made empty, an existing one keeps its data
  // (cp --attributes-only).
  bool attributes_only = false;
  Backup backup = Backup::none;     // renamed first (rather than removed)
  std::string backup_suffix = "~";
  SnapshotMode snapshot = SnapshotMode::automatic;
  int jobs = 0;                  // copying threads, and as many walkers;
                                 // 0: default_jobs(), and io_jobs()
                                 // copying threads once the first files
                                 // show that data is being moved rather
                                 // than cloned
  bool count_totals = false;     // pre-walk the roots (on a thread of its
                                 // own) to fill TreeProgress totals
  std::chrono::milliseconds progress_interval{250};
};

// The number of copying threads (and of walker threads) used when
// TreeOptions::jobs is 0: one per CPU, 2 to 16, chosen by measurement
// (docs/bench/history.md).
OFFCOPY_API int default_jobs();
// The copying threads a tree copy with TreeOptions::jobs 0 raises itself
// to when its files are copied rather than cloned (32 of its first files,
// three in four by data-moving rungs): then the copies wait on the device,
// and more of them in flight keep it busy (8 per CPU, 16 at most).
OFFCOPY_API int io_jobs();

enum class EntryKind { directory, regular, symlink, hardlink, fifo, device, socket, snapshot };
OFFCOPY_API const char* entry_kind_name(EntryKind k);  // "directory", "regular", ...

struct TreeProgress {
  int64_t files_done = 0;    // entries of every kind in place
  int64_t bytes_done = 0;    // source bytes of regular files finished
  int64_t files_total = -1;  // from the pre-walk; -1 until it has finished
  int64_t bytes_total = -1;
  std::string current;       // a source path being worked on
};

// Told what happens, entry by entry.  Calls never overlap (the copier
// serializes them) but may come from any of its threads; they must not
// call back into the TreeCopy.
class OFFCOPY_API TreeObserver {
 public:
  virtual ~TreeObserver() = default;
  // An entry is in place.  `report` is the file's copy report for regular
  // files and snapshots, null for other kinds.  A directory is told when it
  // is made, before its contents (its metadata comes in finish()); an
  // existing directory merged into is not told.
  virtual void done(EntryKind, const std::string& /*src*/, const std::string& /*dst*/,
                    const Report* /*report*/) {}
  // An entry deliberately not copied: a socket, -n or -u keeping the
  // destination, a directory's contents under -x.
  virtual void skipped(EntryKind, const std::string& /*src*/, const std::string& /*why*/) {}
  // An entry that could not be copied (Error::path names it).
  virtual void failed(const Error& /*error*/) {}
  // Metadata the destination did not take; the entry itself is copied.
  virtual void warning(const std::string& /*dst*/, const Warning& /*w*/) {}
  // A few times a second while copy() and finish() run, and once at the
  // end of finish().
  virtual void progress(const TreeProgress& /*p*/) {}
  // Under TreeOptions::interactive, before an existing non-directory
  // `dst` is replaced by `src`: true replaces it, false keeps it (told as
  // skipped).  Called by one walker at a time; the walk of that walker
  // waits for the answer, copies already submitted go on.
  virtual bool overwrite(EntryKind, const std::string& /*src*/, const std::string& /*dst*/) {
    return true;
  }
};

struct TreeReport {
  int64_t files = 0;        // regular files copied
  int64_t directories = 0;  // made (not those merged into)
  int64_t symlinks = 0;
  int64_t hardlinks = 0;    // links made instead of copies
  int64_t specials = 0;     // FIFOs and device nodes
  int64_t snapshots = 0;    // roots taken as btrfs snapshots
  int64_t skipped = 0;
  int64_t errors = 0;
  int64_t warnings = 0;
  int64_t cancelled = 0;    // regular files stopped or never started by
                            // cancel() (not errors, not told as failures)
  int64_t bytes = 0;        // source bytes of the regular files copied
  int copy_threads = 0;     // at the end (more than at the start when
                            // the copy found it was moving data)
  Report data;              // the files' reports merged: bytes per rung,
                            // holes (a snapshot's bytes count as snapshot)
};

namespace tree {
struct TreeAccess;  // src/tree/open_tree.h: the library's own entry points
}  // namespace tree

class OFFCOPY_API TreeCopy {
 public:
  // Starts the copying threads.  `observer` may be null; it must outlive
  // the TreeCopy.
  static Result<std::unique_ptr<TreeCopy>> open(const TreeOptions& options,
                                                TreeObserver* observer);
  // Waits for what is still copying (as finish() would) if finish() was
  // not called.
  ~TreeCopy();
  TreeCopy(const TreeCopy&) = delete;
  TreeCopy& operator=(const TreeCopy&) = delete;

  // Gives the pre-walk the roots to count (TreeOptions::count_totals);
  // call once, before copy().
  void plan(const std::vector<std::string>& sources);

  // Copies `src` (any kind of entry) to the path `dst`, which is the name
  // of the copy (cp's "into this directory" rule is the caller's).  An
  // existing directory at `dst` is merged into.  Returns when the walk
  // of `src` is over (directories are read by the copier's walker
  // threads); regular files may still be copying, so the copy is complete
  // only after finish().
  Status copy(const std::string& src, const std::string& dst);

  // Stops the copy soon; callable from any thread, also while copy() or
  // finish() runs (a signal-watching thread, say).  No entry is started
  // after it; directory walks stop; files being copied stop at their next
  // chunk and are cleaned up as failed copies are (a file this copy
  // created is removed, an atomic copy's temporary too).  copy() and
  // finish() return as usual -- finish() still gives the directories made
  // so far their metadata, but makes no pending hard links -- and the
  // report counts the stopped files in `cancelled`.
  void cancel();

  // Waits until the regular files submitted so far are copied (their
  // completions told), so that the next copy() sees them in place: cp
  // copying two operands to one name backs up or refuses the first.
  void wait_files();
  bool cancelled() const;

  // Waits for every file and makes the hard links left for the end.  Each
  // directory gets its metadata as soon as everything in it is made (so
  // its times are not changed by what is created inside it); the last
  // ones as those links are made.  Call once.
  TreeReport finish();

 private:
  friend struct tree::TreeAccess;
  struct Impl;
  explicit TreeCopy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offcopy

#endif  // OFFCOPY_TREE_H_
