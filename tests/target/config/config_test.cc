// offcopy-target's command line and config file (target/config.h): what
// each flag and key means, how they combine, and every error sentence.
#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace offcopy::config {
namespace {

// The arguments after argv[0]; expects them to parse.
CommandLine parsed(const std::vector<std::string>& args) {
  CommandLine cl;
  std::string error;
  EXPECT_TRUE(parse_command_line(args, cl, error)) << error;
  return cl;
}

// The error sentence parsing `args` gives.
std::string flag_error(const std::vector<std::string>& args) {
  CommandLine cl;
  std::string error;
  EXPECT_FALSE(parse_command_line(args, cl, error));
  return error;
}

// The error sentence of `args` through resolve() (no config file).
std::string resolve_error(const std::vector<std::string>& args) {
  CommandLine cl = parsed(args);
  Config config;
  std::string error;
  EXPECT_FALSE(resolve(cl, config, error));
  return error;
}

Config toml_ok(const std::string& text) {
  Config config;
  std::string error;
  EXPECT_TRUE(parse_config(text, "t.toml", config, error)) << error;
  return config;
}

std::string toml_error(const std::string& text) {
  Config config;
  std::string error;
  EXPECT_FALSE(parse_config(text, "t.toml", config, error));
  return error;
}

// A config file in the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& text)
      : path_(::testing::TempDir() + "offcopy-target-config-" + std::to_string(getpid()) + "-" +
              std::to_string(counter_++) + ".toml") {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// ---------------------------------------------------------------- sizes, names, portals

TEST(ParseSize, NumbersAndSuffixes) {
  uint64_t n = 0;
  ASSERT_TRUE(parse_size("512", n));
  EXPECT_EQ(n, 512u);
  ASSERT_TRUE(parse_size("4K", n));
  EXPECT_EQ(n, 4096u);
  ASSERT_TRUE(parse_size("256M", n));
  EXPECT_EQ(n, 256ull << 20);
  ASSERT_TRUE(parse_size("1G", n));
  EXPECT_EQ(n, 1ull << 30);
  ASSERT_TRUE(parse_size("2t", n));
  EXPECT_EQ(n, 2ull << 40);
}

TEST(ParseSize, RejectsMalformedZeroAndOverflow) {
  uint64_t n = 0;
  for (const char* bad : {"", "0", "0M", "M", "-1", "1X", "1.5G", " 1G", "1G ", "1GB",
                          "99999999999999999999", "16777216T"}) {
    EXPECT_FALSE(parse_size(bad, n)) << bad;
  }
}

TEST(IscsiName, Loosely) {
  EXPECT_TRUE(valid_iscsi_name("iqn.2026-12.org.offcopy:demo"));
  EXPECT_TRUE(valid_iscsi_name("eui.02004567A425678D"));
  EXPECT_TRUE(valid_iscsi_name("naa.52004567BA64678D"));
  EXPECT_FALSE(valid_iscsi_name("demo"));
  EXPECT_FALSE(valid_iscsi_name("iqn."));
  EXPECT_FALSE(valid_iscsi_name("iqn.2026-12.org.offcopy:my disk"));
  EXPECT_FALSE(valid_iscsi_name("IQN.2026-12.org.offcopy:demo"));
  EXPECT_FALSE(valid_iscsi_name("iqn." + std::string(220, 'a')));
}

TEST(Portal, AddressesAndPorts) {
  std::string p, why;
  ASSERT_TRUE(parse_portal("127.0.0.1:3260", p, why));
  EXPECT_EQ(p, "127.0.0.1:3260");
  ASSERT_TRUE(parse_portal("127.0.0.1", p, why));
  EXPECT_EQ(p, "127.0.0.1:3260");
  ASSERT_TRUE(parse_portal("0.0.0.0:0", p, why));
  EXPECT_EQ(p, "0.0.0.0:0");
  ASSERT_TRUE(parse_portal("[::1]:3261", p, why));
  EXPECT_EQ(p, "[::1]:3261");
  ASSERT_TRUE(parse_portal("[::]", p, why));
  EXPECT_EQ(p, "[::]:3260");
  ASSERT_TRUE(parse_portal("localhost:860", p, why));
  EXPECT_EQ(p, "localhost:860");
}

TEST(Portal, Errors) {
  std::string p, why;
  EXPECT_FALSE(parse_portal("::1", p, why));
  EXPECT_EQ(why, "an IPv6 address goes in brackets, e.g. [::1]:3260");
  EXPECT_FALSE(parse_portal("[::1", p, why));
  EXPECT_EQ(why, "an IPv6 address in brackets needs its ']', e.g. [::1]:3260");
  EXPECT_FALSE(parse_portal("[::1]3260", p, why));
  EXPECT_EQ(why, "expected ':PORT' after ']'");
  EXPECT_FALSE(parse_portal("[]:3260", p, why));
  EXPECT_EQ(why, "no address between the brackets");
  EXPECT_FALSE(parse_portal(":3260", p, why));
  EXPECT_EQ(why, "no address: use 0.0.0.0:PORT for every IPv4 address");
  for (const char* bad : {"host:", "host:70000", "host:-1", "host:http", "[::1]:"}) {
    EXPECT_FALSE(parse_portal(bad, p, why)) << bad;
    EXPECT_EQ(why, "the port must be a number from 0 to 65535") << bad;
  }
  EXPECT_FALSE(parse_portal("my host:1", p, why));
  EXPECT_EQ(why, "not an address");
}

TEST(UnitName, IqnCommaLun) {
  EXPECT_EQ(unit_name("iqn.2026-12.org.offcopy:demo", 7), "iqn.2026-12.org.offcopy:demo,7");
}

// ---------------------------------------------------------------- the command line

TEST(CommandLine, TheIssuesExample) {
  CommandLine cl = parsed({"--listen", "127.0.0.1:3260", "--target", "iqn.2026-12.org.offcopy:demo",
                           "--lun", "0=/path/disk0.img", "--lun", "1=/path/disk1.img"});
  EXPECT_EQ(cl.action, CommandLine::Action::serve);
  EXPECT_EQ(cl.listen, std::vector<std::string>{"127.0.0.1:3260"});
  ASSERT_EQ(cl.targets.size(), 1u);
  EXPECT_EQ(cl.targets[0].iqn, "iqn.2026-12.org.offcopy:demo");
  ASSERT_EQ(cl.targets[0].luns.size(), 2u);
  EXPECT_EQ(cl.targets[0].luns[0].lun, 0);
  EXPECT_EQ(cl.targets[0].luns[0].path, "/path/disk0.img");
  EXPECT_EQ(cl.targets[0].luns[0].where, "--lun 0=/path/disk0.img");
  EXPECT_EQ(cl.targets[0].luns[1].lun, 1);
  EXPECT_EQ(cl.targets[0].luns[1].path, "/path/disk1.img");
  EXPECT_EQ(cl.targets[0].luns[1].block_size, 512u);
  EXPECT_FALSE(cl.targets[0].luns[1].read_only);
  EXPECT_TRUE(cl.targets[0].luns[1].write_cache);
}

TEST(CommandLine, EachLunBelongsToTheLastTarget) {
  CommandLine cl = parsed({"--target", "iqn.a:x", "--lun", "0=/a0", "--target", "iqn.b:y", "--lun",
                           "0=/b0", "--lun", "16383=/b1"});
  ASSERT_EQ(cl.targets.size(), 2u);
  ASSERT_EQ(cl.targets[0].luns.size(), 1u);
  EXPECT_EQ(cl.targets[0].luns[0].path, "/a0");
  ASSERT_EQ(cl.targets[1].luns.size(), 2u);
  EXPECT_EQ(cl.targets[1].luns[1].lun, 16383);
}

TEST(CommandLine, ValuesInlineAndListenRepeats) {
  CommandLine cl = parsed({"--listen=127.0.0.1:0", "--listen", "[::1]", "--target=iqn.a:x",
                           "--lun=3=/with=equals", "--io-threads=8", "--port-file=/tmp/p",
                           "--create=64M", "--config=/etc/x.toml", "--foreground"});
  EXPECT_EQ(cl.listen, (std::vector<std::string>{"127.0.0.1:0", "[::1]:3260"}));
  ASSERT_EQ(cl.targets.size(), 1u);
  EXPECT_EQ(cl.targets[0].luns[0].lun, 3);
  EXPECT_EQ(cl.targets[0].luns[0].path, "/with=equals");
  EXPECT_EQ(cl.io_threads, 8u);
  EXPECT_EQ(cl.port_file, "/tmp/p");
  EXPECT_EQ(cl.create_size, 64ull << 20);
  EXPECT_EQ(cl.config_path, "/etc/x.toml");
}

TEST(CommandLine, VerbosityTheLastOneWins) {
  EXPECT_FALSE(parsed({}).log_level.has_value());
  EXPECT_EQ(parsed({"-v"}).log_level, tlog::Level::debug);
  EXPECT_EQ(parsed({"--quiet"}).log_level, tlog::Level::error);
  EXPECT_EQ(parsed({"-q", "--verbose"}).log_level, tlog::Level::debug);
  EXPECT_EQ(parsed({"-v", "-q"}).log_level, tlog::Level::error);
}

TEST(CommandLine, HelpAndVersionStopThere) {
  EXPECT_EQ(parsed({"--help", "--bogus"}).action, CommandLine::Action::help);
  EXPECT_EQ(parsed({"-h"}).action, CommandLine::Action::help);
  EXPECT_EQ(parsed({"--version"}).action, CommandLine::Action::version);
  // An error before them is still an error.
  EXPECT_EQ(flag_error({"--bogus", "--help"}), "unknown option '--bogus'");
}

TEST(CommandLine, Errors) {
  EXPECT_EQ(flag_error({"--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(flag_error({"-x"}), "unknown option '-x'");
  EXPECT_EQ(flag_error({"disk.img"}), "unexpected argument 'disk.img' (options only)");
  EXPECT_EQ(flag_error({"--target"}), "option '--target' needs a value");
  EXPECT_EQ(flag_error({"--foreground=yes"}), "option '--foreground' takes no value");
  EXPECT_EQ(flag_error({"--lun", "0=/x"}),
            "--lun 0=/x: a --lun belongs to a target; give --target IQN before it");
  for (const char* bad : {"/x", "0=", "=/x", "a=/x", "-1=/x", "0x1=/x"}) {
    EXPECT_EQ(flag_error({"--target", "iqn.a:x", "--lun", bad}),
              std::string("--lun ") + bad + ": expected LUN=PATH, e.g. --lun 0=/srv/disk0.img");
  }
  EXPECT_EQ(flag_error({"--target", "iqn.a:x", "--lun", "16384=/x"}),
            "--lun 16384=/x: LUN 16384 is out of range (0 to 16383)");
  EXPECT_EQ(flag_error({"--create", "lots"}),
            "--create 'lots': not a size (a positive number of bytes, or with a K, M, G or T "
            "suffix)");
  EXPECT_EQ(flag_error({"--io-threads", "0"}),
            "--io-threads '0': expected a number of threads from 1 to 1024");
  EXPECT_EQ(flag_error({"--io-threads", "many"}),
            "--io-threads 'many': expected a number of threads from 1 to 1024");
  EXPECT_EQ(flag_error({"--listen", "::1"}),
            "--listen '::1': an IPv6 address goes in brackets, e.g. [::1]:3260");
  EXPECT_EQ(flag_error({"--config", ""}), "--config '': an empty file name");
  EXPECT_EQ(flag_error({"--port-file="}), "--port-file '': an empty file name");
  EXPECT_EQ(flag_error({"--queue-depth", "0"}),
            "--queue-depth '0': expected a number from 1 to 65535");
  EXPECT_EQ(flag_error({"--queue-depth", "65536"}),
            "--queue-depth '65536': expected a number from 1 to 65535");
  EXPECT_EQ(flag_error({"--max-sessions", "-1"}),
            "--max-sessions '-1': expected a number from 1 to 65535");
  EXPECT_EQ(flag_error({"--max-sessions", "many"}),
            "--max-sessions 'many': expected a number from 1 to 65535");
  EXPECT_EQ(flag_error({"--max-session-data", "512K"}),
            "--max-session-data '512K': expected a size from 1M to 1T (suffixes K, M, G, T)");
  EXPECT_EQ(flag_error({"--max-session-data", "2T"}),
            "--max-session-data '2T': expected a size from 1M to 1T (suffixes K, M, G, T)");
  EXPECT_EQ(flag_error({"--max-session-data"}), "option '--max-session-data' needs a value");
  EXPECT_EQ(flag_error({"--max-logins-in-progress", "0"}),
            "--max-logins-in-progress '0': expected a number from 1 to 65535");
  EXPECT_EQ(flag_error({"--max-logins-in-progress", "65536"}),
            "--max-logins-in-progress '65536': expected a number from 1 to 65535");
}

TEST(CommandLine, Limits) {
  const CommandLine cl = parsed({"--queue-depth", "1", "--max-sessions", "65535",
                                 "--max-session-data=1M", "--max-logins-in-progress", "7"});
  EXPECT_EQ(cl.queue_depth, 1u);
  EXPECT_EQ(cl.max_sessions, 65535u);
  EXPECT_EQ(cl.max_session_data, 1u << 20);
  EXPECT_EQ(cl.max_logins_in_progress, 7u);
  const CommandLine none = parsed({});
  EXPECT_FALSE(none.queue_depth || none.max_sessions || none.max_session_data ||
               none.max_logins_in_progress);
}

// ---------------------------------------------------------------- flags alone, resolved

TEST(Resolve, DefaultsFromFlagsAlone) {
  CommandLine cl = parsed({"--target", "iqn.a:x", "--lun", "0=/x"});
  Config config;
  std::string error;
  ASSERT_TRUE(resolve(cl, config, error)) << error;
  EXPECT_EQ(config.server.listen, std::vector<std::string>{"0.0.0.0:3260"});
  EXPECT_EQ(config.server.io_threads, 2u);
  EXPECT_EQ(config.log_level, tlog::Level::info);
  EXPECT_EQ(config.targets[0].luns[0].create_size, 0u);
  EXPECT_EQ(config.server.queue_depth, 128u);
  EXPECT_EQ(config.server.max_sessions, 256u);
  EXPECT_EQ(config.server.max_session_data, 256u << 20);
  EXPECT_EQ(config.server.max_logins_in_progress, 64u);
  EXPECT_EQ(config.server.max_outstanding_r2t, 16u);
  EXPECT_EQ(config.server.control_socket, "/run/offcopy-target/control.sock");
}

TEST(Resolve, CreateAppliesToEveryFlagLun) {
  CommandLine cl = parsed({"--target", "iqn.a:x", "--lun", "0=/x", "--target", "iqn.a:y", "--lun",
                           "5=/y", "--create", "64M"});
  Config config;
  std::string error;
  ASSERT_TRUE(resolve(cl, config, error)) << error;
  EXPECT_EQ(config.targets[0].luns[0].create_size, 64ull << 20);
  EXPECT_EQ(config.targets[1].luns[0].create_size, 64ull << 20);
}

TEST(Resolve, Errors) {
  EXPECT_EQ(resolve_error({}),
            "nothing to serve: give --target IQN --lun N=PATH, or --config FILE with a "
            "[[target]]");
  EXPECT_EQ(resolve_error({"--target", "iqn.a:x"}),
            "--target iqn.a:x: target 'iqn.a:x' has no LUNs (give --lun N=PATH after --target, "
            "or [[target.lun]])");
  EXPECT_EQ(resolve_error({"--target", "demo", "--lun", "0=/x"}),
            "--target demo: 'demo' is not an iSCSI name: it starts with iqn., eui. or naa. and "
            "has no spaces, e.g. iqn.2026-12.org.offcopy:demo");
  EXPECT_EQ(resolve_error(
                {"--target", "iqn.a:x", "--lun", "0=/x", "--target", "iqn.A:X", "--lun", "0=/y"}),
            "--target iqn.A:X: target 'iqn.A:X' is already given at --target iqn.a:x");
  EXPECT_EQ(resolve_error({"--target", "iqn.a:x", "--lun", "0=/x", "--lun", "0=/y"}),
            "--lun 0=/y: LUN 0 of target 'iqn.a:x' is already given at --lun 0=/x");
  EXPECT_EQ(resolve_error({"--target", "iqn.a:x", "--lun", "0=/x", "--create", "1000"}),
            "--lun 0=/x: create size 1000 is not a multiple of the block size 512");
}

// ---------------------------------------------------------------- the config file

const char kFullConfig[] = R"(# every key there is
listen = ["127.0.0.1:3260", "[::1]:3261"]
log_level = "warning"
io_threads = 8
max_recv_data_segment = 131072
first_burst = 32768
max_burst = 262144
immediate_data = false
initial_r2t = true
nop_interval = 0
queue_depth = 32
max_outstanding_r2t = 4
max_sessions = 1000
max_session_data = "64M"
max_logins_in_progress = 12

[[target]]
iqn = "iqn.2026-12.org.offcopy:demo"
alias = "demo"

  [[target.lun]]
  lun = 0
  path = "/srv/disk0.img"
  create = "1G"
  block_size = 4096
  read_only = true
  write_cache = false
  vendor = "ACME"
  product = "Disk"
  serial = "SN-0001"

  [[target.lun]]
  lun = 1
  path = "/srv/disk1.img"
  create = 1048576

[[target]]
iqn = "iqn.2026-12.org.offcopy:other"
lun = [{ lun = 7, path = "/srv/other.img" }]
)";

TEST(ConfigFile, EveryKey) {
  Config c = toml_ok(kFullConfig);
  EXPECT_EQ(c.server.listen, (std::vector<std::string>{"127.0.0.1:3260", "[::1]:3261"}));
  EXPECT_EQ(c.log_level, tlog::Level::warning);
  EXPECT_EQ(c.server.io_threads, 8u);
  EXPECT_EQ(c.server.max_recv_data_segment, 131072u);
  EXPECT_EQ(c.server.first_burst, 32768u);
  EXPECT_EQ(c.server.max_burst, 262144u);
  EXPECT_FALSE(c.server.immediate_data);
  EXPECT_TRUE(c.server.initial_r2t);
  EXPECT_EQ(c.server.nop_interval_s, 0u);
  EXPECT_EQ(c.server.queue_depth, 32u);
  ASSERT_EQ(c.targets.size(), 2u);
  const TargetSpec& t = c.targets[0];
  EXPECT_EQ(t.iqn, "iqn.2026-12.org.offcopy:demo");
  EXPECT_EQ(t.alias, "demo");
  EXPECT_EQ(c.server.max_outstanding_r2t, 4u);
  EXPECT_EQ(c.server.max_sessions, 1000u);
  EXPECT_EQ(c.server.max_session_data, 64ull << 20);
  EXPECT_EQ(c.server.max_logins_in_progress, 12u);
  EXPECT_EQ(t.where, "t.toml:17");  // its [[target]] line
  ASSERT_EQ(t.luns.size(), 2u);
  const LunSpec& l = t.luns[0];
  EXPECT_EQ(l.lun, 0);
  EXPECT_EQ(l.path, "/srv/disk0.img");
  EXPECT_EQ(l.create_size, 1ull << 30);
  EXPECT_EQ(l.block_size, 4096u);
  EXPECT_TRUE(l.read_only);
  EXPECT_FALSE(l.write_cache);
  EXPECT_EQ(l.vendor, "ACME");
  EXPECT_EQ(l.product, "Disk");
  EXPECT_EQ(l.serial, "SN-0001");
  EXPECT_EQ(l.where, "t.toml:21");
  const LunSpec& l1 = t.luns[1];
  EXPECT_EQ(l1.create_size, 1048576u);
  EXPECT_EQ(l1.block_size, 512u);
  EXPECT_FALSE(l1.read_only);
  EXPECT_TRUE(l1.write_cache);
  EXPECT_TRUE(l1.vendor.empty() && l1.product.empty() && l1.serial.empty());
  ASSERT_EQ(c.targets[1].luns.size(), 1u);
  EXPECT_EQ(c.targets[1].luns[0].lun, 7);
  std::string error;
  EXPECT_TRUE(validate(c, error)) << error;
}

TEST(ConfigFile, ListenMayBeOneString) {
  EXPECT_EQ(toml_ok("listen = \"10.0.0.1\"\n").server.listen,
            std::vector<std::string>{"10.0.0.1:3260"});
}

TEST(ConfigFile, UnknownKeysNameTheKeyAndLine) {
  EXPECT_EQ(toml_error("listen = []\nport = 3260\n"),
            "t.toml:2: unknown key 'port' (known at the top: listen, log_level, io_threads, "
            "max_recv_data_segment, first_burst, max_burst, immediate_data, initial_r2t, "
            "max_outstanding_r2t, nop_interval, queue_depth, max_sessions, max_session_data, "
            "max_logins_in_progress, control_socket, target)");
  EXPECT_EQ(toml_error("[[target]]\niqn = \"iqn.a:x\"\nname = \"x\"\n"),
            "t.toml:3: unknown key 'name' in [[target]] (known: iqn, alias, allow, auth, lun)");
  EXPECT_EQ(toml_error("[[target]]\niqn = \"iqn.a:x\"\n[[target.lun]]\nlun = 0\npath = \"/x\"\n"
                       "blocksize = 4096\n"),
            "t.toml:6: unknown key 'blocksize' in [[target.lun]] (known: lun, path, create, "
            "block_size, read_only, write_cache, vendor, product, serial)");
  EXPECT_EQ(toml_error("[server]\nlisten = []\n"),
            "t.toml:1: unknown key 'server' (known at the top: listen, log_level, io_threads, "
            "max_recv_data_segment, first_burst, max_burst, immediate_data, initial_r2t, "
            "max_outstanding_r2t, nop_interval, queue_depth, max_sessions, max_session_data, "
            "max_logins_in_progress, control_socket, target)");
}

TEST(ConfigFile, TypesAndRanges) {
  EXPECT_EQ(toml_error("io_threads = \"4\"\n"),
            "t.toml:1: 'io_threads' must be an integer, not a string");
  EXPECT_EQ(toml_error("io_threads = 0\n"), "t.toml:1: 'io_threads' must be from 1 to 1024, not 0");
  EXPECT_EQ(toml_error("immediate_data = 1\n"),
            "t.toml:1: 'immediate_data' must be true or false, not an integer");
  EXPECT_EQ(toml_error("max_burst = 256\n"),
            "t.toml:1: 'max_burst' must be from 512 to 16777215, not 256");
  EXPECT_EQ(toml_error("queue_depth = 1.5\n"),
            "t.toml:1: 'queue_depth' must be an integer, not a floating-point number");
  EXPECT_EQ(toml_error("log_level = \"loud\"\n"),
            "t.toml:1: 'log_level' must be \"error\", \"warning\", \"info\" or \"debug\", not "
            "\"loud\"");
  EXPECT_EQ(toml_error("listen = [\"::1\"]\n"),
            "t.toml:1: listen '::1': an IPv6 address goes in brackets, e.g. [::1]:3260");
  EXPECT_EQ(toml_error("listen = [3260]\n"), "t.toml:1: 'listen' must be a string, not an integer");
  EXPECT_EQ(toml_error("target = \"iqn.a:x\"\n"),
            "t.toml:1: 'target' must be an array of tables: write [[target]]");
}

TEST(ConfigFile, LimitsAndTheirRanges) {
  const Config c = toml_ok("max_sessions = 1\nmax_session_data = 1048576\nqueue_depth = 65535\n");
  EXPECT_EQ(c.server.max_sessions, 1u);
  EXPECT_EQ(c.server.max_session_data, 1u << 20);
  EXPECT_EQ(c.server.queue_depth, 65535u);
  EXPECT_EQ(toml_ok("max_session_data = \"1t\"\n").server.max_session_data, 1ull << 40);
  EXPECT_EQ(toml_error("max_sessions = 0\n"),
            "t.toml:1: 'max_sessions' must be from 1 to 65535, not 0");
  EXPECT_EQ(toml_error("max_sessions = 65536\n"),
            "t.toml:1: 'max_sessions' must be from 1 to 65535, not 65536");
  EXPECT_EQ(toml_error("queue_depth = 0\n"),
            "t.toml:1: 'queue_depth' must be from 1 to 65535, not 0");
  EXPECT_EQ(toml_ok("max_logins_in_progress = 65535\n").server.max_logins_in_progress, 65535u);
  EXPECT_EQ(toml_error("max_logins_in_progress = 0\n"),
            "t.toml:1: 'max_logins_in_progress' must be from 1 to 65535, not 0");
  EXPECT_EQ(toml_error("max_outstanding_r2t = 0\n"),
            "t.toml:1: 'max_outstanding_r2t' must be from 1 to 65535, not 0");
  EXPECT_EQ(toml_error("max_session_data = \"512K\"\n"),
            "t.toml:1: 'max_session_data' must be from 1M to 1T, not 524288");
  EXPECT_EQ(toml_error("max_session_data = \"2T\"\n"),
            "t.toml:1: 'max_session_data' must be from 1M to 1T, not 2199023255552");
  EXPECT_EQ(toml_error("max_session_data = \"lots\"\n"),
            "t.toml:1: 'max_session_data' = \"lots\" is not a size (a positive number of bytes, "
            "or with a K, M, G or T suffix)");
  EXPECT_EQ(toml_error("max_session_data = -1\n"),
            "t.toml:1: 'max_session_data' must be a positive size");
  EXPECT_EQ(toml_error("max_session_data = true\n"),
            "t.toml:1: 'max_session_data' must be a size such as \"1G\" or a number of bytes, "
            "not a boolean");
}

TEST(ConfigFile, ValidateChecksTheLimitsOfAConfigMadeInCode) {
  Config c = toml_ok("[[target]]\niqn = \"iqn.a:x\"\n[[target.lun]]\nlun = 0\npath = \"/x\"\n");
  std::string error;
  ASSERT_TRUE(validate(c, error)) << error;
  c.server.max_sessions = 0;
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "max_sessions must be from 1 to 65535");
  c.server.max_sessions = 1;
  c.server.queue_depth = 70000;
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "queue_depth must be from 1 to 65535");
  c.server.queue_depth = 1;
  c.server.max_session_data = 1;
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "max_session_data must be from 1M to 1T");
  c.server.max_session_data = 1u << 20;
  c.server.max_logins_in_progress = 0;
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "max_logins_in_progress must be from 1 to 65535");
}

