// The epoll Server with real sockets on the loopback: what only it does.
// Output backpressure (a link stops reading a peer that does not read its
// output, and reads again when it does), the session's bound holding for
// a peer that sends READs and never reads, peers dropped when they take
// nothing or hang up while paused, a stop with a paused link, and the cap
// on connections still logging in.  What is queued is measured by the
// server's own counters (ServerStats), not by RSS.
#include "iscsi/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "iscsi_testing.h"

namespace offcopy::iscsi::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A Server on 127.0.0.1 (a free port) serving target A, whose LUN 0 is a
// file of `lun_bytes` of pattern(.., 70), run on a thread of its own.
class LiveServer {
 public:
  explicit LiveServer(ServerOptions o, size_t lun_bytes = 4 << 20) : disk_(pattern(lun_bytes, 70)) {
    const std::string path = dir_.file("lun.img");
    {
      std::ofstream f(path, std::ios::binary);
      f.write(reinterpret_cast<const char*>(disk_.data()), static_cast<std::streamsize>(lun_bytes));
    }
    std::string error;
    scsi::BackingOptions b;
    b.block_size = 512;
    auto file = scsi::BackingFile::open(path, b, error);
    EXPECT_NE(file, nullptr) << error;
    std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>> units;
    units[0] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("a,0"), scsi::UnitOptions{},
                                                   std::move(file), pool_);
    std::vector<TargetConfig> targets;
    targets.push_back({kTargetA, "", std::make_shared<scsi::LunMap>(std::move(units))});
    o.listen = {"127.0.0.1:0"};
    server_ = Server::open(o, std::move(targets), error);
    EXPECT_NE(server_, nullptr) << error;
    if (server_) thread_ = std::thread([this] { server_->run(); });
  }
  ~LiveServer() { stop(); }

  // Stops the server and waits for run() to return.
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }
  uint16_t port() const { return server_ ? server_->port() : 0; }
  ServerStats stats() const { return server_->stats(); }
  const std::vector<uint8_t>& disk() const { return disk_; }

  // Until `pred` holds of the counters (false after `timeout`).
  bool wait_for(const std::function<bool(const ServerStats&)>& pred,
                milliseconds timeout = milliseconds(5000)) const {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (pred(stats())) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return pred(stats());
  }

 private:
  offcopy::testing::TempDir dir_;
  std::vector<uint8_t> disk_;
  scsi::IoPool pool_{2};  // outlives the units, which the server owns
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// An initiator on a non-blocking socket: it logs in, builds PDUs with its
// CmdSN, and reads PDUs back only when the test says so.
class Client {
 public:
  // `rcvbuf` > 0: SO_RCVBUF before connecting, so that what the kernel
  // holds for a client that does not read is small.
  explicit Client(uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0)
        << std::strerror(errno);
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    static uint8_t next_isid = 0;  // a session of its own, not a reinstatement
    std::copy(std::begin(kIsid), std::end(kIsid), isid_.begin());
    isid_[5] = next_isid++;
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  // What the socket takes now, without waiting.
  size_t send_some(const uint8_t* p, size_t n) {
    const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
    return w > 0 ? static_cast<size_t>(w) : 0;
  }
  bool send_all(const std::vector<uint8_t>& bytes, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    size_t at = 0;
    while (at < bytes.size()) {
      at += send_some(bytes.data() + at, bytes.size() - at);
      if (at == bytes.size()) break;
      if (Clock::now() > deadline) return false;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 10);
    }
    return true;
  }
  bool send(const Pdu& p) { return send_all(serialize(p, Digests{})); }

  // The next PDU from the target (null after `timeout`, or when it closed).
  std::optional<Pdu> read_pdu(milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      while (in_at_ < in_.size()) {
        in_at_ += reader_.feed(in_.data() + in_at_, in_.size() - in_at_);
        if (reader_.fault() != PduReader::Fault::none) {
          ADD_FAILURE() << "the target sent a PDU that does not parse";
          return std::nullopt;
        }
        if (reader_.ready()) return reader_.take();
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      in_.resize(256 << 10);
      const ssize_t r = ::recv(fd_, in_.data(), in_.size(), 0);
      in_at_ = 0;
      if (r <= 0) {
        in_.clear();
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        return std::nullopt;  // closed
      }
      in_.resize(static_cast<size_t>(r));
    }
  }
  Pdu expect(Opcode op) {
    std::optional<Pdu> p = read_pdu();
    if (!p) {
      ADD_FAILURE() << "no PDU from the target (wanted opcode " << std::hex << int(op) << ")";
      return Pdu{};
    }
    EXPECT_EQ(int(p->opcode()), int(op));
    if (p->opcode() != Opcode::data_in || (p->bhs[1] & 0x01)) exp_stat_sn = stat_sn(*p) + 1;
    return *p;
  }

  // Whether the target closes the connection within `timeout` (what it
  // sent before is read and dropped).
  bool closed_by_peer(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::vector<uint8_t> buf(256 << 10);
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const ssize_t r = ::recv(fd_, buf.data(), buf.size(), 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return true;
    }
    return false;
  }

  void login() {
    LoginPdu l;
    l.isid = isid_;
    l.itt = next_itt++;
    l.cmd_sn = cmd_sn;
    l.exp_stat_sn = exp_stat_sn;
    ASSERT_TRUE(send(login_request(l, security_keys())));
    const Pdu r1 = expect(Opcode::login_response);
    ASSERT_EQ(status_class(r1), 0);
    l.csg = 1;
    l.nsg = 3;
    l.exp_stat_sn = exp_stat_sn;
    ASSERT_TRUE(send(login_request(l, libiscsi_operational_keys())));
    const Pdu r2 = expect(Opcode::login_response);
    ASSERT_EQ(status_class(r2), 0);
    cmd_sn = exp_cmd_sn(r2);
  }

  // READ(10) of `blocks` at `lba`, with the next ITT and CmdSN.
  Pdu read(uint32_t lba, uint16_t blocks) {
    Pdu p;
    p.set_opcode(Opcode::scsi_command);
    p.bhs[1] = 0x80 | 0x40 | 0x01;  // F, R, SIMPLE
    p.set_field32(16, next_itt++);
    p.set_field32(20, blocks * 512u);
    p.set_field32(24, cmd_sn++);
    p.set_field32(28, exp_stat_sn);
    const std::vector<uint8_t> cdb = read10(lba, blocks);
    std::copy(cdb.begin(), cdb.end(), p.bhs.begin() + 32);
    return p;
  }
  // An immediate NOP-Out ping with `data`, which the target echoes.
  Pdu ping(std::vector<uint8_t> data) {
    Pdu p;
    p.bhs[0] = 0x40 | uint8_t(Opcode::nop_out);
    p.bhs[1] = 0x80;
    p.set_field32(16, next_itt++);
    p.set_field32(20, kNoTag);
    p.set_field32(24, cmd_sn);
    p.set_field32(28, exp_stat_sn);
    p.data = std::move(data);
    return p;
  }

  uint32_t cmd_sn = 0x500, exp_stat_sn = 0x1000, next_itt = 0x10;

 private:
  int fd_ = -1;
  Isid isid_{};
  PduReader reader_{1u << 24};
  std::vector<uint8_t> in_;
  size_t in_at_ = 0;
};

