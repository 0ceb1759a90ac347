// Stage one: getopt_long, the parser cp itself uses, so option spelling,
// abbreviations, bundling (-fv) and "--" behave as users expect.
#include "options.h"
#include "argmatch.h"
#include "messages.h"

#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

namespace offcopy::cli {
namespace {

enum LongOnly {
  kReflink = 256, kSparse, kOffload, kDebug, kStats, kJson, kHelp, kVersion,
  kPreserve, kNoPreserve, kSnapshot, kProgress, kNoProgress, kCopyContents, kAtomic,
  kFsync, kVerify, kBackup, kRemoveDestination, kStripTrailingSlashes, kParents,
  kAttributesOnly,
};

const option kLongOptions[] = {
    {"reflink", optional_argument, nullptr, kReflink},
    {"sparse", required_argument, nullptr, kSparse},
    {"offload", required_argument, nullptr, kOffload},
    {"debug", no_argument, nullptr, kDebug},
    {"stats", no_argument, nullptr, kStats},
    {"json", no_argument, nullptr, kJson},
    {"force", no_argument, nullptr, 'f'},
    {"no-clobber", no_argument, nullptr, 'n'},
    {"interactive", no_argument, nullptr, 'i'},
    {"verbose", no_argument, nullptr, 'v'},
    {"no-target-directory", no_argument, nullptr, 'T'},
    {"target-directory", required_argument, nullptr, 't'},
    {"recursive", no_argument, nullptr, 'r'},
    {"archive", no_argument, nullptr, 'a'},
    {"preserve", optional_argument, nullptr, kPreserve},
    {"no-preserve", required_argument, nullptr, kNoPreserve},
    {"no-dereference", no_argument, nullptr, 'P'},
    {"dereference", no_argument, nullptr, 'L'},
    {"one-file-system", no_argument, nullptr, 'x'},
    {"update", no_argument, nullptr, 'u'},
    {"jobs", required_argument, nullptr, 'j'},
    {"snapshot", required_argument, nullptr, kSnapshot},
    {"progress", no_argument, nullptr, kProgress},
    {"no-progress", no_argument, nullptr, kNoProgress},
    {"copy-contents", no_argument, nullptr, kCopyContents},
    {"atomic", no_argument, nullptr, kAtomic},
    {"fsync", no_argument, nullptr, kFsync},
    {"verify", no_argument, nullptr, kVerify},
    {"link", no_argument, nullptr, 'l'},
    {"symbolic-link", no_argument, nullptr, 's'},
    {"backup", optional_argument, nullptr, kBackup},
    {"suffix", required_argument, nullptr, 'S'},
    {"remove-destination", no_argument, nullptr, kRemoveDestination},
    {"strip-trailing-slashes", no_argument, nullptr, kStripTrailingSlashes},
    {"parents", no_argument, nullptr, kParents},
    {"attributes-only", no_argument, nullptr, kAttributesOnly},
    {"context", optional_argument, nullptr, 'Z'},
    {"help", no_argument, nullptr, kHelp},
    {"version", no_argument, nullptr, kVersion},
    {nullptr, 0, nullptr, 0},
};

constexpr const char* kUsage =
    "Usage: offcopy [OPTION]... [-T] SOURCE DEST\n"
    "  or:  offcopy [OPTION]... SOURCE... DIRECTORY\n"
    "  or:  offcopy [OPTION]... -t DIRECTORY SOURCE...\n"
    "Copy SOURCE to DEST, or SOURCEs into DIRECTORY, handing the copy to the\n"
    "filesystem (reflink, copy_file_range) whenever it can do it.\n"
    "\n"
    "      --reflink[=WHEN]     clone extents: auto (default), always, never\n"
    "      --sparse=WHEN        holes: auto (default), always, never\n"
    "      --offload=MODE       auto (default), or require: copy only by clone\n"
    "                           or kernel copy, never through host memory\n"
    "  -r, -R, --recursive      copy directories recursively\n"
    "  -a, --archive            same as -dR --preserve=all\n"
    "  -p                       same as --preserve=mode,ownership,timestamps\n"
    "      --preserve[=LIST]    keep the attributes in LIST (default:\n"
    "                           mode,ownership,timestamps): mode (with ACLs),\n"
    "                           ownership, timestamps, links, xattr, all\n"
    "      --no-preserve=LIST   do not keep the attributes in LIST\n"
    "  -d                       same as --no-dereference --preserve=links\n"
    "  -P, --no-dereference     never follow symbolic links in SOURCE\n"
    "  -L, --dereference        always follow symbolic links in SOURCE\n"
    "  -H                       follow symbolic links given on the command line\n"
    "  -x, --one-file-system    stay on this file system\n"
    "  -u, --update             copy only when SOURCE is newer than DEST\n"
    "                           or DEST is missing\n"
    "      --copy-contents      copy the contents of FIFOs and devices met\n"
    "                           under -r, instead of making new ones\n"
    "      --atomic             write each file under a temporary name and\n"
    "                           rename it over DEST when complete: DEST is\n"
    "                           the old file or the new one, never a mix\n"
    "      --fsync              make each file durable before it is counted\n"
    "      --verify             read both files back and compare them\n"
    "                           (xxh3-128); a difference is an error\n"
    "  -j, --jobs=N             copy N files at once (default: one per CPU, 2-16)\n"
    "      --snapshot=WHEN      copy a whole btrfs subvolume as a snapshot:\n"
    "                           auto (default, when it equals the copy: -a,\n"
    "                           a new DEST on the same filesystem), always, never\n"
    "      --progress           show a progress line on stderr\n"
    "      --no-progress        never show it (default: shown for -r on a\n"
    "                           terminal)\n"
    "  -l, --link               hard link files instead of copying\n"
    "  -s, --symbolic-link      make symbolic links instead of copying\n"
    "      --backup[=CONTROL]   make a backup of each existing destination file:\n"
    "                           none/off, numbered/t, existing/nil, simple/never\n"
    "  -b                       like --backup but does not accept an argument\n"
    "  -S, --suffix=SUFFIX      override the usual backup suffix (~)\n"
    "      --remove-destination remove each existing destination file before\n"
    "                           attempting to open it (contrast with --force)\n"
    "      --parents            use full source file name under DIRECTORY\n"
    "      --attributes-only    don't copy the file data, just the attributes\n"
    "      --strip-trailing-slashes  remove any trailing slashes from each SOURCE\n"
    "  -Z, --context[=CTX]      SELinux context (ignored: no SELinux support)\n"
    "  -f, --force              if DEST cannot be opened, remove it and retry\n"
    "  -i, --interactive        prompt before overwrite (overrides a previous -n)\n"
    "  -n, --no-clobber         do not overwrite an existing file (overrides a\n"
    "                           previous -i)\n"
    "  -t, --target-directory=DIRECTORY  copy all SOURCEs into DIRECTORY\n"
    "  -T, --no-target-directory         treat DEST as a normal file\n"
    "  -v, --verbose            say what is being done\n"
    "      --debug              per file: bytes moved by each mechanism and why\n"
    "                           each mechanism above it was skipped\n"
    "      --stats              print a summary line at the end\n"
    "      --json               print the report as one JSON document\n"
    "      --help               display this help and exit\n"
    "      --version            output version information and exit\n"
    "\n"
    "Exit status: 0 all copied, 1 some file failed or a usage error,\n"
    "3 --offload=require could not offload (nothing written for that file),\n"
    "128+N stopped by signal N (130 SIGINT, 143 SIGTERM); partial files removed.\n";

int usage_error(const std::string& msg) {
  if (!msg.empty()) std::fprintf(stderr, "%s: %s\n", program_name(), msg.c_str());
  std::fprintf(stderr, "Try '%s --help' for more information.\n", program_name());
  return kExitUsage;
}

// Sets *out from `arg`, a word of `words` or a prefix naming one value;
// otherwise cp's complaint.  -1 to go on, else the exit code.
template <typename Words, typename E>
int choose(const char* arg, const char* option, const Words& words, E* out) {
  const Match m = argmatch(arg, words, out);
  if (m == Match::found) return -1;
  argmatch_complain(m, arg, option, words);
  return usage_error("");
}

template <typename E>
int choose(const char* arg, const char* option,
           std::initializer_list<std::pair<const char*, E>> words, E* out) {
  return choose<std::initializer_list<std::pair<const char*, E>>, E>(arg, option, words, out);
}

int parse_reflink(const char* arg, Reflink* out) {
  if (arg == nullptr) arg = "always";  // --reflink alone
  return choose(arg, "--reflink", {{"auto", Reflink::auto_}, {"always", Reflink::always},
                                   {"never", Reflink::never}}, out);
}

int parse_sparse(const char* arg, Sparse* out) {
  return choose(arg, "--sparse", {{"never", Sparse::never}, {"auto", Sparse::auto_},
                                  {"always", Sparse::always}}, out);
}

enum class Attr { mode, timestamps, ownership, links, context, xattr, all };

// A --preserve / --no-preserve LIST (words or their prefixes), applied to
// `o` as on or off.  -1 to go on, else the exit code.
int parse_preserve(const char* arg, const char* option, bool on, Options& o) {
  const std::string list = arg;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string w = list.substr(at, comma - at);
    at = comma + 1;
    Attr a = Attr::all;
    if (int r = choose(w.c_str(), option,
                       {{"mode", Attr::mode}, {"timestamps", Attr::timestamps},
                        {"ownership", Attr::ownership}, {"links", Attr::links},
                        {"context", Attr::context}, {"xattr", Attr::xattr}, {"all", Attr::all}},
                       &a);
        r >= 0) {
      return r;
    }
    const bool all = a == Attr::all;
    if (all || a == Attr::mode) o.preserve.mode = on;
    if (all || a == Attr::ownership) o.preserve.ownership = on;
    if (all || a == Attr::timestamps) o.preserve.timestamps = on;
    if (all || a == Attr::links) o.preserve_links = on;
    if (all || a == Attr::xattr) o.preserve.xattr = on;
    if (a == Attr::mode && !on) o.no_preserve_mode = true;
    if (a == Attr::mode && on) o.no_preserve_mode = false;
    if (all && !on) o.no_preserve_mode = true;
    // No SELinux here: cp refuses a context it was asked by name to keep.
    if (a == Attr::context) o.require_context = on;
  }
  return -1;
}

int parse_snapshot(const char* arg, SnapshotMode* out) {
  return choose(arg, "--snapshot", {{"auto", SnapshotMode::automatic},
                                    {"always", SnapshotMode::always},
                                    {"never", SnapshotMode::never}}, out);
}

constexpr std::pair<const char*, Backup> kBackupWords[] = {
    {"none", Backup::none},         {"off", Backup::none},
    {"simple", Backup::simple},     {"never", Backup::simple},
    {"existing", Backup::existing}, {"nil", Backup::existing},
    {"numbered", Backup::numbered}, {"t", Backup::numbered}};

int choose_backup(const char* arg, const char* what, Backup* out) {
  return choose(arg, what, kBackupWords, out);
}

int invalid(const char* arg, const char* opt) {
  return usage_error(std::string("invalid argument '") + arg + "' for '" + opt + "'");
}

// Options of tree copies; returns -2 when `c` is not one of them.
int apply_tree(int c, Options& o) {
  switch (c) {
    case 'r':
    case 'R': o.recursive = true; return -1;
    case 'a':
      o.recursive = true;
      o.deref = Deref::never;
      o.preserve = Preserve::all();
      o.preserve_links = true;
      return -1;
    case 'p':
      o.preserve.mode = o.preserve.ownership = o.preserve.timestamps = true;
      return -1;
    case 'd':
      o.deref = Deref::never;
      o.preserve_links = true;
      return -1;
    case kPreserve:
      return parse_preserve(optarg ? optarg : "mode,ownership,timestamps", "--preserve", true, o);
    case kNoPreserve:
      return parse_preserve(optarg, "--no-preserve", false, o);
    case 'P': o.deref = Deref::never; return -1;
    case 'L': o.deref = Deref::always; return -1;
    case 'H': o.deref = Deref::command_line; return -1;
    case 'x': o.one_file_system = true; return -1;
    case 'u': o.update = true; return -1;
    case kCopyContents: o.copy_contents = true; return -1;
    case 'j': {
      char* end = nullptr;
      const long n = std::strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || n < 1 || n > 256) return invalid(optarg, "--jobs");
      o.jobs = static_cast<int>(n);
      return -1;
    }
    case kSnapshot: return parse_snapshot(optarg, &o.snapshot);
    case kProgress: o.progress = ProgressMode::on; return -1;
    case kNoProgress: o.progress = ProgressMode::off; return -1;
    default: return -2;
  }
}