// One [[target.lun]] holding `lines`, at line 3 of the file.
std::string one_lun(const std::string& lines) {
  return "[[target]]\niqn = \"iqn.a:x\"\n[[target.lun]]\n" + lines;
}

TEST(ConfigFile, LunErrors) {
  EXPECT_EQ(toml_error(one_lun("path = \"/x\"\n")),
            "t.toml:3: this [[target.lun]] has no 'lun' (its number)");
  EXPECT_EQ(toml_error(one_lun("lun = 0\n")),
            "t.toml:3: this [[target.lun]] has no 'path' (its backing file)");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"\"\n")), "t.toml:5: 'path' is empty");
  EXPECT_EQ(toml_error(one_lun("lun = 16384\npath = \"/x\"\n")),
            "t.toml:4: 'lun' must be from 0 to 16383, not 16384");
  EXPECT_EQ(toml_error(one_lun("lun = -1\npath = \"/x\"\n")),
            "t.toml:4: 'lun' must be from 0 to 16383, not -1");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\nblock_size = 1024\n")),
            "t.toml:6: 'block_size' must be 512 or 4096, not 1024");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\ncreate = \"1Q\"\n")),
            "t.toml:6: 'create' = \"1Q\" is not a size (a positive number of bytes, or with a K, "
            "M, G or T suffix)");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\ncreate = 0\n")),
            "t.toml:6: 'create' must be a positive size");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\ncreate = true\n")),
            "t.toml:6: 'create' must be a size such as \"1G\" or a number of bytes, not a boolean");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\nvendor = \"NINECHARS\"\n")),
            "t.toml:6: 'vendor' must be 1 to 8 printable ASCII characters, not \"NINECHARS\"");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\nproduct = \"\"\n")),
            "t.toml:6: 'product' must be 1 to 16 printable ASCII characters, not \"\"");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\nserial = \"caf\xc3\xa9\"\n")),
            "t.toml:6: 'serial' must be 1 to 64 printable ASCII characters, not \"caf\xc3\xa9\"");
  EXPECT_EQ(toml_error(one_lun("lun = 0\npath = \"/x\"\nread_only = \"yes\"\n")),
            "t.toml:6: 'read_only' must be true or false, not a string");
}

