// offcopy: a cp-compatible front end to liboffcopy.  Stage one parses the
// options (options.cc); stage two resolves the operands against the
// filesystem into (source, destination) pairs, as cp does; then each pair
// is copied by the engine (run_copies.cc) and reported in operand order.
#include <errno.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "footprint.h"
#include "messages.h"
#include "options.h"
#include "render.h"
#include "run_copies.h"
#include "run_tree.h"
#include "signals.h"

namespace offcopy::cli {
namespace {

std::string strip_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string base_name(std::string p) {
  p = strip_slashes(std::move(p));
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool same_inode(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// cp's warning for `cp a a d/`: the second copy would be onto the first,
// so it is not made (exit 0).  Not with backups, where it backs up the
// first; different sources of one name are left for the copy to refuse
// ("will not overwrite just-created").
void mark_repeated_sources(std::vector<Pair>& pairs) {
  // The first pair of each destination; only a name seen before is
  // stat'ed (`offcopy * dir/` may have many operands).
  std::unordered_map<std::string, size_t> first;
  for (size_t i = 0; i < pairs.size(); ++i) {
    Pair& p = pairs[i];
    auto [it, fresh] = first.try_emplace(p.dst, i);
    if (fresh || !same_inode(pairs[it->second].src, p.src)) continue;
    p.repeated = std::string("warning: source ") + (is_dir(p.src) ? "directory" : "file") +
                 " '" + p.src + "' specified more than once";
  }
}

// cp: `cp --force --backup FILE FILE` copies FILE to its backup name.
void backup_onto_itself(const Options& o, std::vector<Pair>& pairs) {
  for (Pair& p : pairs) {
    struct stat st {};
    if (p.src != p.dst || ::stat(p.src.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const std::string to = backup_name(p.dst, backup_kind(o), backup_suffix(o));
    if (!to.empty()) p.dst = to;
  }
}

// --parents: the destination is DIR/SOURCE, its directories made as the
// copy goes (parents.cc).
std::string under_dir(const std::string& dir, const std::string& src) {
  size_t at = src.find_first_not_of('/');
  return join(dir, at == std::string::npos ? "" : src.substr(at));
}

// cp's operand rules: -t DIR; -T SRC DST; a last operand that is a
// directory; otherwise exactly SRC DST.  Returns false after a usage error.
bool plan(const Options& o, std::vector<Pair>* out) {
  std::vector<std::string> srcs = o.operands;
  if (o.strip_trailing_slashes) {
    for (std::string& s : srcs) s = strip_slashes(s);
  }
  std::string dir;
  if (o.target_dir) {
    dir = *o.target_dir;
    struct stat st {};
    const int err = ::stat(dir.c_str(), &st) != 0 ? errno
                    : S_ISDIR(st.st_mode)         ? 0
                                                  : ENOTDIR;
    if (err != 0) {
      std::fprintf(stderr, "%s: target directory '%s': %s\n", program_name(), dir.c_str(),
                   std::strerror(err));
      return false;
    }
  } else {
    std::string last = srcs.back();
    srcs.pop_back();
    if (o.parents && (o.no_target_dir || !is_dir(last))) {
      std::fprintf(stderr, "%s: with --parents, the destination must be a directory\n",
                   program_name());
      return false;
    }
    if (o.no_target_dir || !is_dir(last)) {
      if (srcs.size() > 1) {
        std::fprintf(stderr, "%s: target '%s' is not a directory\n", program_name(),
                     last.c_str());
        return false;
      }
      out->push_back({srcs[0], last});
      if (o.backup && o.force) backup_onto_itself(o, *out);
      return true;
    }
    dir = last;
  }
  for (const std::string& s : srcs) {
    out->push_back({s, o.parents ? under_dir(dir, s) : join(dir, base_name(s))});
  }
  // With backups the second copy backs up the first (cp).
  if (!o.backup) mark_repeated_sources(*out);
  if (o.backup && o.force) backup_onto_itself(o, *out);
  return true;
}

int exit_code(const std::vector<FileResult>& results) {
  bool failed = false;
  bool only_offload = true;
  for (const FileResult& r : results) {
    if (r.status != FileStatus::failed) continue;
    failed = true;
    if (!r.error || !r.error->offload_unsupported()) only_offload = false;
  }
  if (!failed) return kExitOk;
  return only_offload ? kExitNoOffload : kExitFailed;
}

bool has_repeated(const std::vector<Pair>& pairs) {
  for (const Pair& p : pairs) {
    if (!p.repeated.empty()) return true;
  }
  return false;
}

int run(const Options& o) {
  std::vector<Pair> pairs;
  if (!plan(o, &pairs)) return kExitFailed;
  // -P / -d without -r copy a link operand as a link: the tree copier
  // knows how; run_copies opens (follows) its sources.
  // -u needs the destination's time, looked at per entry, and -i asks
  // per entry: also there.
  // -l, -s, -b, --remove-destination and --parents decide per entry: also
  // the tree copier's.
  if (o.recursive || o.deref == Deref::never || o.update || o.interactive ||
      o.make_as != MakeAs::copy || o.backup || o.remove_destination || o.parents ||
      o.attributes_only || o.preserve_links || has_repeated(pairs)) {
    return run_tree(o, pairs);
  }
  // With --json, stdout carries only the JSON document.
  std::FILE* text = o.json ? stderr : stdout;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<FileResult> results;
  const bool ran = run_copies(o, pairs, [&](FileResult r) {
    if (o.verbose && r.status == FileStatus::copied) print_verbose(text, r);
    if (o.debug) print_debug(text, r);
    print_error(r, o.debug);
    for (const Warning& w : r.report.warnings) print_warning(r.dst, w);
    results.push_back(std::move(r));
  });
  if (!ran) return kExitFailed;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Totals sum = totals(results);
  if (o.stats) print_stats(text, sum, secs);
  if (o.json) print_json(stdout, results, sum, secs);
  if (int sig = stop_signal(); sig != 0) {
    print_stopped(signal_name(sig), sum.copied, sum.cancelled);
    return kExitSignal + sig;
  }
  return exit_code(results);
}

}  // namespace
}  // namespace offcopy::cli

int main(int argc, char** argv) {
  offcopy::cli::keep_footprint_small();
  offcopy::cli::set_program_name(argv[0]);
  offcopy::cli::reserve_std_fds();
  offcopy::cli::watch_signals();
  offcopy::cli::Parsed p = offcopy::cli::parse_options(argc, argv);
  if (!p.options) return offcopy::cli::close_stdout(p.exit_code);
  return offcopy::cli::close_stdout(offcopy::cli::run(*p.options));
}
