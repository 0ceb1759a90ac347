// TreeCopy: copy() makes the root and queues directories for a pool of
// walker threads (tree/walkers.h), which read them, make subdirectories,
// links and nodes themselves and submit regular files to an Engine
// (FileJob, with the metadata applied on the open destination by
// copy_file).  So directory reads, inode reads and file copies all
// overlap -- what a cold cache needs.  The other jobs of a tree copy are
// in rooms of their own: hard links whose first copy may still be in
// flight wait for finish() (tree/hard_links.h); a directory's metadata is
// set as soon as nothing more is made in it (tree/dirs.h); what is told
// goes through tree/reporter.h.
//
// Thread-safety: the walkers, the hard links and the reporter each lock
// their own state; here files_mu guards the files in flight.  A Dir is
// finished where its last reference is dropped, which is never under a
// lock (finishing reports).  finish() runs when no walker or copy is busy.
#include "offcopy/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "engine/open_engine.h"
#include "meta/metadata.h"
#include "offcopy/engine.h"
#include "sys/sys.h"
#include "tree/counter.h"
#include "tree/dirs.h"
#include "tree/hard_links.h"
#include "tree/nodes.h"
#include "tree/open_tree.h"
#include "tree/reporter.h"
#include "tree/same_file.h"
#include "tree/snapshot.h"
#include "tree/walkers.h"
#include "util/mutex.h"

namespace offcopy {
namespace {

std::string join(const std::string& dir, const std::string& name) {
  return dir.size() > 0 && dir.back() == '/' ? dir + name : dir + "/" + name;
}

// The canonical form of a path that may not exist yet: its parent
// resolved, its last component kept.
std::string canonical_new(sys::Sys& s, const std::string& p) {
  std::string parent;
  if (s.realpath(tree::parent_of(p).c_str(), &parent) < 0) return p;
  return join(parent, tree::base_of(p));
}

bool is_within(const std::string& inner, const std::string& outer) {
  return inner == outer ||
         (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
          (outer == "/" || inner[outer.size()] == '/'));
}

EntryKind kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return EntryKind::directory;
  if (S_ISREG(st.st_mode)) return EntryKind::regular;
  if (S_ISLNK(st.st_mode)) return EntryKind::symlink;
  if (S_ISFIFO(st.st_mode)) return EntryKind::fifo;
  if (S_ISSOCK(st.st_mode)) return EntryKind::socket;
  return EntryKind::device;
}

}  // namespace

int default_jobs() {
  // Measured on /usr/share with cold caches (docs/bench/history.md): one
  // copy thread and one walker per CPU beat twice as many on btrfs (0.68
  // vs 0.75 of cp's time) and xfs (0.58 vs 0.64), tie on ext4, and cost
  // a little on tmpfs (0.65 vs 0.60); more threads contend for the
  // filesystems' metadata locks.  At least 2, so the walk overlaps a copy.
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n, 2u, 16u));
}

int io_jobs() {
  // Measured on /usr/share onto ext4, whose files are copied, not cloned
  // (docs/bench/history.md): 2 walkers with 2, 8 and 16 copying threads took
  // 7.5, 3.9 and 3.4 s against cp's 11.  On btrfs and XFS, which clone, 8
  // and 16 were 5-20 % slower than 2, so only a copy that moves data grows.
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(8 * n, 2u, 16u));
}

const char* entry_kind_name(EntryKind k) {
  switch (k) {
    case EntryKind::directory: return "directory";
    case EntryKind::regular: return "regular";
    case EntryKind::symlink: return "symlink";
    case EntryKind::hardlink: return "hardlink";
    case EntryKind::fifo: return "fifo";
    case EntryKind::device: return "device";
    case EntryKind::socket: return "socket";
    case EntryKind::snapshot: return "snapshot";
  }
  return "?";
}