TEST(ConfigFile, TargetErrors) {
  EXPECT_EQ(toml_error("[[target]]\nalias = \"x\"\n"), "t.toml:1: this [[target]] has no 'iqn'");
  EXPECT_EQ(toml_error("[[target]]\niqn = 5\n"),
            "t.toml:2: 'iqn' must be a string, not an integer");
  EXPECT_EQ(toml_error("[[target]]\niqn = \"iqn.a:x\"\nlun = 0\n"),
            "t.toml:3: 'lun' must be an array of tables: write [[target.lun]]");
}

TEST(ConfigFile, SyntaxErrorsGiveLineAndColumn) {
  std::string e = toml_error("listen = [\"127.0.0.1:3260\"\n\n[[target]]\n");
  EXPECT_TRUE(e.starts_with("t.toml:")) << e;
  EXPECT_EQ(toml_error("io_threads = 4\nio_threads = 5\n").substr(0, 9), "t.toml:2:");
}

TEST(ConfigFile, WholeFileChecks) {
  Config c = toml_ok("first_burst = 65536\nmax_burst = 32768\n" + one_lun("lun=0\npath=\"/x\"\n"));
  std::string error;
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "first_burst (65536) must not exceed max_burst (32768) (RFC 7143 13.14)");

  c = toml_ok(one_lun("lun = 0\npath = \"/x\"\nblock_size = 4096\ncreate = \"6K\"\n"));
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "t.toml:3: create size 6144 is not a multiple of the block size 4096");

  c = toml_ok(one_lun("lun = 2\npath = \"/x\"\n[[target.lun]]\nlun = 2\npath = \"/y\"\n"));
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error, "t.toml:6: LUN 2 of target 'iqn.a:x' is already given at t.toml:3");

  c = toml_ok("[[target]]\niqn = \"iqn.a:x\"\n");
  EXPECT_FALSE(validate(c, error));
  EXPECT_EQ(error,
            "t.toml:1: target 'iqn.a:x' has no LUNs (give --lun N=PATH after --target, "
            "or [[target.lun]])");
}

