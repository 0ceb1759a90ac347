#include "run_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "messages.h"
#include "parents.h"
#include "progress.h"
#include "render.h"
#include "signals.h"

namespace offcopy::cli {
namespace {

// "rwxr-x---" and the rest of ls's mode letters, without the type.
std::string mode_letters(mode_t m) {
  std::string s = "---------";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (m & (0400 >> i)) s[i] = rwx[i];
  }
  if (m & S_ISUID) s[2] = (m & S_IXUSR) ? 's' : 'S';
  if (m & S_ISGID) s[5] = (m & S_IXGRP) ? 's' : 'S';
  if (m & S_ISVTX) s[8] = (m & S_IXOTH) ? 't' : 'T';
  return s;
}

// cp's -i question: about the mode when the destination is not writable.
std::string overwrite_question(const std::string& dst, bool replacing) {
  struct stat st {};
  const bool unwritable = ::lstat(dst.c_str(), &st) == 0 && !S_ISLNK(st.st_mode) &&
                          ::faccessat(AT_FDCWD, dst.c_str(), W_OK, AT_EACCESS) != 0;
  char buf[64];
  std::string q = std::string(program_name()) + ": ";
  if (!unwritable) return q + "overwrite '" + dst + "'? ";
  const std::string letters = mode_letters(st.st_mode);
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  if (replacing) return q + "replace '" + dst + "', overriding mode " + buf + " (" + letters + ")? ";
  return q + "unwritable '" + dst + "' (mode " + buf + ", " + letters + "); try anyway? ";
}

// Prints as the copy goes; keeps what --stats and --json need.
class CliObserver final : public TreeObserver {
 public:
  CliObserver(const Options& o, bool progress)
      : o_(o), line_(progress), text_(o.json ? stderr : stdout) {}

  void done(EntryKind, const std::string& src, const std::string& dst,
            const Report* report) override {
    std::lock_guard lk(screen_mu_);
    if (o_.verbose) {
      line_.clear();
      std::fprintf(text_, "'%s' -> '%s'\n", src.c_str(), dst.c_str());
    }
    if (report == nullptr || (!o_.debug && !o_.json)) return;
    FileResult r{src, dst, FileStatus::copied, *report};
    if (o_.debug) {
      line_.clear();
      print_debug(text_, r);
    }
    if (o_.json) results.push_back(std::move(r));
  }

  void skipped(EntryKind kind, const std::string& src, const std::string& why) override {
    std::lock_guard lk(screen_mu_);
    if (kind == EntryKind::socket) {
      line_.clear();
      std::fprintf(stderr, "%s: warning: skipping socket '%s': %s\n", program_name(), src.c_str(),
                   why.c_str());
    } else if (o_.debug) {
      // cp 9.1 says nothing of what -n, -u or -i kept; --debug does.
      line_.clear();
      std::fprintf(text_, "skipped '%s' (%s)\n", src.c_str(), why.c_str());
    }
  }

  void failed(const Error& e) override {
    std::lock_guard lk(screen_mu_);
    line_.clear();
    print_failure(e, o_.debug);
    if (!e.offload_unsupported()) only_offload_ = false;
    ++failures_;
    if (o_.json) {
      FileResult r{e.role == Role::destination ? std::string() : e.path,
                   e.role == Role::destination ? e.path : std::string(), FileStatus::failed};
      r.error = e;
      if (e.report) r.report = *e.report;
      results.push_back(std::move(r));
    }
  }

  // The first warning of each kind (step, errno, xattr name) is printed;
  // the rest are counted and summed up at the end, so a tree of 50,000
  // files on a destination without xattrs gives a few lines, not 50,000.
  void warning(const std::string& dst, const Warning& w) override {
    std::lock_guard lk(screen_mu_);
    const std::string key = w.op + '\0' + std::to_string(w.code) + '\0' + w.detail;
    auto [it, first] = warned_.try_emplace(key, Repeat{w, 0});
    if (!first) {
      ++it->second.more;
      return;
    }
    line_.clear();
    print_warning(dst, w);
  }

  void progress(const TreeProgress& p) override {
    std::lock_guard lk(screen_mu_);
    line_.show(p);
  }

  // -i: cp's question on stderr, the answer a line of stdin; yes when it
  // starts with 'y' or 'Y' (an empty line or end of input is no).  The
  // screen stays the question's until it is answered.
  bool overwrite(EntryKind, const std::string&, const std::string& dst) override {
    std::lock_guard lk(screen_mu_);
    line_.clear();
    std::fputs(overwrite_question(dst, o_.force || o_.remove_destination).c_str(), stderr);
    std::fflush(stderr);
    std::string line;
    for (int ch = std::fgetc(stdin); ch != EOF && ch != '\n'; ch = std::fgetc(stdin)) {
      line += static_cast<char>(ch);
    }
    const size_t at = line.find_first_not_of(" \t");
    return at != std::string::npos && (line[at] == 'y' || line[at] == 'Y');
  }