constexpr size_t kPingData = 16384;
constexpr size_t kHighWater = 256 << 10;
// What the server may queue past the high water mark: the PDUs of the
// one read chunk (256 KiB) it was handling when it paused, and their
// bookkeeping.
constexpr size_t kOneChunk = (256 << 10) + (64 << 10);

// Sends pings of kPingData (each echoed: output the session's bound does
// not count) without reading, until the server stops reading and the
// socket takes nothing more -- or, `until_blocked` false, as soon as the
// server stops reading.  Says which pings were begun; the last may be
// partly sent (`rest` is what is left of it).
struct Flood {
  uint32_t first_itt = 0;
  uint32_t pings = 0;
  std::vector<uint8_t> rest;
};
Flood flood_until_paused(Client& c, const LiveServer& srv, bool until_blocked = true) {
  Flood f;
  f.first_itt = c.next_itt;
  auto blocked_since = Clock::now();
  for (int i = 0; i < 8192; ++i) {  // 128 MiB at most
    std::vector<uint8_t> bytes = serialize(c.ping(pattern(kPingData, c.next_itt)), Digests{});
    ++f.pings;
    size_t at = 0;
    while (at < bytes.size()) {
      const size_t n = c.send_some(bytes.data() + at, bytes.size() - at);
      at += n;
      if (!until_blocked && srv.stats().paused > 0) {
        f.rest.assign(bytes.begin() + static_cast<long>(at), bytes.end());
        return f;
      }
      if (n > 0) {
        blocked_since = Clock::now();
        continue;
      }
      if (Clock::now() - blocked_since > milliseconds(300) && srv.stats().paused > 0) {
        f.rest.assign(bytes.begin() + static_cast<long>(at), bytes.end());
        return f;
      }
      pollfd p{c.fd(), POLLOUT, 0};
      ::poll(&p, 1, 5);
    }
  }
  ADD_FAILURE() << "the server never stopped reading";
  return f;
}