// Applies one option; returns an exit code to stop with, or -1 to go on.
int apply(int c, Options& o) {
  if (int r = apply_tree(c, o); r != -2) return r;
  switch (c) {
    case kReflink: return parse_reflink(optarg, &o.flags.reflink);
    case kSparse: return parse_sparse(optarg, &o.flags.sparse);
    case kOffload:
      return choose(optarg, "--offload", {{"auto", false}, {"require", true}},
                    &o.flags.no_fallback);
    case 'l':
    case 's': {
      const MakeAs want = c == 'l' ? MakeAs::hard_link : MakeAs::symbolic_link;
      if (o.make_as != MakeAs::copy && o.make_as != want) o.link_conflict = true;
      o.make_as = want;
      return -1;
    }
    case 'b': o.backup = true; return -1;
    case kBackup:
      o.backup = true;
      if (optarg != nullptr) {
        Backup b;
        if (int r = choose_backup(optarg, "backup type", &b); r >= 0) return r;
        o.backup_control = optarg;
      }
      return -1;
    case 'S':
      o.backup = true;
      o.backup_suffix = optarg;
      return -1;
    case kRemoveDestination: o.remove_destination = true; return -1;
    case kStripTrailingSlashes: o.strip_trailing_slashes = true; return -1;
    case kParents: o.parents = true; return -1;
    case kAttributesOnly: o.attributes_only = true; return -1;
    case 'Z':
      // As cp without SELinux: -Z is ignored, a named context warned of.
      if (optarg != nullptr) {
        std::fprintf(stderr, "%s: warning: ignoring --context; it requires an SELinux-enabled kernel\n",
                     program_name());
      }
      return -1;
    case kAtomic: o.atomic = true; return -1;
    case kFsync: o.fsync = true; return -1;
    case kVerify: o.verify = true; return -1;
    case kDebug: o.debug = true; return -1;
    case kStats: o.stats = true; return -1;
    case kJson: o.json = true; return -1;
    // As cp 9.1: -f does not undo -n (nothing is overwritten either way),
    // and -n and -i override each other in order.
    case 'f': o.force = true; return -1;
    case 'n':
      o.overwrite = Overwrite::no_clobber;
      o.interactive = false;
      return -1;
    case 'i':
      o.interactive = true;
      if (o.overwrite == Overwrite::no_clobber) o.overwrite = Overwrite::replace;
      return -1;
    case 'v': o.verbose = true; return -1;
    case 'T': o.no_target_dir = true; return -1;
    case 't':
      if (o.target_dir) return usage_error("multiple target directories specified");
      o.target_dir = optarg;
      return -1;
    case kHelp: std::fputs(kUsage, stdout); return kExitOk;
    case kVersion: std::puts("offcopy 0.1.0"); return kExitOk;
    default: return usage_error("");
  }
}

