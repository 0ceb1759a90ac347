// Command-line options: parsed without touching the filesystem (stage one),
// then resolved against it into a list of copies (stage two, main.cc).
// Here too is the one mapping from them to the library's options, so that
// plain file copies (run_copies.cc) and tree copies (run_tree.cc) cannot
// come to read an option differently.
#ifndef OFFCOPY_CLI_OPTIONS_H_
#define OFFCOPY_CLI_OPTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "offcopy/copy.h"
#include "offcopy/tree.h"

namespace offcopy::cli {

// Exit codes; the man page (docs/offcopy.1.scd) lists the same.
enum Exit : int {
  kExitOk = 0,           // every file copied (or skipped by -n)
  kExitFailed = 1,       // at least one file failed; the others were copied
  kExitUsage = 1,        // bad options or operands; nothing was copied (as
                         // cp, which has one failure status for both)
  kExitNoOffload = 3,    // --offload=require and some file could not be
                         // offloaded (nothing written for it), no other error
  kExitSignal = 128,     // + the signal number: stopped by SIGINT (130),
                         // SIGTERM (143) or SIGHUP (129)
};

// --progress / --no-progress / neither (on when stderr is a terminal).
enum class ProgressMode { automatic, on, off };

struct Options {
  CopyFlags flags{.whole_file = true};
  Overwrite overwrite = Overwrite::replace;  // -n here; -f is `force`
  bool force = false;                   // -f
  bool recursive = false;               // -r, -R, -a
  Preserve preserve;                    // -p, -a, --preserve, --no-preserve
  bool preserve_links = false;          // -d, -a, --preserve=links
  bool no_preserve_mode = false;        // --no-preserve=mode given
  std::optional<Deref> deref;           // -P, -H, -L; unset: cp's default
  bool one_file_system = false;         // -x
  bool update = false;                  // -u
  bool interactive = false;             // -i: ask before overwriting
  bool copy_contents = false;           // --copy-contents: read special
                                        // files as data under -r
  bool atomic = false;                  // --atomic
  bool fsync = false;                   // --fsync
  bool verify = false;                  // --verify
  int jobs = 0;                         // -j; 0: the library's default
  SnapshotMode snapshot = SnapshotMode::automatic;
  ProgressMode progress = ProgressMode::automatic;
  bool verbose = false;
  bool debug = false;
  bool stats = false;
  bool json = false;
  MakeAs make_as = MakeAs::copy;        // -l, -s
  bool backup = false;                  // -b, --backup, -S
  std::string backup_control;           // --backup=CONTROL (else
                                        // VERSION_CONTROL, else existing)
  std::string backup_suffix;            // -S (else SIMPLE_BACKUP_SUFFIX, ~)
  bool remove_destination = false;      // --remove-destination
  bool strip_trailing_slashes = false;  // --strip-trailing-slashes
  bool parents = false;                 // --parents
  bool attributes_only = false;         // --attributes-only
  bool require_context = false;         // --preserve=context (refused:
                                        // no SELinux here)
  bool link_conflict = false;           // both -l and -s given
  bool no_target_dir = false;           // -T
  std::optional<std::string> target_dir;  // -t DIR
  std::vector<std::string> operands;
};

// Either options to run with, or an exit: help/version printed (code 0) or a
// usage error already reported on stderr (code kExitUsage).
struct Parsed {
  std::optional<Options> options;
  int exit_code = kExitOk;
};

Parsed parse_options(int argc, char** argv);

// The library's per-file options for these command-line options.
FileOptions file_options(const Options& o);
// The tree copier's: file_options and the per-entry rules (-r, -P/-L/-H,
// -u, -i, -l/-s, backups, -j, ...).
TreeOptions tree_options(const Options& o);
// The backup kind and suffix -b asks for (cp's rules: --backup=CONTROL,
// else VERSION_CONTROL, else "existing"; -S, else SIMPLE_BACKUP_SUFFIX,
// else "~").  Backup::none without -b.
Backup backup_kind(const Options& o);
std::string backup_suffix(const Options& o);
// Whether the progress line is shown: --progress, --no-progress, else when
// stderr is a terminal.
bool wants_progress(const Options& o);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_OPTIONS_H_
