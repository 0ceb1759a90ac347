#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

namespace offcopy::config {
namespace {

constexpr uint32_t kMaxSegment = 16777215;  // 2^24 - 1, RFC 7143 13.12-13.14
constexpr unsigned kMaxIoThreads = 1024;
constexpr uint32_t kMaxQueueDepth = 65535;
// A TSIH is 16 bits and 0 is reserved: no more sessions than that.
constexpr uint32_t kMaxSessions = 65535;
// Each is a socket: more than that would not be a limit.
constexpr uint32_t kMaxLoginsInProgress = 65535;

// A whole decimal number, nothing before or after it.
bool parse_uint(std::string_view text, uint64_t& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<tlog::Level> level_named(std::string_view name) {
  if (name == "error") return tlog::Level::error;
  if (name == "warning") return tlog::Level::warning;
  if (name == "info") return tlog::Level::info;
  if (name == "debug") return tlog::Level::debug;
  return std::nullopt;
}

// ---------------------------------------------------------------- the command line

// The options that take a value, and those that do not.
bool takes_value(std::string_view opt) {
  static const char* const kWithValue[] = {"--listen",
                                           "--target",
                                           "--lun",
                                           "--create",
                                           "--config",
                                           "--io-threads",
                                           "--port-file",
                                           "--chap",
                                           "--mutual-chap",
                                           "--allow",
                                           "--queue-depth",
                                           "--max-sessions",
                                           "--max-session-data",
                                           "--max-logins-in-progress",
                                           "--control"};
  return std::find(std::begin(kWithValue), std::end(kWithValue), opt) != std::end(kWithValue);
}

bool is_switch(std::string_view opt) {
  static const char* const kSwitches[] = {"--foreground", "-v",        "--verbose",
                                          "-q",           "--quiet",   "-h",
                                          "--help",       "--version", "--json"};
  return std::find(std::begin(kSwitches), std::end(kSwitches), opt) != std::end(kSwitches);
}

// "N=PATH" into a LunSpec of the most recent --target.
bool add_flag_lun(std::string_view value, CommandLine& cl, std::string& error) {
  const std::string where = "--lun " + std::string(value);
  if (cl.targets.empty()) {
    error = where + ": a --lun belongs to a target; give --target IQN before it";
    return false;
  }
  size_t eq = value.find('=');
  uint64_t lun = 0;
  if (eq == std::string_view::npos || eq + 1 == value.size() ||
      !parse_uint(value.substr(0, eq), lun)) {
    error = where + ": expected LUN=PATH, e.g. --lun 0=/srv/disk0.img";
    return false;
  }
  if (lun > kMaxLun) {
    error = where + ": LUN " + std::to_string(lun) + " is out of range (0 to " +
            std::to_string(kMaxLun) + ")";
    return false;
  }
  LunSpec spec;
  spec.lun = static_cast<uint16_t>(lun);
  spec.path = std::string(value.substr(eq + 1));
  spec.where = where;
  cl.targets.back().luns.push_back(std::move(spec));
  return true;
}

// "USER:SECRET" into the CHAP credentials (or, for --mutual-chap, the
// target's own) of the most recent --target.  No message quotes the
// secret: only the option and the user.
bool add_flag_chap(std::string_view opt, const std::string& value, CommandLine& cl,
                   std::string& error) {
  const size_t colon = value.find(':');
  const std::string user = value.substr(0, colon);
  const std::string where = std::string(opt) + " " + user;
  if (cl.targets.empty()) {
    error = where + ": CHAP credentials belong to a target; give --target IQN before them";
    return false;
  }
  if (colon == std::string::npos || colon == 0) {
    error = std::string(opt) + ": expected USER:SECRET (the secret is not shown)";
    return false;
  }
  AuthSpec& auth = cl.targets.back().auth;
  if (opt == "--chap") {
    auth.user = user;
    auth.secret = value.substr(colon + 1);
  } else {
    auth.mutual_user = user;
    auth.mutual_secret = value.substr(colon + 1);
  }
  if (auth.where.empty()) auth.where = where;
  return true;
}

bool apply_flag(std::string_view opt, const std::string& value, CommandLine& cl,
                std::string& error) {
  auto bad = [&](std::string_view what) {
    error = std::string(opt) + " '" + value + "': " + std::string(what);
    return false;
  };
  if (opt == "--listen") {
    std::string portal, why;
    if (!parse_portal(value, portal, why)) return bad(why);
    cl.listen.push_back(portal);
  } else if (opt == "--target") {
    // The name is checked with the config's targets, in validate().
    cl.targets.push_back(TargetSpec{value, "", {}, "--target " + value});
  } else if (opt == "--lun") {
    return add_flag_lun(value, cl, error);
  } else if (opt == "--chap" || opt == "--mutual-chap") {
    return add_flag_chap(opt, value, cl, error);
  } else if (opt == "--allow") {
    if (cl.targets.empty()) {
      error = "--allow " + value + ": an --allow belongs to a target; give --target IQN before it";
      return false;
    }
    // The name is checked with the config's, in validate().
    cl.targets.back().allow.push_back(value);
  } else if (opt == "--create") {
    uint64_t size = 0;
    if (!parse_size(value, size)) {
      return bad("not a size (a positive number of bytes, or with a K, M, G or T suffix)");
    }
    cl.create_size = size;
  } else if (opt == "--config") {
    if (value.empty()) return bad("an empty file name");
    cl.config_path = value;
  } else if (opt == "--io-threads") {
    uint64_t n = 0;
    if (!parse_uint(value, n) || n < 1 || n > kMaxIoThreads) {
      return bad("expected a number of threads from 1 to " + std::to_string(kMaxIoThreads));
    }
    cl.io_threads = static_cast<unsigned>(n);
  } else if (opt == "--port-file") {
    if (value.empty()) return bad("an empty file name");
    cl.port_file = value;
  } else if (opt == "--control") {
    // Its length is checked with the config's, in validate().
    cl.control_socket = value == kNoControlSocket ? "" : value;
  } else if (opt == "--queue-depth" || opt == "--max-sessions" ||
             opt == "--max-logins-in-progress") {
    const uint32_t hi = opt == "--queue-depth"    ? kMaxQueueDepth
                        : opt == "--max-sessions" ? kMaxSessions
                                                  : kMaxLoginsInProgress;
    uint64_t n = 0;
    if (!parse_uint(value, n) || n < 1 || n > hi) {
      return bad("expected a number from 1 to " + std::to_string(hi));
    }
    std::optional<uint32_t>& field = opt == "--queue-depth"    ? cl.queue_depth
                                     : opt == "--max-sessions" ? cl.max_sessions
                                                               : cl.max_logins_in_progress;
    field = static_cast<uint32_t>(n);
  } else if (opt == "--max-session-data") {
    uint64_t size = 0;
    if (!parse_size(value, size) || size < kMinSessionData || size > kMaxSessionData) {
      return bad("expected a size from 1M to 1T (suffixes K, M, G, T)");
    }
    cl.max_session_data = size;
  }
  return true;
}

// ---------------------------------------------------------------- the config file

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date or time";
    default: return "nothing";
  }
}

// Reads one parsed document into a Config, with every message naming the
// file and the line it is about.
class ConfigReader {
 public:
  ConfigReader(const std::string& name, Config& config, std::string& error)
      : name_(name), config_(config), error_(error) {}

