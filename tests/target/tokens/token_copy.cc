// Token copy (SBC-3 ODX) through a real initiator: POPULATE TOKEN,
// RECEIVE ROD TOKEN INFORMATION, WRITE USING TOKEN and REPORT ALL ROD
// TOKENS sent as raw CDBs with libiscsi, the data checked by READ (16).
// libiscsi's own suite (iscsi-test-cu) has no token-copy tests.
//
//   token_copy [--pit snapshot|revoke|any] [--seed N] SRC_URL DST_URL OTHER_URL
//
// SRC_URL and DST_URL are two LUNs of one target (the tokens' source and
// the copies' destination, each at least 16384 blocks); OTHER_URL is a LUN
// of another target, whose session may not reach SRC's LUN.  --pit says
// what a write to a token's ranges must do to a WRITE USING TOKEN after
// it: "snapshot" (the backing filesystem reflinks: the copy still gets the
// data as it was at POPULATE TOKEN), "revoke" (it fails with 23h/06h),
// "any" (either; never the new data).  tests/target/tokens/token_test.sh
// runs it on xfs (snapshot) and ext4 (revoke).
//
// The first 16384 blocks of SRC and DST and blocks 0-63 of OTHER are
// overwritten.  One line per check, "ok   NAME" or "FAIL NAME: why"; the
// last line "token_copy (--pit P): N passed, M failed"; exit status 0 when
// every check passed, 1 when one failed, 2 on a usage or login error.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

