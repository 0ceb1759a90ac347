// iscsi-load: drives an iSCSI LUN through libiscsi with many commands in
// flight, the same way for every target it is pointed at, so offcopy-target
// and tgtd are measured by one yardstick (bench/target_vs_tgtd.py) -- and,
// with --verify, checks every byte (tests/target/initiators).
//
//   iscsi-load --mode seq-read|seq-write|rand-read|rand-write|verify
//              [--bs BYTES] [--qd N] [--sessions N] [--bytes N | --seconds S]
//              iscsi://HOST:PORT/IQN/LUN
//
// Sequential modes walk the LUN from block 0 in --bs transfers, wrapping,
// until --bytes moved; random modes pick --bs-aligned offsets until
// --seconds passed.  Each session is a thread with its own connection.
// verify: each session owns a slice of the LUN; it writes and reads random
// blocks of its slice, never two commands on one block at once, checks
// every read against what it last wrote there, and reads the whole slice
// back at the end.  Prints one JSON line; exit 0 only if nothing failed.
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  int qd = 8;
  int sessions = 1;
  uint64_t bytes = 1ull << 30;
  double seconds = 10;
};

struct Totals {
  std::atomic<uint64_t> bytes{0}, commands{0}, failures{0}, mismatches{0};
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "iscsi-load: %s\nusage: iscsi-load --mode seq-read|seq-write|rand-read|"
               "rand-write|verify [--bs BYTES] [--qd N] [--sessions N] [--bytes N] "
               "[--seconds S] iscsi://HOST:PORT/IQN/LUN\n",
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

// The pattern a verify session writes to one block: its session, its LBA
// and a generation, so a block read back shows which write it holds.
void fill_block(uint8_t* p, uint32_t block_size, int session, uint64_t lba, uint32_t gen) {
  uint64_t x = (uint64_t(session) << 48) ^ (lba << 8) ^ gen ^ 0x9e3779b97f4a7c15ULL;
  for (uint32_t i = 0; i + 8 <= block_size; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(p + i, &x, 8);
  }
}

class Session {
 public:
  Session(const Options& o, int index, Totals& totals) : o_(o), index_(index), totals_(totals) {}
  ~Session() {
    if (iscsi_) {
      iscsi_logout_sync(iscsi_);
      iscsi_destroy_context(iscsi_);
    }
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

  // Runs the mode over [first, first + count) blocks of the LUN.
  void run(uint64_t first, uint64_t count) {
    first_ = first;
    count_ = count;
    per_io_ = o_.bs / block_size_;
    rng_.seed(1234 + index_);
    write_buf_.assign(o_.bs, 0);
    for (size_t i = 0; i < write_buf_.size(); ++i) write_buf_[i] = uint8_t(i * 31 + index_);
    if (o_.mode == "verify") {
      gen_.assign(count_, 0);
      busy_.assign(count_, false);
    }
    start_ = std::chrono::steady_clock::now();
    while (in_flight_ < o_.qd && issue()) {
    }
    while (in_flight_ > 0) {
      pollfd pfd{iscsi_get_fd(iscsi_), static_cast<short>(iscsi_which_events(iscsi_)), 0};
      if (poll(&pfd, 1, 1000) < 0) break;
      if (iscsi_service(iscsi_, pfd.revents) < 0) {
        std::fprintf(stderr, "iscsi-load: session %d: %s\n", index_, iscsi_get_error(iscsi_));
        totals_.failures++;
        break;
      }
      while (in_flight_ < o_.qd && issue()) {
      }
    }
    if (o_.mode == "verify") read_back_all();
  }

 private:
  struct Io {
    Session* self;
    uint64_t lba;
    uint32_t blocks;
    bool write;
    std::vector<uint32_t> gens;  // verify: what each block should hold
    std::vector<uint8_t> data;
  };

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

  bool issue() {
    if (done()) return false;
    auto* io = new Io{this, 0, per_io_, false, {}, {}};
    const uint64_t slots = count_ / per_io_;
    if (o_.mode == "seq-read" || o_.mode == "seq-write") {
      io->lba = first_ + (seq_next_++ % slots) * per_io_;
      io->write = o_.mode == "seq-write";
    } else if (o_.mode == "rand-read" || o_.mode == "rand-write") {
      io->lba = first_ + (rng_() % slots) * per_io_;
      io->write = o_.mode == "rand-write";
    } else {  // verify: one block, not busy
      uint64_t b = rng_() % count_;
      for (int tries = 0; busy_[b] && tries < 64; ++tries) b = rng_() % count_;
      if (busy_[b]) {
        delete io;
        return false;
      }
      busy_[b] = true;
      io->lba = first_ + b;
      io->blocks = 1;
      io->write = rng_() % 2 == 0;
      if (io->write) {
        io->gens.push_back(++gen_[b]);
        io->data.resize(block_size_);
        fill_block(io->data.data(), block_size_, index_, io->lba, gen_[b]);
      } else {
        io->gens.push_back(gen_[b]);
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
      delete io;
      totals_.failures++;
      return false;
    }
    issued_bytes_ += len;
    ++in_flight_;
    return true;
  }

  static void completed(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* io = static_cast<Io*>(private_data);
    auto* task = static_cast<scsi_task*>(command_data);
    Session& s = *io->self;
    --s.in_flight_;
    const uint32_t len = io->blocks * s.block_size_;
    if (status != SCSI_STATUS_GOOD) {
      std::fprintf(stderr, "iscsi-load: session %d: %s at LBA %llu failed: %s\n", s.index_,
                   io->write ? "write" : "read", (unsigned long long)io->lba,
                   iscsi_get_error(s.iscsi_));
      s.totals_.failures++;
    } else {
      s.totals_.bytes += len;
      s.totals_.commands++;
      if (s.o_.mode == "verify" && !io->write) s.check(io->lba, io->gens[0], task);
    }
    if (s.o_.mode == "verify") s.busy_[io->lba - s.first_] = false;
    scsi_free_scsi_task(task);
    delete io;
  }

  void check(uint64_t lba, uint32_t gen, scsi_task* task) {
    if (gen == 0) return;  // not written by this run: anything may be there
    std::vector<uint8_t> want(block_size_, 0);
    fill_block(want.data(), block_size_, index_, lba, gen);
    if (task->datain.size != int(block_size_) ||
        std::memcmp(task->datain.data, want.data(), block_size_) != 0) {
      if (totals_.mismatches++ < 10) {
        std::fprintf(stderr, "iscsi-load: session %d: LBA %llu does not hold write %u\n", index_,
                     (unsigned long long)lba, gen);
      }
    }
  }

  void read_back_all() {
    for (uint64_t b = 0; b < count_; ++b) {
      if (gen_[b] == 0) continue;
      scsi_task* t = iscsi_read16_sync(iscsi_, lun_, first_ + b, block_size_, block_size_, 0, 0, 0,
                                       0, 0);
      if (t == nullptr || t->status != SCSI_STATUS_GOOD) {
        totals_.failures++;
      } else {
        check(first_ + b, gen_[b], t);
      }
      if (t) scsi_free_scsi_task(t);
    }
  }

  const Options& o_;
  int index_;
  Totals& totals_;
  iscsi_context* iscsi_ = nullptr;
  int lun_ = 0;
  uint32_t block_size_ = 512;
  uint64_t blocks_ = 0;
  uint64_t first_ = 0, count_ = 0;
  uint32_t per_io_ = 1;
  uint64_t seq_next_ = 0, issued_bytes_ = 0;
  int in_flight_ = 0;
  std::mt19937_64 rng_;
  std::vector<uint8_t> write_buf_;
  std::vector<uint32_t> gen_;
  std::vector<bool> busy_;
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
    else if (a == "--qd")
      o.qd = std::atoi(value());
    else if (a == "--sessions")
      o.sessions = std::atoi(value());
    else if (a == "--bytes")
      o.bytes = parse_size(value());
    else if (a == "--seconds")
      o.seconds = std::atof(value());
    else if (a.rfind("iscsi://", 0) == 0)
      o.url = a;
    else
      usage(("unknown argument " + a).c_str());
  }
  if (o.url.empty()) usage("no URL");
  if (o.qd < 1 || o.sessions < 1 || o.bs == 0) usage("bad --qd, --sessions or --bs");

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
  if (slice < per_io) usage("the LUN is too small for --bs");
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.sessions; ++i) {
    const uint64_t first = o.mode == "verify" ? slice * i : 0;
    threads.emplace_back([&, i, first] { sessions[i]->run(first, slice); });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"mode\":\"%s\",\"bs\":%u,\"qd\":%d,\"sessions\":%d,\"seconds\":%.3f,\"bytes\":%llu,"
      "\"commands\":%llu,\"mib_per_s\":%.1f,\"iops\":%.0f,\"failures\":%llu,\"mismatches\":%llu}\n",
      o.mode.c_str(), o.bs, o.qd, o.sessions, secs, (unsigned long long)totals.bytes.load(),
      (unsigned long long)totals.commands.load(), totals.bytes / secs / (1 << 20),
      totals.commands / secs, (unsigned long long)totals.failures.load(),
      (unsigned long long)totals.mismatches.load());
  return totals.failures == 0 && totals.mismatches == 0 ? 0 : 1;
}