  bool read(const toml::table& root) {
    for (auto&& [key, node] : root) {
      const std::string k(key.str());
      if (k == "listen") {
        if (!read_listen(node)) return false;
      } else if (k == "log_level") {
        std::string s;
        if (!get_string(k, node, s)) return false;
        auto level = level_named(s);
        if (!level) {
          const std::string levels = R"("error", "warning", "info" or "debug")";
          return fail(node, "'log_level' must be " + levels + ", not \"" + s + "\"");
        }
        config_.log_level = *level;
      } else if (k == "target") {
        if (!read_targets(node)) return false;
      } else if (k == "control_socket") {
        std::string path;
        if (!get_string(k, node, path)) return false;
        config_.server.control_socket = path == kNoControlSocket ? "" : path;
      } else if (is_server_scalar(k)) {
        if (!read_server_scalar(k, node)) return false;
      } else {
        return unknown(key,
                       " (known at the top: listen, log_level, io_threads, "
                       "max_recv_data_segment, first_burst, max_burst, immediate_data, "
                       "initial_r2t, max_outstanding_r2t, nop_interval, queue_depth, "
                       "max_sessions, max_session_data, max_logins_in_progress, "
                       "control_socket, target)");
      }
    }
    return true;
  }

 private:
  std::string at(const toml::source_region& r) const {
    return name_ + ":" + std::to_string(r.begin.line);
  }
  bool fail(const toml::node& n, const std::string& msg) {
    error_ = at(n.source()) + ": " + msg;
    return false;
  }
  bool unknown(const toml::key& key, const char* where) {
    error_ = at(key.source()) + ": unknown key '" + std::string(key.str()) + "'" + where;
    return false;
  }
  bool wrong_type(const std::string& key, const toml::node& n, const char* want) {
    return fail(n, "'" + key + "' must be " + want + ", not " + type_name(n.type()));
  }

