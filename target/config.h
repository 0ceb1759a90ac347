// What offcopy-target is asked to serve: its command line and its TOML
// config file (docs/offcopy-target.8.scd says both), merged into one
// Config and checked before anything is opened or bound.
//
// This knows nothing of sockets, files or SCSI objects, so that every
// flag and every error sentence can be tested alone; target/main.cc turns
// a Config into BackingFiles, LogicalUnits and a Server.
//
// Precedence: the config file is read first, then the flags are laid over
// it.  A scalar flag (--io-threads, --queue-depth, --max-sessions,
// --max-session-data, --max-logins-in-progress, --control, -v, -q)
// replaces the config's value;
// --listen and --target add to the config's lists.  --create applies to
// the LUNs of the command line only (a config LUN has its own `create`).
#ifndef OFFCOPY_TARGET_CONFIG_H_
#define OFFCOPY_TARGET_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/log.h"

namespace offcopy::config {

inline constexpr uint16_t kMaxLun = 16383;  // flat addressing's 14 bits (SAM-5 4.7.8)
// The range of max_session_data: a command alone always gets its buffer,
// so a small bound slows a session rather than stopping it.
inline constexpr uint64_t kMinSessionData = 1ull << 20;
inline constexpr uint64_t kMaxSessionData = 1ull << 40;
inline constexpr const char* kDefaultListen = "0.0.0.0:3260";
// The control socket `offcopy-target status` asks (target/control/): in
// a directory of its own under /run, which systemd's RuntimeDirectory=
// makes writable inside the service's sandbox (docs/offcopy-target.service).
inline constexpr const char* kDefaultControlSocket = "/run/offcopy-target/control.sock";
// What --control and control_socket take to mean "no control socket" (an
// empty string does too).
inline constexpr const char* kNoControlSocket = "none";

// One logical unit of a target.
struct LunSpec {
  uint16_t lun = 0;
  std::string path;          // the backing file
  uint64_t create_size = 0;  // make it, sparse, when missing; 0: it must exist
  uint32_t block_size = 512;
  bool read_only = false;
  bool write_cache = true;
  // INQUIRY's strings; empty: identity_for(unit_name(...))'s.
  std::string vendor;
  std::string product;
  std::string serial;
  // Where it was said, for messages: "FILE:LINE" or "--lun 0=PATH".
  std::string where;
};

// A target's CHAP credentials (RFC 7143 12.1.3).  A secret is given
// inline or as a file (`*_file`, read by resolve(): it must be 0600 or
// stricter).  Messages never quote a secret.
struct AuthSpec {
  std::string user, secret, secret_file;
  std::string mutual_user, mutual_secret, mutual_secret_file;
  std::string where;  // "FILE:LINE" of [target.auth], or "--chap USER"
  bool empty() const {
    return user.empty() && secret.empty() && secret_file.empty() && mutual_user.empty() &&
           mutual_secret.empty() && mutual_secret_file.empty();
  }
};

// RFC 7143 12.1.3: a CHAP secret has at least 96 bits; 256 bytes is a
// sane ceiling (and more than any initiator takes).
inline constexpr size_t kMinSecret = 12;
inline constexpr size_t kMaxSecret = 256;

struct TargetSpec {
  std::string iqn;
  std::string alias;
  std::vector<LunSpec> luns;
  std::string where;  // "FILE:LINE" or "--target IQN"
  AuthSpec auth;
  // The initiator names allowed to log in; empty: any.
  std::vector<std::string> allow;
};

// The server's settings; the defaults are iscsi::ServerOptions'.
struct ServerSettings {
  std::vector<std::string> listen;  // empty: kDefaultListen
  uint32_t max_recv_data_segment = 262144;
  uint32_t first_burst = 65536;
  uint32_t max_burst = 1048576;
  bool immediate_data = true;
  bool initial_r2t = false;
  unsigned nop_interval_s = 30;
  uint32_t max_outstanding_r2t = 16;
  // The limits of a session, and of the server's sessions (server.h says
  // why these defaults).
  uint32_t queue_depth = 128;
  uint32_t max_sessions = 256;
  uint64_t max_session_data = 256ull << 20;
  uint32_t max_logins_in_progress = 64;
  // 2: on a 2-core machine, 4 KiB writes to ext4 ran at 64k IOPS with 1-2
  // threads and 40-47k with 4-8 (they queue on the inode lock;
  // docs/benchmarks.md).  More help a slow disk with many misses.
  unsigned io_threads = 2;
  // The control socket's path; empty: none.
  std::string control_socket = kDefaultControlSocket;
};

struct Config {
  ServerSettings server;
  std::vector<TargetSpec> targets;
  tlog::Level log_level = tlog::Level::info;
};

// The command line, parsed but not yet merged with the config file.
// `offcopy-target status [--control PATH] [--config FILE] [--json]` asks
// a running target over its control socket instead of serving.
struct CommandLine {
  enum class Action { serve, status, help, version };
  Action action = Action::serve;
  std::string config_path;               // --config; empty: none
  std::vector<std::string> listen;       // --listen, in order
  std::vector<TargetSpec> targets;       // --target, each with its --lun's
  std::optional<uint64_t> create_size;   // --create
  std::optional<unsigned> io_threads;    // --io-threads
  std::optional<uint32_t> queue_depth;   // --queue-depth
  std::optional<uint32_t> max_sessions;  // --max-sessions
  std::optional<uint64_t> max_session_data;  // --max-session-data
  std::optional<uint32_t> max_logins_in_progress;  // --max-logins-in-progress
  std::optional<tlog::Level> log_level;  // -v, -q (the last one wins)
  std::string port_file;                 // --port-file; empty: none
  // --control PATH; "" for --control none (or --control '').
  std::optional<std::string> control_socket;
  bool json = false;  // status --json
};

// Parses the arguments after argv[0].  False and a sentence in `error` on
// a usage error (an unknown option, a missing or bad value, a --lun before
// any --target, an option of the other action).  --help and --version stop
// the parse there.  A first argument "status" is the status action, which
// takes --control, --config and --json only.
bool parse_command_line(const std::vector<std::string>& args, CommandLine& cl, std::string& error);

// Parses a config file's text into `config` (`name` is the file's name in
// messages: "NAME:LINE: ...").  Lists and tables in the text are added to
// what `config` holds; scalars replace it.  Checks each value's type and
// range, and that every key is known; resolve() checks the whole.
bool parse_config(std::string_view text, const std::string& name, Config& config,
                  std::string& error);
// The same, reading the file at `path`.
bool load_config(const std::string& path, Config& config, std::string& error);

// The Config to serve: the file named by --config (if any), the flags laid
// over it, the secret files read, and the whole checked: something to
// serve, unique IQNs, unique LUNs per target, sizes that fit the block
// size, portals that parse, CHAP credentials that are whole.
bool resolve(const CommandLine& cl, Config& config, std::string& error);

// Checks a whole Config (resolve() calls it).
bool validate(const Config& config, std::string& error);

// The control socket `offcopy-target status` asks: --control, else the
// config file's control_socket (the file is read for that key only: it
// need not name anything to serve), else the default.  False and a
// sentence in `error` if the file cannot be read, or if the socket is
// turned off.
bool resolve_control_socket(const CommandLine& cl, std::string& path, std::string& error);

// Reads each target's secret_file and mutual_secret_file into its secret
// (resolve() calls it).  A file must be a regular file that neither group
// nor others may read; one trailing newline is not part of the secret.
bool load_secrets(Config& config, std::string& error);

// "256M" -> 268435456: a positive decimal number of bytes with an optional
// K, M, G or T suffix (powers of 1024, either case).  False if malformed,
// zero or too large.
bool parse_size(std::string_view text, uint64_t& bytes);

// Whether `name` is an acceptable iSCSI name (loosely: iqn., eui. or naa.,
// then printable ASCII without spaces, at most 223 bytes, RFC 7143 4.2.7.1).
bool valid_iscsi_name(std::string_view name);

// A portal as the server takes it: "ADDRESS:PORT" or "[IPV6]:PORT", the
// port 0-65535 (0: any free one).  Without a port, 3260 is added.  False
// and a reason in `why` when it does not parse.
bool parse_portal(std::string_view text, std::string& portal, std::string& why);

// The name a unit's identity is derived from: "IQN,LUN".
std::string unit_name(const std::string& iqn, uint16_t lun);

// The --help text.
std::string usage();

}  // namespace offcopy::config

#endif  // OFFCOPY_TARGET_CONFIG_H_