TEST(ConfigFile, MissingFileNamesItAndTheErrno) {
  Config c;
  std::string error;
  EXPECT_FALSE(load_config("/nonexistent/offcopy-target.toml", c, error));
  EXPECT_EQ(error,
            "cannot read config file '/nonexistent/offcopy-target.toml': No such file or "
            "directory");
}

// ---------------------------------------------------------------- flags over the file

TEST(Precedence, FlagsOverrideScalarsAndAddToLists) {
  TempFile f(R"(listen = ["127.0.0.1:3260"]
io_threads = 8
log_level = "debug"
[[target]]
iqn = "iqn.a:file"
[[target.lun]]
lun = 0
path = "/file0"
create = "1M"
)");
  CommandLine cl = parsed({"--config", f.path(), "--listen", "127.0.0.2:3260", "--io-threads", "2",
                           "-q", "--target", "iqn.a:flag", "--lun", "0=/flag0", "--create", "2M"});
  Config c;
  std::string error;
  ASSERT_TRUE(resolve(cl, c, error)) << error;
  EXPECT_EQ(c.server.listen, (std::vector<std::string>{"127.0.0.1:3260", "127.0.0.2:3260"}));
  EXPECT_EQ(c.server.io_threads, 2u);
  EXPECT_EQ(c.log_level, tlog::Level::error);
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[0].iqn, "iqn.a:file");
  EXPECT_EQ(c.targets[0].luns[0].create_size, 1u << 20);  // --create is for flag LUNs only
  EXPECT_EQ(c.targets[1].iqn, "iqn.a:flag");
  EXPECT_EQ(c.targets[1].luns[0].create_size, 2u << 20);
}