// Options cp refuses together; null when there is none.
const char* conflict(const Options& o) {
  if (o.flags.reflink == Reflink::always && o.flags.sparse != Sparse::auto_) {
    return "--reflink can be used only with --sparse=auto";
  }
  if (o.link_conflict) return "cannot make both hard and symbolic links";
  if (o.backup && o.overwrite == Overwrite::no_clobber) {
    return "options --backup and --no-clobber are mutually exclusive";
  }
  return nullptr;
}

}  // namespace

Backup backup_kind(const Options& o) {
  if (!o.backup) return Backup::none;
  Backup b = Backup::existing;
  const char* vc = std::getenv("VERSION_CONTROL");
  const std::string control =
      !o.backup_control.empty() ? o.backup_control : vc != nullptr ? vc : "";
  if (!control.empty()) (void)argmatch(control.c_str(), kBackupWords, &b);
  return b;
}

std::string backup_suffix(const Options& o) {
  std::string s = o.backup_suffix;
  if (s.empty()) {
    const char* env = std::getenv("SIMPLE_BACKUP_SUFFIX");
    if (env != nullptr) s = env;
  }
  // cp: a suffix with a slash would put the backup somewhere else.
  if (s.empty() || s.find('/') != std::string::npos) s = "~";
  return s;
}