  bool get_string(const std::string& key, const toml::node& n, std::string& out) {
    if (!n.is_string()) return wrong_type(key, n, "a string");
    out = n.as_string()->get();
    return true;
  }
  bool get_bool(const std::string& key, const toml::node& n, bool& out) {
    if (!n.is_boolean()) return wrong_type(key, n, "true or false");
    out = n.as_boolean()->get();
    return true;
  }
  template <typename T>
  bool get_int(const std::string& key, const toml::node& n, int64_t lo, int64_t hi, T& out) {
    if (!n.is_integer()) return wrong_type(key, n, "an integer");
    int64_t v = n.as_integer()->get();
    if (v < lo || v > hi) {
      return fail(n, "'" + key + "' must be from " + std::to_string(lo) + " to " +
                         std::to_string(hi) + ", not " + std::to_string(v));
    }
    out = static_cast<T>(v);
    return true;
  }

  bool read_listen(const toml::node& node) {
    // One portal or a list of them.
    std::vector<const toml::node*> items;
    if (auto* arr = node.as_array()) {
      for (auto&& item : *arr) items.push_back(&item);
    } else {
      items.push_back(&node);
    }
    for (const toml::node* item : items) {
      std::string text, portal, why;
      if (!get_string("listen", *item, text)) return false;
      if (!parse_portal(text, portal, why)) return fail(*item, "listen '" + text + "': " + why);
      config_.server.listen.push_back(portal);
    }
    return true;
  }

  static bool is_server_scalar(const std::string& k) {
    static const char* const kKeys[] = {
        "max_recv_data_segment", "first_burst",  "max_burst",        "immediate_data",
        "initial_r2t",           "nop_interval", "queue_depth",      "io_threads",
        "max_outstanding_r2t",   "max_sessions", "max_session_data", "max_logins_in_progress"};
    return std::find(std::begin(kKeys), std::end(kKeys), k) != std::end(kKeys);
  }

  bool read_server_scalar(const std::string& k, const toml::node& n) {
    ServerSettings& s = config_.server;
    if (k == "max_recv_data_segment")
      return get_int(k, n, 512, kMaxSegment, s.max_recv_data_segment);
    if (k == "first_burst") return get_int(k, n, 512, kMaxSegment, s.first_burst);
    if (k == "max_burst") return get_int(k, n, 512, kMaxSegment, s.max_burst);
    if (k == "immediate_data") return get_bool(k, n, s.immediate_data);
    if (k == "initial_r2t") return get_bool(k, n, s.initial_r2t);
    if (k == "nop_interval") return get_int(k, n, 0, 86400, s.nop_interval_s);
    if (k == "queue_depth") return get_int(k, n, 1, kMaxQueueDepth, s.queue_depth);
    if (k == "max_outstanding_r2t") return get_int(k, n, 1, 65535, s.max_outstanding_r2t);
    if (k == "max_sessions") return get_int(k, n, 1, kMaxSessions, s.max_sessions);
    if (k == "max_session_data") return read_session_data(n, s.max_session_data);
    if (k == "max_logins_in_progress")
      return get_int(k, n, 1, kMaxLoginsInProgress, s.max_logins_in_progress);
    return get_int(k, n, 1, kMaxIoThreads, s.io_threads);  // "io_threads"
  }

  // "256M" or a number of bytes, from 1M to 1T.
  bool read_session_data(const toml::node& n, uint64_t& size) {
    uint64_t v = 0;
    if (!get_size("max_session_data", n, v)) return false;
    if (v < kMinSessionData || v > kMaxSessionData) {
      return fail(n, "'max_session_data' must be from 1M to 1T, not " + std::to_string(v));
    }
    size = v;
    return true;
  }

  // [[target]]: an array of tables.
  bool read_targets(const toml::node& node) {
    const toml::array* arr = node.as_array();
    if (!arr) return fail(node, "'target' must be an array of tables: write [[target]]");
    for (auto&& item : *arr) {
      const toml::table* t = item.as_table();
      if (!t) return fail(item, "each 'target' must be a table: write [[target]]");
      if (!read_target(*t)) return false;
    }
    return true;
  }

  bool read_target(const toml::table& t) {
    TargetSpec target;
    target.where = at(t.source());
    bool have_iqn = false;
    for (auto&& [key, n] : t) {
      const std::string k(key.str());
      if (k == "iqn") {
        if (!get_string(k, n, target.iqn)) return false;
        have_iqn = true;
      } else if (k == "alias") {
        if (!get_string(k, n, target.alias)) return false;
      } else if (k == "lun") {
        const toml::array* arr = n.as_array();
        if (!arr) return fail(n, "'lun' must be an array of tables: write [[target.lun]]");
        for (auto&& item : *arr) {
          const toml::table* lt = item.as_table();
          if (!lt) return fail(item, "each 'lun' must be a table: write [[target.lun]]");
          LunSpec lun;
          if (!read_lun(*lt, lun)) return false;
          target.luns.push_back(std::move(lun));
        }
      } else if (k == "allow") {
        if (!read_allow(n, target.allow)) return false;
      } else if (k == "auth") {
        const toml::table* at_ = n.as_table();
        if (!at_) return fail(n, "'auth' must be a table: write [target.auth]");
        if (!read_auth(*at_, target.auth)) return false;
      } else {
        return unknown(key, " in [[target]] (known: iqn, alias, allow, auth, lun)");
      }
    }
    if (!have_iqn) return fail(t, "this [[target]] has no 'iqn'");
    config_.targets.push_back(std::move(target));
    return true;
  }