// Hidden, unlike the class it is in (OFFCOPY_API): otherwise its nested
// types, and the std:: containers instantiated over them, would be
// exported by liboffcopy.so.
struct __attribute__((visibility("hidden"))) TreeCopy::Impl final : tree::DirFinisher {
  using Dir = tree::Dir;
  using DirTask = tree::DirTask;
  using Ancestor = tree::Ancestor;
  using InodeKey = tree::InodeKey;
  using HardLinks = tree::HardLinks;

  // A file handed to the engine: what its completion reports.  Pooled, so
  // that its strings are not freed on the engine thread that completes it
  // but reused by the walker that submits the next file (a free on
  // another thread than the malloc takes malloc's slow path: 4 % of a tree
  // copy's CPU on XFS, docs/benchmarks.md); and the completion callback
  // captures two pointers, which std::function holds without allocating.
  struct Pending;
  // A directory held open while its files are copied, so that each file is
  // opened by name in it (FileOptions::source_dir / destination_dir)
  // rather than by a path the kernel walks from the root: the walk was
  // 6 % of a tree copy's CPU on XFS (docs/benchmarks.md).  Shared by the
  // walker reading the directory and the jobs of its files; closed by
  // whichever lets go last.
  struct OpenDir {
    OpenDir(Impl& m, int f) : impl(m), fd(f) {}
    ~OpenDir() {
      impl.sys.close(fd);
      impl.open_dirs.fetch_sub(1, std::memory_order_relaxed);
    }
    OpenDir(const OpenDir&) = delete;
    OpenDir& operator=(const OpenDir&) = delete;
    Impl& impl;
    const int fd;
  };
  struct Pending {
    std::string src, dst;
    InodeKey key;
    bool linked = false;
    int64_t size = 0;
    std::shared_ptr<OpenDir> src_dir, dst_dir;  // null: by path
    std::shared_ptr<Dir> in;                    // null: a root's file
    Pending* next = nullptr;  // in `spare`
  };
  // The directory an entry being visited is in, and its open descriptors
  // (any may be null).
  struct Held {
    std::shared_ptr<OpenDir> src, dst;
    std::shared_ptr<Dir> dir;
  };

  TreeOptions opt;
  TreeObserver* observer;
  const mech::Context& ctx;
  sys::Sys& sys = *ctx.sys;
  mode_t umask = sys.read_umask();
  std::unique_ptr<Engine> engine;
  tree::Counter counter{sys, opt};
  tree::Reporter reporter{observer, counter, opt.progress_interval};
  tree::HardLinks hard_links;
  bool finished = false;

  dev_t root_dev = 0;  // set by copy() while no walker runs
  std::atomic<bool> cancelled{false};
  // Directories held open (two descriptors per directory being copied),
  // at most a quarter of the descriptor limit and 512 (256 directories):
  // past that, the files of further directories are opened by path.
  const int64_t max_open_dirs = std::min<int64_t>(512, sys.open_files_limit() / 4);
  std::atomic<int> open_dirs{0};

  // The files handed to the engine and not yet completed.
  util::Mutex files_mu;
  util::CondVar idle;  // in_flight reached 0
  int64_t in_flight OFFCOPY_GUARDED_BY(files_mu) = 0;
  std::vector<std::unique_ptr<Pending>> pendings OFFCOPY_GUARDED_BY(files_mu);  // all made
  Pending* spare OFFCOPY_GUARDED_BY(files_mu) = nullptr;
  // Whether files are being cloned or copied, from the first completions
  // (when TreeOptions::jobs is 0): see io_jobs().
  struct Sample {
    bool open = false;  // still deciding
    int files = 0;      // non-empty files finished
    int moved = 0;      // of them, copied mostly by data-moving rungs
  } sample OFFCOPY_GUARDED_BY(files_mu);

  // Last: destroyed first, so no walker runs while the rest goes.
  tree::Walkers walkers{[this](DirTask t) { read_dir(std::move(t)); }, cancelled};

