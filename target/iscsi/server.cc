#include "iscsi/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "iscsi/connection.h"
#include "iscsi/link.h"
#include "util/log.h"

namespace offcopy::iscsi {
namespace {

// What one readable event takes from a socket before the loop turns to
// the others, so one busy session does not starve the rest.
constexpr size_t kReadBudget = 1 << 20;
constexpr size_t kReadChunk = 256 << 10;

// Output backpressure.  What a connection queues for its peer is of two
// kinds.  The Data-In of READs is counted against the session's
// max_session_data until it has been written (connection.cc): a READ past
// that waits, and the CmdSN window with it, so it needs no other bound.
// Everything else -- SCSI Responses, R2Ts, NOP-In echoes, Text and Reject
// PDUs -- is small, and a peer that reads its socket keeps it at a few KiB
// (128 responses are 6 KiB), but nothing in the protocol bounds it: a
// peer that sends TEST UNIT READYs or NOP-Out pings and never reads makes
// it grow with every PDU.  So past ServerOptions::output_high_water (4
// MiB: a thousand times what a well-behaved peer has queued, and more
// than any one echo or Text answer unless the initiator declared a 16 MiB
// MaxRecvDataSegmentLength) the link stops reading the socket; the peer's
// own sends then stop in TCP.  It reads again once the queue is down to a
// quarter of it, so a peer that reads slowly is not paused and resumed at
// every PDU.  Each queued PDU also counts its own bookkeeping
// (sizeof(OutPdu)), so a flood of tiny PDUs is measured by the memory it
// takes.
constexpr size_t kLowWaterDivisor = 4;

// A peer that takes none of what is queued for it for twice nop_interval
// is dropped, whatever it sends: one that does not read does not answer
// the NOP-In either, and one that keeps sending (bare NOP-Outs, say) to
// look alive would otherwise keep its session's buffers forever.  Once
// the connection has ended (a logout, a refused login, a NOP-In
// unanswered) it waits to close only for what can be delivered: at most
// this long (or twice nop_interval, if shorter) without progress.
constexpr auto kCloseGrace = std::chrono::seconds(10);

// Connections refused past max_logins_in_progress are logged at most this
// often, with their count: a flood of them does not flood the log.
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);

std::string format_address(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// "ADDRESS:PORT" or "[IPV6]:PORT" into a socket address.
bool parse_portal(const std::string& text, sockaddr_storage& out, socklen_t& len,
                  std::string& error) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "bad listen address '" + text + "' (want [IPV6]:PORT)";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "bad listen address '" + text + "' (want ADDRESS:PORT)";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = "bad listen address '" + text + "': " + gai_strerror(rc);
    return false;
  }
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

}  // namespace

class SocketLink;

// Where I/O threads hand completions to the loop.  Shared with every
// completion in flight, so one that ends after the server is gone (a
// command still on the pool at a stop past its deadline) finds it closed
// and is dropped, instead of writing into freed memory.
struct PostQueue {
  std::mutex mu;
  std::vector<std::function<void()>> items;
  int wake_fd = -1;
  bool closed = false;
};

struct Server::Impl {
  using Clock = Connection::Clock;

  ServerOptions options;
  std::vector<TargetConfig> targets;
  int epoll_fd = -1;
  int wake_fd = -1;   // eventfd: completions posted, or stop()
  int timer_fd = -1;  // once a second: NOP-In pings, login timeouts
  std::vector<int> listen_fds;
  uint16_t port = 0;

  std::shared_ptr<PostQueue> posted = std::make_shared<PostQueue>();
  std::atomic<bool> stop_requested{false};
  std::atomic<int64_t> in_flight{0};
  std::unique_ptr<SessionRegistry> sessions;  // made by open(), with the options
  uint16_t next_tsih = 1;
  uint64_t next_nexus = 1;

  std::unordered_map<int, std::unique_ptr<SocketLink>> links;
  std::set<SocketLink*> dirty;           // links with PDUs queued to write
  Clock::time_point now = Clock::now();  // as of the last epoll_wait

  // Links whose connection has not logged in yet (max_logins_in_progress).
  uint32_t logging_in = 0;
  uint64_t refusals_unlogged = 0;
  Clock::time_point last_refusal_log{};

