// TreeCopy: copy() makes the root and queues directories for a pool of
// walker threads, which read them, make subdirectories, links and nodes
// themselves and submit regular files to an Engine (FileJob, with the
// metadata applied on the open destination by copy_file).  So directory
// reads, inode reads and file copies all overlap -- what a cold cache
// needs.  Hard links whose first copy may still be in flight wait for
// finish(); a directory's metadata is set as soon as nothing more is made
// in it (Impl::Dir), so memory holds the directories being filled, not
// every directory of the tree.
//
// Thread-safety: the task queue is under walk_mu; everything walkers and
// completions share (report, observer calls, links, first copies,
// in_flight) is under mu.  A Dir is finished where its last reference is
// dropped, which is never under mu (finishing reports through it).
// finish() runs when no walker or copy is busy.
#include "offcopy/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "engine/open_engine.h"
#include "meta/metadata.h"
#include "offcopy/engine.h"
#include "sys/sys.h"
#include "tree/counter.h"
#include "tree/nodes.h"
#include "tree/open_tree.h"
#include "tree/same_file.h"
#include "tree/snapshot.h"

namespace offcopy {
namespace {

using Clock = std::chrono::steady_clock;
using InodeKey = std::pair<dev_t, ino_t>;

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
struct __attribute__((visibility("hidden"))) TreeCopy::Impl {
  // A directory made (or merged into) by the walk.  Its metadata is set
  // when its last reference goes: the walker's that reads it, its files'
  // jobs', its hard links' (made in finish()), its subdirectories' (each
  // holds its parent).  So it is finished after everything inside it, and
  // only directories still being filled are in memory (cp's link-heap
  // test copies 20,000 directories under a 4 MB allowance).
  struct Dir {
    Dir(Impl& m, std::string s, std::string d, const struct stat& sst, bool c,
        std::shared_ptr<Dir> up)
        : impl(m), src(std::move(s)), dst(std::move(d)), st(sst), created(c),
          parent(std::move(up)) {}
    Dir(const Dir&) = delete;
    Dir& operator=(const Dir&) = delete;
    ~Dir() {
      impl.finish_dir(*this);
      // The ancestors this was the last holder of are finished in this
      // loop, not by nested destructors: a chain thousands deep would
      // otherwise recurse as deep on a small thread stack.
      std::shared_ptr<Dir> up = std::move(parent);
      while (up && up.use_count() == 1) {
        std::shared_ptr<Dir> next = std::move(up->parent);
        up.reset();
        up = std::move(next);
      }
    }
    Impl& impl;
    const std::string src, dst;
    const struct stat st;
    const bool created;
    std::shared_ptr<Dir> parent;  // null for a root
  };
  // A directory on the path from the root (for -L loop detection).
  struct Ancestor {
    InodeKey key;
    std::shared_ptr<const Ancestor> up;
  };
  // A directory made, waiting for a walker to read it.
  struct DirTask {
    std::shared_ptr<Dir> dir;
    bool fresh;  // made by this copy: nothing in it yet
    int depth;
    std::shared_ptr<const Ancestor> path;  // set under -L only
  };
  // A hard link waiting for its first copy.
  struct Link {
    std::string src, dst;
    InodeKey key;
    std::shared_ptr<Dir> in;  // finished once the link is made
  };
  // The first copy of a multiply-linked file.
  struct First {
    std::string dst;
    enum { copying, ok, failed } state = copying;
  };
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
  bool finished = false;

  dev_t root_dev = 0;  // set by copy() while no walker runs
  std::atomic<bool> cancelled{false};
  // Directories held open (two descriptors per directory being copied),
  // at most a quarter of the descriptor limit and 512 (256 directories):
  // past that, the files of further directories are opened by path.
  const int64_t max_open_dirs = std::min<int64_t>(512, sys.open_files_limit() / 4);
  std::atomic<int> open_dirs{0};