  bool read_lun(const toml::table& t, LunSpec& lun) {
    lun.where = at(t.source());
    bool have_lun = false, have_path = false;
    for (auto&& [key, n] : t) {
      const std::string k(key.str());
      bool ok = true;
      if (k == "lun") {
        ok = get_int(k, n, 0, kMaxLun, lun.lun);
        have_lun = true;
      } else if (k == "path") {
        ok = get_string(k, n, lun.path);
        if (ok && lun.path.empty()) return fail(n, "'path' is empty");
        have_path = true;
      } else if (k == "create") {
        ok = read_create(n, lun.create_size);
      } else if (k == "block_size") {
        ok = get_int(k, n, 0, UINT32_MAX, lun.block_size);
        if (ok && lun.block_size != 512 && lun.block_size != 4096) {
          return fail(n, "'block_size' must be 512 or 4096, not " + std::to_string(lun.block_size));
        }
      } else if (k == "read_only") {
        ok = get_bool(k, n, lun.read_only);
      } else if (k == "write_cache") {
        ok = get_bool(k, n, lun.write_cache);
      } else if (k == "vendor") {
        ok = get_string(k, n, lun.vendor) && check_inquiry_string(k, n, lun.vendor, 8);
      } else if (k == "product") {
        ok = get_string(k, n, lun.product) && check_inquiry_string(k, n, lun.product, 16);
      } else if (k == "serial") {
        ok = get_string(k, n, lun.serial) && check_inquiry_string(k, n, lun.serial, 64);
      } else {
        return unknown(key,
                       " in [[target.lun]] (known: lun, path, create, block_size, read_only, "
                       "write_cache, vendor, product, serial)");
      }
      if (!ok) return false;
    }
    if (!have_lun) return fail(t, "this [[target.lun]] has no 'lun' (its number)");
    if (!have_path) return fail(t, "this [[target.lun]] has no 'path' (its backing file)");
    return true;
  }

  // allow = ["iqn....", ...]: the initiators that may log in.
  bool read_allow(const toml::node& n, std::vector<std::string>& allow) {
    const toml::array* arr = n.as_array();
    if (!arr) return wrong_type("allow", n, "an array of initiator names");
    for (auto&& item : *arr) {
      std::string name;
      if (!get_string("allow", item, name)) return false;
      if (!valid_iscsi_name(name)) {
        return fail(item, "'allow' entry '" + name +
                              "' is not an iSCSI name (iqn., eui. or naa., no spaces)");
      }
      allow.push_back(std::move(name));
    }
    return true;
  }

  // [target.auth]: CHAP.  A wrong type is reported without the value.
  bool read_auth(const toml::table& t, AuthSpec& auth) {
    auth.where = at(t.source());
    for (auto&& [key, n] : t) {
      const std::string k(key.str());
      std::string* field = k == "user"                 ? &auth.user
                           : k == "secret"             ? &auth.secret
                           : k == "secret_file"        ? &auth.secret_file
                           : k == "mutual_user"        ? &auth.mutual_user
                           : k == "mutual_secret"      ? &auth.mutual_secret
                           : k == "mutual_secret_file" ? &auth.mutual_secret_file
                                                       : nullptr;
      if (field == nullptr) {
        return unknown(key,
                       " in [target.auth] (known: user, secret, secret_file, mutual_user, "
                       "mutual_secret, mutual_secret_file)");
      }
      if (!get_string(k, n, *field)) return false;
      if (field->empty()) return fail(n, "'" + k + "' is empty");
    }
    if (!auth.secret.empty() && !auth.secret_file.empty()) {
      return fail(t, "[target.auth] has both 'secret' and 'secret_file': give one");
    }
    if (!auth.mutual_secret.empty() && !auth.mutual_secret_file.empty()) {
      return fail(t, "[target.auth] has both 'mutual_secret' and 'mutual_secret_file': give one");
    }
    return true;
  }

  // "1G" or a number of bytes.
  bool read_create(const toml::node& n, uint64_t& size) { return get_size("create", n, size); }

  bool get_size(const std::string& key, const toml::node& n, uint64_t& size) {
    if (auto* i = n.as_integer()) {
      if (i->get() <= 0) return fail(n, "'" + key + "' must be a positive size");
      size = static_cast<uint64_t>(i->get());
      return true;
    }
    if (auto* s = n.as_string()) {
      if (!parse_size(s->get(), size)) {
        return fail(n, "'" + key + "' = \"" + s->get() +
                           "\" is not a size (a positive number of bytes, or with a K, M, G or "
                           "T suffix)");
      }
      return true;
    }
    return wrong_type(key, n, "a size such as \"1G\" or a number of bytes");
  }

