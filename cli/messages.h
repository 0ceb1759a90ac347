// What offcopy says, in cp's words: the name it was invoked as starts each
// line ("cp:" when installed or linked as cp), and a failed entry is told
// as GNU cp tells it ("cannot stat 'x': No such file or directory").  The
// library's own account (the failing step, the errno's name, what was
// cleaned up) is a second line under --debug.
#ifndef OFFCOPY_CLI_MESSAGES_H_
#define OFFCOPY_CLI_MESSAGES_H_

#include <string>

#include "offcopy/result.h"

namespace offcopy::cli {

// argv[0]'s last component; "offcopy" until set.
void set_program_name(const char* argv0);
const char* program_name();

// cp's sentence for a failed entry, without the program name.
std::string cp_words(const Error& e);

// "PROG: <cp's words>" on stderr, and with `debug` the library's account.
void print_failure(const Error& e, bool debug);

// Standard descriptors that were closed are opened on /dev/null the wrong
// way round (stdout read-only), so that no file the copy opens becomes
// fd 1 -- a -v line would be written into it -- and a write to a closed
// stdout still fails, as it would have.
void reserve_std_fds();

// stdout flushed and closed: a failure (a closed stdout, /dev/full) is
// "write error", exit 1, as cp's close_stdout; else `code`.
int close_stdout(int code);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_MESSAGES_H_
