// iscsi-load: drives an iSCSI LUN through libiscsi with many commands in
// flight, the same way for every target it is pointed at, so offcopy-target
// and tgtd are measured by one yardstick (bench/target_vs_tgtd.py) -- and,
// with --mode verify, checks every byte (tests/target/initiators, load).
//
//   iscsi-load --mode seq-read|seq-write|rand-read|rand-write|verify
//              [--bs BYTES] [--bs-max BYTES] [--qd N] [--sessions N]
//              [--bytes N | --seconds S] [--abort-pct P] [--zeroed]
//              iscsi://HOST:PORT/IQN/LUN
//
// Sequential modes walk the LUN from block 0 in --bs transfers, wrapping,
// until --bytes moved; random modes pick --bs-aligned offsets until
// --seconds passed.  Each session is a thread with its own connection.
//
// verify: each session owns a slice of the LUN, cut in units of --bs
// bytes.  For --seconds it reads and writes random runs of whole units
// (1 to --bs-max / --bs of them), never two commands on one unit at once,
// each write filling every unit with a pattern of (session, LBA, write
// number).  --abort-pct of the commands get an ABORT TASK soon after they
// are queued (at once, or after one, two or four turns of the event loop,
// so the abort meets the command before, during and after it runs).  An
// aborted write may or may not have landed, so each unit keeps the set of
// writes it may hold: one once a write completes, the old set plus the new
// write once a write is aborted; a read must find one of the set, and
// narrows it to that one.  A unit stays busy until both the command and its
// abort are answered (offcopy-target answers an abort only once the command
// is over, so the unit holds its final bytes).  At the end every session
// reads its whole slice back and checks it the same way.  --zeroed: the LUN
// starts all zeros (a fresh sparse file), so an unwritten unit must read
// as zeros; without it, an unwritten unit may hold anything.
//
// Prints one JSON line; exit 0 only if nothing failed: no command failed,
// no byte was wrong, no command was left unanswered, no session lost its
// connection.  "sessions_ops" gives the commands each session completed
// (min / median / max), so one starved session shows.
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

namespace {

struct Options {
  std::string mode = "seq-read";
  std::string url;
  uint32_t bs = 1 << 20;
  uint32_t bs_max = 0;  // 0: --bs
  int qd = 8;
  int sessions = 1;
  uint64_t bytes = 1ull << 30;
  double seconds = 10;
  double abort_pct = 0;
  bool zeroed = false;
  double drain_seconds = 30;  // how long the commands in flight at the end may take
};

struct Totals {
  std::atomic<uint64_t> bytes{0}, commands{0}, failures{0}, mismatches{0};
  std::atomic<uint64_t> aborts_sent{0}, aborts_complete{0}, aborts_no_task{0}, aborts_other{0};
  std::atomic<uint64_t> aborted{0};    // commands ended by an abort (no response of their own)
  std::atomic<uint64_t> uncertain{0};  // aborted writes: landed or not, settled by a read
  std::atomic<uint64_t> landed{0}, not_landed{0};  // what a read found in their units
  std::atomic<uint64_t> unanswered{0};  // commands still in flight when the drain gave up
  std::atomic<uint64_t> anomalies{0};   // an abort "complete" for a command that was answered
  std::atomic<uint64_t> verified_bytes{0};
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "iscsi-load: %s\nusage: iscsi-load --mode seq-read|seq-write|rand-read|"
               "rand-write|verify [--bs BYTES] [--bs-max BYTES] [--qd N] [--sessions N] "
               "[--bytes N] [--seconds S] [--abort-pct P] [--zeroed] iscsi://HOST:PORT/IQN/LUN\n",
               why);
  std::exit(2);
}

uint64_t parse_size(const char* s) {
  char* end = nullptr;
  uint64_t v = std::strtoull(s, &end, 10);
  switch (*end) {
    case 'K': v <<= 10; break;
    case 'M': v <<= 20; break;
    case 'G': v <<= 30; break;
    case 0: break;
    default: usage("bad size");
  }
  return v;
}

// The pattern a verify session writes to one unit: its session, its LBA
// and the write's number, so a unit read back shows which write it holds.
// Write 0 is "never written": zeros.
void fill_unit(uint8_t* p, uint32_t len, int session, uint64_t lba, uint32_t gen) {
  if (gen == 0) {
    std::memset(p, 0, len);
    return;
  }
  uint64_t x = (uint64_t(session) << 48) ^ (lba << 8) ^ gen ^ 0x9e3779b97f4a7c15ULL;
  for (uint32_t i = 0; i + 8 <= len; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(p + i, &x, 8);
  }
}

