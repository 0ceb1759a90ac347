// offcopy-target: serves files as the logical units of iSCSI targets
// (docs/offcopy-target.8.scd).  This file is the process around the
// server: it reads the flags and the config file (config.h), opens every
// backing file before it binds a portal (a bad file serves nothing), runs
// the server on the main thread, answers the control socket on a thread of
// its own (target/control/), and handles signals on another (SIGINT/SIGTERM
// stop, SIGHUP re-reads the files' sizes).  `offcopy-target status` is the
// control socket's client.
//
// Exit status: 0 after a clean stop; 1 when a unit could not be flushed at
// the stop; 2 when nothing could be served (usage, config, backing file,
// bind, control-socket or port-file errors).  status: 0 when the status
// was printed, 1 when no target answered, 2 on a usage or config error.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "control/control_client.h"
#include "control/control_server.h"
#include "control/status.h"
#include "iscsi/server.h"
#include "scsi/backing_file.h"
#include "scsi/copy_engine.h"
#include "scsi/io_pool.h"
#include "scsi/logical_unit.h"
#include "scsi/lun_map.h"
#include "util/human_size.h"
#include "util/log.h"

#ifndef OFFCOPY_TARGET_VERSION
#define OFFCOPY_TARGET_VERSION "unknown"
#endif