  // The walkers: directories are read by a pool of threads, so a cold
  // cache sees several directory and inode reads in flight at once.
  std::mutex walk_mu;
  std::condition_variable walk_cv;     // a task was queued, or stopping
  std::condition_variable walked_cv;   // the queue ran dry with none busy
  std::deque<DirTask> tasks;           // guarded by walk_mu
  int busy_walkers = 0;                // guarded by walk_mu
  int waiting_walkers = 0;             // guarded by walk_mu: in enqueue()
  bool stopping = false;               // guarded by walk_mu
  std::vector<std::thread> walkers;

  std::mutex ask_mu;  // held while TreeObserver::overwrite runs

  // Shared by walkers and completions.
  std::mutex mu;
  std::atomic<int64_t> next_tick{0};  // Clock ticks; written under mu
  std::vector<Link> links;      // guarded by mu
  std::condition_variable idle;  // in_flight reached 0
  int64_t in_flight = 0;
  std::map<InodeKey, First> firsts;
  std::vector<std::unique_ptr<Pending>> pendings;  // guarded by mu: all made
  Pending* spare = nullptr;                        // guarded by mu
  TreeReport report;
  TreeProgress prog;
  // Whether files are being cloned or copied, from the first completions
  // (when TreeOptions::jobs is 0): see io_jobs().  Guarded by mu.
  struct Sample {
    bool open = false;  // still deciding
    int files = 0;      // non-empty files finished
    int moved = 0;      // of them, copied mostly by data-moving rungs
  } sample;

  Impl(const TreeOptions& o, TreeObserver* obs, const mech::Context& c)
      : opt(o), observer(obs), ctx(c) {}

  ~Impl() {
    {
      std::lock_guard lk(walk_mu);
      stopping = true;
    }
    walk_cv.notify_all();
    for (std::thread& t : walkers) t.join();
  }

  // As many as the system gives, up to n (a memory limit can refuse a
  // thread's stack); false when it gives none.
  bool start_walkers(int n) {
    try {
      for (int i = 0; i < n; ++i) walkers.emplace_back([this] { walker_loop(); });
    } catch (const std::system_error&) {
    }
    return !walkers.empty();
  }

  void walker_loop() {
    std::unique_lock lk(walk_mu);
    for (;;) {
      walk_cv.wait(lk, [&] { return stopping || !tasks.empty(); });
      if (tasks.empty()) return;  // stopping
      if (cancelled.load()) {
        // Dropped outside walk_mu: dropping finishes their directories.
        std::deque<DirTask> dropped;
        dropped.swap(tasks);
        lk.unlock();
        dropped.clear();
        lk.lock();
      }
      if (tasks.empty()) {
        if (busy_walkers == 0) walked_cv.notify_all();
        continue;
      }
      DirTask t = std::move(tasks.front());
      tasks.pop_front();
      if (waiting_walkers > 0) walk_cv.notify_all();
      ++busy_walkers;
      lk.unlock();
      read_dir(std::move(t));  // dropped by then: finished if nothing else holds it
      lk.lock();
      if (--busy_walkers == 0 && tasks.empty()) walked_cv.notify_all();
    }
  }

  // A walker that finds many subdirectories does not queue them all: a
  // wide directory (cp's link-heap test: 10,000 subdirectories) would hold
  // every one in memory.  When the queue is long, it waits while another
  // walker is free to drain the queue; the last one that cannot wait reads
  // the queue's head itself, a few levels deep at most (then it queues).
  static constexpr size_t kQueuedDirs = 1024;
  static constexpr int kNestedReads = 4;
  static inline thread_local int nested_reads = 0;

  void enqueue(DirTask t) {
    std::unique_lock lk(walk_mu);
    while (tasks.size() >= kQueuedDirs && !stopping && !cancelled.load()) {
      if (waiting_walkers + 1 < static_cast<int>(walkers.size())) {
        ++waiting_walkers;
        walk_cv.notify_all();  // an idle walker takes the queue's head
        walk_cv.wait(lk);
        --waiting_walkers;
        continue;
      }
      if (nested_reads >= kNestedReads) break;
      DirTask head = std::move(tasks.front());
      tasks.pop_front();
      if (waiting_walkers > 0) walk_cv.notify_all();
      lk.unlock();
      ++nested_reads;
      read_dir(std::move(head));
      --nested_reads;
      lk.lock();
    }
    tasks.push_back(std::move(t));
    lk.unlock();
    walk_cv.notify_all();
  }