TEST(Precedence, LimitFlagsOverrideTheFile) {
  TempFile f(
      "queue_depth = 16\nmax_sessions = 8\nmax_session_data = \"64M\"\n"
      "max_logins_in_progress = 5\n[[target]]\n"
      "iqn = \"iqn.a:x\"\n[[target.lun]]\nlun = 0\npath = \"/x\"\n");
  Config kept;
  std::string error;
  ASSERT_TRUE(resolve(parsed({"--config", f.path()}), kept, error)) << error;
  EXPECT_EQ(kept.server.queue_depth, 16u);
  EXPECT_EQ(kept.server.max_sessions, 8u);
  EXPECT_EQ(kept.server.max_session_data, 64u << 20);
  EXPECT_EQ(kept.server.max_logins_in_progress, 5u);
  Config c;
  ASSERT_TRUE(resolve(parsed({"--config", f.path(), "--queue-depth", "32", "--max-sessions=2",
                              "--max-session-data", "1G", "--max-logins-in-progress", "3"}),
                      c, error))
      << error;
  EXPECT_EQ(c.server.queue_depth, 32u);
  EXPECT_EQ(c.server.max_sessions, 2u);
  EXPECT_EQ(c.server.max_session_data, 1u << 30);
  EXPECT_EQ(c.server.max_logins_in_progress, 3u);
}