  // ServerStats, written on the loop thread only.
  struct {
    std::atomic<size_t> connections{0}, logging_in{0}, paused{0};
    std::atomic<uint64_t> queued{0}, peak_queued{0}, peak_unaccounted{0};
    std::atomic<uint64_t> refused{0}, stalled{0};
  } stats;

  ~Impl();
  static void post(PostQueue& queue, std::function<void()> fn);
  void accept_all(int listen_fd);
  void refuse(int fd);
  void log_refusals();
  void run_posted();
  void flush_dirty();
  void drop(SocketLink* link);
  void tick();
  void loop_once(int timeout_ms);
};

// A Connection's Link on a non-blocking TCP socket.  PDUs queue here and
// leave in one writev per batch, their data segments read from the
// buffers they were framed over.  It stops reading the socket while too
// much is queued for a peer that does not read (kLowWaterDivisor says why).
class SocketLink final : public Link {
 public:
  SocketLink(Server::Impl& server, int fd, std::string local, std::string peer)
      : server_(server), fd_(fd), local_(std::move(local)), peer_(std::move(peer)) {
    server_.stats.connections.fetch_add(1, std::memory_order_relaxed);
    ++server_.logging_in;
    server_.stats.logging_in.store(server_.logging_in, std::memory_order_relaxed);
  }
  ~SocketLink() override {
    if (connection_) connection_->closed();
    connection_.reset();
    // What was never sent: its held room goes back (posted, or dropped
    // with the server's queue).
    out_.clear();
    server_.stats.queued.fetch_sub(queued_, std::memory_order_relaxed);
    if (paused_) server_.stats.paused.fetch_sub(1, std::memory_order_relaxed);
    set_logged_in();
    server_.stats.connections.fetch_sub(1, std::memory_order_relaxed);
    ::close(fd_);
  }

  void send(OutPdu pdu) override {
    if (broken_) return;
    if (out_.empty()) last_progress_ = server_.now;  // the peer has taken all so far
    queued_ += pdu.wire_length();
    unaccounted_ += unaccounted_cost(pdu);
    server_.stats.queued.fetch_add(pdu.wire_length(), std::memory_order_relaxed);
    note_peak(server_.stats.peak_queued, queued_);
    note_peak(server_.stats.peak_unaccounted, unaccounted_);
    out_.push_back(std::move(pdu));
    server_.dirty.insert(this);
    if (!paused_ && unaccounted_ > server_.options.output_high_water) set_paused(true);
  }
  void close_after_send() override {
    close_after_ = true;
    if (out_.empty()) last_progress_ = server_.now;
    update_events();
    server_.dirty.insert(this);
  }
  std::string local_address() const override { return local_; }
  std::string peer_address() const override { return peer_; }

  int fd() const { return fd_; }
  Connection& connection() { return *connection_; }
  void attach(std::shared_ptr<Connection> c) { connection_ = std::move(c); }

  // Whether the loop reads the socket: not while too much is queued, and
  // not once the connection has ended.
  bool reading() const { return !paused_ && !close_after_ && !connection_->finished(); }
  bool paused() const { return paused_; }

  // Counted against max_logins_in_progress until the login is done.
  void note_login() {
    if (logging_in_ && connection_->logged_in()) set_logged_in();
  }

  // The peer has taken nothing queued for it for longer than it may
  // (kCloseGrace says how long): how long it has been, for the log.
  std::optional<std::chrono::seconds> stalled(Server::Impl::Clock::time_point now,
                                              unsigned nop_interval_s) const {
    if (out_.empty() || (!close_after_ && nop_interval_s == 0)) return std::nullopt;
    auto limit = std::chrono::seconds(2ull * nop_interval_s);
    if (close_after_ && (nop_interval_s == 0 || limit > kCloseGrace)) limit = kCloseGrace;
    const auto idle = std::chrono::duration_cast<std::chrono::seconds>(now - last_progress_);
    if (idle <= limit) return std::nullopt;
    return idle;
  }

