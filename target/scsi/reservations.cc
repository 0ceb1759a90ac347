#include "scsi/reservations.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <sstream>

#include "scsi/cdb.h"

namespace offcopy::scsi {
namespace {

// PERSISTENT RESERVE IN service actions (SPC-4 6.15.1).
enum InAction : uint8_t { kReadKeys = 0, kReadReservation = 1, kReportCapabilities = 2,
                          kReadFullStatus = 3 };
// PERSISTENT RESERVE OUT service actions (SPC-4 6.16.2).
enum OutAction : uint8_t { kRegister = 0, kReserve = 1, kRelease = 2, kClear = 3, kPreempt = 4,
                           kPreemptAndAbort = 5, kRegisterAndIgnoreExistingKey = 6 };
// Persistent reservation types (SPC-4 6.16.4).
enum Type : uint8_t { kWriteExclusive = 1, kExclusiveAccess = 3, kWriteExclusiveRegistrantsOnly = 5,
                      kExclusiveAccessRegistrantsOnly = 6, kWriteExclusiveAllRegistrants = 7,
                      kExclusiveAccessAllRegistrants = 8 };

constexpr uint8_t kLogicalUnitScope = 0;
constexpr uint32_t kBasicParameterListLength = 24;
// Registrations kept at most: each initiator port (each ISID) may register
// once, and every change rewrites the APTPL file, so they are bounded
// like every other resource a network client can make the target hold.
constexpr size_t kMaxRegistrants = 1024;
constexpr char kFileHeader[] = "offcopy-target persistent reservations 1";

bool valid_type(uint8_t t) {
  return t == kWriteExclusive || t == kExclusiveAccess || t == kWriteExclusiveRegistrantsOnly ||
         t == kExclusiveAccessRegistrantsOnly || t == kWriteExclusiveAllRegistrants ||
         t == kExclusiveAccessAllRegistrants;
}

// Registrants (not only the holder) have access: the registrants-only and
// all-registrants types.
bool registrants_have_access(uint8_t t) { return t >= kWriteExclusiveRegistrantsOnly; }

bool excludes_reads(uint8_t t) {
  return t == kExclusiveAccess || t == kExclusiveAccessRegistrantsOnly ||
         t == kExclusiveAccessAllRegistrants;
}

Result reservation_conflict() {
  Result r;
  r.status = Status::reservation_conflict;
  return r;
}

Result parameter_list_length_error() {
  return check_condition(SenseKey::illegal_request, kParameterListLength);
}

// The port's TransportID (SPC-4 7.6.4.6): an iSCSI initiator port,
// "name,i,0xISID", NUL-terminated and padded to a multiple of 4 bytes
// (format 01b); a bare name is an initiator device (format 00b).
std::vector<uint8_t> transport_id(std::string_view port) {
  const bool with_isid = port.find(",i,0x") != std::string_view::npos;
  size_t name_bytes = (port.size() + 1 + 3) / 4 * 4;
  name_bytes = std::max<size_t>(name_bytes, 20);
  std::vector<uint8_t> id(4 + name_bytes, 0);
  id[0] = static_cast<uint8_t>((with_isid ? 0x40 : 0x00) | 0x05);  // FORMAT, PROTOCOL iSCSI
  put_be16(id, 2, static_cast<uint16_t>(name_bytes));
  std::copy(port.begin(), port.end(), id.begin() + 4);
  return id;
}

// fsync of the directory holding `path`: a rename or unlink in it is
// durable once this returns 0.
int sync_directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

Reservations::Reservations(std::string file) : file_(std::move(file)) {
  if (!file_.empty()) load();
}

const Reservations::Registrant* Reservations::find(const State& s, std::string_view port) {
  for (const Registrant& r : s.registrants) {
    if (r.port == port) return &r;
  }
  return nullptr;
}

bool Reservations::all_registrants(uint8_t type) {
  return type == kWriteExclusiveAllRegistrants || type == kExclusiveAccessAllRegistrants;
}

bool Reservations::holds(const State& s, std::string_view port) {
  if (!s.type) return false;
  return all_registrants(*s.type) ? find(s, port) != nullptr : s.holder == port;
}

uint64_t Reservations::holder_key(const State& s) {
  // All-registrants reservations report key 0 (SPC-4 6.15.3).
  if (!s.type || all_registrants(*s.type)) return 0;
  const Registrant* h = find(s, s.holder);
  return h ? h->key : 0;
}

bool Reservations::conflicts(const Command& cmd, Access access) const {
  if (access == Access::free) return false;
  std::lock_guard lock(mu_);
  // RESERVE leaves others only the commands that pass everything, and
  // nobody PERSISTENT RESERVE.
  if (spc2_holder_) return access == Access::persistent || *spc2_holder_ != cmd.nexus;
  if (access == Access::persistent) return false;
  if (!state_.type || access == Access::query) return false;
  const std::string_view port = cmd.initiator_port;
  if (holds(state_, port)) return false;
  if (registrants_have_access(*state_.type) && find(state_, port)) return false;
  return access == Access::write || excludes_reads(*state_.type);
}

Result Reservations::persistent_reserve_in(const Command& cmd) const {
  const uint8_t action = cmd.cdb[1] & 0x1f;
  const uint16_t allocation = be16(cmd.cdb, 7);
  std::lock_guard lock(mu_);
  std::vector<uint8_t> b(8, 0);
  put_be32(b, 0, state_.generation);
  switch (action) {
    case kReadKeys:
      for (const Registrant& r : state_.registrants) {
        b.resize(b.size() + 8);
        put_be64(b, b.size() - 8, r.key);
      }
      put_be32(b, 4, static_cast<uint32_t>(b.size() - 8));  // ADDITIONAL LENGTH
      break;
    case kReadReservation:
      if (state_.type) {
        b.resize(24, 0);
        put_be64(b, 8, holder_key(state_));
        b[21] = static_cast<uint8_t>(kLogicalUnitScope << 4 | *state_.type);
      }
      put_be32(b, 4, static_cast<uint32_t>(b.size() - 8));
      break;
    case kReportCapabilities:
      put_be16(b, 0, 8);  // LENGTH
      // ATP_C: with one target port, ALL_TG_PT changes nothing.  PTPL_C
      // where there is a file to persist to.  CRH 0, SIP_C 0.
      b[2] = static_cast<uint8_t>(0x04 | (file_.empty() ? 0 : 0x01));
      // TMV; ALLOW COMMANDS 001b (TEST UNIT READY passes Write Exclusive
      // and Exclusive Access); PTPL_A.
      b[3] = static_cast<uint8_t>(0x80 | 0x10 | (state_.aptpl ? 0x01 : 0));
      b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
      b[5] = 0x01;                              // EX_AC_AR
      b[6] = b[7] = 0;
      break;
    case kReadFullStatus:
      for (const Registrant& r : state_.registrants) {
        const std::vector<uint8_t> id = transport_id(r.port);
        const size_t at = b.size();
        b.resize(at + 24, 0);
        put_be64(b, at, r.key);
        if (holds(state_, r.port)) {
          b[at + 12] = 0x01;  // R_HOLDER
          b[at + 13] = static_cast<uint8_t>(kLogicalUnitScope << 4 | *state_.type);
        }
        put_be16(b, at + 18, kRelativeTargetPort);
        put_be32(b, at + 20, static_cast<uint32_t>(id.size()));
        b.insert(b.end(), id.begin(), id.end());
      }
      put_be32(b, 4, static_cast<uint32_t>(b.size() - 8));
      break;
    default: return invalid_field_in_cdb(1, 4);
  }
  return data_in(std::move(b), allocation, cmd);
}

Result Reservations::persistent_reserve_out(const Command& cmd,
                                            std::vector<PortNotice>& notices) {
  const std::string_view port = cmd.initiator_port;
  const uint8_t action = cmd.cdb[1] & 0x1f;
  const uint8_t scope = cmd.cdb[2] >> 4, type = cmd.cdb[2] & 0x0f;
  // REGISTER AND MOVE (7) is not built; nothing past it exists.
  if (action > kRegisterAndIgnoreExistingKey) return invalid_field_in_cdb(1, 4);
  if (be32(cmd.cdb, 5) != kBasicParameterListLength ||
      cmd.data_out.size() < kBasicParameterListLength) {
    return parameter_list_length_error();
  }
  const std::span<const uint8_t> p = cmd.data_out;
  if (p[20] & 0x08) return invalid_field_in_parameters(20, 3);  // SPEC_I_PT: SIP_C is 0

  std::lock_guard change(change_mu_);
  State s;
  {
    std::lock_guard lock(mu_);
    // A RESERVE taken since the command was judged.
    if (spc2_holder_) return reservation_conflict();
    s = state_;
  }
  std::vector<PortNotice> owed;
  if (action == kRegister || action == kRegisterAndIgnoreExistingKey) {
    Result r = register_key(s, cmd, port, action == kRegisterAndIgnoreExistingKey, owed);
    if (r.status != Status::good) return r;
  } else {
    // Every other action is a registered nexus's, under its own key.
    const Registrant* me = find(s, port);
    if (me == nullptr || me->key != be64(p, 0)) return reservation_conflict();
    switch (action) {
      case kReserve:
        if (scope != kLogicalUnitScope) return invalid_field_in_cdb(2, 7);
        if (!valid_type(type)) return invalid_field_in_cdb(2, 3);
        if (s.type) {
          // Holding it already, as that type, changes nothing; anything
          // else is someone else's (SPC-4 5.13.6).
          return holds(s, port) && *s.type == type ? Result{} : reservation_conflict();
        }
        s.type = type;
        s.holder = all_registrants(type) ? "" : std::string(port);
        break;
      case kRelease: {
        // Nothing held by this nexus: nothing to do (SPC-4 5.13.11.2).
        if (!holds(s, port)) return Result{};
        if (scope != kLogicalUnitScope || type != *s.type) {
          return check_condition(SenseKey::illegal_request, kInvalidReleaseOfPersistentReservation);
        }
        if (registrants_have_access(*s.type)) tell_released(s, port, owed);
        s.type.reset();
        s.holder.clear();
        break;
      }
      case kClear:
        for (const Registrant& r : s.registrants) {
          if (r.port != port) owed.push_back({r.port, kReservationsPreempted});
        }
        s.registrants.clear();
        s.type.reset();
        s.holder.clear();
        ++s.generation;
        break;
      case kPreempt:
      case kPreemptAndAbort: {
        Result r = preempt(s, cmd, port, owed);
        if (r.status != Status::good) return r;
        break;
      }
    }
  }

  // Kept only once it is where APTPL says it must survive a restart.
  if (s.aptpl || state_.aptpl) {
    const int err = s.aptpl ? save(s) : remove_file();
    if (err != 0) return sense_for_errno(err, true);
  }
  {
    std::lock_guard lock(mu_);
    state_ = std::move(s);
  }
  notices.insert(notices.end(), owed.begin(), owed.end());
  return Result{};
}

Result Reservations::register_key(State& s, const Command& cmd, std::string_view port,
                                  bool ignore_key, std::vector<PortNotice>& notices) {
  const std::span<const uint8_t> p = cmd.data_out;
  const uint64_t key = be64(p, 0), new_key = be64(p, 8);
  const bool aptpl = p[20] & 0x01;
  if (aptpl && file_.empty()) return invalid_field_in_parameters(20, 0);  // PTPL_C is 0
  auto me = std::find_if(s.registrants.begin(), s.registrants.end(),
                         [&](const Registrant& r) { return r.port == port; });
  if (me == s.registrants.end()) {
    if (!ignore_key && key != 0) return reservation_conflict();
    if (new_key == 0) return Result{};  // unregistering what is not registered
    if (s.registrants.size() >= kMaxRegistrants) {
      return check_condition(SenseKey::illegal_request, kInsufficientRegistrationResources);
    }
    s.registrants.push_back({std::string(port), new_key});
  } else {
    if (!ignore_key && key != me->key) return reservation_conflict();
    if (new_key == 0) {
      unregister(s, port, notices);
    } else {
      me->key = new_key;
    }
  }
  s.aptpl = aptpl;
  ++s.generation;
  return Result{};
}

void Reservations::unregister(State& s, std::string_view port, std::vector<PortNotice>& notices) {
  std::erase_if(s.registrants, [&](const Registrant& r) { return r.port == port; });
  if (!s.type) return;
  if (all_registrants(*s.type)) {
    // Held while anyone is registered (SPC-4 5.13.11.2.3).
    if (s.registrants.empty()) s.type.reset();
    return;
  }
  if (s.holder != port) return;
  // The holder's reservation goes with its registration; the
  // registrants-only types tell the registrants who had access through it.
  if (registrants_have_access(*s.type)) tell_released(s, port, notices);
  s.type.reset();
  s.holder.clear();
}

void Reservations::tell_released(const State& s, std::string_view port,
                                 std::vector<PortNotice>& notices) {
  for (const Registrant& r : s.registrants) {
    if (r.port != port) notices.push_back({r.port, kReservationsReleased});
  }
}

// PREEMPT (SPC-4 5.13.11.4): removes the registrations of another key
// and, when that key holds the reservation, takes it over.
Result Reservations::preempt(State& s, const Command& cmd, std::string_view port,
                             std::vector<PortNotice>& notices) {
  const uint64_t victim = be64(cmd.data_out, 8);
  const uint8_t scope = cmd.cdb[2] >> 4, type = cmd.cdb[2] & 0x0f;
  // The registrations of `key`, but for the preempting nexus's own.
  auto remove_key = [&](std::optional<uint64_t> key) {
    size_t removed = 0;
    std::erase_if(s.registrants, [&](const Registrant& r) {
      if (r.port == port || (key && r.key != *key)) return false;
      notices.push_back({r.port, kRegistrationsPreempted});
      ++removed;
      return true;
    });
    return removed;
  };
  auto take_reservation = [&] {
    const uint8_t before = *s.type;
    s.type = type;
    s.holder = all_registrants(type) ? "" : std::string(port);
    // The others still registered lost the reservation they knew.
    if (before != type) tell_released(s, port, notices);
  };

  if (s.type) {
    if (scope != kLogicalUnitScope) return invalid_field_in_cdb(2, 7);
    if (!valid_type(type)) return invalid_field_in_cdb(2, 3);
  }
  if (s.type && all_registrants(*s.type) && victim == 0) {
    remove_key(std::nullopt);  // everyone else
    take_reservation();
  } else if (victim == 0) {
    return invalid_field_in_parameters(8);
  } else if (s.type && !all_registrants(*s.type) && victim == holder_key(s)) {
    remove_key(victim);
    take_reservation();
  } else if (remove_key(victim) == 0) {
    return reservation_conflict();
  }
  ++s.generation;
  return Result{};
}

Result Reservations::reserve(const Command& cmd) {
  const bool ten = cmd.cdb[0] == op::kReserve10;
  if (cmd.cdb[1] & 0x10) return invalid_field_in_cdb(1, 4);        // 3RDPTY: not supported
  if (ten && (cmd.cdb[1] & 0x02)) return invalid_field_in_cdb(1, 1);  // LONGID
  if (!ten && (cmd.cdb[1] & 0x01)) return invalid_field_in_cdb(1, 0);  // obsolete extents
  // After any PERSISTENT RESERVE OUT running now: it may be registering.
  std::lock_guard change(change_mu_);
  std::lock_guard lock(mu_);
  // While anyone is registered, RESERVE and RELEASE conflict (CRH 0,
  // SPC-4 5.13.3).
  if (!state_.registrants.empty()) return reservation_conflict();
  if (spc2_holder_ && *spc2_holder_ != cmd.nexus) return reservation_conflict();
  spc2_holder_ = cmd.nexus;
  return Result{};
}

Result Reservations::release(const Command& cmd) {
  std::lock_guard change(change_mu_);
  std::lock_guard lock(mu_);
  if (!state_.registrants.empty()) return reservation_conflict();
  // Another nexus's reservation, or none: nothing to release, GOOD.
  if (spc2_holder_ == cmd.nexus) spc2_holder_.reset();
  return Result{};
}

void Reservations::nexus_lost(uint64_t nexus) {
  std::lock_guard lock(mu_);
  if (spc2_holder_ == nexus) spc2_holder_.reset();
}

void Reservations::reset() {
  std::lock_guard lock(mu_);
  spc2_holder_.reset();
}

int Reservations::save(const State& s) const {
  std::ostringstream out;
  out << kFileHeader << "\ngeneration " << s.generation << '\n';
  for (const Registrant& r : s.registrants) {
    out << "registrant " << std::hex << r.key << std::dec << ' ' << r.port << '\n';
  }
  if (s.type) out << "reservation " << unsigned(*s.type) << ' ' << (s.holder.empty() ? "-" : s.holder) << '\n';
  const std::string text = out.str();

  // Written beside it and renamed over it, so a crash leaves the old
  // state or the new, never half of one.
  const std::string tmp = file_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  int err = 0;
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    err = errno != 0 ? errno : EIO;
  } else if (::fdatasync(fd) != 0) {
    err = errno;
  }
  ::close(fd);
  if (err == 0 && ::rename(tmp.c_str(), file_.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return err;
  }
  return sync_directory(file_);
}

int Reservations::remove_file() const {
  if (::unlink(file_.c_str()) != 0) return errno == ENOENT ? 0 : errno;
  return sync_directory(file_);  // else a crash could bring it back
}

void Reservations::load() {
  const int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) load_error_ = file_ + ": " + std::strerror(errno);
    return;
  }
  std::string text;
  char buf[4096];
  ssize_t got;
  while ((got = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(got));
  const int read_errno = got < 0 ? errno : 0;
  ::close(fd);
  if (read_errno != 0) {
    load_error_ = file_ + ": " + std::strerror(read_errno);
    return;
  }
  std::istringstream in(text);
  State s;
  s.aptpl = true;
  std::string line;
  int number = 0;
  auto fail = [&](const char* what) {
    load_error_ = file_ + ":" + std::to_string(number) + ": " + what;
  };
  while (std::getline(in, line)) {
    ++number;
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (number == 1) {
      if (line != kFileHeader) return fail("not a reservations file of this version");
    } else if (word == "generation") {
      if (!(words >> s.generation)) return fail("bad generation");
    } else if (word == "registrant") {
      Registrant r;
      if (!(words >> std::hex >> r.key >> r.port) || r.key == 0) return fail("bad registrant");
      s.registrants.push_back(std::move(r));
    } else if (word == "reservation") {
      unsigned type = 0;
      std::string holder;
      if (!(words >> type >> holder) || !valid_type(static_cast<uint8_t>(type))) {
        return fail("bad reservation");
      }
      s.type = static_cast<uint8_t>(type);
      if (holder != "-") s.holder = holder;
      if (!all_registrants(*s.type) && find(s, s.holder) == nullptr) {
        return fail("holder not registered");
      }
    } else if (!word.empty()) {
      return fail("unknown line");
    }
  }
  if (number == 0) return fail("empty");
  state_ = std::move(s);
}

}  // namespace offcopy::scsi