  Impl(const TreeOptions& o, TreeObserver* obs, const mech::Context& c)
      : opt(o), observer(obs), ctx(c) {}

  // ---- the walk

  int stat_entry(const std::string& path, bool is_root, struct stat* st) {
    const bool follow =
        opt.deref == Deref::always || (is_root && opt.deref == Deref::command_line);
    return follow ? sys.stat(path.c_str(), st) : sys.lstat(path.c_str(), st);
  }

  bool replace() const { return opt.file.overwrite != Overwrite::no_clobber; }

  // -n, -u and -i, for entries that are not directories: true when the
  // destination stays as it is.
  bool keep_existing(const std::string& src, const std::string& dst, const struct stat& st,
                     bool fresh, bool is_root) {
    const EntryKind kind = kind_of(st);
    const bool no_clobber = opt.file.overwrite == Overwrite::no_clobber;
    if (fresh || (!no_clobber && !opt.update && !opt.interactive)) return false;
    struct stat d {};
    // As cp: -n, -u and -i look before the kinds are compared, so a
    // directory in the way is kept, kept, or asked about.
    if (sys.lstat(dst.c_str(), &d) < 0) return false;
    if (no_clobber) {
      (void)kept_first(dst, st, is_root);
      reporter.skipped(kind, src, "destination exists (-n)");
      return true;
    }
    const bool newer = d.st_mtim.tv_sec > st.st_mtim.tv_sec ||
                       (d.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                        d.st_mtim.tv_nsec >= st.st_mtim.tv_nsec);
    if (opt.update && newer) {
      // A link of a file copied (or kept) already is linked to it even so:
      // -u keeps data, and the link's data is that copy's (cp).
      if (kept_first(dst, st, is_root)) return false;
      reporter.skipped(kind, src, "destination is not older (-u)");
      return true;
    }
    if (opt.interactive && !reporter.ask_overwrite(kind, src, dst)) {
      reporter.skipped(kind, src, "not overwritten (-i)");
      return true;
    }
    return false;
  }

  tree::SameFileRules same_file_rules() const {
    tree::SameFileRules r;
    r.deref_never = opt.deref == Deref::never;
    r.backup = opt.backup != Backup::none;
    r.unlink_first = opt.remove_destination;
    r.hard_link = opt.make_as == MakeAs::hard_link;
    r.symbolic_link = opt.make_as == MakeAs::symbolic_link;
    return r;
  }

  // An existing destination of an entry that is not a directory: cp's
  // same-file rule first (the source itself, or the file a link points
  // to, must not be replaced by its copy), then -n, -u and -i.  True when
  // the entry is settled: refused, kept, or already in place.
  // *present: the destination exists, and *d is its stat (lstat under
  // -b and --remove-destination, as the rule looks at it).
  bool settle_existing(const std::string& src, const std::string& dst, const struct stat& st,
                       bool fresh, bool is_root, bool* present, struct stat* existing) {
    *present = false;
    if (fresh) return false;
    const tree::SameFileRules rules = same_file_rules();
    const bool as_regular = opt.copy_contents || !opt.recursive;
    struct stat& d = *existing;
    const int r = tree::lstat_destination(st, rules, as_regular) ? sys.lstat(dst.c_str(), &d)
                                                                 : sys.stat(dst.c_str(), &d);
    // Missing, or not to be looked at: the step that creates it decides
    // (a dangling symlink is refused there, any other error reported).
    if (r < 0) return false;
    *present = true;
    switch (tree::same_file(sys, src, st, dst, d, rules)) {
      case tree::SameFile::refuse:
        reporter.failed(tree::entry_error(EINVAL, "copy", Role::none, src,
                                 "'" + src + "' and '" + dst + "' are the same file"));
        return true;
      case tree::SameFile::done:
        reporter.done(kind_of(st), src, dst);
        return true;
      case tree::SameFile::distinct:
        break;
    }
    return keep_existing(src, dst, st, fresh, is_root);
  }

