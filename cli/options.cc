// Stage one: getopt_long, the parser cp itself uses, so option spelling,
// abbreviations, bundling (-fv) and "--" behave as users expect.
#include "options.h"

#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace offcopy::cli {
namespace {

enum LongOnly {
  kReflink = 256, kSparse, kOffload, kDebug, kStats, kJson, kHelp, kVersion,
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
    {"verbose", no_argument, nullptr, 'v'},
    {"no-target-directory", no_argument, nullptr, 'T'},
    {"target-directory", required_argument, nullptr, 't'},
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
    "  -f, --force              if DEST cannot be opened, remove it and retry\n"
    "  -n, --no-clobber         do not overwrite an existing file\n"
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
    "Exit status: 0 all copied, 1 some file failed, 2 usage error,\n"
    "3 --offload=require could not offload (nothing written for that file).\n";

int usage_error(const std::string& msg) {
  if (!msg.empty()) std::fprintf(stderr, "offcopy: %s\n", msg.c_str());
  std::fprintf(stderr, "Try 'offcopy --help' for more information.\n");
  return kExitUsage;
}

bool parse_reflink(const char* arg, Reflink* out) {
  if (arg == nullptr || std::strcmp(arg, "always") == 0) {
    *out = Reflink::always;
  } else if (std::strcmp(arg, "auto") == 0) {
    *out = Reflink::auto_;
  } else if (std::strcmp(arg, "never") == 0) {
    *out = Reflink::never;
  } else {
    return false;
  }
  return true;
}

bool parse_sparse(const char* arg, Sparse* out) {
  if (std::strcmp(arg, "auto") == 0) {
    *out = Sparse::auto_;
  } else if (std::strcmp(arg, "always") == 0) {
    *out = Sparse::always;
  } else if (std::strcmp(arg, "never") == 0) {
    *out = Sparse::never;
  } else {
    return false;
  }
  return true;
}

// Applies one option; returns an exit code to stop with, or -1 to go on.
int apply(int c, Options& o) {
  switch (c) {
    case kReflink:
      if (!parse_reflink(optarg, &o.flags.reflink)) {
        return usage_error(std::string("invalid argument '") + optarg + "' for '--reflink'");
      }
      return -1;
    case kSparse:
      if (!parse_sparse(optarg, &o.flags.sparse)) {
        return usage_error(std::string("invalid argument '") + optarg + "' for '--sparse'");
      }
      return -1;
    case kOffload:
      if (std::strcmp(optarg, "require") == 0) {
        o.flags.no_fallback = true;
      } else if (std::strcmp(optarg, "auto") == 0) {
        o.flags.no_fallback = false;
      } else {
        return usage_error(std::string("invalid argument '") + optarg + "' for '--offload'");
      }
      return -1;
    case kDebug: o.debug = true; return -1;
    case kStats: o.stats = true; return -1;
    case kJson: o.json = true; return -1;
    case 'f': o.overwrite = Overwrite::force; return -1;
    case 'n': o.overwrite = Overwrite::no_clobber; return -1;
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

}  // namespace

Parsed parse_options(int argc, char** argv) {
  Options o;
  optind = 1;
  opterr = 1;
  int c;
  while ((c = getopt_long(argc, argv, "fnvTt:", kLongOptions, nullptr)) != -1) {
    if (int code = apply(c, o); code >= 0) return {std::nullopt, code};
  }
  for (int i = optind; i < argc; ++i) o.operands.emplace_back(argv[i]);
  if (o.flags.reflink == Reflink::always && o.flags.sparse != Sparse::auto_) {
    return {std::nullopt, usage_error("--reflink=always can be used only with --sparse=auto")};
  }
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