FileOptions file_options(const Options& o) {
  FileOptions fo;
  fo.flags = o.flags;
  fo.overwrite = o.overwrite;
  fo.preserve = o.preserve;
  fo.default_mode = o.no_preserve_mode;
  fo.atomic = o.atomic;
  fo.fsync = o.fsync;
  fo.verify = o.verify;
  // cp refuses to create a dangling symlink's target unless POSIX is asked
  // for by name.
  fo.write_through_dangling = std::getenv("POSIXLY_CORRECT") != nullptr;
  return fo;
}

TreeOptions tree_options(const Options& o) {
  TreeOptions t;
  t.file = file_options(o);
  t.recursive = o.recursive;
  t.preserve_links = o.preserve_links;
  // cp -R copies links as links; without -r, or with -l, cp follows them.
  const bool as_links = o.recursive && o.make_as != MakeAs::hard_link;
  t.deref = o.deref.value_or(as_links ? Deref::never : Deref::always);
  t.one_file_system = o.one_file_system;
  t.update = o.update;
  t.interactive = o.interactive;
  t.copy_contents = o.copy_contents;
  t.make_as = o.make_as;
  t.attributes_only = o.attributes_only;
  t.remove_destination = o.remove_destination;
  t.backup = backup_kind(o);
  t.backup_suffix = backup_suffix(o);
  t.snapshot = o.snapshot;
  t.jobs = o.jobs;
  // Only the progress line shows the totals, and the pre-walk that counts
  // them costs a stat per entry.
  t.count_totals = wants_progress(o);
  return t;
}