  // Makes way for an entry over an existing destination `d` (lstat'ed by
  // settle_existing under these options): renamed to its backup name (-b)
  // or removed (--remove-destination).  False when that failed (told).  A
  // directory stays: making the entry reports it.
  bool clear_destination(const std::string& src, const std::string& dst, const struct stat& st,
                         const struct stat& d) {
    if (opt.backup == Backup::none && !opt.remove_destination) return true;
    if (S_ISDIR(d.st_mode)) return true;
    if (opt.backup != Backup::none && source_is_backup(src, dst, st)) {
      reporter.failed(tree::entry_error(EINVAL, "copy", Role::none, src,
                               "backing up '" + dst + "' might destroy source;  '" + src +
                                   "' not copied"));
      return false;
    }
    if (opt.backup != Backup::none) {
      const std::string to = backup_name(dst, opt.backup, opt.backup_suffix);
      if (int r = sys.rename(dst.c_str(), to.c_str(), false); r < 0) {
        reporter.failed(tree::entry_error(-r, "rename", Role::destination, dst,
                                 "cannot backup '" + dst + "'"));
        return false;
      }
      return true;
    }
    if (int r = sys.unlink(dst.c_str()); r < 0 && r != -ENOENT) {
      reporter.failed(tree::entry_error(-r, "unlink", Role::destination, dst));
      return false;
    }
    return true;
  }

  // Whether `src` is DST's simple backup (DST + suffix, the same file):
  // backing DST up would replace the source before it is read.
  bool source_is_backup(const std::string& src, const std::string& dst, const struct stat& st) {
    const std::string& suffix = opt.backup_suffix;
    const std::string sb = tree::base_of(src), db = tree::base_of(dst);
    if (sb != db + suffix) return false;
    struct stat b {};
    return sys.stat((dst + suffix).c_str(), &b) == 0 && b.st_dev == st.st_dev &&
           b.st_ino == st.st_ino;
  }

  // cp -l / -s: the entry is a link to the source, not a copy.
  void link_entry(const std::string& src, const std::string& dst, bool is_root) {
    const bool hard = opt.make_as == MakeAs::hard_link;
    const bool follow =
        opt.deref == Deref::always || (is_root && opt.deref == Deref::command_line);
    // -f replaces what is there (cp's force_linkat / force_symlinkat).
    const bool force = opt.file.overwrite == Overwrite::force;
    Status s = hard ? tree::link_to_source(sys, src, dst, follow, force)
                    : tree::symlink_to_source(sys, src, dst, force);
    if (!s) return reporter.failed(s.error());
    reporter.done(hard ? EntryKind::hardlink : EntryKind::symlink, src, dst);
  }

  // `fresh`: dst's parent was made by this copy, so dst cannot exist.
  void visit(const std::string& src, const std::string& dst, const struct stat& st,
             bool fresh, int depth, const std::shared_ptr<const Ancestor>& path,
             const Held& held = {}) {
    if (cancelled.load(std::memory_order_relaxed)) return;
    reporter.tick(src);
    if (S_ISDIR(st.st_mode)) return visit_dir(src, dst, st, depth, path, held.dir);
    bool present = false;
    struct stat existing {};
    if (settle_existing(src, dst, st, fresh, depth == 0, &present, &existing)) return;
    if (present && !clear_destination(src, dst, st, existing)) return;
    if (opt.make_as != MakeAs::copy) return link_entry(src, dst, depth == 0);
    if (S_ISREG(st.st_mode)) return visit_file(src, dst, st, fresh, held, depth == 0);
    const bool special = S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    if (special && opt.copy_contents) return submit(src, dst, st, fresh, held);
    if (S_ISLNK(st.st_mode)) {
      // --attributes-only changes no entry's kind: an existing file stays.
      Status s = tree::make_symlink(sys, src, dst, replace() && !opt.attributes_only);
      if (!s) return reporter.failed(s.error());
      return made(EntryKind::symlink, src, dst, st);
    }
    if (S_ISSOCK(st.st_mode)) {
      return reporter.skipped(EntryKind::socket, src,
                     "a socket cannot be copied; it belongs to the program listening on it");
    }
    struct stat node = st;
    if (opt.file.default_mode) node.st_mode = (st.st_mode & S_IFMT) | 0666;
    Status s = tree::make_special(sys, node, dst, umask, replace());
    if (!s) return reporter.failed(s.error());
    made(kind_of(st), src, dst, st);
  }