class Session {
 public:
  Session(const Options& o, int index, Totals& totals) : o_(o), index_(index), totals_(totals) {}
  ~Session() {
    if (iscsi_) {
      if (healthy_) iscsi_logout_sync(iscsi_);
      iscsi_destroy_context(iscsi_);
    }
    bury_all();
  }

  bool connect() {
    char name[128];
    std::snprintf(name, sizeof name, "iqn.2026-12.org.offcopy:iscsi-load-%d", index_);
    iscsi_ = iscsi_create_context(name);
    iscsi_url* url = iscsi_parse_full_url(iscsi_, o_.url.c_str());
    if (url == nullptr) return fail("bad URL");
    iscsi_set_targetname(iscsi_, url->target);
    iscsi_set_session_type(iscsi_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(iscsi_, ISCSI_HEADER_DIGEST_NONE);
    // A connection that drops is a failure to report, not something to
    // paper over with libiscsi's automatic reconnect (which would also
    // lose the commands in flight and their aborts).
    iscsi_set_noautoreconnect(iscsi_, 1);
    if (const char* level = std::getenv("ISCSI_LOAD_DEBUG")) {  // libiscsi's own log
      iscsi_set_log_level(iscsi_, std::atoi(level));
      iscsi_set_log_fn(iscsi_, iscsi_log_to_stderr);
    }
    lun_ = url->lun;
    const bool ok = iscsi_full_connect_sync(iscsi_, url->portal, url->lun) == 0;
    iscsi_destroy_url(url);
    if (!ok) return fail("login failed");
    scsi_task* t = iscsi_readcapacity16_sync(iscsi_, lun_);
    if (t == nullptr || t->status != SCSI_STATUS_GOOD) return fail("READ CAPACITY(16) failed");
    auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t));
    block_size_ = rc->block_length;
    blocks_ = rc->returned_lba + 1;
    scsi_free_scsi_task(t);
    if (o_.bs % block_size_ != 0) return fail("--bs is not a multiple of the block size");
    return true;
  }

  uint64_t blocks() const { return blocks_; }
  uint32_t block_size() const { return block_size_; }
  uint64_t ops() const { return ops_; }
  double load_seconds() const { return load_seconds_; }

  // Runs the mode over [first, first + count) blocks of the LUN.
  void run(uint64_t first, uint64_t count) {
    first_ = first;
    count_ = count;
    per_io_ = o_.bs / block_size_;
    rng_.seed(1234 + index_);
    write_buf_.assign(o_.bs, 0);
    for (size_t i = 0; i < write_buf_.size(); ++i) write_buf_[i] = uint8_t(i * 31 + index_);
    if (verify()) {
      units_ = count_ / per_io_;
      max_units_ = std::max<uint32_t>(1, (o_.bs_max ? o_.bs_max : o_.bs) / o_.bs);
      may_hold_.assign(units_, std::vector<uint32_t>{0});
      busy_.assign(units_, false);
    }
    start_ = std::chrono::steady_clock::now();
    fill_queue();
    std::chrono::steady_clock::time_point drain_deadline{};
    while (in_flight_ > 0) {
      if (done() && drain_deadline == std::chrono::steady_clock::time_point{}) {
        drain_deadline = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(int64_t(o_.drain_seconds * 1000));
      }
      if (drain_deadline != std::chrono::steady_clock::time_point{} &&
          std::chrono::steady_clock::now() > drain_deadline) {
        std::fprintf(stderr,
                     "iscsi-load: session %d: %d command(s) unanswered %.0f s after the end\n",
                     index_, in_flight_, o_.drain_seconds);
        totals_.unanswered += in_flight_;
        healthy_ = false;
        break;
      }
      pollfd pfd{iscsi_get_fd(iscsi_), static_cast<short>(iscsi_which_events(iscsi_)), 0};
      if (poll(&pfd, 1, 100) < 0) break;
      if (iscsi_service(iscsi_, pfd.revents) < 0) {
        std::fprintf(stderr, "iscsi-load: session %d: %s\n", index_, iscsi_get_error(iscsi_));
        totals_.failures++;
        healthy_ = false;
        break;
      }
      ++turn_;
      send_due_aborts();
      // Nothing queued and nothing half-written (no POLLOUT wanted): no
      // Data-Out can point at a cancelled write any more.
      if (!graveyard_.empty() && iscsi_out_queue_length(iscsi_) == 0 &&
          !(iscsi_which_events(iscsi_) & POLLOUT)) {
        bury_all();
      }
      fill_queue();
    }
    load_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (verify() && healthy_) read_back_all();
  }

 private:
  struct Io {
    Session* self;
    uint64_t lba;
    uint32_t blocks;
    bool write;
    uint64_t unit = 0;  // verify: the first unit, and how many
    uint32_t units = 0;
    uint32_t gen = 0;  // verify write: its number
    std::vector<uint8_t> data;
    scsi_task* task = nullptr;
    int status = -1;
    bool answered = false;       // the command's callback ran
    bool abort_planned = false;  // in abort_plan_
    bool abort_sent = false;     // an ABORT TASK went out for it
    bool abort_done = false;     // ... and was answered
    uint64_t abort_turn = 0;     // when to send it (a turn of the loop)
  };

  bool verify() const { return o_.mode == "verify"; }

  bool fail(const char* why) {
    std::fprintf(stderr, "iscsi-load: session %d: %s: %s\n", index_, why,
                 iscsi_ ? iscsi_get_error(iscsi_) : "");
    return false;
  }

  bool done() const {
    if (o_.mode.rfind("seq-", 0) == 0) return issued_bytes_ >= o_.bytes;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() >=
           o_.seconds;
  }

  void fill_queue() {
    while (in_flight_ < o_.qd && issue()) {
    }
  }

  // A run of free units, marked busy; false if none was found quickly.
  bool pick_units(uint64_t& unit, uint32_t& n) {
    for (int tries = 0; tries < 64; ++tries) {
      n = 1 + uint32_t(rng_() % max_units_);
      if (n > units_) n = uint32_t(units_);
      unit = rng_() % (units_ - n + 1);
      bool free = true;
      for (uint32_t i = 0; i < n && free; ++i) free = !busy_[unit + i];
      if (!free) continue;
      for (uint32_t i = 0; i < n; ++i) busy_[unit + i] = true;
      return true;
    }
    return false;
  }

  bool issue() {
    if (done()) return false;
    auto* io = new Io{this, 0, per_io_, false};
    const uint64_t slots = count_ / per_io_;
    if (o_.mode == "seq-read" || o_.mode == "seq-write") {
      io->lba = first_ + (seq_next_++ % slots) * per_io_;
      io->write = o_.mode == "seq-write";
    } else if (o_.mode == "rand-read" || o_.mode == "rand-write") {
      io->lba = first_ + (rng_() % slots) * per_io_;
      io->write = o_.mode == "rand-write";
    } else {  // verify: a run of free units
      if (!pick_units(io->unit, io->units)) {
        delete io;
        return false;
      }
      io->lba = first_ + io->unit * per_io_;
      io->blocks = io->units * per_io_;
      io->write = rng_() % 2 == 0;
      if (io->write) {
        io->gen = ++writes_;
        io->data.resize(size_t(io->units) * o_.bs);
        for (uint32_t i = 0; i < io->units; ++i) {
          fill_unit(io->data.data() + size_t(i) * o_.bs, o_.bs, index_,
                    io->lba + uint64_t(i) * per_io_, io->gen);
        }
      }
    }
    const uint32_t len = io->blocks * block_size_;
    scsi_task* t;
    if (io->write) {
      uint8_t* data = io->data.empty() ? write_buf_.data() : io->data.data();
      t = iscsi_write16_task(iscsi_, lun_, io->lba, data, len, block_size_, 0, 0, 0, 0, 0,
                             &Session::completed, io);
    } else {
      t = iscsi_read16_task(iscsi_, lun_, io->lba, len, block_size_, 0, 0, 0, 0, 0,
                            &Session::completed, io);
    }
    if (t == nullptr) {
      release(*io);
      delete io;
      totals_.failures++;
      return false;
    }
    io->task = t;
    issued_bytes_ += len;
    ++in_flight_;
    if (o_.abort_pct > 0 && std::uniform_real_distribution<double>(0, 100)(rng_) < o_.abort_pct) {
      // At once (the immediate TMF is queued ahead of the command it
      // names), or a few turns later (in flight, or running, or done).
      static constexpr uint64_t kDelays[] = {0, 1, 2, 4};
      io->abort_turn = turn_ + kDelays[rng_() % 4];
      io->abort_planned = true;
      abort_plan_.push_back(io);
      if (io->abort_turn == turn_) send_due_aborts();
    }
    return true;
  }

  void send_due_aborts() {
    for (size_t i = 0; i < abort_plan_.size();) {
      Io* io = abort_plan_[i];
      if (io->abort_turn > turn_) {
        ++i;
        continue;
      }
      abort_plan_[i] = abort_plan_.back();
      abort_plan_.pop_back();
      io->abort_planned = false;
      if (iscsi_task_mgmt_abort_task_async(iscsi_, io->task, &Session::abort_answered, io) != 0) {
        std::fprintf(stderr, "iscsi-load: session %d: ABORT TASK not sent: %s\n", index_,
                     iscsi_get_error(iscsi_));
        totals_.failures++;
        continue;
      }
      io->abort_sent = true;
      totals_.aborts_sent++;
    }
  }

  static void abort_answered(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* io = static_cast<Io*>(private_data);
    Session& s = *io->self;
    io->abort_done = true;
    uint32_t response = 0xff;
    if (status == SCSI_STATUS_GOOD && command_data != nullptr) {
      response = *static_cast<uint32_t*>(command_data);
    }
    if (status != SCSI_STATUS_GOOD) {
      s.totals_.failures++;
      std::fprintf(stderr, "iscsi-load: session %d: ABORT TASK failed: %s\n", s.index_,
                   iscsi_get_error(s.iscsi_));
    } else if (response == ISCSI_TMR_FUNC_COMPLETE) {
      s.totals_.aborts_complete++;
    } else if (response == ISCSI_TMR_TASK_DOES_NOT_EXIST) {
      s.totals_.aborts_no_task++;
    } else {
      s.totals_.aborts_other++;
    }
    if (io->answered) {
      // The command's own answer came first: the abort found nothing.
      if (response == ISCSI_TMR_FUNC_COMPLETE) s.totals_.anomalies++;
      s.finish(io);
      return;
    }
    // "Function complete": the command is over and gets no response of its
    // own; libiscsi still waits for one, so it is cancelled here, and its
    // callback runs now (SCSI_STATUS_CANCELLED), which finishes it.  Any
    // other answer: the command's own answer is still coming (or it is
    // still queued here), and finishes it when it comes.
    if (status == SCSI_STATUS_GOOD && response == ISCSI_TMR_FUNC_COMPLETE &&
        iscsi_scsi_cancel_task(s.iscsi_, io->task) != 0) {
      std::fprintf(stderr, "iscsi-load: session %d: an aborted command was not found\n", s.index_);
      s.totals_.failures++;
    }
  }

  static void completed(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* io = static_cast<Io*>(private_data);
    auto* task = static_cast<scsi_task*>(command_data);
    Session& s = *io->self;
    io->answered = true;
    io->status = status;
    const uint32_t len = io->blocks * s.block_size_;
    if (status == SCSI_STATUS_CANCELLED) {
      s.totals_.aborted++;
    } else if (status != SCSI_STATUS_GOOD) {
      std::fprintf(stderr, "iscsi-load: session %d: %s at LBA %llu failed: %s\n", s.index_,
                   io->write ? "write" : "read", (unsigned long long)io->lba,
                   iscsi_get_error(s.iscsi_));
      s.totals_.failures++;
    } else {
      s.totals_.bytes += len;
      s.totals_.commands++;
      s.ops_++;
      if (s.verify() && !io->write && task != nullptr) s.check(*io, task->datain);
    }
    // An abort sent and not yet answered: the units stay busy until it is.
    if (!io->abort_sent || io->abort_done) s.finish(io);
  }

  // Both the command and any abort of it are answered: the units hold
  // their final bytes.
  void finish(Io* io) {
    if (verify() && io->write) {
      for (uint32_t i = 0; i < io->units; ++i) {
        auto& may = may_hold_[io->unit + i];
        if (io->status == SCSI_STATUS_GOOD) {
          may.assign(1, io->gen);
        } else {  // aborted (or failed): the old bytes or the new
          may.push_back(io->gen);
        }
      }
      if (io->status != SCSI_STATUS_GOOD) totals_.uncertain++;
    }
    release(*io);
    --in_flight_;
    if (io->abort_planned) {  // answered before its abort was due: none is sent
      abort_plan_.erase(std::find(abort_plan_.begin(), abort_plan_.end(), io));
    }
    // A cancelled command's Data-Out PDUs may still be queued in libiscsi,
    // pointing at its task and buffer: those are freed once the queue is
    // empty.
    if (io->status == SCSI_STATUS_CANCELLED && io->write) {
      graveyard_.push_back(io);
      return;
    }
    scsi_free_scsi_task(io->task);
    delete io;
  }

  void release(const Io& io) {
    if (!verify()) return;
    for (uint32_t i = 0; i < io.units; ++i) busy_[io.unit + i] = false;
  }

  void bury_all() {
    for (Io* io : graveyard_) {
      scsi_free_scsi_task(io->task);
      delete io;
    }
    graveyard_.clear();
  }

  // Checks units [unit, unit + n) against `data` and narrows each one's
  // set of possible writes to the one it holds.
  void check_units(uint64_t unit, uint32_t n, const uint8_t* data, size_t size) {
    if (size != size_t(n) * o_.bs) {
      totals_.failures++;
      std::fprintf(stderr, "iscsi-load: session %d: a read returned %zu bytes, not %zu\n", index_,
                   size, size_t(n) * o_.bs);
      return;
    }
    std::vector<uint8_t> want(o_.bs);
    for (uint32_t i = 0; i < n; ++i) {
      auto& may = may_hold_[unit + i];
      const uint8_t* got = data + size_t(i) * o_.bs;
      const uint64_t lba = first_ + (unit + i) * per_io_;
      bool found = false;
      const bool settles = may.size() > 1;  // an aborted write's units
      const uint32_t newest = may.back();
      for (uint32_t gen : may) {
        if (gen == 0 && !o_.zeroed) {  // never written: anything may be there
          found = true;
          continue;
        }
        fill_unit(want.data(), o_.bs, index_, lba, gen);
        if (std::memcmp(got, want.data(), o_.bs) == 0) {
          if (settles) (gen == newest ? totals_.landed : totals_.not_landed)++;
          may.assign(1, gen);
          found = true;
          break;
        }
      }
      totals_.verified_bytes += o_.bs;
      if (!found && totals_.mismatches++ < 10) {
        std::string set;
        for (uint32_t gen : may) set += (set.empty() ? "" : ",") + std::to_string(gen);
        std::fprintf(stderr,
                     "iscsi-load: session %d: LBA %llu holds none of the writes {%s} "
                     "(0: zeros)\n",
                     index_, (unsigned long long)lba, set.c_str());
      }
    }
  }

  void check(const Io& io, const scsi_data& datain) {
    check_units(io.unit, io.units, datain.data, datain.size < 0 ? 0 : size_t(datain.size));
  }

  void read_back_all() {
    const uint32_t step = std::max<uint32_t>(1, (256u << 10) / o_.bs);
    for (uint64_t u = 0; u < units_; u += step) {
      const uint32_t n = uint32_t(std::min<uint64_t>(step, units_ - u));
      const uint32_t len = n * o_.bs;
      scsi_task* t = iscsi_read16_sync(iscsi_, lun_, first_ + u * per_io_, len, block_size_, 0, 0,
                                       0, 0, 0);
      if (t == nullptr || t->status != SCSI_STATUS_GOOD) {
        std::fprintf(stderr, "iscsi-load: session %d: reading back LBA %llu failed: %s\n", index_,
                     (unsigned long long)(first_ + u * per_io_), iscsi_get_error(iscsi_));
        totals_.failures++;
      } else {
        check_units(u, n, t->datain.data, t->datain.size < 0 ? 0 : size_t(t->datain.size));
      }
      if (t) scsi_free_scsi_task(t);
    }
  }

  const Options& o_;
  int index_;
  Totals& totals_;
  iscsi_context* iscsi_ = nullptr;
  bool healthy_ = true;
  int lun_ = 0;
  uint32_t block_size_ = 512;
  uint64_t blocks_ = 0;
  uint64_t first_ = 0, count_ = 0;
  uint32_t per_io_ = 1;
  uint64_t seq_next_ = 0, issued_bytes_ = 0;
  int in_flight_ = 0;
  uint64_t ops_ = 0;
  double load_seconds_ = 0;
  uint64_t turn_ = 0;
  std::mt19937_64 rng_;
  std::vector<uint8_t> write_buf_;
  // verify
  uint64_t units_ = 0;
  uint32_t max_units_ = 1;
  uint32_t writes_ = 0;
  std::vector<std::vector<uint32_t>> may_hold_;  // per unit: the writes it may hold
  std::vector<bool> busy_;
  std::vector<Io*> abort_plan_;
  std::vector<Io*> graveyard_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--mode")
      o.mode = value();
    else if (a == "--bs")
      o.bs = static_cast<uint32_t>(parse_size(value()));
    else if (a == "--bs-max")
      o.bs_max = static_cast<uint32_t>(parse_size(value()));
    else if (a == "--qd")
      o.qd = std::atoi(value());
    else if (a == "--sessions")
      o.sessions = std::atoi(value());
    else if (a == "--bytes")
      o.bytes = parse_size(value());
    else if (a == "--seconds")
      o.seconds = std::atof(value());
    else if (a == "--abort-pct")
      o.abort_pct = std::atof(value());
    else if (a == "--zeroed")
      o.zeroed = true;
    else if (a.rfind("iscsi://", 0) == 0)
      o.url = a;
    else
      usage(("unknown argument " + a).c_str());
  }
  if (o.url.empty()) usage("no URL");
  if (o.qd < 1 || o.sessions < 1 || o.bs == 0) usage("bad --qd, --sessions or --bs");
  if (o.bs_max != 0 && (o.bs_max < o.bs || o.bs_max % o.bs != 0)) {
    usage("--bs-max must be a multiple of --bs");
  }
  if (o.mode != "verify" && (o.bs_max != 0 || o.abort_pct != 0 || o.zeroed)) {
    usage("--bs-max, --abort-pct and --zeroed are for --mode verify");
  }

  Totals totals;
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < o.sessions; ++i) {
    sessions.push_back(std::make_unique<Session>(o, i, totals));
    if (!sessions.back()->connect()) return 1;
  }
  const uint64_t blocks = sessions[0]->blocks();
  // Sequential and random modes share the whole LUN; verify gives each
  // session a slice of its own.
  const uint64_t slice = o.mode == "verify" ? blocks / o.sessions : blocks;
  const uint32_t per_io = o.bs / sessions[0]->block_size();
  if (slice < per_io * uint64_t(o.bs_max ? o.bs_max / o.bs : 1)) {
    usage("the LUN is too small for --bs (--bs-max) and --sessions");
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.sessions; ++i) {
    const uint64_t first = o.mode == "verify" ? slice * i : 0;
    threads.emplace_back([&, i, first] { sessions[i]->run(first, slice); });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The rates are over the load itself (the slowest session's), not the
  // read-back that follows in verify mode.
  double load_secs = 0;
  std::vector<uint64_t> ops;
  for (const auto& s : sessions) {
    load_secs = std::max(load_secs, s->load_seconds());
    ops.push_back(s->ops());
  }
  std::sort(ops.begin(), ops.end());
  if (load_secs <= 0) load_secs = secs;
  std::printf(
      "{\"mode\":\"%s\",\"bs\":%u,\"bs_max\":%u,\"qd\":%d,\"sessions\":%d,\"seconds\":%.3f,"
      "\"load_seconds\":%.3f,\"bytes\":%llu,\"commands\":%llu,\"mib_per_s\":%.1f,\"iops\":%.0f,"
      "\"sessions_ops\":{\"min\":%llu,\"median\":%llu,\"max\":%llu},"
      "\"aborts\":{\"sent\":%llu,\"complete\":%llu,\"no_task\":%llu,\"other\":%llu,"
      "\"commands_aborted\":%llu,\"writes_uncertain\":%llu,\"units_landed\":%llu,"
      "\"units_not_landed\":%llu,\"anomalies\":%llu},"
      "\"verified_bytes\":%llu,\"unanswered\":%llu,\"failures\":%llu,\"mismatches\":%llu}\n",
      o.mode.c_str(), o.bs, o.bs_max ? o.bs_max : o.bs, o.qd, o.sessions, secs, load_secs,
      (unsigned long long)totals.bytes.load(), (unsigned long long)totals.commands.load(),
      totals.bytes / load_secs / (1 << 20), totals.commands / load_secs,
      (unsigned long long)ops.front(), (unsigned long long)ops[ops.size() / 2],
      (unsigned long long)ops.back(), (unsigned long long)totals.aborts_sent.load(),
      (unsigned long long)totals.aborts_complete.load(),
      (unsigned long long)totals.aborts_no_task.load(),
      (unsigned long long)totals.aborts_other.load(), (unsigned long long)totals.aborted.load(),
      (unsigned long long)totals.uncertain.load(), (unsigned long long)totals.landed.load(),
      (unsigned long long)totals.not_landed.load(), (unsigned long long)totals.anomalies.load(),
      (unsigned long long)totals.verified_bytes.load(),
      (unsigned long long)totals.unanswered.load(), (unsigned long long)totals.failures.load(),
      (unsigned long long)totals.mismatches.load());
  return totals.failures == 0 && totals.mismatches == 0 && totals.unanswered == 0 ? 0 : 1;
}
