// The control socket (target/control/control_server.h, control_client.h)
// with real Unix sockets in a temporary directory: the protocol, the
// file's mode and removal, a stale socket replaced, a live one left
// alone, and a silent client that cannot hold the server.
#include "control/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "control/control_client.h"
#include "support/temp_dir.h"

namespace offcopy::control {
namespace {

using Clock = std::chrono::steady_clock;

Status one_lun_status() {
  Status s;
  s.version = "9.9.9";
  s.pid = 1;
  s.targets = {
      {"iqn.2026-12.org.offcopy:control", {{0, "/srv/zero.img", 1 << 20, 512, false, {}}}}};
  s.targets[0].luns[0].stats.bytes_written = 12345;
  return s;
}

// A connected client socket to `path`, or -1.
int connect_to(const std::string& path) {
  sockaddr_un address;
  socklen_t length = 0;
  std::string error;
  if (!unix_address(path, address, length, error)) return -1;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class ControlServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ControlServer> open_server(const std::string& path) {
    ControlServer::Failure failure;
    std::string error;
    auto server = ControlServer::open(
        path,
        [this] {
          ++snapshots_;
          return one_lun_status();
        },
        failure, error);
    EXPECT_TRUE(server) << error;
    EXPECT_EQ(failure, ControlServer::Failure::none);
    return server;
  }

  offcopy::testing::TempDir dir_;
  const std::string path_ = dir_.file("control.sock");
  std::atomic<int> snapshots_{0};
};

TEST(Answer, StatusAsTableOrJsonAndAnErrorForTheRest) {
  auto snapshot = [] { return one_lun_status(); };
  EXPECT_EQ(answer("status", snapshot), status_text(one_lun_status()));
  EXPECT_EQ(answer("status json\r", snapshot), status_json(one_lun_status()));
  EXPECT_EQ(answer("  status  ", snapshot), status_text(one_lun_status()));
  EXPECT_EQ(answer("stats", snapshot),
            "error: unknown request 'stats' (known: 'status' or 'status json')\n");
  EXPECT_EQ(answer("", snapshot).rfind("error: unknown request ''", 0), 0u);
}

TEST_F(ControlServerTest, AnswersTheStatusAndIsPrivate) {
  auto server = open_server(path_);
  ASSERT_TRUE(server);
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  std::string reply, error;
  ASSERT_TRUE(request(path_, "status", reply, error)) << error;
  EXPECT_EQ(reply, status_text(one_lun_status()));
  reply.clear();
  ASSERT_TRUE(request(path_, "status json", reply, error)) << error;
  EXPECT_EQ(reply, status_json(one_lun_status()));
  EXPECT_NE(reply.find("\"bytes_written\": 12345"), std::string::npos) << reply;
  reply.clear();
  ASSERT_TRUE(request(path_, "frobnicate", reply, error)) << error;
  EXPECT_EQ(reply.rfind("error: unknown request 'frobnicate'", 0), 0u) << reply;
  EXPECT_EQ(snapshots_, 2) << "a refused request takes no snapshot";
}

TEST_F(ControlServerTest, TheSocketGoesWithTheServer) {
  auto server = open_server(path_);
  ASSERT_TRUE(server);
  server.reset();
  struct stat st;
  EXPECT_NE(::lstat(path_.c_str(), &st), 0);
  std::string reply, error;
  EXPECT_FALSE(request(path_, "status", reply, error));
}

TEST_F(ControlServerTest, AStaleSocketIsReplaced) {
  {
    // A socket bound and closed without unlink: a process killed with -9.
    sockaddr_un address;
    socklen_t length = 0;
    std::string error;
    ASSERT_TRUE(unix_address(path_, address, length, error));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), length), 0);
    ::close(fd);
  }
  auto server = open_server(path_);
  ASSERT_TRUE(server);
  std::string reply, error;
  EXPECT_TRUE(request(path_, "status", reply, error)) << error;
}