namespace offcopy {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFlushFailed = 1;
constexpr int kExitNotServed = 2;
// offcopy-target status: 0 (printed), kExitNoAnswer, or kExitNotServed for
// a usage or config error.
constexpr int kExitNoAnswer = 1;

// A unit being served, with what the log, SIGHUP and the status need to
// name it.
struct ServedUnit {
  std::string name;  // "IQN LUN N"
  std::string iqn;
  uint16_t lun = 0;
  std::string path;
  bool read_only = false;
  std::shared_ptr<scsi::LogicalUnit> unit;
};

int usage_error(const std::string& message) {
  OFFCOPY_TLOG(error, "%s", message.c_str());
  std::fprintf(stderr, "Try 'offcopy-target --help' for more information.\n");
  return kExitNotServed;
}

// Where a LUN's persistent reservations are kept (when an initiator asks
// with APTPL): beside its backing file, so they move with it.  None for a
// block device: beside /dev/sdX is devtmpfs, gone at the next boot, and
// PTPL_C must not promise what a reboot loses.
std::string reservations_file(const std::string& backing_path) {
  struct stat st;
  if (::stat(backing_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  return backing_path + ".pr";
}

// Opens every LUN's backing file and makes its unit, each with I/O threads
// of its own (`pools`, which must outlive the units), so that a LUN whose
// disk is slow holds only its own commands; false (the message logged) at
// the first that cannot be used.
bool open_units(const config::Config& config, std::vector<std::unique_ptr<scsi::IoPool>>& pools,
                scsi::CopyEngine& copies, std::vector<iscsi::TargetConfig>& targets,
                std::vector<ServedUnit>& served) {
  for (const config::TargetSpec& t : config.targets) {
    std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>> luns;
    for (const config::LunSpec& l : t.luns) {
      struct stat st;
      const bool existed = ::stat(l.path.c_str(), &st) == 0;
      std::string error;
      std::unique_ptr<scsi::BackingFile> file = scsi::BackingFile::open(
          l.path, scsi::BackingOptions{l.block_size, l.read_only, l.create_size}, error);
      if (!file) {
        OFFCOPY_TLOG(error, "%s LUN %u: %s", t.iqn.c_str(), l.lun, error.c_str());
        return false;
      }
      const uint64_t size = file->size();
      // The same name gives the same serial and NAA designator on every
      // start; the config may replace INQUIRY's strings (not the NAA).
      scsi::Identity id = scsi::identity_for(config::unit_name(t.iqn, l.lun));
      if (!l.vendor.empty()) id.vendor = l.vendor;
      if (!l.product.empty()) id.product = l.product;
      if (!l.serial.empty()) id.serial = l.serial;
      pools.push_back(std::make_unique<scsi::IoPool>(config.server.io_threads));
      auto unit = std::make_shared<scsi::LogicalUnit>(
          id,
          scsi::UnitOptions{l.block_size, l.read_only, l.write_cache, reservations_file(l.path)},
          std::move(file), *pools.back(), &copies);
      OFFCOPY_TLOG(info,
                   "%s LUN %u: %s%s, %" PRIu64 " bytes (%s), block size %u, %s, write cache %s",
                   t.iqn.c_str(), l.lun, l.path.c_str(), existed ? "" : " (created sparse)", size,
                   human_size(size).c_str(), l.block_size, l.read_only ? "read-only" : "read-write",
                   l.write_cache ? "on" : "off");
      luns.emplace(l.lun, unit);
      served.push_back({t.iqn + " LUN " + std::to_string(l.lun), t.iqn, l.lun, l.path,
                        l.read_only, std::move(unit)});
    }
    iscsi::TargetAuth auth{t.auth.user, t.auth.secret, t.auth.mutual_user, t.auth.mutual_secret};
    targets.push_back(
        {t.iqn, t.alias, std::make_shared<scsi::LunMap>(std::move(luns)), auth, t.allow});
    // What protects it, never the secrets themselves.
    if (auth.chap() || !t.allow.empty()) {
      OFFCOPY_TLOG(info, "%s: %s%s, %s", t.iqn.c_str(), auth.chap() ? "CHAP" : "no CHAP",
                   auth.mutual() ? " (mutual offered)" : "",
                   t.allow.empty()
                       ? "any initiator"
                       : (std::to_string(t.allow.size()) + " initiators allowed").c_str());
    }
  }
  return true;
}

iscsi::ServerOptions server_options(const config::ServerSettings& s) {
  iscsi::ServerOptions o;
  o.listen = s.listen;
  o.max_recv_data_segment = s.max_recv_data_segment;
  o.first_burst = s.first_burst;
  o.max_burst = s.max_burst;
  o.immediate_data = s.immediate_data;
  o.initial_r2t = s.initial_r2t;
  o.nop_interval_s = s.nop_interval_s;
  o.max_outstanding_r2t = s.max_outstanding_r2t;
  o.queue_depth = s.queue_depth;
  o.max_sessions = s.max_sessions;
  o.max_session_data = s.max_session_data;
  o.max_logins_in_progress = s.max_logins_in_progress;
  return o;
}

// Writes "PORT\n" to `path` through a temporary file and rename(2), so a
// reader (a test waiting for it) never sees it half written.
bool write_port_file(const std::string& path, uint16_t port) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const std::string text = std::to_string(port) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  int err = errno;
  if (fd >= 0 && ::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    OFFCOPY_TLOG(error, "cannot write port file '%s': %s", path.c_str(), std::strerror(err));
  }
  return ok;
}

// Each portal as bound: a port 0 of the first portal becomes the port the
// system chose (the server reports only the first portal's).
void log_portals(const std::vector<std::string>& listen, uint16_t first_port) {
  for (size_t i = 0; i < listen.size(); ++i) {
    std::string p = listen[i];
    if (i == 0 && p.ends_with(":0")) p = p.substr(0, p.size() - 1) + std::to_string(first_port);
    OFFCOPY_TLOG(info, "listening on %s", p.c_str());
  }
}

// What the control socket answers with: read on the control thread while
// the server runs (both kinds of counters are atomics).  `served` is in
// the order of the targets, each target's LUNs together.
control::Status status_snapshot(const iscsi::Server& server, const std::vector<ServedUnit>& served,
                                std::chrono::steady_clock::time_point started) {
  control::Status status;
  status.version = OFFCOPY_TARGET_VERSION;
  status.pid = ::getpid();
  status.uptime_seconds = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                    std::chrono::steady_clock::now() - started)
                                                    .count());
  status.server = server.stats();
  for (const ServedUnit& s : served) {
    if (status.targets.empty() || status.targets.back().iqn != s.iqn) {
      status.targets.push_back({s.iqn, {}});
    }
    status.targets.back().luns.push_back({s.lun, s.path, s.unit->blocks() * s.unit->block_size(),
                                          s.unit->block_size(), s.read_only, s.unit->stats()});
  }
  for (control::TargetStatus& t : status.targets) {
    std::sort(t.luns.begin(), t.luns.end(),
              [](const control::LunStatus& a, const control::LunStatus& b) {
                return a.lun < b.lun;
              });
  }
  return status;
}