  // INQUIRY's fields are printable ASCII of a fixed width (SPC-4 6.6.2).
  bool check_inquiry_string(const std::string& key, const toml::node& n, const std::string& s,
                            size_t max) {
    if (s.empty() || s.size() > max || !printable(s)) {
      return fail(n, "'" + key + "' must be 1 to " + std::to_string(max) +
                         " printable ASCII characters, not \"" + s + "\"");
    }
    return true;
  }

  const std::string& name_;
  Config& config_;
  std::string& error_;
};

// A CHAP user or secret's checks; `what` names it in the message, which
// never quotes a secret.
bool check_secret(const AuthSpec& a, const std::string& iqn, const char* what,
                  const std::string& secret, std::string& error) {
  const std::string head = a.where + ": " + what + " of target '" + iqn + "'";
  if (secret.size() < kMinSecret || secret.size() > kMaxSecret) {
    error = head + " has " + std::to_string(secret.size()) + " bytes; a CHAP secret has " +
            std::to_string(kMinSecret) + " to " + std::to_string(kMaxSecret) +
            " (RFC 7143 12.1.3: at least 96 bits)";
    return false;
  }
  if (secret.find('\0') != std::string::npos) {
    error = head + " holds a NUL byte";
    return false;
  }
  return true;
}

bool check_user(const AuthSpec& a, const std::string& iqn, const char* what,
                const std::string& user, std::string& error) {
  if (user.size() > 255 || !printable(user)) {
    error = a.where + ": " + what + " of target '" + iqn +
            "' must be 1 to 255 printable ASCII characters";
    return false;
  }
  return true;
}

bool validate_auth(const TargetSpec& t, std::string& error) {
  const AuthSpec& a = t.auth;
  if (a.empty()) return true;
  const std::string head = a.where + ": target '" + t.iqn + "'";
  // A secret file not read yet (validate() without load_secrets()) counts
  // as a secret; its length is checked once it is read.
  const bool secret = !a.secret.empty() || !a.secret_file.empty();
  const bool mutual_secret = !a.mutual_secret.empty() || !a.mutual_secret_file.empty();
  if (a.user.empty()) {
    error = head + (a.mutual_user.empty() ? ": a CHAP secret needs its 'user'"
                                          : ": mutual CHAP needs one-way CHAP too: give 'user' "
                                            "and 'secret'");
    return false;
  }
  if (!secret) {
    error = head + ": CHAP user '" + a.user + "' has no 'secret' (or 'secret_file')";
    return false;
  }
  if (!check_user(a, t.iqn, "the CHAP user", a.user, error) ||
      (!a.secret.empty() && !check_secret(a, t.iqn, "the CHAP secret", a.secret, error))) {
    return false;
  }
  if (a.mutual_user.empty() == mutual_secret) {
    error = head + (a.mutual_user.empty() ? ": a mutual_secret needs its 'mutual_user'"
                                          : ": mutual_user '" + a.mutual_user +
                                                "' has no 'mutual_secret' (or "
                                                "'mutual_secret_file')");
    return false;
  }
  if (a.mutual_user.empty()) return true;
  if (!check_user(a, t.iqn, "the mutual user", a.mutual_user, error) ||
      (!a.mutual_secret.empty() &&
       !check_secret(a, t.iqn, "the mutual secret", a.mutual_secret, error))) {
    return false;
  }
  // RFC 7143 12.1.3: a secret that authenticates an initiator must not
  // authenticate a target (else one side can be made to answer for the other).
  if (!a.secret.empty() && a.mutual_secret == a.secret) {
    error = head + ": the mutual secret must differ from the CHAP secret (RFC 7143 12.1.3)";
    return false;
  }
  return true;
}

// Reads a secret file: a regular file only its owner may read.
bool read_secret_file(const std::string& where, const std::string& path, std::string& secret,
                      std::string& error) {
  const std::string head = where + ": secret file '" + path + "'";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    error = head + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok) {
    error = head + ": " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = head + " is not a regular file";
    ok = false;
  } else if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    error = head + " may be read by others (mode " + mode + "): chmod 600 it";
    ok = false;
  }
  std::string text;
  char buf[512];
  while (ok) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = head + ": " + std::strerror(errno);
      ok = false;
    }
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > 4096) {
      error = head + " is too long for a secret";
      ok = false;
    }
  }
  ::close(fd);
  if (!ok) return false;
  // An editor's final newline is not part of the secret.
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) {
    error = head + " is empty";
    return false;
  }
  secret = std::move(text);
  return true;
}

// A Unix socket's path fits in sockaddr_un's 108 bytes, with its NUL.
bool check_control_socket(const std::string& path, std::string& error) {
  constexpr size_t kMaxSocketPath = 107;
  if (path.size() <= kMaxSocketPath) return true;
  error = "control socket '" + path + "' is " + std::to_string(path.size()) +
          " bytes long; a Unix socket's path has at most " + std::to_string(kMaxSocketPath);
  return false;
}