  // A link or node is in place: its metadata now (nothing is created in it).
  void made(EntryKind kind, const std::string& src, const std::string& dst,
            const struct stat& st) {
    std::vector<Warning> ws;
    meta::apply(sys, st, {-1, src.c_str()}, {-1, dst.c_str()}, opt.file.preserve, &ws);
    reporter.warnings(dst, ws);
    reporter.done(kind, src, dst);
  }

  void visit_dir(const std::string& src, const std::string& dst, const struct stat& st,
                 int depth, const std::shared_ptr<const Ancestor>& path,
                 const std::shared_ptr<Dir>& parent) {
    const InodeKey key{st.st_dev, st.st_ino};
    for (const Ancestor* a = path.get(); a != nullptr; a = a->up.get()) {
      if (a->key == key) {
        return reporter.failed(tree::entry_error(ELOOP, "walk", Role::source, src,
                                                 "a directory that contains itself (a link loop)"));
      }
    }
    auto made_dir = tree::make_dir(sys, src, dst);
    if (!made_dir) return reporter.failed(made_dir.error());
    const bool fresh = *made_dir == tree::DirMade::created;
    // Told when made, before its contents, as cp -v; one merged into is
    // not made (cp -v says nothing of it either).
    if (fresh) reporter.done(EntryKind::directory, src, dst);
    auto dir = std::make_shared<Dir>(*this, src, dst, st, fresh, parent);
    if (opt.one_file_system && st.st_dev != root_dev) {
      return reporter.skipped(EntryKind::directory, src,
                              "on another filesystem (-x): made empty");
    }
    std::shared_ptr<const Ancestor> here;
    if (opt.deref != Deref::never) here = std::make_shared<const Ancestor>(Ancestor{key, path});
    walkers.enqueue(DirTask{std::move(dir), fresh, depth, std::move(here)});
  }

  // Opens `path` as a directory held for its files' jobs (null if it
  // cannot be opened; the caller then goes by path).
  std::shared_ptr<OpenDir> open_dir(const std::string& path, int flags) {
    open_dirs.fetch_add(1, std::memory_order_relaxed);
    const int fd = sys.open(path.c_str(), flags | O_DIRECTORY, 0);
    if (fd < 0) {
      open_dirs.fetch_sub(1, std::memory_order_relaxed);
      return nullptr;
    }
    return std::make_shared<OpenDir>(*this, fd);
  }

  // On a walker: every entry of one directory, looked up in it by name.
  // While the descriptor budget lasts, the directory (and, when this copy
  // made it, its destination) stays open for its files' jobs.
  void read_dir(DirTask t) {
    const std::string& src = t.dir->src;
    const std::string& dst = t.dir->dst;
    std::shared_ptr<OpenDir> dir = open_dir(src, O_RDONLY | O_NONBLOCK);
    sys::DirList entries;
    const int r = dir ? sys.list_dir_fd(dir->fd, &entries) : sys.list_dir(src.c_str(), &entries);
    if (r < 0) return reporter.failed(tree::entry_error(-r, "opendir", Role::source, src));
    Held held;
    held.dir = t.dir;
    if (dir && open_dirs.load(std::memory_order_relaxed) < max_open_dirs) {
      held.src = dir;
      if (t.fresh) held.dst = open_dir(dst, O_PATH);
    }
    const bool follow = opt.deref == Deref::always;
    for (const sys::DirEntry e : entries) {
      if (cancelled.load(std::memory_order_relaxed)) return;
      const std::string child = join(src, e.name);
      struct stat cst {};
      const int sr = dir ? sys.stat_at(dir->fd, e.name, &cst, follow)
                         : stat_entry(child, false, &cst);
      if (sr < 0) {
        reporter.failed(tree::entry_error(-sr, "stat", Role::source, child));
        continue;
      }
      visit(child, join(dst, e.name), cst, t.fresh, t.depth + 1, t.path, held);
    }
  }

