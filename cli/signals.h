// SIGINT, SIGTERM and SIGHUP stop a copy cleanly instead of killing it
// mid-file: the signals are blocked in every thread and taken by one
// watcher thread (sigwait), which runs the stop hook the running copy set.
// The copy then winds down through the library's cancel path (partial
// files and temporaries removed) and the CLI exits with 128 + the signal.
// A second signal ends the process at once.  Signals the process was
// started with ignored (nohup, a script's background job) stay ignored.
//
// Also: SIGXFSZ is ignored, so a file size limit (RLIMIT_FSIZE) makes the
// write fail with EFBIG, reported for that file, instead of killing us.
#ifndef OFFCOPY_CLI_SIGNALS_H_
#define OFFCOPY_CLI_SIGNALS_H_

#include <functional>
#include <string>

namespace offcopy::cli {

// Call once, first thing in main(): threads started later inherit the
// blocked mask.
void watch_signals();

// Sets (or, with nullptr, clears) what the watcher runs on the first
// signal.  Runs on the watcher thread; a signal that came before the hook
// was set runs it at once, here.
void on_stop(std::function<void()> hook);

// The signal taken, or 0.
int stop_signal();

// "SIGINT", "SIGTERM", ...
std::string signal_name(int sig);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_SIGNALS_H_