// Opens the control socket into `control`, if there is to be one.  False
// (logged) when nothing must be served: a path the admin gave that cannot
// be made, or another target answering on it (it would be asked instead
// of this one).  The default path is a warning when it cannot be made: an
// unprivileged user cannot write /run, and serves as before, without one.
bool open_control(const std::string& path, std::function<control::Status()> snapshot,
                  std::unique_ptr<control::ControlServer>& control) {
  if (path.empty()) {
    OFFCOPY_TLOG(info, "no control socket (turned off): offcopy-target status cannot ask");
    return true;
  }
  const bool is_default = path == config::kDefaultControlSocket;
  if (is_default) {
    // Its directory, as systemd's RuntimeDirectory= would make it; the
    // socket itself is 0600.  Any error shows when the socket is bound.
    const std::string dir = path.substr(0, path.rfind('/'));
    if (::mkdir(dir.c_str(), 0755) == 0) {
      OFFCOPY_TLOG(debug, "made the directory %s for the control socket", dir.c_str());
    }
  }
  control::ControlServer::Failure failure;
  std::string error;
  control = control::ControlServer::open(path, std::move(snapshot), failure, error);
  if (control) {
    OFFCOPY_TLOG(info, "control socket %s (offcopy-target status)", path.c_str());
    return true;
  }
  if (failure == control::ControlServer::Failure::in_use || !is_default) {
    OFFCOPY_TLOG(error, "%s", error.c_str());
    return false;
  }
  OFFCOPY_TLOG(warning,
               "%s; serving without a control socket (give --control PATH for one, or "
               "--control none)",
               error.c_str());
  return true;
}

// offcopy-target status: asks the control socket and prints the answer.
int show_status(const config::CommandLine& cl) {
  std::string path, error, answer;
  if (!config::resolve_control_socket(cl, path, error)) {
    OFFCOPY_TLOG(error, "%s", error.c_str());
    return kExitNotServed;
  }
  if (!control::request(path, cl.json ? "status json" : "status", answer, error)) {
    OFFCOPY_TLOG(error, "%s", error.c_str());
    return kExitNoAnswer;
  }
  if (answer.starts_with("error: ")) {
    // A refusal (a target of another version?): its own words.
    while (!answer.empty() && answer.back() == '\n') answer.pop_back();
    OFFCOPY_TLOG(error, "the control socket '%s' refused the request: %s", path.c_str(),
                 answer.c_str() + 7);
    return kExitNoAnswer;
  }
  std::fputs(answer.c_str(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitNoAnswer;
}

// The signal thread: SIGINT and SIGTERM stop the server (and end the
// thread); SIGHUP has every unit take its file's new size.  refresh is
// not async-signal-safe, hence a thread with sigwait() and not a handler.
void handle_signals(const sigset_t& set, iscsi::Server& server,
                    const std::vector<ServedUnit>& served) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      OFFCOPY_TLOG(info, "SIGHUP: re-reading the backing files' sizes");
      for (const ServedUnit& s : served) {
        if (s.unit->refresh_capacity()) {
          const uint64_t bytes = s.unit->blocks() * s.unit->block_size();
          OFFCOPY_TLOG(info, "%s: %s is now %" PRIu64 " bytes (%s)", s.name.c_str(), s.path.c_str(),
                       bytes, human_size(bytes).c_str());
        }
      }
      continue;
    }
    OFFCOPY_TLOG(info, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
    return;
  }
}