ServerOptions small_output() {
  ServerOptions o;
  o.output_high_water = kHighWater;
  return o;
}

TEST(ServerBackpressure, ALinkStopsReadingAPeerThatDoesNotReadAndResumesWhenItDoes) {
  LiveServer srv(small_output());
  Client c(srv.port(), 16384);
  c.login();
  const Flood f = flood_until_paused(c, srv);
  ServerStats s = srv.stats();
  EXPECT_EQ(s.paused, 1u);
  EXPECT_EQ(s.connections, 1u) << "paused, not dropped";
  EXPECT_GT(s.peak_unaccounted_bytes, kHighWater);
  EXPECT_LE(s.peak_unaccounted_bytes, kHighWater + kOneChunk) << "reading stopped at the mark";
  // Nothing more is queued while the peer neither reads nor is read.
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_LE(srv.stats().peak_unaccounted_bytes, kHighWater + kOneChunk);

  // The peer reads: every ping comes back, in order and whole, and the
  // server reads again (the rest of the last ping too).
  size_t rest_at = 0;
  for (uint32_t n = 0; n < f.pings; ++n) {
    if (rest_at < f.rest.size())
      rest_at += c.send_some(f.rest.data() + rest_at, f.rest.size() - rest_at);
    std::optional<Pdu> p = c.read_pdu();
    ASSERT_TRUE(p) << "echo " << n << " of " << f.pings;
    ASSERT_EQ(p->opcode(), Opcode::nop_in);
    ASSERT_EQ(p->itt(), f.first_itt + n);
    ASSERT_EQ(p->data, pattern(kPingData, f.first_itt + n));
  }
  EXPECT_TRUE(srv.wait_for([](const ServerStats& s) { return s.paused == 0; }));
  ASSERT_TRUE(c.send(c.ping({1, 2, 3, 4})));
  EXPECT_EQ(c.expect(Opcode::nop_in).data, (std::vector<uint8_t>{1, 2, 3, 4}));
}

TEST(ServerBackpressure, AClientThatSendsReadsAndNeverReadsHoldsAtMostTheBound) {
  constexpr uint64_t kBound = 1 << 20;
  constexpr uint16_t kBlocks = 128;  // 64 KiB a READ
  ServerOptions o;
  o.max_session_data = kBound;
  LiveServer srv(o, 8 << 20);
  Client c(srv.port(), 16384);
  c.login();
  // A thousand READs at once, never reading: those past the window are
  // dropped, the rest wait for room as the first ones' Data-In sits.
  std::map<uint32_t, uint32_t> lba_of;  // by ITT
  std::vector<uint8_t> blast;
  for (int i = 0; i < 1000; ++i) {
    const uint32_t lba = (i % 128) * kBlocks;
    const Pdu r = c.read(lba, kBlocks);
    lba_of[r.itt()] = lba;
    const std::vector<uint8_t> b = serialize(r, Digests{});
    blast.insert(blast.end(), b.begin(), b.end());
  }
  ASSERT_TRUE(c.send_all(blast));
  std::this_thread::sleep_for(milliseconds(500));
  const ServerStats s = srv.stats();
  EXPECT_EQ(s.connections, 1u);
  EXPECT_GT(s.peak_queued_bytes, 0u);
  EXPECT_LE(s.peak_queued_bytes, kBound + 16 * 1024u)
      << "the Data-In queued is the session's bound, and its headers";

  // It reads: the READs the window took are answered, each with its data
  // (in the order they complete: a READ the page cache does not have at
  // once goes to an I/O thread); nothing is lost, nothing else comes.
  std::map<uint32_t, std::vector<uint8_t>> got;  // by ITT
  size_t answered = 0;
  while (std::optional<Pdu> p = c.read_pdu(milliseconds(3000))) {
    // The window reopens as the Data-In drains: a NOP-In with no tag
    // may carry the news (RFC 7143 11.19) between the answers.
    if (p->opcode() == Opcode::nop_in && p->itt() == kNoTag) continue;
    ASSERT_EQ(p->opcode(), Opcode::data_in);
    ASSERT_TRUE(lba_of.count(p->itt()));
    std::vector<uint8_t>& d = got[p->itt()];
    d.insert(d.end(), p->data.begin(), p->data.end());
    if (p->bhs[1] & 0x01) {
      EXPECT_EQ(p->bhs[3], 0) << "GOOD";
      const size_t at = lba_of[p->itt()] * 512u;
      EXPECT_EQ(d, std::vector<uint8_t>(srv.disk().begin() + at,
                                        srv.disk().begin() + at + kBlocks * 512u))
          << "ITT " << p->itt();
      ++answered;
    }
  }
  EXPECT_EQ(got.size(), answered) << "every READ begun was finished";
  EXPECT_EQ(got.rbegin()->first - got.begin()->first + 1, answered)
      << "the READs answered are the first ones, those the window took";
  EXPECT_EQ(got.begin()->first, lba_of.begin()->first);
  EXPECT_GE(answered, 128u) << "the whole first window";
  EXPECT_LT(answered, 1000u) << "commands past the window get no answer";
  EXPECT_LE(srv.stats().peak_queued_bytes, kBound + 16 * 1024u);
}