// The first of luns[0, before) that has number `lun`, or null.
const LunSpec* find_lun(const std::vector<LunSpec>& luns, uint16_t lun, size_t before) {
  for (size_t i = 0; i < before; ++i) {
    if (luns[i].lun == lun) return &luns[i];
  }
  return nullptr;
}

}  // namespace

bool parse_size(std::string_view text, uint64_t& bytes) {
  uint64_t scale = 1;
  if (!text.empty()) {
    switch (std::toupper(static_cast<unsigned char>(text.back()))) {
      case 'K': scale = 1ull << 10; break;
      case 'M': scale = 1ull << 20; break;
      case 'G': scale = 1ull << 30; break;
      case 'T': scale = 1ull << 40; break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  uint64_t n = 0;
  if (!parse_uint(text, n) || n == 0 || n > UINT64_MAX / scale) return false;
  bytes = n * scale;
  return true;
}

bool valid_iscsi_name(std::string_view name) {
  if (!(name.starts_with("iqn.") || name.starts_with("eui.") || name.starts_with("naa."))) {
    return false;
  }
  return name.size() > 4 && name.size() <= 223 && printable(name) &&
         name.find(' ') == std::string_view::npos;
}

bool parse_portal(std::string_view text, std::string& portal, std::string& why) {
  std::string_view host, port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = "an IPv6 address in brackets needs its ']', e.g. [::1]:3260";
      return false;
    }
    host = text.substr(0, close + 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        why = "expected ':PORT' after ']'";
        return false;
      }
      port = rest.substr(1);
      if (port.empty()) port = "?";
    }
    if (host.size() == 2) {
      why = "no address between the brackets";
      return false;
    }
  } else {
    size_t colon = text.find(':');
    if (colon != text.rfind(':')) {
      why = "an IPv6 address goes in brackets, e.g. [::1]:3260";
      return false;
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      if (port.empty()) port = "?";
    }
    if (host.empty()) {
      why = "no address: use 0.0.0.0:PORT for every IPv4 address";
      return false;
    }
  }
  if (!printable(host) || host.find(' ') != std::string_view::npos) {
    why = "not an address";
    return false;
  }
  uint64_t p = 3260;
  if (!port.empty() && (!parse_uint(port, p) || p > 65535)) {
    why = "the port must be a number from 0 to 65535";
    return false;
  }
  portal = std::string(host) + ":" + std::to_string(p);
  return true;
}

std::string unit_name(const std::string& iqn, uint16_t lun) {
  return iqn + "," + std::to_string(lun);
}

// The options `offcopy-target status` takes; every other one is serving's.
bool status_option(std::string_view opt) {
  return opt == "--control" || opt == "--config" || opt == "--json" || opt == "-h" ||
         opt == "--help";
}

bool parse_command_line(const std::vector<std::string>& args, CommandLine& cl, std::string& error) {
  // "status" is a command only as the first argument: the rest are options.
  const bool status = !args.empty() && args[0] == "status";
  if (status) cl.action = CommandLine::Action::status;
  for (size_t i = status ? 1 : 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // --opt=value as well as --opt value.
    std::string opt = arg, value;
    bool inline_value = false;
    if (arg.starts_with("--")) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        opt = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        inline_value = true;
      }
    }
    if (status && (takes_value(opt) || is_switch(opt)) && !status_option(opt)) {
      error = "option '" + opt +
              "' is not one of 'offcopy-target status' (it takes --control, --config and --json)";
      return false;
    }
    if (!status && opt == "--json") {
      error = "option '--json' belongs to the status command: offcopy-target status --json";
      return false;
    }
    if (takes_value(opt)) {
      if (!inline_value) {
        if (i + 1 == args.size()) {
          error = "option '" + opt + "' needs a value";
          return false;
        }
        value = args[++i];
      }
      if (!apply_flag(opt, value, cl, error)) return false;
      continue;
    }
    if (!is_switch(opt)) {
      if (arg == "status") {
        error = "unexpected argument 'status': the status command comes first, "
                "offcopy-target status [--control PATH] [--json]";
      } else {
        error = arg.starts_with("-") ? "unknown option '" + arg + "'"
                                     : "unexpected argument '" + arg + "' (options only)";
      }
      return false;
    }
    if (inline_value) {
      error = "option '" + opt + "' takes no value";
      return false;
    }
    if (opt == "-h" || opt == "--help") {
      cl.action = CommandLine::Action::help;
      return true;
    }
    if (opt == "--version") {
      cl.action = CommandLine::Action::version;
      return true;
    }
    if (opt == "--json") cl.json = true;
    if (opt == "-v" || opt == "--verbose") cl.log_level = tlog::Level::debug;
    if (opt == "-q" || opt == "--quiet") cl.log_level = tlog::Level::error;
    // --foreground: the only mode there is (systemd runs it as Type=simple).
  }
  return true;
}