  // Writes what is queued; false when the link is done (closed after
  // send, or broken).
  bool flush() {
    while (!out_.empty() && !broken_) {
      iovec iov[64];
      int n = 0;
      size_t skip = sent_of_front_;
      for (auto it = out_.begin(); it != out_.end() && n < 61; ++it) {
        const OutPdu& p = *it;
        const struct {
          const uint8_t* base;
          size_t len;
        } parts[3] = {{p.head.data(), p.head.size()},
                      {p.data_length ? p.buffer->data() + p.data_offset : nullptr, p.data_length},
                      {p.tail.data(), p.tail_length}};
        for (const auto& part : parts) {
          if (part.len <= skip) {
            skip -= part.len;
            continue;
          }
          iov[n].iov_base = const_cast<uint8_t*>(part.base + skip);
          iov[n].iov_len = part.len - skip;
          skip = 0;
          ++n;
        }
      }
      const ssize_t w = ::writev(fd_, iov, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return want_output(true), true;
        OFFCOPY_TLOG(debug, "%s: write: %s", peer_.c_str(), std::strerror(errno));
        broken_ = true;
        break;
      }
      if (w > 0) last_progress_ = server_.now;
      size_t done = static_cast<size_t>(w) + sent_of_front_;
      while (!out_.empty() && done >= out_.front().wire_length()) {
        done -= out_.front().wire_length();
        forget_front();
      }
      sent_of_front_ = done;
    }
    want_output(false);
    return !(broken_ || (close_after_ && out_.empty()));
  }

 private:
  // What a queued PDU counts toward the high water mark: its bookkeeping
  // and its bytes, less a data segment its session counts already.
  static size_t unaccounted_cost(const OutPdu& p) {
    return sizeof(OutPdu) + p.head.size() + p.tail_length + (p.held ? 0 : p.data_length);
  }
  static void note_peak(std::atomic<uint64_t>& peak, uint64_t v) {
    if (v > peak.load(std::memory_order_relaxed)) peak.store(v, std::memory_order_relaxed);
  }

  void forget_front() {
    const OutPdu& p = out_.front();
    queued_ -= p.wire_length();
    unaccounted_ -= unaccounted_cost(p);
    server_.stats.queued.fetch_sub(p.wire_length(), std::memory_order_relaxed);
    out_.pop_front();  // a HeldData's last PDU gives its session the room back
    if (paused_ && unaccounted_ <= server_.options.output_high_water / kLowWaterDivisor) {
      set_paused(false);
    }
  }

  void set_paused(bool on) {
    paused_ = on;
    if (on) {
      server_.stats.paused.fetch_add(1, std::memory_order_relaxed);
    } else {
      server_.stats.paused.fetch_sub(1, std::memory_order_relaxed);
    }
    OFFCOPY_TLOG(debug, "%s: %s reading (%zu bytes queued for it)", peer_.c_str(),
                 on ? "stopped" : "resumed", queued_);
    update_events();
  }

  void set_logged_in() {
    if (!logging_in_) return;
    logging_in_ = false;
    --server_.logging_in;
    server_.stats.logging_in.store(server_.logging_in, std::memory_order_relaxed);
  }

  void want_output(bool on) {
    want_output_ = on;
    update_events();
  }

  // Input is watched while the loop reads it (EPOLLRDHUP too while
  // paused, so a peer that hangs up then is still seen); none once the
  // connection is ending (level-triggered epoll would otherwise wake the
  // loop for bytes nobody will read).  Output room while PDUs wait.
  void update_events() {
    uint32_t events = 0;
    if (!close_after_) events = paused_ ? uint32_t{EPOLLRDHUP} : uint32_t{EPOLLIN | EPOLLRDHUP};
    if (want_output_) events |= EPOLLOUT;
    if (events == events_) return;
    events_ = events;
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd_;
    epoll_ctl(server_.epoll_fd, EPOLL_CTL_MOD, fd_, &ev);
  }

  Server::Impl& server_;
  int fd_;
  std::string local_, peer_;
  std::shared_ptr<Connection> connection_;
  std::deque<OutPdu> out_;
  size_t sent_of_front_ = 0;
  size_t queued_ = 0;       // wire bytes in out_
  size_t unaccounted_ = 0;  // what the high water mark bounds (unaccounted_cost)
  Server::Impl::Clock::time_point last_progress_{};  // the peer last took bytes
  bool close_after_ = false;
  bool broken_ = false;
  bool paused_ = false;
  bool want_output_ = false;
  bool logging_in_ = true;
  uint32_t events_ = EPOLLIN | EPOLLRDHUP;
};

Server::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lock(posted->mu);
    posted->closed = true;
    posted->items.clear();
  }
  dirty.clear();
  links.clear();
  for (int fd : listen_fds) ::close(fd);
  for (int fd : {epoll_fd, wake_fd, timer_fd}) {
    if (fd >= 0) ::close(fd);
  }
}