  // --attributes-only: the file made or opened without truncating it,
  // then the metadata, on this walker (there is no data to queue).
  void attributes_only(const std::string& src, const std::string& dst, const struct stat& st) {
    const int fd = sys.open(dst.c_str(), O_WRONLY | O_CREAT | O_NOCTTY, st.st_mode & 0777);
    if (fd < 0) return reporter.failed(tree::entry_error(-fd, "open", Role::destination, dst));
    sys::UniqueFd out(fd);
    struct stat now {};
    std::vector<Warning> ws;
    if (sys.fstat(fd, &now) == 0) {
      meta::apply(sys, st, {-1, src.c_str()}, {fd}, opt.file.preserve, &ws, &now);
    }
    reporter.warnings(dst, ws);
    reporter.done(EntryKind::regular, src, dst);
  }

  // Whether a file's copies are to be hard-linked together: files with
  // several links, and with links followed any file (two links, or a link
  // and its target, name one file: cp -H/-L --preserve=links).
  bool tracks_links(const struct stat& st, bool is_root) const {
    return opt.preserve_links &&
           (st.st_nlink > 1 || opt.deref == Deref::always ||
            (is_root && opt.deref == Deref::command_line));
  }

  // A file kept by -n or -u is the first copy of its links all the same:
  // the others are linked to it (cp -au into an existing tree).  True when
  // the file had a first copy already (it is to be linked to that).
  bool kept_first(const std::string& dst, const struct stat& st, bool is_root) {
    if (!S_ISREG(st.st_mode) || !tracks_links(st, is_root)) return false;
    return !hard_links.claim_first(InodeKey{st.st_dev, st.st_ino}, dst, HardLinks::State::ok);
  }

  void visit_file(const std::string& src, const std::string& dst, const struct stat& st,
                  bool fresh, const Held& held, bool is_root) {
    if (opt.attributes_only) return attributes_only(src, dst, st);
    if (tracks_links(st, is_root) &&
        !hard_links.claim_or_defer(InodeKey{st.st_dev, st.st_ino}, src, dst, held.dir)) {
      return;  // linked to its first copy in finish()
    }
    submit(src, dst, st, fresh, held, is_root);
  }

  void submit(const std::string& src, const std::string& dst, const struct stat& st,
              bool fresh, const Held& held, bool is_root = false) {
    if (cancelled.load()) return;
    Pending* p = nullptr;
    {
      util::MutexLock lk(files_mu);
      ++in_flight;
      if (spare == nullptr) {
        pendings.push_back(std::make_unique<Pending>());
        spare = pendings.back().get();
      }
      p = spare;
      spare = p->next;
    }
    p->src = src;  // into the capacity of an earlier file's paths
    p->dst = dst;
    p->key = InodeKey{st.st_dev, st.st_ino};
    p->linked = S_ISREG(st.st_mode) && tracks_links(st, is_root);
    p->size = st.st_size;
    FileOptions fo = opt.file;
    fo.create_new = fresh;
    if (held.src) {
      p->src_dir = held.src;
      fo.source_dir = held.src->fd;
    }
    if (held.dst && fresh && !fo.atomic) {
      p->dst_dir = held.dst;
      fo.destination_dir = held.dst->fd;
    }
    p->in = held.dir;
    auto id = engine->submit(FileJob{src, {dst}, std::move(fo)}, [this, p](Completion c) {
      file_done(*p, c.results.front());
    });
    // A cancel_all() that ran between the check above and the submit
    // missed this job.
    if (id && cancelled.load()) engine->cancel(*id);
    if (!id) {
      Error e = id.error();
      e.path = src;
      if (p->linked) hard_links.settle(p->key, false);
      reporter.failed(e);
      let_go(*p);
      util::MutexLock lk(files_mu);
      release_locked(p);
    }
  }