bool parse_config(std::string_view text, const std::string& name, Config& config,
                  std::string& error) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    error = name + ":" + std::to_string(e.source().begin.line) + ":" +
            std::to_string(e.source().begin.column) + ": " + std::string(e.description());
    return false;
  }
  return ConfigReader(name, config, error).read(root);
}

bool load_config(const std::string& path, Config& config, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read config file '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = "cannot read config file '" + path + "': " + std::strerror(errno);
    return false;
  }
  return parse_config(text.str(), path, config, error);
}

bool validate(const Config& config, std::string& error) {
  const ServerSettings& s = config.server;
  for (const std::string& l : s.listen) {
    std::string portal, why;
    if (!parse_portal(l, portal, why)) {
      error = "listen '" + l + "': " + why;
      return false;
    }
  }
  if (s.first_burst > s.max_burst) {
    error = "first_burst (" + std::to_string(s.first_burst) + ") must not exceed max_burst (" +
            std::to_string(s.max_burst) + ") (RFC 7143 13.14)";
    return false;
  }
  if (s.io_threads < 1 || s.io_threads > kMaxIoThreads) {
    error = "io_threads must be from 1 to " + std::to_string(kMaxIoThreads);
    return false;
  }
  if (s.queue_depth < 1 || s.queue_depth > kMaxQueueDepth) {
    error = "queue_depth must be from 1 to " + std::to_string(kMaxQueueDepth);
    return false;
  }
  if (s.max_sessions < 1 || s.max_sessions > kMaxSessions) {
    error = "max_sessions must be from 1 to " + std::to_string(kMaxSessions);
    return false;
  }
  if (s.max_session_data < kMinSessionData || s.max_session_data > kMaxSessionData) {
    error = "max_session_data must be from 1M to 1T";
    return false;
  }
  if (s.max_logins_in_progress < 1 || s.max_logins_in_progress > kMaxLoginsInProgress) {
    error = "max_logins_in_progress must be from 1 to " + std::to_string(kMaxLoginsInProgress);
    return false;
  }
  if (!check_control_socket(s.control_socket, error)) return false;
  if (config.targets.empty()) {
    error = "nothing to serve: give --target IQN --lun N=PATH, or --config FILE with a [[target]]";
    return false;
  }
  // iSCSI names compare without case (RFC 3722 normalizes them to lower case).
  std::map<std::string, const TargetSpec*> seen;
  for (const TargetSpec& t : config.targets) {
    if (!valid_iscsi_name(t.iqn)) {
      error = t.where + ": '" + t.iqn +
              "' is not an iSCSI name: it starts with iqn., eui. or naa. and has no spaces, "
              "e.g. iqn.2026-12.org.offcopy:demo";
      return false;
    }
    auto [it, fresh] = seen.emplace(lower(t.iqn), &t);
    if (!fresh) {
      error = t.where + ": target '" + t.iqn + "' is already given at " + it->second->where;
      return false;
    }
    if (!validate_auth(t, error)) return false;
    for (const std::string& a : t.allow) {
      if (!valid_iscsi_name(a)) {
        error = t.where + ": allowed initiator '" + a +
                "' is not an iSCSI name (iqn., eui. or naa., no spaces)";
        return false;
      }
    }
    if (t.luns.empty()) {
      error = t.where + ": target '" + t.iqn +
              "' has no LUNs (give --lun N=PATH after --target, "
              "or [[target.lun]])";
      return false;
    }
    for (size_t i = 0; i < t.luns.size(); ++i) {
      const LunSpec& l = t.luns[i];
      if (const LunSpec* first = find_lun(t.luns, l.lun, i)) {
        error = l.where + ": LUN " + std::to_string(l.lun) + " of target '" + t.iqn +
                "' is already given at " + first->where;
        return false;
      }
      if (l.lun > kMaxLun) {
        error = l.where + ": LUN " + std::to_string(l.lun) + " is out of range (0 to " +
                std::to_string(kMaxLun) + ")";
        return false;
      }
      if (l.path.empty()) {
        error = l.where + ": LUN " + std::to_string(l.lun) + " has no backing file";
        return false;
      }
      if (l.block_size != 512 && l.block_size != 4096) {
        error = l.where + ": block size " + std::to_string(l.block_size) + " is not 512 or 4096";
        return false;
      }
      if (l.create_size % l.block_size != 0) {
        error = l.where + ": create size " + std::to_string(l.create_size) +
                " is not a multiple of the block size " + std::to_string(l.block_size);
        return false;
      }
    }
  }
  return true;
}