int serve(const config::Config& config, const std::string& port_file, const sigset_t& signals) {
  const auto started = std::chrono::steady_clock::now();
  // The units' I/O threads: created after main() blocked the signals, so
  // they inherit the mask and only the signal thread takes them.  Declared
  // first so that it outlives the units and the server.
  std::vector<std::unique_ptr<scsi::IoPool>> pools;
  // Third-party copies (EXTENDED COPY) run on it, off the units' I/O
  // threads; it too outlives the units.
  std::string error;
  std::unique_ptr<scsi::CopyEngine> copies =
      scsi::CopyEngine::open(static_cast<int>(config.server.io_threads), error);
  if (!copies) {
    OFFCOPY_TLOG(error, "%s", error.c_str());
    return kExitNotServed;
  }
  std::vector<iscsi::TargetConfig> targets;
  std::vector<ServedUnit> served;
  if (!open_units(config, pools, *copies, targets, served)) return kExitNotServed;

  std::unique_ptr<iscsi::Server> server = iscsi::Server::open(server_options(config.server),
                                                              std::move(targets), error);
  if (!server) {
    OFFCOPY_TLOG(error, "%s", error.c_str());
    return kExitNotServed;
  }
  log_portals(config.server.listen, server->port());
  // Before the port file: a script that waits for that file may ask the
  // status at once.  Its thread is made after main() blocked the signals.
  std::unique_ptr<control::ControlServer> control;
  const iscsi::Server& served_by = *server;
  auto snapshot = [&served_by, &served, started] {
    return status_snapshot(served_by, served, started);
  };
  if (!open_control(config.server.control_socket, snapshot, control)) return kExitNotServed;
  if (!port_file.empty() && !write_port_file(port_file, server->port())) return kExitNotServed;
  OFFCOPY_TLOG(info, "offcopy-target %s: serving %zu LUN(s) of %zu target(s)",
               OFFCOPY_TARGET_VERSION, served.size(), config.targets.size());
  OFFCOPY_TLOG(info,
               "limits: %u sessions, %u logins in progress; per session %u commands and %s "
               "of buffers",
               config.server.max_sessions, config.server.max_logins_in_progress,
               config.server.queue_depth, human_size(config.server.max_session_data).c_str());

  std::thread signal_thread(handle_signals, std::cref(signals), std::ref(*server),
                            std::cref(served));
  server->run();
  // run() also returns if the server stops on its own: wake the signal
  // thread then (a second stop() is harmless; an exited thread ignores it).
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  // Stopped: nothing more to ask, and the socket file goes now.
  control.reset();

  // The sessions are over; copies they left running in the background
  // (IMMED) stop where they are -- their initiators are gone -- and what
  // initiators wrote into the page cache goes to disk before the process
  // says it stopped cleanly.
  for (const ServedUnit& s : served) s.unit->abort_copies();
  int status = kExitOk;
  for (const ServedUnit& s : served) {
    if (int err = s.unit->flush(); err != 0) {
      OFFCOPY_TLOG(error, "%s: cannot flush %s: %s", s.name.c_str(), s.path.c_str(),
                   std::strerror(err));
      status = kExitFlushFailed;
    }
  }
  if (status == kExitOk) OFFCOPY_TLOG(info, "%zu unit(s) flushed; exiting", served.size());
  return status;
}

}  // namespace
}  // namespace offcopy

int main(int argc, char** argv) {
  using offcopy::config::CommandLine;
  // A peer that drops its connection is an EPIPE on one socket, not the
  // end of the process.
  signal(SIGPIPE, SIG_IGN);
  // Blocked before any thread exists, so every thread inherits the mask
  // and the signals wait for the signal thread's sigwait().
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (argc < 2) {
    std::fputs(offcopy::config::usage().c_str(), stderr);
    return offcopy::kExitNotServed;
  }
  CommandLine cl;
  std::string error;
  if (!offcopy::config::parse_command_line(std::vector<std::string>(argv + 1, argv + argc), cl,
                                           error)) {
    return offcopy::usage_error(error);
  }
  if (cl.action == CommandLine::Action::help) {
    std::fputs(offcopy::config::usage().c_str(), stdout);
    return offcopy::kExitOk;
  }
  if (cl.action == CommandLine::Action::version) {
    std::printf("offcopy-target %s\n", OFFCOPY_TARGET_VERSION);
    return offcopy::kExitOk;
  }
  if (cl.action == CommandLine::Action::status) {
    // A client, not a server: Ctrl-C ends it as it ends any command.
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    return offcopy::show_status(cl);
  }
  offcopy::config::Config config;
  if (!offcopy::config::resolve(cl, config, error)) {
    OFFCOPY_TLOG(error, "%s", error.c_str());
    return offcopy::kExitNotServed;
  }
  offcopy::tlog::set_level(config.log_level);
  // Every session is a descriptor, and every point-in-time ROD token
  // holds one (its snapshot): the soft limit (often 1024) is raised to
  // the hard one, as servers do.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  return offcopy::serve(config, cl.port_file, signals);
}