TEST_F(ControlServerTest, ALiveSocketIsLeftToItsServer) {
  auto first = open_server(path_);
  ASSERT_TRUE(first);
  ControlServer::Failure failure;
  std::string error;
  auto second = ControlServer::open(path_, one_lun_status, failure, error);
  EXPECT_FALSE(second);
  EXPECT_EQ(failure, ControlServer::Failure::in_use);
  EXPECT_NE(error.find("'" + path_ + "' is in use"), std::string::npos) << error;
  EXPECT_NE(error.find("--control"), std::string::npos) << error;
  std::string reply;
  EXPECT_TRUE(request(path_, "status", reply, error)) << "the first still answers: " << error;
}

TEST_F(ControlServerTest, AFileThatIsNotASocketIsLeftAlone) {
  std::ofstream(path_) << "precious\n";
  ControlServer::Failure failure;
  std::string error;
  EXPECT_FALSE(ControlServer::open(path_, one_lun_status, failure, error));
  EXPECT_EQ(failure, ControlServer::Failure::unusable);
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("not a socket"), std::string::npos) << error;
  std::ifstream in(path_);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "precious");
}

TEST_F(ControlServerTest, AMissingDirectoryNamesThePathAndTheErrno) {
  const std::string path = dir_.file("no/such/dir/control.sock");
  ControlServer::Failure failure;
  std::string error;
  EXPECT_FALSE(ControlServer::open(path, one_lun_status, failure, error));
  EXPECT_EQ(failure, ControlServer::Failure::unusable);
  EXPECT_EQ(error, "cannot make the control socket '" + path + "': No such file or directory");
}

TEST_F(ControlServerTest, AServerRemovesOnlyItsOwnSocketFile) {
  auto server = open_server(path_);
  ASSERT_TRUE(server);
  // Another instance found this one's socket gone and made its own.
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  auto other = open_server(path_);
  ASSERT_TRUE(other);
  server.reset();
  struct stat st;
  EXPECT_EQ(::lstat(path_.c_str(), &st), 0) << "the other instance's socket stays";
  std::string reply, error;
  EXPECT_TRUE(request(path_, "status", reply, error)) << error;
}

TEST_F(ControlServerTest, ASilentClientIsDroppedAndOthersAreAnswered) {
  auto server = open_server(path_);
  ASSERT_TRUE(server);
  const int silent = connect_to(path_);
  ASSERT_GE(silent, 0);
  // Give the server time to take the silent one first.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = Clock::now();
  std::string reply, error;
  EXPECT_TRUE(request(path_, "status", reply, error)) << error;
  const auto waited = Clock::now() - start;
  EXPECT_LT(waited, std::chrono::milliseconds(kRequestTimeoutMs + 1000));
  // The silent client was closed without an answer.
  char c;
  EXPECT_EQ(::recv(silent, &c, 1, MSG_DONTWAIT), 0);
  ::close(silent);
}

TEST_F(ControlServerTest, StoppingDoesNotWaitForASilentClient) {
  auto server = open_server(path_);
  ASSERT_TRUE(server);
  const int silent = connect_to(path_);
  ASSERT_GE(silent, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(500));
  ::close(silent);
}

TEST(ControlClient, NothingListeningNamesThePathAndTheErrno) {
  offcopy::testing::TempDir dir;
  const std::string path = dir.file("none.sock");
  std::string reply, error;
  EXPECT_FALSE(request(path, "status", reply, error));
  EXPECT_EQ(
      error.rfind("cannot connect to the control socket '" + path + "': No such file or directory",
                  0),
      0u)
      << error;
}

TEST(ControlClient, APathTooLongForASocket) {
  const std::string path = "/tmp/" + std::string(200, 'x');
  std::string reply, error;
  EXPECT_FALSE(request(path, "status", reply, error));
  EXPECT_NE(error.find("is 205 bytes long"), std::string::npos) << error;
}

}  // namespace
}  // namespace offcopy::control