TEST(Precedence, ConfigScalarsStandWithoutFlags) {
  TempFile f(
      "io_threads = 8\nlog_level = \"debug\"\n[[target]]\niqn = \"iqn.a:x\"\n"
      "[[target.lun]]\nlun = 0\npath = \"/x\"\n");
  CommandLine cl = parsed({"--config", f.path()});
  Config c;
  std::string error;
  ASSERT_TRUE(resolve(cl, c, error)) << error;
  EXPECT_EQ(c.server.io_threads, 8u);
  EXPECT_EQ(c.log_level, tlog::Level::debug);
  EXPECT_EQ(c.server.listen, std::vector<std::string>{"0.0.0.0:3260"});
}

TEST(Precedence, AFlagTargetMayNotRepeatAConfigTarget) {
  TempFile f("[[target]]\niqn = \"iqn.a:x\"\n[[target.lun]]\nlun = 0\npath = \"/x\"\n");
  CommandLine cl = parsed({"--config", f.path(), "--target", "iqn.a:x", "--lun", "1=/y"});
  Config c;
  std::string error;
  EXPECT_FALSE(resolve(cl, c, error));
  EXPECT_EQ(error, "--target iqn.a:x: target 'iqn.a:x' is already given at " + f.path() + ":1");
}

// ---------------------------------------------------------------- CHAP and the ACL

constexpr char kSecret[] = "correct-horse-battery";
constexpr char kMutual[] = "staple-of-the-target";

// A target with one LUN, then `auth` (a [target.auth] body) and `extra`
// lines of the [[target]] before it.
std::string auth_target(const std::string& auth, const std::string& extra = "") {
  return "[[target]]\niqn = \"iqn.a:x\"\n" + extra + "[[target.lun]]\nlun = 0\npath = \"/x\"\n" +
         (auth.empty() ? "" : "[target.auth]\n" + auth);
}

std::string validate_error(const std::string& text) {
  Config c = toml_ok(text);
  std::string error;
  EXPECT_FALSE(validate(c, error));
  return error;
}

TEST(Auth, ConfigFileSchema) {
  Config c = toml_ok(auth_target(std::string("user = \"alice\"\nsecret = \"") + kSecret +
                                     "\"\nmutual_user = \"disk-x\"\nmutual_secret = \"" + kMutual +
                                     "\"\n",
                                 "allow = [\"iqn.2026-12.org.example:host1\", \"eui.0123\"]\n"));
  ASSERT_EQ(c.targets.size(), 1u);
  const TargetSpec& t = c.targets[0];
  EXPECT_EQ(t.auth.user, "alice");
  EXPECT_EQ(t.auth.secret, kSecret);
  EXPECT_EQ(t.auth.mutual_user, "disk-x");
  EXPECT_EQ(t.auth.mutual_secret, kMutual);
  EXPECT_EQ(t.auth.where, "t.toml:7");
  EXPECT_EQ(t.allow, (std::vector<std::string>{"iqn.2026-12.org.example:host1", "eui.0123"}));
  std::string error;
  EXPECT_TRUE(validate(c, error)) << error;
}

TEST(Auth, NoAuthNoAclIsUnchanged) {
  Config c = toml_ok(auth_target(""));
  EXPECT_TRUE(c.targets[0].auth.empty());
  EXPECT_TRUE(c.targets[0].allow.empty());
}

TEST(Auth, ConfigFileErrors) {
  EXPECT_EQ(toml_error(auth_target("password = \"x\"\n")),
            "t.toml:7: unknown key 'password' in [target.auth] (known: user, secret, "
            "secret_file, mutual_user, mutual_secret, mutual_secret_file)");
  EXPECT_EQ(toml_error(auth_target("secret = 123456789012345\n")),
            "t.toml:7: 'secret' must be a string, not an integer");
  EXPECT_EQ(toml_error(auth_target("user = \"\"\n")), "t.toml:7: 'user' is empty");
  EXPECT_EQ(toml_error(auth_target(std::string("user = \"a\"\nsecret = \"") + kSecret +
                                   "\"\nsecret_file = \"/s\"\n")),
            "t.toml:6: [target.auth] has both 'secret' and 'secret_file': give one");
  EXPECT_EQ(toml_error(auth_target("", "allow = \"iqn.a:one\"\n")),
            "t.toml:3: 'allow' must be an array of initiator names, not a string");
  EXPECT_EQ(toml_error(auth_target("", "allow = [\"host1\"]\n")),
            "t.toml:3: 'allow' entry 'host1' is not an iSCSI name (iqn., eui. or naa., no spaces)");
  EXPECT_EQ(toml_error("[[target]]\niqn = \"iqn.a:x\"\nauth = 1\n"),
            "t.toml:3: 'auth' must be a table: write [target.auth]");
}