TEST(ServerBackpressure, APeerThatTakesNothingIsDroppedAfterTwiceTheNopInterval) {
  ServerOptions o;
  o.nop_interval_s = 1;
  o.max_session_data = 1 << 20;
  LiveServer srv(o, 8 << 20);
  Client c(srv.port(), 16384);
  c.login();
  std::vector<uint8_t> blast;
  for (int i = 0; i < 200; ++i) {
    const std::vector<uint8_t> b = serialize(c.read((i % 128) * 128, 128), Digests{});
    blast.insert(blast.end(), b.begin(), b.end());
  }
  ASSERT_TRUE(c.send_all(blast));
  const auto sent = Clock::now();
  ASSERT_TRUE(
      srv.wait_for([](const ServerStats& s) { return s.connections == 0; }, milliseconds(8000)))
      << "a peer that reads nothing does not answer the NOP-In either";
  EXPECT_GE(Clock::now() - sent, milliseconds(1500)) << "not before it was pinged";
  EXPECT_EQ(srv.stats().queued_bytes, 0u);
  EXPECT_TRUE(c.closed_by_peer(milliseconds(2000)));
}

TEST(ServerBackpressure, APausedLinkWhosePeerHangsUpIsDropped) {
  LiveServer srv(small_output());
  {
    Client c(srv.port(), 16384);
    c.login();
    // Stopped as soon as the server stops reading, so that the FIN is not
    // stuck behind bytes the server's receive buffer has no room for.
    flood_until_paused(c, srv, false);
    ::shutdown(c.fd(), SHUT_WR);  // a FIN, its own receive side still open
    EXPECT_TRUE(srv.wait_for([](const ServerStats& s) { return s.connections == 0; }))
        << "a half-closed peer of a paused link";
  }
  {
    Client c(srv.port(), 16384);
    c.login();
    flood_until_paused(c, srv);
    c.close();  // unread data: a reset
    EXPECT_TRUE(srv.wait_for([](const ServerStats& s) { return s.connections == 0; }))
        << "a peer of a paused link that closed";
  }
  EXPECT_EQ(srv.stats().paused, 0u);
  EXPECT_EQ(srv.stats().queued_bytes, 0u);
}

TEST(ServerBackpressure, AStopEndsAServerWithAPausedLink) {
  LiveServer srv(small_output());
  Client c(srv.port(), 16384);
  c.login();
  flood_until_paused(c, srv);
  const auto before = Clock::now();
  srv.stop();
  EXPECT_LT(Clock::now() - before, milliseconds(3000));
  EXPECT_TRUE(c.closed_by_peer(milliseconds(2000)));
}

TEST(ServerLimits, ConnectionsPastMaxLoginsInProgressAreClosedAtOnce) {
  ServerOptions o;
  o.max_logins_in_progress = 2;
  LiveServer srv(o);
  Client a(srv.port()), b(srv.port());
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.logging_in == 2; }));
  Client refused(srv.port());
  EXPECT_TRUE(refused.closed_by_peer(milliseconds(2000)));
  EXPECT_EQ(srv.stats().refused, 1u);
  EXPECT_EQ(srv.stats().connections, 2u);
  // A login done leaves room for another.
  a.login();
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.logging_in == 1; }));
  Client d(srv.port());
  d.login();
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.logging_in == 1; }));
  // A connection that goes away before its login leaves room too.
  b.close();
  ASSERT_TRUE(srv.wait_for([](const ServerStats& s) { return s.logging_in == 0; }));
  Client e(srv.port()), f(srv.port());
  e.login();
  f.login();
  EXPECT_EQ(srv.stats().refused, 1u);
  EXPECT_EQ(srv.stats().connections, 4u);
}

}  // namespace
}  // namespace offcopy::iscsi::testing