bool load_secrets(Config& config, std::string& error) {
  for (TargetSpec& t : config.targets) {
    AuthSpec& a = t.auth;
    if (!a.secret_file.empty() && !read_secret_file(a.where, a.secret_file, a.secret, error)) {
      return false;
    }
    if (!a.mutual_secret_file.empty() &&
        !read_secret_file(a.where, a.mutual_secret_file, a.mutual_secret, error)) {
      return false;
    }
  }
  return true;
}

bool resolve(const CommandLine& cl, Config& config, std::string& error) {
  if (!cl.config_path.empty() && !load_config(cl.config_path, config, error)) return false;
  for (const std::string& l : cl.listen) config.server.listen.push_back(l);
  if (config.server.listen.empty()) config.server.listen.push_back(kDefaultListen);
  for (TargetSpec t : cl.targets) {
    if (cl.create_size) {
      for (LunSpec& l : t.luns) l.create_size = *cl.create_size;
    }
    config.targets.push_back(std::move(t));
  }
  if (cl.io_threads) config.server.io_threads = *cl.io_threads;
  if (cl.queue_depth) config.server.queue_depth = *cl.queue_depth;
  if (cl.max_sessions) config.server.max_sessions = *cl.max_sessions;
  if (cl.max_session_data) config.server.max_session_data = *cl.max_session_data;
  if (cl.max_logins_in_progress) {
    config.server.max_logins_in_progress = *cl.max_logins_in_progress;
  }
  if (cl.log_level) config.log_level = *cl.log_level;
  if (cl.control_socket) config.server.control_socket = *cl.control_socket;
  return load_secrets(config, error) && validate(config, error);
}

bool resolve_control_socket(const CommandLine& cl, std::string& path, std::string& error) {
  Config config;
  if (cl.control_socket) {
    config.server.control_socket = *cl.control_socket;
  } else if (!cl.config_path.empty() && !load_config(cl.config_path, config, error)) {
    return false;
  }
  path = config.server.control_socket;
  if (path.empty()) {
    error = "the control socket is turned off (--control none, or control_socket = \"\" or "
            "\"none\"): there is nothing to ask; give --control PATH";
    return false;
  }
  return check_control_socket(path, error);
}

std::string usage() {
  return R"(Usage: offcopy-target [OPTION]... --target IQN --lun N=PATH [--lun N=PATH]...
       offcopy-target [OPTION]... --config FILE
       offcopy-target status [--control PATH | --config FILE] [--json]
Serve files as the logical units of iSCSI targets, or show what a running
one serves and what each LUN has done (status).

      --listen ADDR:PORT   listen on this portal ([IPV6]:PORT for IPv6; port 0:
                             any free port); may repeat; default 0.0.0.0:3260
      --target IQN         a target; the --lun options after it are its units;
                             may repeat
      --lun N=PATH         serve the file PATH as LUN N (0-16383) of the last
                             --target; its size is the file's
      --chap USER:SECRET   the last --target requires CHAP: the initiator logs
                             in as USER with SECRET (12 to 256 bytes); visible
                             in ps: prefer secret_file in a --config file
      --mutual-chap USER:SECRET
                             the last --target's own name and secret, for
                             initiators that authenticate the target too
      --allow IQN          only this initiator may log in to the last
                             --target; may repeat; default: any
      --create SIZE        make a missing --lun file, sparse, of SIZE bytes
                             (suffixes K, M, G, T: powers of 1024, e.g. 64M)
      --config FILE        read targets, LUNs and server settings from a TOML
                             file; flags add targets and portals to it, and
                             the other flags override it
      --io-threads N       threads per LUN doing its backing-file I/O (default 2)
      --queue-depth N      commands a session may have outstanding (1-65535;
                             default 128)
      --max-sessions N     sessions the server holds at once; more logins are
                             refused (1-65535; default 256)
      --max-session-data SIZE
                             data-out and data-in buffers one session may
                             hold (1M to 1T; default 256M)
      --max-logins-in-progress N
                             connections still logging in the server holds
                             at once; more are closed when accepted
                             (1-65535; default 64)
      --port-file FILE     write the first portal's bound port to FILE once
                             every portal is listening
      --control PATH       answer 'offcopy-target status' on this Unix socket
                             (mode 0600), or with status, ask it; 'none': no
                             socket; default /run/offcopy-target/control.sock
      --json               status: print JSON (versioned) instead of a table
      --foreground         run in the foreground (the only mode; for
                             service managers)
  -v, --verbose            log debug messages too
  -q, --quiet              log errors only
  -h, --help               display this help and exit
      --version            output version information and exit

Exit status: 0 after a clean stop (SIGINT, SIGTERM), 1 if a unit could not be
flushed at the stop, 2 if nothing could be served (a usage or config error,
a backing file that cannot be used, a portal or control socket that cannot
be bound).  status: 0 when printed, 1 if no target answered on the control
socket, 2 on a usage or config error.
SIGHUP re-reads the backing files' sizes.  See offcopy-target(8).
)";
}

}  // namespace offcopy::config