  // Waits until every directory queued so far (and all they queue) is read.
  void wait_walked() {
    std::unique_lock lk(walk_mu);
    while (!tasks.empty() || busy_walkers > 0) {
      walked_cv.wait_for(lk, opt.progress_interval);
      lk.unlock();
      tick({});
      lk.lock();
    }
  }

  // ---- reporting (any thread, under mu)

  void done_locked(EntryKind kind, const std::string& src, const std::string& dst,
                   const Report* rep) {
    ++prog.files_done;
    switch (kind) {
      case EntryKind::directory: ++report.directories; break;
      case EntryKind::regular: ++report.files; break;
      case EntryKind::symlink: ++report.symlinks; break;
      case EntryKind::hardlink: ++report.hardlinks; break;
      case EntryKind::fifo:
      case EntryKind::device: ++report.specials; break;
      case EntryKind::snapshot: ++report.snapshots; break;
      case EntryKind::socket: break;
    }
    if (observer) observer->done(kind, src, dst, rep);
  }

  void done(EntryKind kind, const std::string& src, const std::string& dst) {
    std::lock_guard lk(mu);
    done_locked(kind, src, dst, nullptr);
  }

  void failed_locked(const Error& e) {
    ++report.errors;
    if (observer) observer->failed(e);
  }

  void failed(const Error& e) {
    std::lock_guard lk(mu);
    failed_locked(e);
  }

  void skipped(EntryKind kind, const std::string& src, const std::string& why) {
    std::lock_guard lk(mu);
    ++report.skipped;
    if (observer) observer->skipped(kind, src, why);
  }

  void warnings_locked(const std::string& dst, const std::vector<Warning>& ws) {
    report.warnings += static_cast<int64_t>(ws.size());
    if (observer) {
      for (const Warning& w : ws) observer->warning(dst, w);
    }
  }

  void warnings(const std::string& dst, const std::vector<Warning>& ws) {
    if (ws.empty()) return;
    std::lock_guard lk(mu);
    warnings_locked(dst, ws);
  }

  // A few times a second: the observer's progress, totals from the counter.
  void tick(const std::string& current) {
    if (observer == nullptr) return;
    // Called for every entry: the clock check stays outside mu, which the
    // copies' completions take too.
    const int64_t now = Clock::now().time_since_epoch().count();
    if (now < next_tick.load(std::memory_order_relaxed)) return;
    std::lock_guard lk(mu);
    if (now < next_tick.load(std::memory_order_relaxed)) return;
    next_tick.store(now + std::chrono::duration_cast<Clock::duration>(opt.progress_interval).count(),
                    std::memory_order_relaxed);
    counter.totals(&prog.files_total, &prog.bytes_total);
    prog.current = current;
    observer->progress(prog);
  }