namespace {

using Bytes = std::vector<uint8_t>;

// ------------------------------------------------------------ big endian

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
void put32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void put64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint16_t get16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t get32(const Bytes& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
uint64_t get64(const Bytes& b, size_t at) {
  return uint64_t{get32(b, at)} << 32 | get32(b, at + 4);
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string hex(const Bytes& b, size_t from, size_t n) {
  std::string s;
  for (size_t i = from; i < from + n && i < b.size(); ++i) s += fmt("%02x", b[i]);
  return s;
}

// ------------------------------------------------------------ failing

// A check stops at its first unmet expectation: require() throws.
struct Failed {
  std::string what;
};
[[noreturn]] void fail(std::string what) { throw Failed{std::move(what)}; }
void require(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// ------------------------------------------------------------ sense

const char* key_name(int key) {
  switch (key) {
    case 0x0: return "NO SENSE";
    case 0x1: return "RECOVERED ERROR";
    case 0x2: return "NOT READY";
    case 0x3: return "MEDIUM ERROR";
    case 0x4: return "HARDWARE ERROR";
    case 0x5: return "ILLEGAL REQUEST";
    case 0x6: return "UNIT ATTENTION";
    case 0x7: return "DATA PROTECT";
    case 0xB: return "ABORTED COMMAND";
    case 0xE: return "MISCOMPARE";
    default: return "sense key";
  }
}

const char* asc_name(int asc, int ascq) {
  switch (asc << 8 | ascq) {
    case 0x0000: return "NO ADDITIONAL SENSE INFORMATION";
    case 0x0016: return "OPERATION IN PROGRESS";
    case 0x0D00: return "ERROR DETECTED BY THIRD PARTY TEMPORARY INITIATOR";
    case 0x1100: return "UNRECOVERED READ ERROR";
    case 0x2000: return "INVALID COMMAND OPERATION CODE";
    case 0x2100: return "LOGICAL BLOCK ADDRESS OUT OF RANGE";
    case 0x2300: return "INVALID TOKEN OPERATION, CAUSE NOT REPORTABLE";
    case 0x2301: return "INVALID TOKEN OPERATION, UNSUPPORTED TOKEN TYPE";
    case 0x2302: return "INVALID TOKEN OPERATION, REMOTE TOKEN USAGE NOT SUPPORTED";
    case 0x2303: return "INVALID TOKEN OPERATION, REMOTE ROD TOKEN CREATION NOT SUPPORTED";
    case 0x2304: return "INVALID TOKEN OPERATION, TOKEN UNKNOWN";
    case 0x2305: return "INVALID TOKEN OPERATION, TOKEN CORRUPT";
    case 0x2306: return "INVALID TOKEN OPERATION, TOKEN REVOKED";
    case 0x2307: return "INVALID TOKEN OPERATION, TOKEN EXPIRED";
    case 0x2308: return "INVALID TOKEN OPERATION, TOKEN CANCELLED";
    case 0x2309: return "INVALID TOKEN OPERATION, TOKEN DELETED";
    case 0x230A: return "INVALID TOKEN OPERATION, INVALID TOKEN LENGTH";
    case 0x2400: return "INVALID FIELD IN CDB";
    case 0x2500: return "LOGICAL UNIT NOT SUPPORTED";
    case 0x2600: return "INVALID FIELD IN PARAMETER LIST";
    case 0x2601: return "PARAMETER NOT SUPPORTED";
    case 0x2602: return "PARAMETER VALUE INVALID";
    case 0x2700: return "WRITE PROTECTED";
    case 0x2900: return "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED";
    case 0x2A01: return "MODE PARAMETERS CHANGED";
    case 0x2C00: return "COMMAND SEQUENCE ERROR";
    case 0x4400: return "INTERNAL TARGET FAILURE";
    case 0x5506: return "INSUFFICIENT RESOURCES";
    default: return nullptr;
  }
}

std::string sense_text(int key, int asc, int ascq) {
  const char* a = asc_name(asc, ascq);
  return fmt("%s / %s (%02Xh/%02Xh)", key_name(key), a ? a : "?", asc, ascq);
}

// Fixed-format sense as RRTI carries it.
std::string fixed_sense_text(const Bytes& s) {
  if (s.size() < 14) return "(no sense data)";
  if ((s[0] & 0x7f) == 0x72 || (s[0] & 0x7f) == 0x73) return sense_text(s[1] & 0x0f, s[2], s[3]);
  return sense_text(s[2] & 0x0f, s[12], s[13]);
}

// ------------------------------------------------------------ commands

struct Reply {
  bool delivered = false;  // a SCSI status came back
  std::string error;       // why not, when not
  int status = -1;
  int key = 0, asc = 0, ascq = 0;
  bool sksv = false, cd = false, bpv = false;
  int bit = 0;
  uint16_t field = 0;
  Bytes data;

  bool good() const { return delivered && status == SCSI_STATUS_GOOD; }
  bool check(int k, int a, int q) const {
    return delivered && status == SCSI_STATUS_CHECK_CONDITION && key == k && asc == a && ascq == q;
  }
  std::string describe() const {
    if (!delivered) return "no SCSI status: " + error;
    switch (status) {
      case SCSI_STATUS_GOOD: return "GOOD";
      case SCSI_STATUS_CHECK_CONDITION: {
        std::string s = "CHECK CONDITION, " + sense_text(key, asc, ascq);
        if (sksv) {
          s += fmt(", field: %s byte %u", cd ? "CDB" : "parameter list", field);
          if (bpv) s += fmt(" bit %d", bit);
        }
        return s;
      }
      case SCSI_STATUS_BUSY: return "BUSY";
      case SCSI_STATUS_RESERVATION_CONFLICT: return "RESERVATION CONFLICT";
      case SCSI_STATUS_TASK_SET_FULL: return "TASK SET FULL";
      default: return fmt("status 0x%02x", status);
    }
  }
};

constexpr int kIllegal = SCSI_SENSE_ILLEGAL_REQUEST;

// The target cannot do the command at all: the opcode or its service
// action (byte 1) is unknown to it.
bool unsupported(const Reply& r) {
  if (!r.delivered || r.status != SCSI_STATUS_CHECK_CONDITION || r.key != kIllegal) return false;
  if (r.asc == 0x20 && r.ascq == 0) return true;
  return r.asc == 0x24 && r.ascq == 0 && r.sksv && r.cd && r.field == 1;
}

class Session {
 public:
  Session(std::string label, const std::string& url_text, const std::string& initiator)
      : label_(std::move(label)) {
    ctx_ = iscsi_create_context(initiator.c_str());
    if (!ctx_) die("iscsi_create_context failed");
    iscsi_url* url = iscsi_parse_full_url(ctx_, url_text.c_str());
    if (!url) die("'" + url_text + "' is not an iSCSI URL: " + iscsi_get_error(ctx_));
    target_ = url->target;
    portal_ = url->portal;
    lun_ = url->lun;
    iscsi_set_targetname(ctx_, url->target);
    iscsi_set_session_type(ctx_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx_, ISCSI_HEADER_DIGEST_NONE_CRC32C);
    if (url->user[0]) iscsi_set_initiator_username_pwd(ctx_, url->user, url->passwd);
    const int rc = iscsi_full_connect_sync(ctx_, url->portal, url->lun);
    iscsi_destroy_url(url);
    if (rc != 0) die("login to " + url_text + " failed: " + iscsi_get_error(ctx_));
  }
  ~Session() {
    if (ctx_) {
      iscsi_logout_sync(ctx_);
      iscsi_destroy_context(ctx_);
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& label() const { return label_; }
  const std::string& target() const { return target_; }
  const std::string& portal() const { return portal_; }
  int lun() const { return lun_; }

  // A list identifier not used before on this session (they are per
  // I_T nexus); the start is random so that a rerun against the same
  // target and initiator port does not meet its old lists.
  uint32_t new_list() { return next_list_++; }
  void seed_lists(uint32_t start) { next_list_ = start; }

  // One CDB, with OUT as data-out or IN_LEN bytes of data-in expected.
  Reply command(int lun, Bytes cdb, const Bytes& out = {}, uint32_t in_len = 0) {
    const int dir = !out.empty() ? SCSI_XFER_WRITE : in_len ? SCSI_XFER_READ : SCSI_XFER_NONE;
    const int xfer = !out.empty() ? static_cast<int>(out.size()) : static_cast<int>(in_len);
    Reply r;
    scsi_task* task = scsi_create_task(static_cast<int>(cdb.size()), cdb.data(), dir, xfer);
    if (!task) {
      r.error = "scsi_create_task failed";
      return r;
    }
    iscsi_data data{};
    if (!out.empty()) {
      data.size = out.size();
      data.data = const_cast<uint8_t*>(out.data());
    }
    scsi_task* done = iscsi_scsi_command_sync(ctx_, lun, task, out.empty() ? nullptr : &data);
    if (!done || done->status == SCSI_STATUS_ERROR || done->status == SCSI_STATUS_CANCELLED ||
        done->status == SCSI_STATUS_TIMEOUT) {
      r.error = iscsi_get_error(ctx_);
      scsi_free_scsi_task(task);
      return r;
    }
    r.delivered = true;
    r.status = done->status;
    if (r.status == SCSI_STATUS_CHECK_CONDITION) {
      r.key = done->sense.key;
      r.asc = done->sense.ascq >> 8 & 0xff;
      r.ascq = done->sense.ascq & 0xff;
      r.sksv = done->sense.sense_specific;
      r.cd = done->sense.ill_param_in_cdb;
      r.bpv = done->sense.bit_pointer_valid;
      r.bit = done->sense.bit_pointer;
      r.field = done->sense.field_pointer;
    } else if (done->datain.size > 0) {
      r.data.assign(done->datain.data, done->datain.data + done->datain.size);
    }
    scsi_free_scsi_task(task);
    return r;
  }

 private:
  [[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "token_copy: %s session: %s\n", label_.c_str(), why.c_str());
    std::exit(2);
  }

  std::string label_, target_, portal_;
  int lun_ = 0;
  iscsi_context* ctx_ = nullptr;
  uint32_t next_list_ = 1;
};

// ------------------------------------------------------------ the token commands

struct Range {
  uint64_t lba;
  uint32_t blocks;
};

constexpr uint8_t kCopyOut = 0x83, kCopyIn = 0x84;
constexpr uint8_t kPopulateToken = 0x10, kWriteUsingToken = 0x11;
constexpr uint8_t kReceiveRodTokenInformation = 0x07, kReportAllRodTokens = 0x08;
constexpr size_t kPtHeader = 16, kWutHeader = 536, kTokenSize = 512;
constexpr uint32_t kRodPit = 0x00800000, kRodPitVulnerable = 0x00800001, kRodPitAny = 0x0080FFFF,
                   kRodAccessUponReference = 0x00010000, kRodZero = 0xFFFF0001;
constexpr uint8_t kOpCompleted = 0x01, kOpForeground = 0x11, kOpBackground = 0x12;

const char* op_status_name(uint8_t s) {
  switch (s) {
    case 0x01: return "completed";
    case 0x02: return "completed with error";
    case 0x03: return "completed with residual";
    case 0x11: return "in progress, foreground";
    case 0x12: return "in progress, background";
    case 0x60: return "aborted";
    default: return "?";
  }
}

Bytes copy_cdb(uint8_t opcode, uint8_t sa, uint32_t list, uint32_t length) {
  Bytes cdb(16, 0);
  cdb[0] = opcode;
  cdb[1] = sa;
  if (opcode == kCopyOut) {
    put32(cdb, 6, list);
  } else {
    put32(cdb, 2, list);
  }
  put32(cdb, 10, length);
  return cdb;
}

struct PtOptions {
  bool immed = false;
  bool rtv = false;
  uint32_t rod_type = 0;
  uint32_t timeout = 0;  // inactivity, seconds; 0: the default
};

Bytes pt_params(const std::vector<Range>& ranges, const PtOptions& o = {}) {
  Bytes p(kPtHeader + 16 * ranges.size(), 0);
  put16(p, 0, static_cast<uint16_t>(p.size() - 2));
  p[2] = static_cast<uint8_t>((o.rtv ? 0x02 : 0) | (o.immed ? 0x01 : 0));
  put32(p, 4, o.timeout);
  put32(p, 8, o.rod_type);
  put16(p, 14, static_cast<uint16_t>(16 * ranges.size()));
  for (size_t i = 0; i < ranges.size(); ++i) {
    put64(p, kPtHeader + 16 * i, ranges[i].lba);
    put32(p, kPtHeader + 16 * i + 8, ranges[i].blocks);
  }
  return p;
}

struct WutOptions {
  uint64_t offset = 0;
  bool del_tkn = false;
  bool immed = false;
};

Bytes wut_params(const Bytes& token, const std::vector<Range>& ranges, const WutOptions& o = {}) {
  Bytes p(kWutHeader + 16 * ranges.size(), 0);
  put16(p, 0, static_cast<uint16_t>(p.size() - 2));
  p[2] = static_cast<uint8_t>((o.del_tkn ? 0x02 : 0) | (o.immed ? 0x01 : 0));
  put64(p, 8, o.offset);
  std::copy(token.begin(), token.begin() + std::min(token.size(), kTokenSize), p.begin() + 16);
  put16(p, 534, static_cast<uint16_t>(16 * ranges.size()));
  for (size_t i = 0; i < ranges.size(); ++i) {
    put64(p, kWutHeader + 16 * i, ranges[i].lba);
    put32(p, kWutHeader + 16 * i + 8, ranges[i].blocks);
  }
  return p;
}

Bytes zero_token() {
  Bytes t(kTokenSize, 0);
  put32(t, 0, kRodZero);
  put16(t, 6, 0x01F8);
  return t;
}

Reply populate_token(Session& s, int lun, uint32_t list, const Bytes& params) {
  return s.command(
      lun, copy_cdb(kCopyOut, kPopulateToken, list, static_cast<uint32_t>(params.size())), params);
}
Reply write_using_token(Session& s, int lun, uint32_t list, const Bytes& params) {
  return s.command(lun,
                   copy_cdb(kCopyOut, kWriteUsingToken, list, static_cast<uint32_t>(params.size())),
                   params);
}
Reply receive_rod_token_information(Session& s, int lun, uint32_t list) {
  return s.command(lun, copy_cdb(kCopyIn, kReceiveRodTokenInformation, list, 4096), {}, 4096);
}
Reply report_all_rod_tokens(Session& s, int lun) {
  constexpr uint32_t kLen = 65536;  // 680 tokens
  return s.command(lun, copy_cdb(kCopyIn, kReportAllRodTokens, 0, kLen), {}, kLen);
}

// RECEIVE ROD TOKEN INFORMATION's answer, by the byte offsets of the brief.
struct Rrti {
  Bytes raw;
  uint32_t available = 0;
  uint8_t sa = 0, op_status = 0, scsi_status = 0, sense_field_length = 0, sense_length = 0,
          units = 0;
  uint32_t delay_ms = 0;
  uint64_t count = 0;
  uint16_t segments = 0;
  Bytes sense;
  std::optional<uint32_t> descriptors_length;  // when the data reaches it
  Bytes token;                                 // when a whole one follows

  std::string summary() const {
    std::string s = fmt("SA %02Xh, copy status %02Xh (%s), SCSI status %02Xh, count %" PRIu64
                        " (units %02Xh)",
                        sa, op_status, op_status_name(op_status), scsi_status, count, units);
    if (sense_length) s += ", sense " + fixed_sense_text(sense);
    return s;
  }
};

Rrti parse_rrti(const Bytes& d) {
  require(d.size() >= 32, fmt("RECEIVE ROD TOKEN INFORMATION returned %zu bytes, fewer than its "
                              "32-byte header",
                              d.size()));
  Rrti r;
  r.raw = d;
  r.available = get32(d, 0);
  r.sa = d[4] & 0x1f;
  r.op_status = d[5];
  r.delay_ms = get32(d, 8);
  r.scsi_status = d[12];
  r.sense_field_length = d[13];
  r.sense_length = d[14];
  r.units = d[15];
  r.count = get64(d, 16);
  r.segments = get16(d, 24);
  const size_t n = r.sense_field_length;
  if (d.size() >= 32 + n)
    r.sense.assign(d.begin() + 32, d.begin() + 32 + std::min<size_t>(n, r.sense_length));
  if (d.size() >= 32 + n + 4) r.descriptors_length = get32(d, 32 + n);
  if (r.descriptors_length && *r.descriptors_length >= 2 + kTokenSize &&
      d.size() >= 32 + n + 6 + kTokenSize) {
    r.token.assign(d.begin() + 32 + n + 6, d.begin() + 32 + n + 6 + kTokenSize);
  }
  return r;
}

// ------------------------------------------------------------ the tester

constexpr uint64_t kArea = 16384;  // blocks of SRC and DST the test owns
constexpr int kOtherBlocks = 64;   // blocks of OTHER the test owns

enum class Pit { snapshot, revoke, any };

class Tester {
 public:
  Tester(Pit pit, uint64_t seed, const std::string& src_url, const std::string& dst_url,
         const std::string& other_url)
      : pit_(pit),
        rng_(seed),
        a_("SRC", src_url, "iqn.2026-12.org.offcopy:token-copy-a"),
        a2_("DST", dst_url, "iqn.2026-12.org.offcopy:token-copy-a2"),
        b_("OTHER", other_url, "iqn.2026-12.org.offcopy:token-copy-b") {
    src_lun_ = a_.lun();
    dst_lun_ = a2_.lun();
    if (a2_.target() != a_.target() || a2_.portal() != a_.portal() || dst_lun_ == src_lun_) {
      std::fprintf(stderr, "token_copy: SRC_URL and DST_URL must name two LUNs of one target\n");
      std::exit(2);
    }
    if (b_.target() == a_.target()) {
      std::fprintf(stderr, "token_copy: OTHER_URL must name another target than SRC_URL\n");
      std::exit(2);
    }
    std::uniform_int_distribution<uint32_t> start(0x1000, 0x7fff0000);
    a_.seed_lists(start(rng_));
    a2_.seed_lists(start(rng_));
    b_.seed_lists(start(rng_));
  }

  int run();

 private:
  // -------------------------------------------------- reporting
  // One named check: "ok   NAME" or "FAIL NAME: why", then its notes.
  void check(const std::string& name, const std::function<void()>& body) {
    if (stopped_) {
      ++not_run_;
      return;
    }
    notes_.clear();
    try {
      body();
      ++passed_;
      std::printf("ok   %s\n", name.c_str());
    } catch (const Failed& f) {
      ++failed_;
      std::printf("FAIL %s: %s\n", name.c_str(), f.what.c_str());
    }
    for (const std::string& n : notes_) std::printf("     %s\n", n.c_str());
    std::fflush(stdout);
  }
  // Something the running check found worth saying, shown after its result.
  void note(const std::string& what) { notes_.push_back(what); }

  // -------------------------------------------------- data
  Bytes random_bytes(size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = rng_();
      for (size_t j = 0; j < 8 && i + j < n; ++j) b[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    return b;
  }

  uint64_t capacity(Session& s, int lun, uint32_t& block_size) {
    Bytes cdb(16, 0);
    cdb[0] = 0x9E;
    cdb[1] = 0x10;
    put32(cdb, 10, 32);
    const Reply r = s.command(lun, cdb, {}, 32);
    require(r.good() && r.data.size() >= 12, "READ CAPACITY (16): " + r.describe());
    block_size = get32(r.data, 8);
    return get64(r.data, 0) + 1;
  }

  Reply write16(Session& s, int lun, uint64_t lba, const Bytes& data) {
    Bytes cdb(16, 0);
    cdb[0] = 0x8A;
    put64(cdb, 2, lba);
    put32(cdb, 10, static_cast<uint32_t>(data.size() / bs_));
    return s.command(lun, cdb, data);
  }
  Bytes read16(Session& s, int lun, uint64_t lba, uint64_t blocks, const std::string& what) {
    Bytes out;
    while (blocks > 0) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(blocks, (1 << 20) / bs_));
      Bytes cdb(16, 0);
      cdb[0] = 0x88;
      put64(cdb, 2, lba);
      put32(cdb, 10, n);
      const Reply r = s.command(lun, cdb, {}, n * bs_);
      require(r.good() && r.data.size() == size_t{n} * bs_,
              fmt("READ (16) of %s at LBA %" PRIu64 ": ", what.c_str(), lba) + r.describe());
      out.insert(out.end(), r.data.begin(), r.data.end());
      lba += n;
      blocks -= n;
    }
    return out;
  }

  // A write to SRC, remembered.
  void write_src(uint64_t lba, const Bytes& data) {
    const Reply r = write16(a_, src_lun_, lba, data);
    require(r.good(), fmt("WRITE (16) to the source at LBA %" PRIu64 ": ", lba) + r.describe());
    std::copy(data.begin(), data.end(), src_.begin() + lba * bs_);
  }

  // What SRC holds in these ranges, one after the other.
  Bytes src_data(const std::vector<Range>& ranges) const {
    Bytes b;
    for (const Range& r : ranges)
      b.insert(b.end(), src_.begin() + r.lba * bs_, src_.begin() + (r.lba + r.blocks) * bs_);
    return b;
  }

  // DST's blocks from LBA on, as they should now be.
  void expect_dst_as(uint64_t lba, const Bytes& data) {
    std::copy(data.begin(), data.end(), dst_.begin() + lba * bs_);
  }

  // DST, read back, against what it should hold in [LBA, LBA + BLOCKS)
  // plus a guard block either side; WHY names the expectation.
  void verify_dst(uint64_t lba, uint64_t blocks, const std::string& why) {
    const uint64_t from = lba > 0 ? lba - 1 : 0;
    const uint64_t to = std::min(kArea, lba + blocks + 1);
    const Bytes got = read16(a_, dst_lun_, from, to - from, "the destination");
    for (uint64_t b = from; b < to; ++b) {
      const uint8_t* want = dst_.data() + b * bs_;
      const uint8_t* have = got.data() + (b - from) * bs_;
      if (std::memcmp(want, have, bs_) == 0) continue;
      std::string what;
      if (std::all_of(have, have + bs_, [](uint8_t c) { return c == 0; })) what = " (zeros)";
      for (const auto& [label, data] : recent_) {
        for (size_t at = 0; at + bs_ <= data.size(); at += bs_) {
          if (std::memcmp(data.data() + at, have, bs_) == 0) {
            what = fmt(" (it holds block %zu of %s)", at / bs_, label.c_str());
            break;
          }
        }
      }
      fail(fmt("destination block %" PRIu64 " is not %s%s", b,
               b < lba || b >= lba + blocks ? "untouched, as it should be" : why.c_str(),
               what.c_str()));
    }
  }

  // A fresh stretch of DST, with a guard block either side.
  uint64_t dst_space(uint64_t blocks) {
    const uint64_t lba = next_dst_ + 8;
    next_dst_ = lba + blocks + 8;
    require(next_dst_ <= kArea, "the test ran out of destination space (a bug in the test)");
    return lba;
  }

  // -------------------------------------------------- token steps

  // POPULATE TOKEN, then its RRTI: the token, or a failure saying which
  // step went wrong.
  Bytes make_token(const std::vector<Range>& ranges, const PtOptions& o = {}) {
    const uint32_t list = a_.new_list();
    const Reply r = populate_token(a_, src_lun_, list, pt_params(ranges, o));
    require(r.good(), "POPULATE TOKEN: " + r.describe());
    Rrti q = await(a_, src_lun_, list, "POPULATE TOKEN");
    require(q.op_status == kOpCompleted,
            "RECEIVE ROD TOKEN INFORMATION after POPULATE TOKEN: " + q.summary());
    require(q.token.size() == kTokenSize,
            fmt("RECEIVE ROD TOKEN INFORMATION after POPULATE TOKEN: no token (ROD TOKEN "
                "DESCRIPTORS LENGTH %s, %zu bytes returned)",
                q.descriptors_length ? std::to_string(*q.descriptors_length).c_str() : "missing",
                q.raw.size()));
    return q.token;
  }

  // RRTI of LIST until the operation is no longer in progress (at most 5 s).
  Rrti await(Session& s, int lun, uint32_t list, const std::string& of) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      const Reply r = receive_rod_token_information(s, lun, list);
      require(r.good(), "RECEIVE ROD TOKEN INFORMATION after " + of + ": " + r.describe());
      Rrti q = parse_rrti(r.data);
      if (q.op_status != kOpForeground && q.op_status != kOpBackground) return q;
      require(std::chrono::steady_clock::now() < deadline,
              of + " still in progress after 5 s: " + q.summary());
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::clamp<uint32_t>(q.delay_ms, 10, 200)));
    }
  }

  // WRITE USING TOKEN on session S, GOOD expected, then its RRTI, which
  // must say completed with COUNT blocks; DST's expected content updated
  // by the caller.
  void copy(Session& s, const Bytes& token, const std::vector<Range>& ranges, uint64_t count,
            const WutOptions& o = {}) {
    const uint32_t list = s.new_list();
    const Reply r = write_using_token(s, dst_lun_, list, wut_params(token, ranges, o));
    require(r.good(), "WRITE USING TOKEN: " + r.describe());
    const Rrti q = await(s, dst_lun_, list, "WRITE USING TOKEN");
    require(q.op_status == kOpCompleted && q.sa == kWriteUsingToken && q.units == 0xF1 &&
                q.count == count,
            fmt("RECEIVE ROD TOKEN INFORMATION after WRITE USING TOKEN: %s; expected SA 11h, "
                "copy status 01h, units F1h, count %" PRIu64,
                q.summary().c_str(), count));
  }

  // WRITE USING TOKEN that must fail with ILLEGAL REQUEST ASC/ASCQ and
  // write nothing.
  void refused(Session& s, int lun, const Bytes& params, int asc, int ascq,
               const std::string& what = "WRITE USING TOKEN") {
    const Reply r = write_using_token(s, lun, s.new_list(), params);
    require(r.check(kIllegal, asc, ascq),
            what + ": " + r.describe() + "; expected " + sense_text(kIllegal, asc, ascq));
  }

  // A malformed parameter list: ILLEGAL REQUEST ASC/00h, and with ASC
  // 26h the field pointer at FIELD of the parameter list.
  void malformed(bool populate, const Bytes& params, int asc, std::optional<uint16_t> field,
                 const std::vector<Range>& dst_ranges = {}) {
    Session& s = a_;
    const int lun = populate ? src_lun_ : dst_lun_;
    const Reply r = populate ? populate_token(s, lun, s.new_list(), params)
                             : write_using_token(s, lun, s.new_list(), params);
    const char* cmd = populate ? "POPULATE TOKEN" : "WRITE USING TOKEN";
    std::string expected = sense_text(kIllegal, asc, 0);
    if (field) expected += fmt(", field: parameter list byte %u", *field);
    require(r.check(kIllegal, asc, 0),
            std::string(cmd) + ": " + r.describe() + "; expected " + expected);
    if (field) {
      require(r.sksv && !r.cd && r.field == *field,
              std::string(cmd) + ": " + r.describe() + "; expected " + expected);
    }
    for (const Range& d : dst_ranges)
      verify_dst(d.lba, std::min<uint64_t>(d.blocks, kArea - d.lba), "untouched");
  }

  void setup();
  void vpd_third_party_copy();
  Bytes naa(Session& s, int lun);

  Pit pit_;
  std::mt19937_64 rng_;
  Session a_, a2_, b_;
  int src_lun_ = 0, dst_lun_ = 1;
  uint32_t bs_ = 512;
  uint64_t src_blocks_ = 0, dst_blocks_ = 0;
  Bytes src_, dst_;  // what SRC and DST hold in their first kArea blocks
  uint64_t next_dst_ = 0;
  Bytes src_naa_;
  // Data a stray destination block might be a copy of, for the message.
  std::vector<std::pair<std::string, Bytes>> recent_;
  int passed_ = 0, failed_ = 0, not_run_ = 0;
  std::vector<std::string> notes_;
  bool stopped_ = false;
};

// The source ranges.  The main token's two ranges are never written after
// setup; each point-in-time check has a range of its own.
const Range kR1{1000, 300}, kR2{5000, 212};
const std::vector<Range> kMain{kR1, kR2};
constexpr uint64_t kMainBlocks = 512;
const Range kPit{9000, 64}, kPitElsewhere{9200, 64}, kElsewhereWrite{12000, 8},
    kVulnerable{9400, 64}, kAur{9600, 64}, kSmall{10000, 64};

Bytes Tester::naa(Session& s, int lun) {
  Bytes cdb{0x12, 0x01, 0x83, 0x10, 0x00, 0x00};
  const Reply r = s.command(lun, cdb, {}, 4096);
  require(r.good() && r.data.size() >= 4, "INQUIRY VPD 0x83: " + r.describe());
  for (size_t at = 4; at + 4 <= r.data.size();) {
    const size_t len = r.data[at + 3];
    const int association = r.data[at + 1] >> 4 & 3, type = r.data[at + 1] & 0x0f;
    if (association == 0 && type == 3 && at + 4 + len <= r.data.size())
      return Bytes(r.data.begin() + at + 4, r.data.begin() + at + 4 + len);
    at += 4 + len;
  }
  fail("INQUIRY VPD 0x83 has no NAA designator of the logical unit");
}

void Tester::setup() {
  uint32_t dst_bs = 0, other_bs = 0;
  src_blocks_ = capacity(a_, src_lun_, bs_);
  dst_blocks_ = capacity(a_, dst_lun_, dst_bs);
  capacity(b_, b_.lun(), other_bs);
  require(dst_bs == bs_ && other_bs == bs_,
          fmt("SRC has %u-byte blocks, DST %u, OTHER %u: they must be the same", bs_, dst_bs,
              other_bs));
  require(src_blocks_ >= kArea && dst_blocks_ >= kArea,
          fmt("SRC and DST need %" PRIu64 " blocks at least; they have %" PRIu64 " and %" PRIu64,
              kArea, src_blocks_, dst_blocks_));
  src_naa_ = naa(a_, src_lun_);
  // Random data over the area of both units, in 1 MiB writes.
  src_ = random_bytes(kArea * bs_);
  dst_ = random_bytes(kArea * bs_);
  const uint64_t step = (1 << 20) / bs_;
  for (uint64_t lba = 0; lba < kArea; lba += step) {
    const Reply r = write16(a_, src_lun_, lba,
                            Bytes(src_.begin() + lba * bs_, src_.begin() + (lba + step) * bs_));
    require(r.good(), "WRITE (16) to the source: " + r.describe());
    const Reply w = write16(a_, dst_lun_, lba,
                            Bytes(dst_.begin() + lba * bs_, dst_.begin() + (lba + step) * bs_));
    require(w.good(), "WRITE (16) to the destination: " + w.describe());
  }
  const Reply w = write16(b_, b_.lun(), 0, random_bytes(size_t{kOtherBlocks} * bs_));
  require(w.good(), "WRITE (16) to OTHER: " + w.describe());
  recent_.push_back({"the source's first range", src_data({kR1})});
  recent_.push_back({"the source's second range", src_data({kR2})});
}

// VPD page 0x8F: the four descriptors the target promises.
void Tester::vpd_third_party_copy() {
  Bytes cdb{0x12, 0x01, 0x8F, 0x10, 0x00, 0x00};
  const Reply r = a_.command(src_lun_, cdb, {}, 4096);
  require(r.good(), "INQUIRY VPD 0x8F: " + r.describe());
  const Bytes& d = r.data;
  require(d.size() >= 4 && d[1] == 0x8F, "INQUIRY VPD 0x8F: not page 0x8F");
  const size_t end = std::min(d.size(), size_t{4} + get16(d, 2));
  std::vector<std::pair<uint16_t, Bytes>> descs;  // each with its 4-byte header
  std::string types;
  for (size_t at = 4; at + 4 <= end;) {
    const uint16_t type = get16(d, at);
    const size_t len = get16(d, at + 2);
    require(at + 4 + len <= end, fmt("descriptor %04Xh at byte %zu runs past the page", type, at));
    descs.push_back({type, Bytes(d.begin() + at, d.begin() + at + 4 + len)});
    types += fmt(" %04Xh", type);
    at += 4 + len;
  }
  auto find = [&](uint16_t type, const char* name) -> const Bytes& {
    for (const auto& [t, b] : descs)
      if (t == type) return b;
    fail(fmt("no %s descriptor (%04Xh); the page has:%s", name, type, types.c_str()));
  };
  const Bytes& limits = find(0x0000, "Block Device ROD Limits");
  require(limits.size() >= 36,
          fmt("Block Device ROD Limits: %zu bytes, expected 36", limits.size()));
  require(get16(limits, 10) == 64 && get32(limits, 12) == 600 && get32(limits, 16) == 60,
          fmt("Block Device ROD Limits: %u range descriptors, inactivity timeout max %u s, "
              "default %u s; expected 64, 600, 60",
              get16(limits, 10), get32(limits, 12), get32(limits, 16)));
  require(get64(limits, 20) != 0, "Block Device ROD Limits: MAXIMUM TOKEN TRANSFER SIZE is 0");
  note(fmt("Block Device ROD Limits: maximum token transfer size %" PRIu64
           " blocks, optimal transfer count %" PRIu64,
           get64(limits, 20), get64(limits, 28)));

  const Bytes& cmds = find(0x0001, "Supported Commands");
  require(cmds.size() >= 5, "Supported Commands: too short");
  std::vector<std::pair<uint8_t, Bytes>> ops;
  const size_t list_end = std::min(cmds.size(), size_t{5} + cmds[4]);
  for (size_t at = 5; at + 2 <= list_end;) {
    const size_t n = cmds[at + 1];
    require(at + 2 + n <= list_end, "Supported Commands: a command descriptor runs past the list");
    ops.push_back({cmds[at], Bytes(cmds.begin() + at + 2, cmds.begin() + at + 2 + n)});
    at += 2 + n;
  }
  auto has = [&](uint8_t op, uint8_t sa) {
    for (const auto& [o, sas] : ops)
      if (o == op && std::find(sas.begin(), sas.end(), sa) != sas.end()) return true;
    return false;
  };
  for (auto [op, sa, name] :
       {std::tuple{kCopyOut, kPopulateToken, "POPULATE TOKEN"},
        std::tuple{kCopyOut, kWriteUsingToken, "WRITE USING TOKEN"},
        std::tuple{kCopyIn, kReceiveRodTokenInformation, "RECEIVE ROD TOKEN INFORMATION"},
        std::tuple{kCopyIn, kReportAllRodTokens, "REPORT ALL ROD TOKENS"}}) {
    require(has(op, sa), fmt("Supported Commands does not list %s (%02Xh/%02Xh)", name, op, sa));
  }
  find(0x0106, "ROD Token Features");
  find(0x0108, "Supported ROD Types");
}

int Tester::run() {
  const char* pit_name = pit_ == Pit::snapshot ? "snapshot"
                         : pit_ == Pit::revoke ? "revoke"
                                               : "any";
  check("setup: READ CAPACITY, VPD 0x83's NAA, random data over the source and destination",
        [&] { setup(); });
  if (failed_) {
    std::printf("token_copy (--pit %s): the setup failed; nothing else was run\n", pit_name);
    return 1;
  }

  // ---------------------------------------------------------- the main token
  uint32_t main_list = 0;
  bool main_unsupported = false;
  Reply main_pt;
  Bytes token;  // the main token (R1 then R2), once RRTI gave it
  check("POPULATE TOKEN of 2 ranges (300 + 212 blocks): GOOD", [&] {
    main_list = a_.new_list();
    main_pt = populate_token(a_, src_lun_, main_list, pt_params(kMain));
    main_unsupported = unsupported(main_pt);
    require(main_pt.good(), "POPULATE TOKEN: " + main_pt.describe() +
                                (main_unsupported ? " -- the target does not implement it" : ""));
  });
  if (main_unsupported) {
    // Nothing below can work; VPD 0x8F needs no token.
    check(
        "VPD 0x8F: Block Device ROD Limits, Supported Commands, ROD Token Features, "
        "Supported ROD Types",
        [&] { vpd_third_party_copy(); });
    stopped_ = true;
  }

  check(
      "RRTI after POPULATE TOKEN: completed, 512 blocks, a 512-byte token in the documented "
      "format naming the source",
      [&] {
        require(main_pt.good(), "no POPULATE TOKEN to ask about (it failed above)");
        const Reply r = receive_rod_token_information(a_, src_lun_, main_list);
        require(r.good(), "RECEIVE ROD TOKEN INFORMATION: " + r.describe());
        const Rrti q = parse_rrti(r.data);
        require(q.sa == kPopulateToken,
                fmt("RESPONSE TO SERVICE ACTION %02Xh, expected 10h", q.sa));
        require(q.op_status == kOpCompleted, "expected copy status 01h: " + q.summary());
        require(q.scsi_status == 0,
                fmt("the command's SCSI status %02Xh, expected 00h", q.scsi_status));
        require(q.units == 0xF1, fmt("TRANSFER COUNT UNITS %02Xh, expected F1h", q.units));
        require(q.count == kMainBlocks, fmt("TRANSFER COUNT %" PRIu64 ", expected 512", q.count));
        require(
            q.descriptors_length == 514u,
            fmt("ROD TOKEN DESCRIPTORS LENGTH %s, expected 514",
                q.descriptors_length ? std::to_string(*q.descriptors_length).c_str() : "missing"));
        require(q.token.size() == kTokenSize, fmt("only %zu bytes returned", q.raw.size()));
        const uint32_t total = 32u + q.sense_field_length + 4 + 514;  // the whole answer
        require(q.available + 4 == total,
                fmt("AVAILABLE DATA %u, expected %u", q.available, total - 4));
        const Bytes& t = q.token;
        require(get32(t, 0) == kRodPit, fmt("ROD TYPE %08Xh, expected 00800000h", get32(t, 0)));
        require(get16(t, 6) == 0x01F8, fmt("ROD TOKEN LENGTH %04Xh, expected 01F8h", get16(t, 6)));
        require(t[16] == 0xE4,
                fmt("byte 16 is %02Xh, expected E4h (an identification CSCD descriptor)", t[16]));
        // The CSCD descriptor's designation descriptor (its bytes 4-23):
        // code set binary, association LU, type NAA, 16 bytes.
        require((t[21] & 0x3f) == 0x03 && t[23] == src_naa_.size() &&
                    std::equal(src_naa_.begin(), src_naa_.end(), t.begin() + 24),
                "bytes 20-39 (" + hex(t, 20, 20) + ") do not carry the source's NAA designator " +
                    hex(src_naa_, 0, src_naa_.size()));
        require(get64(t, 48) == 0 && get64(t, 56) == kMainBlocks * bs_,
                fmt("bytes represented (48-63) %s, expected %" PRIu64, hex(t, 48, 16).c_str(),
                    kMainBlocks * bs_));
        require(std::all_of(t.begin() + 96, t.begin() + 128, [](uint8_t c) { return c == 0; }),
                "bytes 96-127 are not zero: " + hex(t, 96, 32));
        require(!std::all_of(t.begin() + 128, t.end(), [](uint8_t c) { return c == 0; }),
                "bytes 128-511 are all zero (not random)");
        token = t;
      });

  check(
      "RRTI of the same list again: ILLEGAL REQUEST, INVALID FIELD IN CDB (the status is "
      "given once)",
      [&] {
        require(main_pt.good(), "no POPULATE TOKEN (it failed above)");
        const Reply r = receive_rod_token_information(a_, src_lun_, main_list);
        require(r.check(kIllegal, 0x24, 0), "RECEIVE ROD TOKEN INFORMATION: " + r.describe() +
                                                "; expected " + sense_text(kIllegal, 0x24, 0));
      });

  auto need_token = [&] {
    require(!token.empty(), "no token (POPULATE TOKEN or its RRTI failed above)");
  };

  uint32_t main_wut_list = 0;
  check(
      "WRITE USING TOKEN of the whole token onto LUN DST: GOOD, the destination holds the two "
      "source ranges in order",
      [&] {
        need_token();
        const uint64_t d = dst_space(kMainBlocks);
        main_wut_list = a_.new_list();
        const Reply r = write_using_token(a_, dst_lun_, main_wut_list,
                                          wut_params(token, {{d, kMainBlocks}}));
        require(r.good(), "WRITE USING TOKEN: " + r.describe());
        expect_dst_as(d, src_data(kMain));
        verify_dst(d, kMainBlocks, "the source's data");
      });
  check("RRTI after WRITE USING TOKEN: SA 11h, completed, 512 blocks, no token", [&] {
    require(main_wut_list != 0, "no WRITE USING TOKEN (it failed above)");
    const Reply r = receive_rod_token_information(a_, dst_lun_, main_wut_list);
    require(r.good(), "RECEIVE ROD TOKEN INFORMATION: " + r.describe());
    const Rrti q = parse_rrti(r.data);
    require(q.sa == kWriteUsingToken && q.op_status == kOpCompleted && q.units == 0xF1 &&
                q.count == kMainBlocks,
            q.summary() + "; expected SA 11h, copy status 01h, count 512, units F1h");
    require(q.descriptors_length.value_or(0) == 0,
            fmt("ROD TOKEN DESCRIPTORS LENGTH %u, expected 0", q.descriptors_length.value_or(0)));
  });

  check(
      "a second POPULATE TOKEN of the same ranges: another token (bytes 128-511 differ), the "
      "same target instance (bytes 64-95)",
      [&] {
        need_token();
        const Bytes second = make_token(kMain);
        require(!std::equal(token.begin() + 128, token.end(), second.begin() + 128),
                "bytes 128-511 are the same as the first token's");
        require(std::equal(token.begin() + 64, token.begin() + 96, second.begin() + 64),
                "bytes 64-95 differ: " + hex(token, 64, 32) + " vs " + hex(second, 64, 32));
        if (std::equal(token.begin() + 8, token.begin() + 16, second.begin() + 8))
          note("(both tokens have the serial " + hex(token, 8, 8) + " in bytes 8-15)");
      });

  check(
      "another session of the same target (DST's) uses the token: GOOD, the data, RRTI on "
      "that session",
      [&] {
        need_token();
        const uint64_t d = dst_space(kMainBlocks);
        copy(a2_, token, {{d, kMainBlocks}}, kMainBlocks);
        expect_dst_as(d, src_data(kMain));
        verify_dst(d, kMainBlocks, "the source's data");
      });

  check("OFFSET INTO ROD 250, 100 blocks: blocks 250-349 of the token (across both ranges)", [&] {
    need_token();
    const uint64_t d = dst_space(100);
    copy(a_, token, {{d, 100}}, 100, {.offset = 250});
    const Bytes all = src_data(kMain);
    expect_dst_as(d, Bytes(all.begin() + 250 * bs_, all.begin() + 350 * bs_));
    verify_dst(d, 100, "blocks 250-349 of the token");
  });

  check("three destination ranges (123 + 250 + 139 blocks): filled in order from the token", [&] {
    need_token();
    const std::vector<Range> ranges{
        {dst_space(123), 123}, {dst_space(250), 250}, {dst_space(139), 139}};
    copy(a_, token, ranges, kMainBlocks);
    const Bytes all = src_data(kMain);
    uint64_t at = 0;
    for (const Range& r : ranges) {
      expect_dst_as(r.lba, Bytes(all.begin() + at * bs_, all.begin() + (at + r.blocks) * bs_));
      at += r.blocks;
    }
    for (const Range& r : ranges) verify_dst(r.lba, r.blocks, "its part of the token");
  });

  check("a token larger than the destination ranges: its first 64 blocks, count 64", [&] {
    need_token();
    const uint64_t d = dst_space(64);
    copy(a_, token, {{d, 64}}, 64);
    const Bytes all = src_data(kMain);
    expect_dst_as(d, Bytes(all.begin(), all.begin() + 64 * bs_));
    verify_dst(d, 64, "the token's first 64 blocks");
  });

  check(
      "a token smaller than the destination ranges (512 for 612 blocks): GOOD, count 512, the "
      "last 100 blocks untouched",
      [&] {
        need_token();
        const uint64_t d = dst_space(612);
        copy(a_, token, {{d, 612}}, kMainBlocks);
        expect_dst_as(d, src_data(kMain));
        verify_dst(d, 612, "the token's data (then untouched)");
      });

  check(
      "the block device zero ROD token zero-fills the destination ranges (2 ranges, 64 + 40 "
      "blocks)",
      [&] {
        const std::vector<Range> ranges{{dst_space(64), 64}, {dst_space(40), 40}};
        copy(a_, zero_token(), ranges, 104);
        for (const Range& r : ranges) expect_dst_as(r.lba, Bytes(size_t{r.blocks} * bs_, 0));
        for (const Range& r : ranges) verify_dst(r.lba, r.blocks, "zeros");
      });

  // ---------------------------------------------------------- point in time
  const std::string pit_check =
      pit_ == Pit::snapshot
          ? "point in time (--pit snapshot): a write to the source after POPULATE "
            "TOKEN; WRITE USING TOKEN is GOOD and copies the data as it was"
      : pit_ == Pit::revoke ? "point in time (--pit revoke): a write to the source after POPULATE "
                              "TOKEN; WRITE USING TOKEN fails with 23h/06h, the destination "
                              "untouched"
                            : "point in time (--pit any): a write to the source after POPULATE "
                              "TOKEN; WRITE USING TOKEN copies the old data or fails with 23h/06h";
  check(pit_check, [&] {
    const Bytes before = src_data({kPit});
    const Bytes t = make_token({kPit});
    const Bytes fresh = random_bytes(size_t{16} * bs_);
    write_src(kPit.lba + 24, fresh);
    recent_.push_back({"the data written to the source after POPULATE TOKEN", fresh});
    const uint64_t d = dst_space(kPit.blocks);
    const uint32_t list = a_.new_list();
    const Reply r = write_using_token(a_, dst_lun_, list, wut_params(t, {{d, kPit.blocks}}));
    const bool revoked = r.check(kIllegal, 0x23, 0x06);
    if (pit_ == Pit::snapshot || (pit_ == Pit::any && !revoked)) {
      require(r.good(), "WRITE USING TOKEN: " + r.describe() + "; expected GOOD" +
                            (pit_ == Pit::any ? " or " + sense_text(kIllegal, 0x23, 0x06) : ""));
      expect_dst_as(d, before);
      verify_dst(d, kPit.blocks, "the source's data as it was at POPULATE TOKEN");
      const Rrti q = await(a_, dst_lun_, list, "WRITE USING TOKEN");
      require(q.op_status == kOpCompleted && q.count == kPit.blocks,
              q.summary() + "; expected completed, count 64");
      if (pit_ == Pit::any) note("(the target kept the data: a snapshot)");
    } else {
      require(revoked, "WRITE USING TOKEN: " + r.describe() + "; expected " +
                           sense_text(kIllegal, 0x23, 0x06));
      verify_dst(d, kPit.blocks, "untouched");
      if (pit_ == Pit::any) note("(the target revoked the token)");
    }
  });

  check("point in time: a write elsewhere on the source LU leaves a token usable", [&] {
    const Bytes t = make_token({kPitElsewhere});
    write_src(kElsewhereWrite.lba, random_bytes(size_t{kElsewhereWrite.blocks} * bs_));
    const uint64_t d = dst_space(kPitElsewhere.blocks);
    copy(a_, t, {{d, kPitElsewhere.blocks}}, kPitElsewhere.blocks);
    expect_dst_as(d, src_data({kPitElsewhere}));
    verify_dst(d, kPitElsewhere.blocks, "the source's data");
  });

  check("ROD type 00800001h (change vulnerable, RTV): revoked by a write to its ranges (23h/06h)",
        [&] {
          const Bytes t = make_token({kVulnerable}, {.rtv = true, .rod_type = kRodPitVulnerable});
          require(get32(t, 0) == kRodPitVulnerable,
                  fmt("the token's ROD TYPE is %08Xh, expected 00800001h", get32(t, 0)));
          const Bytes fresh = random_bytes(size_t{4} * bs_);
          write_src(kVulnerable.lba + 10, fresh);
          recent_.push_back({"the data written to the change-vulnerable token's range", fresh});
          const uint64_t d = dst_space(kVulnerable.blocks);
          refused(a_, dst_lun_, wut_params(t, {{d, kVulnerable.blocks}}), 0x23, 0x06);
          verify_dst(d, kVulnerable.blocks, "untouched");
        });

  check(
      "ROD type 00010000h (access upon reference, RTV): copies the source as it is at WRITE "
      "USING TOKEN",
      [&] {
        const Bytes t = make_token({kAur}, {.rtv = true, .rod_type = kRodAccessUponReference});
        require(get32(t, 0) == kRodAccessUponReference,
                fmt("the token's ROD TYPE is %08Xh, expected 00010000h", get32(t, 0)));
        write_src(kAur.lba + 8, random_bytes(size_t{8} * bs_));
        const uint64_t d = dst_space(kAur.blocks);
        copy(a_, t, {{d, kAur.blocks}}, kAur.blocks);
        expect_dst_as(d, src_data({kAur}));
        verify_dst(d, kAur.blocks, "the source's data as it is now");
      });

  check("ROD type 0080FFFFh (any point in time, RTV): the token is of a point-in-time type", [&] {
    const Bytes t = make_token({kSmall}, {.rtv = true, .rod_type = kRodPitAny});
    require(get32(t, 0) == kRodPit || get32(t, 0) == kRodPitVulnerable,
            fmt("the token's ROD TYPE is %08Xh, expected 00800000h or 00800001h", get32(t, 0)));
    note(fmt("(the target chose %08Xh)", get32(t, 0)));
  });

  check("a ROD TYPE without RTV is ignored: the default point-in-time token", [&] {
    const Bytes t = make_token({kSmall}, {.rtv = false, .rod_type = 0x12345678});
    require(get32(t, 0) == kRodPit,
            fmt("the token's ROD TYPE is %08Xh, expected 00800000h", get32(t, 0)));
  });

  check("an unsupported ROD type with RTV (00800002h): INVALID FIELD IN PARAMETER LIST, byte 8",
        [&] {
          malformed(true, pt_params({kSmall}, {.rtv = true, .rod_type = 0x00800002}), 0x26, 8);
        });

  // ---------------------------------------------------------- token lifetimes
  check(
      "expired: INACTIVITY TIMEOUT 1 s, 2.5 s idle, then WRITE USING TOKEN: 23h/07h, nothing "
      "written",
      [&] {
        const Bytes t = make_token({kSmall}, {.timeout = 1});
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        const uint64_t d = dst_space(kSmall.blocks);
        refused(a_, dst_lun_, wut_params(t, {{d, kSmall.blocks}}), 0x23, 0x07);
        verify_dst(d, kSmall.blocks, "untouched");
      });

  check("DEL_TKN: the copy is GOOD, a later WRITE USING TOKEN with the token gets 23h/09h", [&] {
    const Bytes t = make_token({kSmall});
    const uint64_t d = dst_space(kSmall.blocks);
    copy(a_, t, {{d, kSmall.blocks}}, kSmall.blocks, {.del_tkn = true});
    expect_dst_as(d, src_data({kSmall}));
    verify_dst(d, kSmall.blocks, "the source's data");
    const uint64_t d2 = dst_space(kSmall.blocks);
    refused(a_, dst_lun_, wut_params(t, {{d2, kSmall.blocks}}), 0x23, 0x09,
            "the second WRITE USING TOKEN");
    verify_dst(d2, kSmall.blocks, "untouched");
  });

  // ---------------------------------------------------------- other targets
  Bytes live;  // a token of SRC, alive, for REPORT ALL ROD TOKENS
  check(
      "a session to another target cannot use SRC's token: 23h/04h, the same as a made-up "
      "token, its LUN untouched",
      [&] {
        live = make_token({kSmall});
        const Bytes before = read16(b_, b_.lun(), 0, kOtherBlocks, "OTHER");
        refused(b_, b_.lun(), wut_params(live, {{0, kOtherBlocks}}), 0x23, 0x04,
                "WRITE USING TOKEN on OTHER with SRC's token");
        Bytes made_up = random_bytes(kTokenSize);
        std::copy(live.begin(), live.begin() + 8, made_up.begin());  // type and length
        refused(b_, b_.lun(), wut_params(made_up, {{0, kOtherBlocks}}), 0x23, 0x04,
                "WRITE USING TOKEN on OTHER with a made-up token");
        require(read16(b_, b_.lun(), 0, kOtherBlocks, "OTHER") == before,
                "OTHER's LUN was written");
      });

  auto entries = [&](const Reply& r, const std::string& who) {
    require(r.good(), "REPORT ALL ROD TOKENS on " + who + ": " + r.describe());
    require(r.data.size() >= 8,
            fmt("REPORT ALL ROD TOKENS on %s: %zu bytes", who.c_str(), r.data.size()));
    const uint32_t available = get32(r.data, 0);
    require(available >= 4 && (available - 4) % 96 == 0,
            fmt("REPORT ALL ROD TOKENS on %s: AVAILABLE DATA %u is not 4 + 96 x N", who.c_str(),
                available));
    require(r.data.size() >= size_t{available} + 4,
            fmt("REPORT ALL ROD TOKENS on %s: %zu bytes returned of %u", who.c_str(), r.data.size(),
                available + 4));
    std::vector<Bytes> list;
    for (size_t at = 8; at + 96 <= size_t{available} + 4; at += 96)
      list.emplace_back(r.data.begin() + at, r.data.begin() + at + 96);
    return list;
  };

  check(
      "REPORT ALL ROD TOKENS on SRC's session: its live token's first 96 bytes, nothing past "
      "byte 95 of any token",
      [&] {
        require(!live.empty(), "no live token (POPULATE TOKEN failed above)");
        const Reply r = report_all_rod_tokens(a_, src_lun_);
        const std::vector<Bytes> list = entries(r, "SRC");
        bool found = false;
        for (const Bytes& e : list) {
          require(get16(e, 6) == 0x01F8,
                  "an entry does not start like a ROD token (bytes 0-7: " + hex(e, 0, 8) + ")");
          if (std::equal(e.begin(), e.end(), live.begin())) found = true;
        }
        require(found, fmt("%zu management tokens, none of them the live token's first 96 bytes",
                           list.size()));
        const Bytes tail(live.begin() + 128, live.begin() + 160);
        require(std::search(r.data.begin(), r.data.end(), tail.begin(), tail.end()) == r.data.end(),
                "the reply holds bytes 128-159 of the live token");
        note(fmt("(%zu management tokens listed)", list.size()));
      });

  check("REPORT ALL ROD TOKENS on another target's session: none of SRC's tokens", [&] {
    require(!live.empty(), "no live token (POPULATE TOKEN failed above)");
    const std::vector<Bytes> list = entries(report_all_rod_tokens(b_, b_.lun()), "OTHER");
    for (const Bytes& e : list) {
      require(!std::equal(e.begin(), e.end(), live.begin()), "it lists SRC's live token");
      require(!std::equal(src_naa_.begin(), src_naa_.end(), e.begin() + 24),
              "it lists a token naming SRC's NAA: " + hex(e, 0, 48));
    }
  });

  // ---------------------------------------------------------- corruption
  for (auto [from, to] : {std::pair<size_t, size_t>{8, 128}, std::pair<size_t, size_t>{128, 512}}) {
    const size_t at = std::uniform_int_distribution<size_t>(from, to - 1)(rng_);
    const uint8_t flip = static_cast<uint8_t>(std::uniform_int_distribution<int>(1, 255)(rng_));
    check(fmt("a corrupted token (byte %zu ^= %02Xh): 23h/04h, nothing written", at, flip), [&] {
      Bytes t = make_token({kSmall});
      t[at] ^= flip;
      const uint64_t d = dst_space(kSmall.blocks);
      refused(a_, dst_lun_, wut_params(t, {{d, kSmall.blocks}}), 0x23, 0x04);
      verify_dst(d, kSmall.blocks, "untouched");
    });
  }

  // ---------------------------------------------------------- malformed
  check("malformed: POPULATE TOKEN with PARAMETER LIST LENGTH 16 (no range): INVALID FIELD IN CDB",
        [&] {
          Bytes p = pt_params({kSmall});
          p.resize(16);
          put16(p, 0, 14);
          put16(p, 14, 0);
          malformed(true, p, 0x24, std::nullopt);
        });
  check(
      "malformed: POPULATE TOKEN with 65 ranges (PARAMETER LIST LENGTH 1056): INVALID FIELD IN CDB",
      [&] {
        std::vector<Range> ranges;
        for (int i = 0; i < 65; ++i) ranges.push_back({uint64_t(100 + 2 * i), 1});
        malformed(true, pt_params(ranges), 0x24, std::nullopt);
      });
  check("malformed: POPULATE TOKEN with DATA LENGTH 10: INVALID FIELD IN PARAMETER LIST, byte 0",
        [&] {
          Bytes p = pt_params({kSmall});
          put16(p, 0, 10);
          malformed(true, p, 0x26, 0);
        });
  check("malformed: POPULATE TOKEN with RANGE DESCRIPTOR LIST LENGTH 0: byte 14", [&] {
    Bytes p = pt_params({kSmall});
    put16(p, 14, 0);
    malformed(true, p, 0x26, 14);
  });
  check(
      "malformed: POPULATE TOKEN with RANGE DESCRIPTOR LIST LENGTH 24 (not a multiple of 16): "
      "byte 14",
      [&] {
        Bytes p = pt_params({kSmall, {kSmall.lba + 100, 8}});
        put16(p, 14, 24);
        malformed(true, p, 0x26, 14);
      });
  check(
      "malformed: POPULATE TOKEN with RANGE DESCRIPTOR LIST LENGTH 32 for one range (past the "
      "list): byte 14",
      [&] {
        Bytes p = pt_params({kSmall});
        put16(p, 14, 32);
        malformed(true, p, 0x26, 14);
      });
  check("malformed: POPULATE TOKEN of a range past the end of the LU: LBA OUT OF RANGE", [&] {
    malformed(true, pt_params({kSmall, {src_blocks_ - 10, 20}}), 0x21, std::nullopt);
  });
  check(
      "malformed: POPULATE TOKEN with INACTIVITY TIMEOUT 601: INVALID FIELD IN PARAMETER LIST, "
      "byte 4",
      [&] { malformed(true, pt_params({kSmall}, {.timeout = 601}), 0x26, 4); });

  Bytes small;  // a good token for the WRITE USING TOKEN cases
  auto wut_token = [&] {
    if (small.empty()) small = make_token({kSmall});
    return small;
  };
  auto fresh_dst = [&](uint32_t blocks) { return Range{dst_space(blocks), blocks}; };

  check(
      "malformed: WRITE USING TOKEN with PARAMETER LIST LENGTH 536 (no range): INVALID FIELD IN "
      "CDB",
      [&] {
        Bytes p = wut_params(wut_token(), {});
        put16(p, 0, 534);
        malformed(false, p, 0x24, std::nullopt);
      });
  check(
      "malformed: WRITE USING TOKEN with 65 ranges (PARAMETER LIST LENGTH 1576): INVALID FIELD "
      "IN CDB, nothing written",
      [&] {
        std::vector<Range> ranges;
        const uint64_t d = dst_space(65);
        for (uint64_t i = 0; i < 65; ++i) ranges.push_back({d + i, 1});
        malformed(false, wut_params(wut_token(), ranges), 0x24, std::nullopt, {{d, 65}});
      });
  check(
      "malformed: WRITE USING TOKEN with DATA LENGTH 100: INVALID FIELD IN PARAMETER LIST, byte 0",
      [&] {
        const Range d = fresh_dst(16);
        Bytes p = wut_params(wut_token(), {d});
        put16(p, 0, 100);
        malformed(false, p, 0x26, 0, {d});
      });
  check("malformed: WRITE USING TOKEN with RANGE DESCRIPTOR LIST LENGTH 0: byte 534", [&] {
    const Range d = fresh_dst(16);
    Bytes p = wut_params(wut_token(), {d});
    put16(p, 534, 0);
    malformed(false, p, 0x26, 534, {d});
  });
  check(
      "malformed: WRITE USING TOKEN with RANGE DESCRIPTOR LIST LENGTH 24 (not a multiple of 16): "
      "byte 534",
      [&] {
        const Range d = fresh_dst(16), e = fresh_dst(16);
        Bytes p = wut_params(wut_token(), {d, e});
        put16(p, 534, 24);
        malformed(false, p, 0x26, 534, {d, e});
      });
  check(
      "malformed: WRITE USING TOKEN with RANGE DESCRIPTOR LIST LENGTH 32 for one range (past the "
      "list): byte 534",
      [&] {
        const Range d = fresh_dst(16);
        Bytes p = wut_params(wut_token(), {d});
        put16(p, 534, 32);
        malformed(false, p, 0x26, 534, {d});
      });
  check("malformed: WRITE USING TOKEN to a range past the end of the LU: LBA OUT OF RANGE", [&] {
    const Range d = fresh_dst(16);
    malformed(false, wut_params(wut_token(), {d, {dst_blocks_ - 10, 20}}), 0x21, std::nullopt, {d});
  });
  check(
      "malformed: WRITE USING TOKEN with OFFSET INTO ROD 64 (= the token's blocks): INVALID FIELD "
      "IN PARAMETER LIST, byte 8",
      [&] {
        const Range d = fresh_dst(16);
        malformed(false, wut_params(wut_token(), {d}, {.offset = kSmall.blocks}), 0x26, 8, {d});
      });
  check("malformed: WRITE USING TOKEN with OFFSET INTO ROD 1000000 (past the token): byte 8", [&] {
    const Range d = fresh_dst(16);
    malformed(false, wut_params(wut_token(), {d}, {.offset = 1000000}), 0x26, 8, {d});
  });

  // ---------------------------------------------------------- IMMED
  check("IMMED POPULATE TOKEN: GOOD, RRTI reports completion within 5 s with the token", [&] {
    const uint32_t list = a_.new_list();
    const Reply r = populate_token(a_, src_lun_, list, pt_params(kMain, {.immed = true}));
    require(r.good(), "POPULATE TOKEN (IMMED): " + r.describe());
    const Rrti q = await(a_, src_lun_, list, "POPULATE TOKEN (IMMED)");
    require(q.sa == kPopulateToken && q.op_status == kOpCompleted && q.count == kMainBlocks,
            q.summary() + "; expected SA 10h, completed, count 512");
    require(q.token.size() == kTokenSize && get32(q.token, 0) == kRodPit,
            "no token of type 00800000h");
    if (token.empty()) token = q.token;
  });
  check("IMMED WRITE USING TOKEN: GOOD, RRTI reports completion within 5 s, the data", [&] {
    need_token();
    const uint64_t d = dst_space(kMainBlocks);
    copy(a_, token, {{d, kMainBlocks}}, kMainBlocks, {.immed = true});
    expect_dst_as(d, src_data(kMain));
    verify_dst(d, kMainBlocks, "the source's data");
  });

  check(
      "VPD 0x8F: Block Device ROD Limits (64 ranges, 600 s, 60 s), Supported Commands (PT, WUT, "
      "RRTI, RART), ROD Token Features, Supported ROD Types",
      [&] { vpd_third_party_copy(); });

  if (not_run_) {
    std::printf(
        "token_copy: the target does not implement POPULATE TOKEN (%s): the other %d checks "
        "were not run\n",
        main_pt.describe().c_str(), not_run_);
  }
  std::printf("token_copy (--pit %s): %d passed, %d failed%s\n", pit_name, passed_, failed_,
              not_run_ ? fmt(", %d not run", not_run_).c_str() : "");
  return failed_ || not_run_ ? 1 : 0;
}

[[noreturn]] void usage() {
  std::fprintf(
      stderr,
      "usage: token_copy [--pit snapshot|revoke|any] [--seed N] SRC_URL DST_URL OTHER_URL\n"
      "  SRC_URL, DST_URL: two LUNs of one target (iscsi://HOST:PORT/IQN/LUN)\n"
      "  OTHER_URL: a LUN of another target on the same server\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Pit pit = Pit::any;
  uint64_t seed = std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32);
  std::vector<std::string> urls;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pit" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v == "snapshot")
        pit = Pit::snapshot;
      else if (v == "revoke")
        pit = Pit::revoke;
      else if (v == "any")
        pit = Pit::any;
      else
        usage();
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 0);
    } else if (a == "-h" || a == "--help") {
      usage();
    } else if (!a.empty() && a[0] == '-') {
      usage();
    } else {
      urls.push_back(a);
    }
  }
  if (urls.size() != 3) usage();
  std::printf("token_copy: seed %" PRIu64 " (--seed to repeat)\n", seed);
  Tester t(pit, seed, urls[0], urls[1], urls[2]);
  return t.run();
}