void Server::Impl::post(PostQueue& queue, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(queue.mu);
  if (queue.closed) return;
  queue.items.push_back(std::move(fn));
  if (queue.items.size() == 1) {
    const uint64_t one = 1;
    ssize_t ignored = ::write(queue.wake_fd, &one, sizeof one);
    (void)ignored;
  }
}

void Server::Impl::run_posted() {
  uint64_t count;
  ssize_t ignored = ::read(wake_fd, &count, sizeof count);
  (void)ignored;
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted->mu);
    batch.swap(posted->items);
  }
  for (auto& fn : batch) fn();
}

void Server::Impl::accept_all(int listen_fd) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) OFFCOPY_TLOG(warning, "accept: %s", std::strerror(errno));
      return;
    }
    if (logging_in >= options.max_logins_in_progress) {
      refuse(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
    auto link = std::make_unique<SocketLink>(*this, fd, format_address(local),
                                             format_address(peer));
    ConnectionServices services;
    services.options = &options;
    services.targets = &targets;
    services.post = [queue = posted](std::function<void()> fn) { post(*queue, std::move(fn)); };
    services.next_tsih = [this] {
      // 0 means "a new session"; one in use (after 65535 logins) is
      // skipped, unless every one is (that login is refused: no room).
      for (int tries = 0; tries < 65536; ++tries) {
        if (next_tsih != 0 && !sessions->tsih_in_use(next_tsih)) break;
        ++next_tsih;
      }
      if (next_tsih == 0) ++next_tsih;
      return next_tsih++;
    };
    services.next_nexus = [this] { return next_nexus++; };
    services.in_flight = &in_flight;
    services.sessions = sessions.get();
    link->attach(std::make_shared<Connection>(std::move(services), *link));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    OFFCOPY_TLOG(debug, "connection from %s", link->peer_address().c_str());
    links.emplace(fd, std::move(link));
  }
}

// Past max_logins_in_progress a connection is closed as soon as it is
// accepted (left in the backlog, it would keep being reported readable).
void Server::Impl::refuse(int fd) {
  ::close(fd);
  stats.refused.fetch_add(1, std::memory_order_relaxed);
  ++refusals_unlogged;
  log_refusals();
}

void Server::Impl::log_refusals() {
  if (refusals_unlogged == 0 || now - last_refusal_log < kRefusalLogInterval) return;
  OFFCOPY_TLOG(info,
               "%" PRIu64
               " connection(s) closed at once: %u logins in progress "
               "(max_logins_in_progress)",
               refusals_unlogged, logging_in);
  refusals_unlogged = 0;
  last_refusal_log = now;
}

void Server::Impl::flush_dirty() {
  while (!dirty.empty()) {
    SocketLink* link = *dirty.begin();
    dirty.erase(dirty.begin());
    if (!link->flush()) drop(link);
  }
}

void Server::Impl::drop(SocketLink* link) {
  dirty.erase(link);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, link->fd(), nullptr);
  OFFCOPY_TLOG(debug, "connection from %s closed", link->peer_address().c_str());
  links.erase(link->fd());
}

// Once a second: NOP-In pings and login timeouts (Connection::tick), peers
// that take none of their output, the refusals' log.
void Server::Impl::tick() {
  std::vector<std::pair<SocketLink*, std::chrono::seconds>> stalled;
  for (auto& [lfd, link] : links) {
    link->connection().tick(now);
    if (auto idle = link->stalled(now, options.nop_interval_s)) {
      stalled.emplace_back(link.get(), *idle);
    }
  }
  for (const auto& [link, idle] : stalled) {
    OFFCOPY_TLOG(warning, "%s took nothing the target sent for %llds; dropping the connection",
                 link->peer_address().c_str(), static_cast<long long>(idle.count()));
    stats.stalled.fetch_add(1, std::memory_order_relaxed);
    drop(link);
  }
  log_refusals();
}