  // The last update, when everything is done: if the pre-walk is still
  // counting (a copy can outrun it, a snapshot always does), what was done
  // is the total, and the pre-walk is stopped rather than waited for.
  void final_tick() {
    if (observer == nullptr) return;
    std::lock_guard lk(mu);
    counter.totals(&prog.files_total, &prog.bytes_total);
    if (prog.files_total < 0) {
      counter.stop();
      prog.files_total = prog.files_done;
      prog.bytes_total = prog.bytes_done;
    }
    prog.current.clear();
    observer->progress(prog);
  }

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
      skipped(kind, src, "destination exists (-n)");
      return true;
    }
    const bool newer = d.st_mtim.tv_sec > st.st_mtim.tv_sec ||
                       (d.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                        d.st_mtim.tv_nsec >= st.st_mtim.tv_nsec);
    if (opt.update && newer) {
      // A link of a file copied (or kept) already is linked to it even so:
      // -u keeps data, and the link's data is that copy's (cp).
      if (kept_first(dst, st, is_root)) return false;
      skipped(kind, src, "destination is not older (-u)");
      return true;
    }
    if (opt.interactive && !ask_overwrite(kind, src, dst)) {
      skipped(kind, src, "not overwritten (-i)");
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
        failed(tree::entry_error(EINVAL, "copy", Role::none, src,
                                 "'" + src + "' and '" + dst + "' are the same file"));
        return true;
      case tree::SameFile::done:
        done(kind_of(st), src, dst);
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
      failed(tree::entry_error(EINVAL, "copy", Role::none, src,
                               "backing up '" + dst + "' might destroy source;  '" + src +
                                   "' not copied"));
      return false;
    }
    if (opt.backup != Backup::none) {
      const std::string to = backup_name(dst, opt.backup, opt.backup_suffix);
      if (int r = sys.rename(dst.c_str(), to.c_str(), false); r < 0) {
        failed(tree::entry_error(-r, "rename", Role::destination, dst,
                                 "cannot backup '" + dst + "'"));
        return false;
      }
      return true;
    }
    if (int r = sys.unlink(dst.c_str()); r < 0 && r != -ENOENT) {
      failed(tree::entry_error(-r, "unlink", Role::destination, dst));
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
    if (!s) return failed(s.error());
    done(hard ? EntryKind::hardlink : EntryKind::symlink, src, dst);
  }

  // One question at a time, outside mu: the copies' completions go on
  // while the answer is awaited.
  bool ask_overwrite(EntryKind kind, const std::string& src, const std::string& dst) {
    if (observer == nullptr) return true;
    std::lock_guard lk(ask_mu);
    return observer->overwrite(kind, src, dst);
  }

  // `fresh`: dst's parent was made by this copy, so dst cannot exist.
  void visit(const std::string& src, const std::string& dst, const struct stat& st,
             bool fresh, int depth, const std::shared_ptr<const Ancestor>& path,
             const Held& held = {}) {
    if (cancelled.load(std::memory_order_relaxed)) return;
    tick(src);
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
      if (!s) return failed(s.error());
      return made(EntryKind::symlink, src, dst, st);
    }
    if (S_ISSOCK(st.st_mode)) {
      return skipped(EntryKind::socket, src,
                     "a socket cannot be copied; it belongs to the program listening on it");
    }
    struct stat node = st;
    if (opt.file.default_mode) node.st_mode = (st.st_mode & S_IFMT) | 0666;
    Status s = tree::make_special(sys, node, dst, umask, replace());
    if (!s) return failed(s.error());
    made(kind_of(st), src, dst, st);
  }

  // A link or node is in place: its metadata now (nothing is created in it).
  void made(EntryKind kind, const std::string& src, const std::string& dst,
            const struct stat& st) {
    std::vector<Warning> ws;
    meta::apply(sys, st, {-1, src.c_str()}, {-1, dst.c_str()}, opt.file.preserve, &ws);
    warnings(dst, ws);
    done(kind, src, dst);
  }