  void end() {
    std::lock_guard lk(screen_mu_);
    line_.clear();
    for (const auto& [key, r] : warned_) {
      if (r.more == 0) continue;
      std::fprintf(stderr, "%s: warning: the same (%s%s%s: %s) for %lld more entries\n",
                   program_name(), r.w.op.c_str(), r.w.detail.empty() ? "" : " ", r.w.detail.c_str(),
                   strerror(r.w.code), static_cast<long long>(r.more));
    }
  }
  int exit_code() const {
    if (failures_ == 0) return kExitOk;
    return only_offload_ ? kExitNoOffload : kExitFailed;
  }
  // A warning of cp's, in its words.
  void warn(const std::string& what) {
    std::lock_guard lk(screen_mu_);
    line_.clear();
    std::fprintf(stderr, "%s: %s\n", program_name(), what.c_str());
  }
  // A failure already told on stderr.
  void count_failure() {
    std::lock_guard lk(screen_mu_);
    only_offload_ = false;
    ++failures_;
    ++root_failures;
  }
  void root_failed(const Error& e) {
    failed(e);
    ++root_failures;
  }
  int64_t root_failures = 0;  // not in TreeReport::errors: counted here

  std::vector<FileResult> results;

 private:
  const Options& o_;
  ProgressLine line_;
  std::FILE* text_;
  // Every method that writes to the terminal holds it: they come from
  // walkers and copy threads, and a question must not be written over.
  std::mutex screen_mu_;
  int64_t failures_ = 0;
  bool only_offload_ = true;
  struct Repeat {
    Warning w;
    int64_t more;
  };
  std::map<std::string, Repeat> warned_;
};

// cp's refusal to copy onto a name this run made: through a symlink it
// made, or over anything else.
Error just_created(const Pair& p) {
  Error e;
  e.code = EEXIST;
  e.op = "copy";
  e.path = p.dst;
  struct stat st {};
  if (::lstat(p.dst.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    e.detail = "will not copy '" + p.src + "' through just-created symlink '" + p.dst + "'";
  } else {
    e.detail = "will not overwrite just-created '" + p.dst + "' with '" + p.src + "'";
  }
  return e;
}

// --parents: DIR, from DIR/SRC.
std::string parents_root(const Pair& p) {
  const size_t at = p.src.find_first_not_of('/');
  const size_t rel = at == std::string::npos ? 0 : p.src.size() - at;
  std::string dir = p.dst.substr(0, p.dst.size() - rel);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

int run_tree(const Options& o, const std::vector<Pair>& pairs) {
  const auto t0 = std::chrono::steady_clock::now();
  CliObserver obs(o, wants_progress(o));
  const TreeOptions topt = tree_options(o);
  auto tc = TreeCopy::open(topt, &obs);
  if (!tc) {
    std::fprintf(stderr, "%s: cannot start the copy: %s\n", program_name(),
                 tc.error().message().c_str());
    return kExitFailed;
  }
  std::vector<std::string> sources;
  for (const Pair& p : pairs) sources.push_back(p.src);
  (*tc)->plan(sources);
  std::set<std::string> planned;  // cp: never overwrite what this run made
  ParentDirs parents(o);
  TreeCopy* copier = tc->get();
  on_stop([copier] { copier->cancel(); });
  for (const Pair& p : pairs) {
    if (copier->cancelled()) break;
    if (!p.repeated.empty()) {
      obs.warn(p.repeated);
      continue;
    }
    if (!planned.insert(p.dst).second) {
      // cp: only numbered backups may copy onto a name this run made; the
      // first copy must be in place to be backed up.
      if (topt.backup != Backup::numbered) {
        obs.root_failed(just_created(p));
        continue;
      }
      copier->wait_files();
    }
    if (o.parents && !parents.make(parents_root(p), p.src)) {
      obs.count_failure();
      continue;
    }
    if (Status s = (*tc)->copy(p.src, p.dst); !s) obs.root_failed(s.error());
  }
  TreeReport rep = (*tc)->finish();
  parents.finish();
  on_stop(nullptr);
  rep.errors += obs.root_failures;
  obs.end();
  if (int sig = stop_signal(); sig != 0) {
    print_stopped(signal_name(sig), rep.files, rep.cancelled);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Totals sum = totals(rep);
  if (o.stats) print_stats(o.json ? stderr : stdout, sum, secs);
  if (o.json) print_json(stdout, obs.results, sum, secs);
  if (int sig = stop_signal(); sig != 0) return kExitSignal + sig;
  return obs.exit_code();
}

}  // namespace offcopy::cli