TEST(Auth, ValidationNeverQuotesTheSecret) {
  const std::string short_secret = "short-pw";  // 8 bytes: under 96 bits
  std::string e = validate_error(
      auth_target("user = \"alice\"\nsecret = \"" + short_secret + "\"\n"));
  EXPECT_EQ(e,
            "t.toml:6: the CHAP secret of target 'iqn.a:x' has 8 bytes; a CHAP secret has 12 to "
            "256 (RFC 7143 12.1.3: at least 96 bits)");
  EXPECT_EQ(e.find(short_secret), std::string::npos);
  e = validate_error(auth_target("user = \"alice\"\nsecret = \"" + std::string(257, 'x') + "\"\n"));
  EXPECT_NE(e.find("has 257 bytes"), std::string::npos) << e;
  e = validate_error(auth_target(std::string("secret = \"") + kSecret + "\"\n"));
  EXPECT_EQ(e, "t.toml:6: target 'iqn.a:x': a CHAP secret needs its 'user'");
  EXPECT_EQ(validate_error(auth_target("user = \"alice\"\n")),
            "t.toml:6: target 'iqn.a:x': CHAP user 'alice' has no 'secret' (or 'secret_file')");
  e = validate_error(
      auth_target(std::string("mutual_user = \"t\"\nmutual_secret = \"") + kMutual + "\"\n"));
  EXPECT_EQ(e,
            "t.toml:6: target 'iqn.a:x': mutual CHAP needs one-way CHAP too: give 'user' and "
            "'secret'");
  const std::string one_way = std::string("user = \"alice\"\nsecret = \"") + kSecret + "\"\n";
  EXPECT_EQ(validate_error(auth_target(one_way + "mutual_user = \"t\"\n")),
            "t.toml:6: target 'iqn.a:x': mutual_user 't' has no 'mutual_secret' (or "
            "'mutual_secret_file')");
  EXPECT_EQ(validate_error(auth_target(one_way + "mutual_secret = \"" + kMutual + "\"\n")),
            "t.toml:6: target 'iqn.a:x': a mutual_secret needs its 'mutual_user'");
  e = validate_error(
      auth_target(one_way + "mutual_user = \"t\"\nmutual_secret = \"" + kSecret + "\"\n"));
  EXPECT_EQ(e,
            "t.toml:6: target 'iqn.a:x': the mutual secret must differ from the CHAP secret "
            "(RFC 7143 12.1.3)");
  EXPECT_EQ(e.find(kSecret), std::string::npos);
}

TEST(Auth, Flags) {
  CommandLine cl = parsed({"--target", "iqn.a:x", "--lun", "0=/x", "--chap",
                           std::string("alice:") + kSecret + ":with-colon", "--mutual-chap",
                           std::string("disk-x:") + kMutual, "--allow", "iqn.a:host1", "--allow",
                           "iqn.a:host2"});
  ASSERT_EQ(cl.targets.size(), 1u);
  const TargetSpec& t = cl.targets[0];
  EXPECT_EQ(t.auth.user, "alice");
  EXPECT_EQ(t.auth.secret, std::string(kSecret) + ":with-colon") << "the secret may hold ':'";
  EXPECT_EQ(t.auth.mutual_user, "disk-x");
  EXPECT_EQ(t.auth.mutual_secret, kMutual);
  EXPECT_EQ(t.auth.where, "--chap alice");
  EXPECT_EQ(t.allow, (std::vector<std::string>{"iqn.a:host1", "iqn.a:host2"}));
  Config c;
  std::string error;
  EXPECT_TRUE(resolve(cl, c, error)) << error;
}

TEST(Auth, FlagErrorsNeverQuoteTheSecret) {
  EXPECT_EQ(flag_error({"--chap", std::string("alice:") + kSecret}),
            "--chap alice: CHAP credentials belong to a target; give --target IQN before them");
  const std::string e = flag_error({"--target", "iqn.a:x", "--chap", kSecret});
  EXPECT_EQ(e, "--chap: expected USER:SECRET (the secret is not shown)");
  EXPECT_EQ(flag_error({"--allow", "iqn.a:h"}),
            "--allow iqn.a:h: an --allow belongs to a target; give --target IQN before it");
  const std::string r = resolve_error(
      {"--target", "iqn.a:x", "--lun", "0=/x", "--chap", "alice:tooshort"});
  EXPECT_EQ(r,
            "--chap alice: the CHAP secret of target 'iqn.a:x' has 8 bytes; a CHAP secret has 12 "
            "to 256 (RFC 7143 12.1.3: at least 96 bits)");
  EXPECT_EQ(resolve_error({"--target", "iqn.a:x", "--lun", "0=/x", "--allow", "host1"}),
            "--target iqn.a:x: allowed initiator 'host1' is not an iSCSI name (iqn., eui. or "
            "naa., no spaces)");
}

TEST(Auth, SecretFile) {
  TempFile secret(std::string(kSecret) + "\n");
  ASSERT_EQ(::chmod(secret.path().c_str(), 0600), 0);
  TempFile f(auth_target("user = \"alice\"\nsecret_file = \"" + secret.path() + "\"\n"));
  CommandLine cl = parsed({"--config", f.path()});
  Config c;
  std::string error;
  ASSERT_TRUE(resolve(cl, c, error)) << error;
  EXPECT_EQ(c.targets[0].auth.secret, kSecret) << "the final newline is not part of it";

  ASSERT_EQ(::chmod(secret.path().c_str(), 0644), 0);
  Config c2;
  EXPECT_FALSE(resolve(cl, c2, error));
  EXPECT_EQ(error, f.path() + ":6: secret file '" + secret.path() +
                       "' may be read by others (mode 0644): chmod 600 it");

  TempFile missing_ref(auth_target("user = \"alice\"\nsecret_file = \"/nonexistent/s\"\n"));
  Config c3;
  EXPECT_FALSE(resolve(parsed({"--config", missing_ref.path()}), c3, error));
  EXPECT_EQ(error,
            missing_ref.path() + ":6: secret file '/nonexistent/s': No such file or directory");

  TempFile short_secret("short\n");
  ASSERT_EQ(::chmod(short_secret.path().c_str(), 0400), 0);
  TempFile g(auth_target("user = \"alice\"\nsecret_file = \"" + short_secret.path() + "\"\n"));
  Config c4;
  EXPECT_FALSE(resolve(parsed({"--config", g.path()}), c4, error));
  EXPECT_NE(error.find("has 5 bytes"), std::string::npos) << error;
}