  void visit_dir(const std::string& src, const std::string& dst, const struct stat& st,
                 int depth, const std::shared_ptr<const Ancestor>& path,
                 const std::shared_ptr<Dir>& parent) {
    const InodeKey key{st.st_dev, st.st_ino};
    for (const Ancestor* a = path.get(); a != nullptr; a = a->up.get()) {
      if (a->key == key) {
        return failed(tree::entry_error(ELOOP, "walk", Role::source, src,
                                        "a directory that contains itself (a link loop)"));
      }
    }
    auto made_dir = tree::make_dir(sys, src, dst);
    if (!made_dir) return failed(made_dir.error());
    const bool fresh = *made_dir == tree::DirMade::created;
    // Told when made, before its contents, as cp -v; one merged into is
    // not made (cp -v says nothing of it either).
    if (fresh) done(EntryKind::directory, src, dst);
    auto dir = std::make_shared<Dir>(*this, src, dst, st, fresh, parent);
    if (opt.one_file_system && st.st_dev != root_dev) {
      return skipped(EntryKind::directory, src, "on another filesystem (-x): made empty");
    }
    std::shared_ptr<const Ancestor> here;
    if (opt.deref != Deref::never) here = std::make_shared<const Ancestor>(Ancestor{key, path});
    enqueue(DirTask{std::move(dir), fresh, depth, std::move(here)});
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
    if (r < 0) return failed(tree::entry_error(-r, "opendir", Role::source, src));
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
        failed(tree::entry_error(-sr, "stat", Role::source, child));
        continue;
      }
      visit(child, join(dst, e.name), cst, t.fresh, t.depth + 1, t.path, held);
    }
  }

  // --attributes-only: the file made or opened without truncating it,
  // then the metadata, on this walker (there is no data to queue).
  void attributes_only(const std::string& src, const std::string& dst, const struct stat& st) {
    const int fd = sys.open(dst.c_str(), O_WRONLY | O_CREAT | O_NOCTTY, st.st_mode & 0777);
    if (fd < 0) return failed(tree::entry_error(-fd, "open", Role::destination, dst));
    sys::UniqueFd out(fd);
    struct stat now {};
    std::vector<Warning> ws;
    if (sys.fstat(fd, &now) == 0) {
      meta::apply(sys, st, {-1, src.c_str()}, {fd}, opt.file.preserve, &ws, &now);
    }
    warnings(dst, ws);
    done(EntryKind::regular, src, dst);
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
    std::lock_guard lk(mu);
    return !firsts.try_emplace(InodeKey{st.st_dev, st.st_ino}, First{dst, First::ok}).second;
  }

  void visit_file(const std::string& src, const std::string& dst, const struct stat& st,
                  bool fresh, const Held& held, bool is_root) {
    if (opt.attributes_only) return attributes_only(src, dst, st);
    if (tracks_links(st, is_root)) {
      const InodeKey key{st.st_dev, st.st_ino};
      std::lock_guard lk(mu);
      auto [it, first] = firsts.try_emplace(key, First{dst});
      if (!first) {
        links.push_back(Link{src, dst, key, held.dir});  // made in finish()
        return;
      }
    }
    submit(src, dst, st, fresh, held, is_root);
  }

  void submit(const std::string& src, const std::string& dst, const struct stat& st,
              bool fresh, const Held& held, bool is_root = false) {
    if (cancelled.load()) return;
    Pending* p = nullptr;
    {
      std::lock_guard lk(mu);
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
      const Held drop{std::move(p->src_dir), std::move(p->dst_dir), std::move(p->in)};
      std::lock_guard lk(mu);
      if (p->linked) firsts[p->key].state = First::failed;
      failed_locked(e);
      release_locked(p);
    }
  }

  // A file's completion is in: its record goes back to the pool.
  void release_locked(Pending* p) {
    p->next = spare;
    spare = p;
    if (--in_flight == 0) idle.notify_all();
  }

  // On an engine thread.
  void file_done(Pending& p, const Result<Report>& r) {
    // Let go of the directories outside mu (the last one out closes the
    // descriptors and finishes the directory), and before the file is
    // released: finish() must not return while a directory is finishing.
    Held held{std::move(p.src_dir), std::move(p.dst_dir), std::move(p.in)};
    bool grow = false;
    {
      std::lock_guard lk(mu);
      if (p.linked) firsts[p.key].state = r ? First::ok : First::failed;
      if (!r && r.error().code == ECANCELED && cancelled.load()) {
        ++report.cancelled;
      } else if (r) {
        report.data.merge(*r);
        report.bytes += p.size;
        prog.bytes_done += p.size;
        warnings_locked(p.dst, r->warnings);
        done_locked(EntryKind::regular, p.src, p.dst, &*r);
        grow = sampled_locked(*r);
      } else {
        failed_locked(r.error());
      }
    }
    held = {};
    if (!grow) {
      std::lock_guard lk(mu);
      return release_locked(&p);
    }
    // More copying threads; if the system has no more to give, the copy
    // goes on with those it has.  The file is released only afterwards, so
    // that finish(), which waits for every file, reports the new count (it
    // could return in between: TSan's slow thread starts showed it).
    const bool grew = engine->set_workers(io_jobs()).ok();
    std::lock_guard lk(mu);
    if (grew) report.copy_threads = io_jobs();
    release_locked(&p);
  }

  // Counts a finished file into the sample; true when the sample is full
  // and says data is being moved (once).
  bool sampled_locked(const Report& r) {
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
    std::unique_lock lk(mu);
    while (in_flight > 0) {
      idle.wait_for(lk, opt.progress_interval);
      if (in_flight > 0 && observer != nullptr) {
        counter.totals(&prog.files_total, &prog.bytes_total);
        observer->progress(prog);
      }
    }
  }

  void make_links() {
    for (const Link& l : links) {
      First first;
      {
        std::lock_guard lk(mu);
        first = firsts[l.key];
      }
      if (first.state != First::ok) {
        failed(tree::entry_error(ENOENT, "link", Role::destination, l.dst,
                                 "its first copy '" + first.dst + "' failed"));
        continue;
      }
      Status s = tree::make_link(sys, first.dst, l.dst, replace());
      if (!s) {
        failed(s.error());
        continue;
      }
      done(EntryKind::hardlink, l.src, l.dst);
    }
    links.clear();
  }

  // A directory's metadata, once nothing more is made in it (~Dir).
  void finish_dir(const Dir& d) {
    std::vector<Warning> ws;
    Preserve p = opt.file.preserve;
    meta::apply(sys, d.st, {-1, d.src.c_str()}, {-1, d.dst.c_str()}, p, &ws);
    // Without --preserve=mode a new directory gets the source's mode
    // less the umask, as mkdir would have given it (it was 0700 while
    // being filled); an existing one keeps its own.
    if (!p.mode && d.created) {
      // mkdir(2) takes the sticky bit but not set-id bits (setgid comes
      // from the parent), so neither does this.
      const mode_t from = opt.file.default_mode ? 0777 | (d.st.st_mode & S_ISVTX)
                                                : d.st.st_mode & 01777;
      const mode_t mode = from & ~umask;
      if (int r = sys.chmod({-1, d.dst.c_str()}, mode); r < 0) {
        ws.push_back(Warning{"chmod", -r, {}});
      }
    }
    warnings(d.dst, ws);
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
  impl->sample.open = options.jobs <= 0 && io_jobs() > eo.workers;
  impl->report.copy_threads = eo.workers;
  // Bounded so a walk far ahead of the copies holds a bounded number of
  // paths; the walker waits (OnFull::block) when it is reached.
  eo.max_jobs_in_flight = 4096;
  eo.shutdown = OnShutdown::drain;
  auto engine = engine::EngineAccess::open(eo, ctx);
  if (!engine) return engine.error();
  impl->engine = std::move(*engine);
  if (!impl->start_walkers(eo.workers)) {
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
      std::lock_guard lk(m.mu);
      m.report.data.merge(rep);
      m.done_locked(EntryKind::snapshot, src, dst, &rep);
      return Ok{};
    }
  }
  m.root_dev = st.st_dev;
  m.visit(src, dst, st, /*fresh=*/false, /*depth=*/0, nullptr, {});
  m.wait_walked();
  return Ok{};
}

void TreeCopy::cancel() {
  Impl& m = *impl_;
  m.cancelled.store(true);
  m.engine->cancel_all();
  m.walk_cv.notify_all();
}

bool TreeCopy::cancelled() const { return impl_->cancelled.load(); }

void TreeCopy::wait_files() { impl_->wait_idle(); }

TreeReport TreeCopy::finish() {
  Impl& m = *impl_;
  m.finished = true;
  m.wait_idle();
  if (m.cancelled.load()) m.links.clear();
  m.make_links();  // the last directories finish as their links are made
  m.final_tick();
  std::lock_guard lk(m.mu);
  return m.report;
}

}  // namespace offcopy