  // Lets go of a file's directories, holding no lock (the last one out
  // closes the descriptors and finishes the directory, which reports), and
  // before the file is released: finish() must not return while a
  // directory is finishing.
  static void let_go(Pending& p) {
    p.src_dir.reset();
    p.dst_dir.reset();
    p.in.reset();
  }

  // A file's completion is in: its record goes back to the pool.
  void release_locked(Pending* p) OFFCOPY_REQUIRES(files_mu) {
    p->next = spare;
    spare = p;
    if (--in_flight == 0) idle.notify_all();
  }

  // On an engine thread.
  void file_done(Pending& p, const Result<Report>& r) {
    if (p.linked) hard_links.settle(p.key, r.ok());
    if (!r && r.error().code == ECANCELED && cancelled.load()) {
      reporter.file_cancelled();
    } else if (r) {
      reporter.file_copied(p.src, p.dst, p.size, *r);
    } else {
      reporter.failed(r.error());
    }
    let_go(p);
    {
      util::MutexLock lk(files_mu);
      if (!r || !sampled_locked(*r)) return release_locked(&p);
    }
    // More copying threads; if the system has no more to give, the copy
    // goes on with those it has.  The file is released only afterwards, so
    // that finish(), which waits for every file, reports the new count (it
    // could return in between: TSan's slow thread starts showed it).
    if (engine->set_workers(io_jobs()).ok()) reporter.set_copy_threads(io_jobs());
    util::MutexLock lk(files_mu);
    release_locked(&p);
  }

  // Counts a finished file into the sample; true when the sample is full
  // and says data is being moved (once).
  bool sampled_locked(const Report& r) OFFCOPY_REQUIRES(files_mu) {
    if (!sample.open || r.total_bytes() == 0) return false;
    const int64_t data = r.total_bytes() - r.bytes(Mechanism::clone);
    ++sample.files;
    if (data * 2 > r.total_bytes()) ++sample.moved;
    if (sample.files < 32) return false;
    sample.open = false;
    return sample.moved * 4 >= sample.files * 3;
  }

  // ---- finish

  void wait_idle() {
    util::MutexLock lk(files_mu);
    while (in_flight > 0) {
      idle.wait_for(files_mu, opt.progress_interval);
      if (in_flight == 0) break;
      files_mu.unlock();
      reporter.progress_now();
      files_mu.lock();
    }
  }

  // The names deferred to the end, each linked to its first copy; the
  // directory it is in is finished as soon as it is made.
  void make_links() {
    for (HardLinks::Deferred& l : hard_links.take_deferred()) {
      const HardLinks::First first = hard_links.first(l.key);
      if (first.state != HardLinks::State::ok) {
        reporter.failed(tree::entry_error(ENOENT, "link", Role::destination, l.dst,
                                          "its first copy '" + first.dst + "' failed"));
      } else if (Status s = tree::make_link(sys, first.dst, l.dst, replace()); !s) {
        reporter.failed(s.error());
      } else {
        reporter.done(EntryKind::hardlink, l.src, l.dst);
      }
      l.in.reset();
    }
  }

  // A directory's metadata, once nothing more is made in it (~Dir).
  void finish_dir(const Dir& d) override {
    std::vector<Warning> ws;
    tree::apply_dir_metadata(sys, d, opt.file.preserve, opt.file.default_mode, umask, &ws);
    reporter.warnings(d.dst, ws);
  }
};

TreeCopy::TreeCopy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TreeCopy::~TreeCopy() {
  if (impl_ && !impl_->finished) finish();
}