// ---------------------------------------------------------------- the control socket

TEST(ControlSocket, FlagAndConfigKeyAndNone) {
  Config config;
  std::string error;
  ASSERT_TRUE(resolve(parsed({"--target", "iqn.a:x", "--lun", "0=/x", "--control", "/tmp/c.sock"}),
                      config, error))
      << error;
  EXPECT_EQ(config.server.control_socket, "/tmp/c.sock");
  EXPECT_EQ(parsed({"--control", "none"}).control_socket, "");
  EXPECT_EQ(parsed({"--control="}).control_socket, "");
  EXPECT_FALSE(parsed({}).control_socket.has_value());
  EXPECT_EQ(toml_ok("control_socket = \"/run/x.sock\"\n").server.control_socket, "/run/x.sock");
  EXPECT_EQ(toml_ok("control_socket = \"none\"\n").server.control_socket, "");
  EXPECT_EQ(toml_ok("control_socket = \"\"\n").server.control_socket, "");
  EXPECT_EQ(toml_error("control_socket = 1\n"),
            "t.toml:1: 'control_socket' must be a string, not an integer");
}

TEST(ControlSocket, TheFlagOverridesTheFile) {
  TempFile f("control_socket = \"/tmp/from-file.sock\"\n"
             "[[target]]\niqn = \"iqn.a:x\"\n[[target.lun]]\nlun = 0\npath = \"/x\"\n");
  Config config;
  std::string error;
  ASSERT_TRUE(resolve(parsed({"--config", f.path()}), config, error)) << error;
  EXPECT_EQ(config.server.control_socket, "/tmp/from-file.sock");
  Config over;
  ASSERT_TRUE(resolve(parsed({"--config", f.path(), "--control", "none"}), over, error)) << error;
  EXPECT_EQ(over.server.control_socket, "");
}

TEST(ControlSocket, APathTooLongForAUnixSocket) {
  const std::string path = "/tmp/" + std::string(103, 'x');  // 108 bytes
  EXPECT_EQ(resolve_error({"--target", "iqn.a:x", "--lun", "0=/x", "--control", path}),
            "control socket '" + path +
                "' is 108 bytes long; a Unix socket's path has at most 107");
  Config config;
  std::string error;
  EXPECT_TRUE(resolve(parsed({"--target", "iqn.a:x", "--lun", "0=/x", "--control",
                              path.substr(0, 107)}),
                      config, error))
      << error;
}

TEST(StatusCommand, ItsOptions) {
  CommandLine cl = parsed({"status"});
  EXPECT_EQ(cl.action, CommandLine::Action::status);
  EXPECT_FALSE(cl.json);
  cl = parsed({"status", "--json", "--control", "/tmp/c.sock"});
  EXPECT_EQ(cl.action, CommandLine::Action::status);
  EXPECT_TRUE(cl.json);
  EXPECT_EQ(cl.control_socket, "/tmp/c.sock");
  EXPECT_EQ(parsed({"status", "--help"}).action, CommandLine::Action::help);
}

TEST(StatusCommand, Errors) {
  EXPECT_EQ(flag_error({"status", "--lun", "0=/x"}),
            "option '--lun' is not one of 'offcopy-target status' (it takes --control, --config "
            "and --json)");
  EXPECT_EQ(flag_error({"status", "-v"}),
            "option '-v' is not one of 'offcopy-target status' (it takes --control, --config "
            "and --json)");
  EXPECT_EQ(flag_error({"status", "now"}), "unexpected argument 'now' (options only)");
  EXPECT_EQ(flag_error({"--json"}),
            "option '--json' belongs to the status command: offcopy-target status --json");
  EXPECT_EQ(flag_error({"--control", "/tmp/c.sock", "status"}),
            "unexpected argument 'status': the status command comes first, offcopy-target "
            "status [--control PATH] [--json]");
}

TEST(StatusCommand, WhichSocketItAsks) {
  std::string path, error;
  ASSERT_TRUE(resolve_control_socket(parsed({"status"}), path, error)) << error;
  EXPECT_EQ(path, kDefaultControlSocket);
  ASSERT_TRUE(resolve_control_socket(parsed({"status", "--control", "/tmp/c.sock"}), path, error));
  EXPECT_EQ(path, "/tmp/c.sock");
  // The config file's key; the file need not name anything to serve.
  TempFile f("control_socket = \"/tmp/from-file.sock\"\n");
  ASSERT_TRUE(resolve_control_socket(parsed({"status", "--config", f.path()}), path, error))
      << error;
  EXPECT_EQ(path, "/tmp/from-file.sock");
  ASSERT_TRUE(resolve_control_socket(
      parsed({"status", "--config", f.path(), "--control", "/tmp/flag.sock"}), path, error));
  EXPECT_EQ(path, "/tmp/flag.sock");
  EXPECT_FALSE(resolve_control_socket(parsed({"status", "--control", "none"}), path, error));
  EXPECT_NE(error.find("the control socket is turned off"), std::string::npos) << error;
  EXPECT_FALSE(resolve_control_socket(parsed({"status", "--config", "/nonexistent/x.toml"}), path,
                                      error));
  EXPECT_EQ(error, "cannot read config file '/nonexistent/x.toml': No such file or directory");
}

TEST(Usage, NamesEveryFlag) {
  std::string u = usage();
  for (const char* flag :
       {"--listen", "--target", "--lun", "--create", "--config", "--io-threads", "--port-file",
        "--foreground", "--verbose", "--quiet", "--help", "--version", "--chap", "--mutual-chap",
        "--allow", "--queue-depth", "--max-sessions", "--max-session-data", "--control",
        "--json", "offcopy-target status"}) {
    EXPECT_NE(u.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace offcopy::config