bool wants_progress(const Options& o) {
  if (o.progress != ProgressMode::automatic) return o.progress == ProgressMode::on;
  return ::isatty(STDERR_FILENO) == 1;
}

Parsed parse_options(int argc, char** argv) {
  Options o;
  optind = 1;
  opterr = 1;
  int c;
  while ((c = getopt_long(argc, argv, "abdfHilLnPprRsS:Tt:uvxj:Z", kLongOptions, nullptr)) != -1) {
    if (int code = apply(c, o); code >= 0) return {std::nullopt, code};
  }
  for (int i = optind; i < argc; ++i) o.operands.emplace_back(argv[i]);
  if (const char* why = conflict(o)) return {std::nullopt, usage_error(why)};
  if (o.require_context) {
    std::fprintf(stderr, "%s: cannot preserve security context without an SELinux-enabled kernel\n",
                 program_name());
    return {std::nullopt, kExitUsage};
  }
  if (o.backup) {
    Backup b;
    if (const char* vc = std::getenv("VERSION_CONTROL"); vc != nullptr && *vc != '\0' &&
        o.backup_control.empty()) {
      if (int r = choose_backup(vc, "$VERSION_CONTROL", &b); r >= 0) return {std::nullopt, r};
    }
  }
  if (o.force && o.overwrite != Overwrite::no_clobber) o.overwrite = Overwrite::force;

  if (o.target_dir && o.no_target_dir) {
    return {std::nullopt, usage_error("cannot combine --target-directory (-t) and --no-target-directory (-T)")};
  }
  if (o.operands.empty()) return {std::nullopt, usage_error("missing file operand")};
  if (!o.target_dir && o.operands.size() == 1) {
    return {std::nullopt, usage_error("missing destination file operand after '" +
                                      o.operands[0] + "'")};
  }
  if (o.no_target_dir && o.operands.size() > 2) {
    return {std::nullopt, usage_error("extra operand '" + o.operands[2] + "'")};
  }
  return {std::move(o), kExitOk};
}

}  // namespace offcopy::cli