Result<std::unique_ptr<TreeCopy>> TreeCopy::open(const TreeOptions& options,
                                                 TreeObserver* observer) {
  return tree::TreeAccess::open(options, observer, mech::Context::process());
}

Result<std::unique_ptr<TreeCopy>> tree::TreeAccess::open(const TreeOptions& options,
                                                         TreeObserver* observer,
                                                         const mech::Context& ctx) {
  auto impl = std::make_unique<TreeCopy::Impl>(options, observer, ctx);
  EngineOptions eo;
  eo.workers = options.jobs > 0 ? options.jobs : default_jobs();
  {
    util::MutexLock lk(impl->files_mu);
    impl->sample.open = options.jobs <= 0 && io_jobs() > eo.workers;
  }
  impl->reporter.set_copy_threads(eo.workers);
  // Bounded so a walk far ahead of the copies holds a bounded number of
  // paths; the walker waits (OnFull::block) when it is reached.
  eo.max_jobs_in_flight = 4096;
  eo.shutdown = OnShutdown::drain;
  auto engine = engine::EngineAccess::open(eo, ctx);
  if (!engine) return engine.error();
  impl->engine = std::move(*engine);
  if (!impl->walkers.start(eo.workers)) {
    Error e;
    e.code = EAGAIN;
    e.op = "pthread_create";
    e.detail = "cannot start a thread to read directories";
    return e;
  }
  return std::unique_ptr<TreeCopy>(new TreeCopy(std::move(impl)));
}

void TreeCopy::plan(const std::vector<std::string>& sources) {
  if (impl_->opt.count_totals) impl_->counter.start(sources);
}

Status TreeCopy::copy(const std::string& src, const std::string& dst) {
  Impl& m = *impl_;
  if (m.cancelled.load()) return Ok{};
  struct stat st {};
  if (int r = m.stat_entry(src, true, &st); r < 0) {
    return tree::entry_error(-r, "stat", Role::source, src);
  }
  if (S_ISDIR(st.st_mode) && !m.opt.recursive) {
    return tree::entry_error(EISDIR, "copy", Role::source, src,
                             "-r not specified; omitting directory '" + src + "'");
  }
  if (S_ISDIR(st.st_mode)) {
    std::string src_canon;
    if (m.sys.realpath(src.c_str(), &src_canon) < 0) src_canon = src;
    if (is_within(canonical_new(m.sys, dst), src_canon)) {
      return tree::entry_error(EINVAL, "copy", Role::destination, dst,
                               "cannot copy a directory, '" + src + "', into itself, '" +
                                   dst + "'");
    }
    auto snap = tree::try_snapshot(m.sys, src, st, dst, m.opt);
    if (!snap) return snap.error();
    if (snap->taken) {
      Report rep;
      rep.steps.push_back(Step{Mechanism::snapshot, Outcome::used, 0, 0,
                               "BTRFS_IOC_SNAP_CREATE_V2: the whole subvolume"});
      m.reporter.snapshot(src, dst, rep);
      return Ok{};
    }
  }
  m.root_dev = st.st_dev;
  m.visit(src, dst, st, /*fresh=*/false, /*depth=*/0, nullptr, {});
  m.walkers.wait_walked(m.opt.progress_interval, [&m] { m.reporter.tick({}); });
  return Ok{};
}

void TreeCopy::cancel() {
  Impl& m = *impl_;
  m.cancelled.store(true);
  m.engine->cancel_all();
  m.walkers.wake();
}

bool TreeCopy::cancelled() const { return impl_->cancelled.load(); }

void TreeCopy::wait_files() { impl_->wait_idle(); }

TreeReport TreeCopy::finish() {
  Impl& m = *impl_;
  m.finished = true;
  m.wait_idle();
  if (m.cancelled.load()) m.hard_links.take_deferred();  // not made
  m.make_links();  // the last directories finish as their links are made
  m.reporter.final_tick();
  return m.reporter.report();
}

}  // namespace offcopy