void Server::Impl::loop_once(int timeout_ms) {
  epoll_event events[64];
  const int n = epoll_wait(epoll_fd, events, 64, timeout_ms);
  now = Clock::now();
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd) {
      run_posted();
      continue;
    }
    if (fd == timer_fd) {
      uint64_t expirations;
      ssize_t ignored = ::read(timer_fd, &expirations, sizeof expirations);
      (void)ignored;
      tick();
      continue;
    }
    if (std::find(listen_fds.begin(), listen_fds.end(), fd) != listen_fds.end()) {
      if (!stop_requested.load()) accept_all(fd);
      continue;
    }
    const auto it = links.find(fd);
    if (it == links.end()) continue;
    SocketLink* link = it->second.get();
    const uint32_t ev = events[i].events;
    if (ev & EPOLLOUT) dirty.insert(link);
    if (!link->reading()) {
      // Not read (its output backed up, or the connection ending): a peer
      // that hangs up is dropped here, since no read will see its EOF.
      // (A paused peer that only shut its side for writing is gone too:
      // an EOF read is a drop as well.)
      if (ev & (EPOLLHUP | EPOLLERR | (link->paused() ? uint32_t{EPOLLRDHUP} : 0u))) drop(link);
      continue;
    }
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) continue;
    static thread_local std::vector<uint8_t> buf(kReadChunk);
    size_t budget = kReadBudget;
    bool gone = false;
    // Stops as soon as the link pauses: what one chunk's PDUs queue is
    // all a paused peer gets past the high water mark.
    while (budget > 0 && link->reading()) {
      const ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r > 0) {
        link->connection().received(buf.data(), static_cast<size_t>(r));
        budget -= std::min(budget, static_cast<size_t>(r));
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) break;
      gone = true;  // EOF or a reset
      break;
    }
    if (gone) {
      drop(link);
      continue;
    }
    link->note_login();
  }
  flush_dirty();
}

std::unique_ptr<Server> Server::open(const ServerOptions& options,
                                     std::vector<TargetConfig> targets, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->targets = std::move(targets);
  impl->sessions = std::make_unique<SessionRegistry>(options.max_sessions);
  impl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  impl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  impl->posted->wake_fd = impl->wake_fd;
  if (impl->epoll_fd < 0 || impl->wake_fd < 0 || impl->timer_fd < 0) {
    error = std::string("cannot set up the event loop: ") + std::strerror(errno);
    return nullptr;
  }
  for (const std::string& portal : options.listen) {
    sockaddr_storage sa{};
    socklen_t len = 0;
    if (!parse_portal(portal, sa, len, error)) return nullptr;
    const int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = "cannot listen on " + portal + ": " + std::strerror(errno);
      return nullptr;
    }
    impl->listen_fds.push_back(fd);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 || ::listen(fd, 128) != 0) {
      error = "cannot listen on " + portal + ": " + std::strerror(errno);
      return nullptr;
    }
    if (impl->port == 0) {
      sockaddr_storage bound{};
      socklen_t bound_len = sizeof bound;
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
      impl->port = ntohs(bound.ss_family == AF_INET
                             ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  for (int fd : {impl->wake_fd, impl->timer_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  const itimerspec every_second{{1, 0}, {1, 0}};
  timerfd_settime(impl->timer_fd, 0, &every_second, nullptr);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

uint16_t Server::port() const { return impl_->port; }

ServerStats Server::stats() const {
  const auto& s = impl_->stats;
  ServerStats out;
  out.connections = s.connections.load(std::memory_order_relaxed);
  out.logging_in = s.logging_in.load(std::memory_order_relaxed);
  out.paused = s.paused.load(std::memory_order_relaxed);
  out.queued_bytes = s.queued.load(std::memory_order_relaxed);
  out.peak_queued_bytes = s.peak_queued.load(std::memory_order_relaxed);
  out.peak_unaccounted_bytes = s.peak_unaccounted.load(std::memory_order_relaxed);
  out.refused = s.refused.load(std::memory_order_relaxed);
  out.stalled = s.stalled.load(std::memory_order_relaxed);
  return out;
}

void Server::stop() {
  impl_->stop_requested.store(true);
  const uint64_t one = 1;
  ssize_t ignored = ::write(impl_->wake_fd, &one, sizeof one);
  (void)ignored;
}

void Server::run() {
  Impl& s = *impl_;
  while (!s.stop_requested.load()) s.loop_once(-1);
  // Stop accepting; the commands already running finish, and their
  // responses go out, before the sessions end.
  for (int fd : s.listen_fds) {
    epoll_ctl(s.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
  }
  s.listen_fds.clear();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    s.loop_once(100);
  }
  s.flush_dirty();
  OFFCOPY_TLOG(info, "stopped: %zu connection(s) closed", s.links.size());
  s.dirty.clear();
  s.links.clear();
}

}  // namespace offcopy::iscsi
