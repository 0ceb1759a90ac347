// PERSISTENT RESERVE IN/OUT, RESERVE/RELEASE and the conflicts they make
// (SPC-4 5.13, 6.15, 6.16; SPC-2 7.21-7.24), through LogicalUnit as an
// initiator sees them: several I_T nexuses, each with its initiator port.
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scsi/reservations.h"
#include "scsi_testing.h"

namespace offcopy::scsi::testing {
namespace {

// PERSISTENT RESERVE OUT service actions and reservation types.
enum : uint8_t { kRegister = 0, kReserve = 1, kRelease = 2, kClear = 3, kPreempt = 4,
                 kRegisterAndIgnore = 6, kRegisterAndMove = 7 };
enum : uint8_t { kWe = 1, kEa = 3, kWeRo = 5, kEaRo = 6, kWeAr = 7, kEaAr = 8 };

// An I_T nexus: its id and the initiator port it is.
struct Nexus {
  uint64_t id;
  std::string port;
};
const Nexus kA{1, "iqn.2026-12.org.example:a,i,0x400001370000"};
const Nexus kB{2, "iqn.2026-12.org.example:b,i,0x400001370000"};
const Nexus kC{3, "iqn.2026-12.org.example:c,i,0x400001370000"};

Result send(LogicalUnit& lu, const Nexus& n, const std::vector<uint8_t>& cdb,
            const std::vector<uint8_t>& data_out = {}) {
  Command c;
  c.cdb = cdb;
  c.data_out = data_out;
  c.nexus = n.id;
  c.initiator_port = n.port;
  return lu.execute(c);
}

std::vector<uint8_t> prout_cdb(uint8_t action, uint8_t type = 0, uint32_t length = 24) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x5F;
  c[1] = action;
  c[2] = type;  // scope 0: the logical unit
  put_be32(c, 5, length);
  return c;
}
std::vector<uint8_t> prout_params(uint64_t key, uint64_t sa_key, uint8_t flags = 0) {
  std::vector<uint8_t> p(24, 0);
  put_be64(p, 0, key);
  put_be64(p, 8, sa_key);
  p[20] = flags;  // SPEC_I_PT 0x08, ALL_TG_PT 0x04, APTPL 0x01
  return p;
}
Result prout(LogicalUnit& lu, const Nexus& n, uint8_t action, uint64_t key, uint64_t sa_key,
             uint8_t type = 0, uint8_t flags = 0) {
  return send(lu, n, prout_cdb(action, type), prout_params(key, sa_key, flags));
}
Result prin(LogicalUnit& lu, const Nexus& n, uint8_t action, uint16_t allocation = 4096) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x5E;
  c[1] = action;
  put_be16(c, 7, allocation);
  return send(lu, n, c);
}

std::vector<uint64_t> keys(LogicalUnit& lu) {
  const Result r = prin(lu, kC, 0);
  EXPECT_EQ(r.status, Status::good);
  std::vector<uint64_t> out;
  for (size_t at = 8; at + 8 <= r.data_in.size(); at += 8) out.push_back(be64(r.data_in, at));
  EXPECT_EQ(be32(r.data_in, 4), r.data_in.size() - 8);
  return out;
}
uint32_t generation(LogicalUnit& lu) {
  const Result r = prin(lu, kC, 0);
  EXPECT_EQ(r.status, Status::good);
  return r.data_in.size() >= 4 ? be32(r.data_in, 0) : 0;
}

const std::vector<uint8_t> kTur = {0x00, 0, 0, 0, 0, 0};
const std::vector<uint8_t> kInquiry = {0x12, 0, 0, 0, 36, 0};
const std::vector<uint8_t> kReadCapacity = {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0};

class ReservationsTest : public ::testing::Test {
 protected:
  FileUnit f_{64};
  LogicalUnit& lu_ = f_.unit();
  const std::vector<uint8_t> block_ = std::vector<uint8_t>(512, 0x5a);

  bool can_read(const Nexus& n) {
    return send(lu_, n, cdb10(0x28, 0, 1)).status != Status::reservation_conflict;
  }
  bool can_write(const Nexus& n) {
    return send(lu_, n, cdb10(0x2A, 0, 1), block_).status != Status::reservation_conflict;
  }
};

TEST_F(ReservationsTest, RegisterAddsKeysAndEachChangeCountsAGeneration) {
  EXPECT_TRUE(keys(lu_).empty());
  EXPECT_EQ(generation(lu_), 0u);
  expect_good(prout(lu_, kA, kRegister, 0, 0x1111));
  expect_good(prout(lu_, kB, kRegisterAndIgnore, 0xdead, 0x2222));  // the key is ignored
  EXPECT_EQ(keys(lu_), (std::vector<uint64_t>{0x1111, 0x2222}));
  EXPECT_EQ(generation(lu_), 2u);
  // REGISTER names the key it holds: another is a conflict.
  EXPECT_EQ(prout(lu_, kA, kRegister, 0x9999, 0x3333).status, Status::reservation_conflict);
  EXPECT_EQ(prout(lu_, kC, kRegister, 0x1111, 0x3333).status, Status::reservation_conflict);
  // A new key, then none (unregistered).
  expect_good(prout(lu_, kA, kRegister, 0x1111, 0x4444));
  expect_good(prout(lu_, kA, kRegister, 0x4444, 0));
  EXPECT_EQ(keys(lu_), (std::vector<uint64_t>{0x2222}));
  EXPECT_EQ(generation(lu_), 4u);
  // Unregistering what is not registered changes nothing.
  expect_good(prout(lu_, kC, kRegister, 0, 0));
  EXPECT_EQ(generation(lu_), 4u);
}

TEST_F(ReservationsTest, ReadKeysIsCutToTheAllocationLength) {
  expect_good(prout(lu_, kA, kRegister, 0, 1));
  expect_good(prout(lu_, kB, kRegister, 0, 2));
  const Result r = prin(lu_, kA, 0, 12);
  expect_good(r);
  EXPECT_EQ(r.data_in.size(), 12u);
  EXPECT_EQ(be32(r.data_in, 4), 16u);  // the length it would have been
}

TEST_F(ReservationsTest, OnlyARegisteredNexusWithItsKeyReserves) {
  EXPECT_EQ(prout(lu_, kA, kReserve, 0, 0, kWe).status, Status::reservation_conflict);
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  EXPECT_EQ(prout(lu_, kA, kReserve, 0xb, 0, kWe).status, Status::reservation_conflict);
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWe));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWe));  // again: nothing changes
  // Another type, or another nexus: conflicts.
  EXPECT_EQ(prout(lu_, kA, kReserve, 0xa, 0, kEa).status, Status::reservation_conflict);
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  EXPECT_EQ(prout(lu_, kB, kReserve, 0xb, 0, kWe).status, Status::reservation_conflict);

  const Result r = prin(lu_, kC, 1);  // READ RESERVATION
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 24u);
  EXPECT_EQ(be32(r.data_in, 4), 16u);
  EXPECT_EQ(be64(r.data_in, 8), 0xau);
  EXPECT_EQ(r.data_in[21], kWe);
  EXPECT_EQ(generation(lu_), 2u) << "RESERVE does not count";
}

TEST_F(ReservationsTest, BadTypeOrScopeIsAnInvalidFieldInTheCdb) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  Result r = prout(lu_, kA, kReserve, 0xa, 0, 2);  // type 2 is obsolete
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 2);
  r = prout(lu_, kA, kReserve, 0xa, 0, 0x10 | kWe);  // scope 1
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 2);
}

TEST_F(ReservationsTest, WriteExclusiveLetsOthersReadButOnlyTheHolderWrite) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWe));
  EXPECT_TRUE(can_read(kA));
  EXPECT_TRUE(can_write(kA));
  EXPECT_TRUE(can_read(kB));
  EXPECT_FALSE(can_write(kB)) << "registered, but not the holder";
  EXPECT_TRUE(can_read(kC));
  EXPECT_FALSE(can_write(kC));
  // What a conflict carries: the status, no sense.
  const Result r = send(lu_, kC, cdb10(0x2A, 0, 1), block_);
  EXPECT_EQ(r.status, Status::reservation_conflict);
  EXPECT_TRUE(r.sense.empty());
  // Commands that pass every persistent reservation.
  for (const auto& cdb : {kTur, kInquiry, kReadCapacity}) expect_good(send(lu_, kC, cdb));
  expect_good(prin(lu_, kC, 0));
}

TEST_F(ReservationsTest, ExclusiveAccessKeepsEvenReadsToTheHolder) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEa));
  EXPECT_TRUE(can_read(kA));
  EXPECT_FALSE(can_read(kB));
  EXPECT_FALSE(can_write(kB));
  EXPECT_FALSE(can_read(kC));
  EXPECT_EQ(send(lu_, kC, {0x1A, 0, 0x3F, 0, 255, 0}).status, Status::reservation_conflict)
      << "MODE SENSE reads the unit";
  expect_good(send(lu_, kC, kTur));
}

TEST_F(ReservationsTest, RegistrantsOnlyTypesLetEveryRegistrantIn) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEaRo));
  EXPECT_TRUE(can_read(kB));
  EXPECT_TRUE(can_write(kB));
  EXPECT_FALSE(can_read(kC));
  EXPECT_FALSE(can_write(kC));
  // Unregistered, B is out like C.
  expect_good(prout(lu_, kB, kRegister, 0xb, 0));
  EXPECT_FALSE(can_read(kB));
}

TEST_F(ReservationsTest, WriteExclusiveRegistrantsOnlyLetsAnyoneRead) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWeRo));
  EXPECT_TRUE(can_read(kC));
  EXPECT_FALSE(can_write(kC));
}

TEST_F(ReservationsTest, TheHolderUnregisteringReleasesARegistrantsOnlyReservation) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(send(lu_, kB, kTur));  // B's nexus is one the unit has seen
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWeRo));
  expect_good(prout(lu_, kA, kRegister, 0xa, 0));
  EXPECT_EQ(prin(lu_, kC, 1).data_in.size(), 8u) << "no reservation left";
  // B, which had access through it, is told.
  expect_sense(send(lu_, kB, kTur), SenseKey::unit_attention, kReservationsReleased);
  expect_good(send(lu_, kB, kTur));
}

TEST_F(ReservationsTest, AnAllRegistrantsReservationLastsWhileAnyoneIsRegistered) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWeAr));
  Result r = prin(lu_, kC, 1);
  ASSERT_EQ(r.data_in.size(), 24u);
  EXPECT_EQ(be64(r.data_in, 8), 0u) << "every registrant holds it: key 0";
  expect_good(prout(lu_, kA, kRegister, 0xa, 0));
  EXPECT_EQ(prin(lu_, kC, 1).data_in.size(), 24u) << "B still holds it";
  EXPECT_FALSE(can_write(kA));
  EXPECT_TRUE(can_write(kB));
  expect_good(prout(lu_, kB, kRelease, 0xb, 0, kWeAr));
  EXPECT_EQ(prin(lu_, kC, 1).data_in.size(), 8u);
}

TEST_F(ReservationsTest, ReleaseOfAnotherTypeIsInvalidAndOfAnothersIsNothing) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEa));
  expect_sense(prout(lu_, kA, kRelease, 0xa, 0, kWe), SenseKey::illegal_request,
               kInvalidReleaseOfPersistentReservation);
  // Not B's to release: GOOD, and it stays.
  expect_good(prout(lu_, kB, kRelease, 0xb, 0, kEa));
  EXPECT_EQ(prin(lu_, kC, 1).data_in.size(), 24u);
  expect_good(prout(lu_, kA, kRelease, 0xa, 0, kEa));
  EXPECT_EQ(prin(lu_, kC, 1).data_in.size(), 8u);
  EXPECT_TRUE(can_write(kC));
}

TEST_F(ReservationsTest, PreemptTakesTheReservationAndTellsThePreempted) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(send(lu_, kA, kTur));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEa));
  const uint32_t before = generation(lu_);
  expect_good(prout(lu_, kB, kPreempt, 0xb, 0xa, kWe));
  EXPECT_EQ(generation(lu_), before + 1);
  EXPECT_EQ(keys(lu_), (std::vector<uint64_t>{0xb}));
  const Result r = prin(lu_, kC, 1);
  ASSERT_EQ(r.data_in.size(), 24u);
  EXPECT_EQ(be64(r.data_in, 8), 0xbu);
  EXPECT_EQ(r.data_in[21], kWe);
  expect_sense(send(lu_, kA, kTur), SenseKey::unit_attention, kRegistrationsPreempted);
  EXPECT_FALSE(can_write(kA));
  EXPECT_TRUE(can_read(kA)) << "Write Exclusive now";
}

TEST(ReservationsDrainTest, PreemptAndAbortAnswersOnlyOnceThePreemptedWritesHaveEnded) {
  FileUnit f(65536);  // 32 MiB: room for a WRITE the I/O threads take a while over
  LogicalUnit& lu_ = f.unit();
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kWe));
  // A's large WRITE runs on the I/O threads when B preempts A.
  std::mutex mu;
  std::vector<std::string> order;
  const std::vector<uint8_t> big(32768 * 512, 0x77);
  const std::vector<uint8_t> write = cdb10(0x2A, 0, 32768);
  const std::vector<uint8_t> cdb = prout_cdb(5, kWe);
  const std::vector<uint8_t> params = prout_params(0xb, 0xa);
  std::promise<void> both;
  int left = 2;
  auto ended = [&](const char* what) {
    std::lock_guard lock(mu);
    order.push_back(what);
    if (--left == 0) both.set_value();
  };
  Command w{write, big, UINT32_MAX, kA.id, kA.port};
  Command p{cdb, params, UINT32_MAX, kB.id, kB.port};
  lu_.submit(w, [&](Result r) { expect_good(r); ended("write"); });
  lu_.submit(p, [&](Result r) { expect_good(r); ended("preempt"); });
  both.get_future().wait();
  EXPECT_EQ(order, (std::vector<std::string>{"write", "preempt"}));
  expect_sense(send(lu_, kA, kTur), SenseKey::unit_attention, kRegistrationsPreempted);
  EXPECT_EQ(send(lu_, kA, cdb10(0x2A, 0, 1), std::vector<uint8_t>(512)).status,
            Status::reservation_conflict);
  EXPECT_EQ(keys(lu_), (std::vector<uint64_t>{0xb}));
}

TEST_F(ReservationsTest, PreemptOfAKeyNobodyHasConflictsAndKeyZeroIsInvalid) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  EXPECT_EQ(prout(lu_, kA, kPreempt, 0xa, 0x77).status, Status::reservation_conflict);
  Result r = prout(lu_, kA, kPreempt, 0xa, 0);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 8, /*in_cdb=*/false);
  // Without a reservation, PREEMPT removes registrations (libiscsi's
  // ProutPreempt.RemoveRegistration).
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(prout(lu_, kB, kPreempt, 0xb, 0xa));
  EXPECT_EQ(keys(lu_), (std::vector<uint64_t>{0xb}));
}

TEST_F(ReservationsTest, APreemptedPortWithNoNexusHereIsToldWhenItComes) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  lu_.forget(kA.id);  // A's session ended; its registration stays
  expect_good(prout(lu_, kB, kPreempt, 0xb, 0xa));
  // A reconnects: a new nexus of the same port.
  const Nexus again{7, kA.port};
  expect_sense(send(lu_, again, kTur), SenseKey::unit_attention, kRegistrationsPreempted);
  expect_good(send(lu_, again, kTur));
}

TEST_F(ReservationsTest, RegistrationsAreBounded) {
  size_t registered = 0;
  Result r;
  for (uint64_t i = 1; i <= 2000; ++i) {
    const Nexus n{100 + i, "iqn.2026-12.org.example:many,i,0x" + std::to_string(i)};
    r = prout(lu_, n, kRegister, 0, i);
    if (r.status != Status::good) break;
    ++registered;
  }
  EXPECT_EQ(registered, 1024u);
  expect_sense(r, SenseKey::illegal_request, kInsufficientRegistrationResources);
}

TEST_F(ReservationsTest, ClearRemovesEverythingAndTellsTheOthers) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kB, kRegister, 0, 0xb));
  expect_good(send(lu_, kB, kTur));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEa));
  const uint32_t before = generation(lu_);
  expect_good(prout(lu_, kA, kClear, 0xa, 0));
  EXPECT_TRUE(keys(lu_).empty());
  EXPECT_EQ(generation(lu_), before + 1);
  EXPECT_EQ(prin(lu_, kC, 1).data_in.size(), 8u);
  expect_sense(send(lu_, kB, kTur), SenseKey::unit_attention, kReservationsPreempted);
  expect_good(send(lu_, kA, kTur));  // the nexus that cleared is not told
}

TEST_F(ReservationsTest, BadParameterListsAndActionsGetTheirSense) {
  Result r = send(lu_, kA, prout_cdb(kRegister, 0, 20), std::vector<uint8_t>(20, 0));
  expect_sense(r, SenseKey::illegal_request, kParameterListLength);
  r = prout(lu_, kA, kRegister, 0, 0xa, 0, 0x08);  // SPEC_I_PT
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 20, false);
  r = prout(lu_, kA, kRegisterAndMove, 0, 0xa);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 1);
  r = prin(lu_, kA, 4);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 1);
  // APTPL on a unit with nowhere to keep it.
  r = prout(lu_, kA, kRegister, 0, 0xa, 0, 0x01);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  EXPECT_TRUE(keys(lu_).empty()) << "nothing registered by a refused command";
}

TEST_F(ReservationsTest, ReportCapabilitiesSaysWhatIsBuilt) {
  const Result r = prin(lu_, kA, 2);
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 8u);
  EXPECT_EQ(be16(r.data_in, 0), 8u);
  EXPECT_EQ(r.data_in[2] & 0x19, 0) << "CRH, SIP_C 0; PTPL_C 0 without a file";
  EXPECT_EQ(r.data_in[3] & 0x80, 0x80) << "TMV";
  EXPECT_EQ(be16(r.data_in, 4), 0xEA01) << "the six types";
}

TEST_F(ReservationsTest, ReadFullStatusNamesEachPortByItsTransportId) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEa));
  const Result r = prin(lu_, kB, 3);
  expect_good(r);
  ASSERT_GE(r.data_in.size(), 8u + 24u + 4u);
  EXPECT_EQ(be64(r.data_in, 8), 0xau);
  EXPECT_EQ(r.data_in[8 + 12] & 0x01, 1) << "R_HOLDER";
  EXPECT_EQ(r.data_in[8 + 13], kEa);
  EXPECT_EQ(be16(r.data_in, 8 + 18), 1u) << "relative target port";
  const uint32_t id_length = be32(r.data_in, 8 + 20);
  ASSERT_EQ(r.data_in.size(), 8u + 24u + id_length);
  EXPECT_EQ(id_length % 4, 0u);
  EXPECT_EQ(r.data_in[32], 0x45) << "format 01b, iSCSI";
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&r.data_in[36])), kA.port);
}

TEST_F(ReservationsTest, ReserveSixHoldsTheUnitForOneNexusUntilReleasedResetOrGone) {
  expect_good(send(lu_, kA, {0x16, 0, 0, 0, 0, 0}));
  expect_good(send(lu_, kA, {0x16, 0, 0, 0, 0, 0}));  // again, by the holder
  EXPECT_EQ(send(lu_, kB, {0x16, 0, 0, 0, 0, 0}).status, Status::reservation_conflict);
  EXPECT_EQ(send(lu_, kB, kTur).status, Status::reservation_conflict);
  EXPECT_EQ(prin(lu_, kB, 0).status, Status::reservation_conflict);
  // PERSISTENT RESERVE conflicts with a RESERVE even from its holder
  // (SPC-4 5.13.3): the two kinds never mix.
  EXPECT_EQ(prin(lu_, kA, 0).status, Status::reservation_conflict);
  EXPECT_EQ(prout(lu_, kA, kRegister, 0, 0xa).status, Status::reservation_conflict);
  expect_good(send(lu_, kB, kInquiry));
  expect_good(send(lu_, kB, {0x17, 0, 0, 0, 0, 0}));  // not B's: nothing
  EXPECT_FALSE(can_write(kB));
  EXPECT_TRUE(can_write(kA));
  expect_good(send(lu_, kA, {0x17, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(can_write(kB));

  // RESERVE(10) the same way; the holder's nexus lost, or a reset, ends it.
  const std::vector<uint8_t> reserve10 = {0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_good(send(lu_, kA, reserve10));
  lu_.forget(kA.id);
  expect_good(send(lu_, kB, reserve10));
  lu_.reset(kC.id);
  expect_sense(send(lu_, kC, kTur), SenseKey::unit_attention, kPowerOnReset);
  expect_good(send(lu_, kC, reserve10));
}

TEST_F(ReservationsTest, ReserveSixConflictsWhileAnyoneIsRegistered) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  EXPECT_EQ(send(lu_, kB, {0x16, 0, 0, 0, 0, 0}).status, Status::reservation_conflict);
  EXPECT_EQ(send(lu_, kA, {0x17, 0, 0, 0, 0, 0}).status, Status::reservation_conflict);
  // Third-party reservations are not built.
  const Result r = send(lu_, kB, {0x56, 0x10, 0, 0, 0, 0, 0, 0, 0, 0});
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
}

TEST_F(ReservationsTest, PersistentReservationsSurviveAResetButTheirUnitAttentionDoesNot) {
  expect_good(prout(lu_, kA, kRegister, 0, 0xa));
  expect_good(prout(lu_, kA, kReserve, 0xa, 0, kEa));
  lu_.reset(kA.id);
  expect_sense(send(lu_, kA, kTur), SenseKey::unit_attention, kPowerOnReset);
  EXPECT_EQ(keys(lu_), (std::vector<uint64_t>{0xa}));
  EXPECT_FALSE(can_read(kB));
}

TEST(ReservationsFileTest, AptplStateSurvivesARestartAndEndsWhenAskedTo) {
  TempDir dir;
  UnitOptions options;
  options.reservations_file = dir.file("lun.pr");
  FileUnit f(64, options);
  expect_good(prout(f.unit(), kA, kRegister, 0, 0xa, 0, 0x01));
  expect_good(prout(f.unit(), kB, kRegister, 0, 0xb, 0, 0x01));
  expect_good(prout(f.unit(), kA, kReserve, 0xa, 0, kWeRo));
  struct stat st;
  ASSERT_EQ(stat(options.reservations_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const uint32_t gen = generation(f.unit());

  f.reopen();  // a restart: a new unit on the same files
  EXPECT_EQ(keys(f.unit()), (std::vector<uint64_t>{0xa, 0xb}));
  EXPECT_EQ(generation(f.unit()), gen);
  const Result r = prin(f.unit(), kC, 1);
  ASSERT_EQ(r.data_in.size(), 24u);
  EXPECT_EQ(be64(r.data_in, 8), 0xau);
  EXPECT_EQ(r.data_in[21], kWeRo);
  EXPECT_EQ(prin(f.unit(), kA, 2).data_in[3] & 0x01, 1) << "PTPL_A";
  EXPECT_EQ(prin(f.unit(), kA, 2).data_in[2] & 0x01, 1) << "PTPL_C";

  // A REGISTER without APTPL ends it: the file goes, and so does the
  // state at the next restart.
  expect_good(prout(f.unit(), kB, kRegister, 0xb, 0xbb));
  EXPECT_NE(stat(options.reservations_file.c_str(), &st), 0);
  f.reopen();
  EXPECT_TRUE(keys(f.unit()).empty());
}

TEST(ReservationsFileTest, AFileThatCannotBeReadIsSaidAndIgnored) {
  TempDir dir;
  const std::string path = dir.file("lun.pr");
  {
    std::ofstream out(path);
    out << "offcopy-target persistent reservations 1\nregistrant zz iqn.x\n";
  }
  Reservations bad(path);
  EXPECT_NE(bad.load_error().find("lun.pr:2"), std::string::npos) << bad.load_error();
  Reservations none(dir.file("missing.pr"));
  EXPECT_EQ(none.load_error(), "");
}

TEST(TargetPortGroupsTest, OneGroupActiveOptimizedWithThePort) {
  LogicalUnit lu(identity_for("tpg"), 512, 100);
  const Result inquiry = run(lu, kInquiry);
  EXPECT_EQ(inquiry.data_in[5] & 0x30, 0x10) << "TPGS: implicit ALUA";
  for (uint8_t format : {0, 1}) {
    std::vector<uint8_t> cdb(12, 0);
    cdb[0] = 0xA3;
    cdb[1] = static_cast<uint8_t>(format << 5 | 0x0A);
    put_be32(cdb, 6, 1024);
    const Result r = run(lu, cdb);
    expect_good(r);
    const size_t at = format == 1 ? 8 : 4;
    ASSERT_EQ(r.data_in.size(), at + 12);
    EXPECT_EQ(be32(r.data_in, 0), r.data_in.size() - 4);
    EXPECT_EQ(r.data_in[at] & 0x0f, 0) << "active/optimized";
    EXPECT_EQ(be16(r.data_in, at + 2), 1u);
    EXPECT_EQ(r.data_in[at + 7], 1) << "one port";
    EXPECT_EQ(be16(r.data_in, at + 10), 1u);
  }
  std::vector<uint8_t> bad(12, 0);
  bad[0] = 0xA3;
  bad[1] = 0x40 | 0x0A;  // format 010b
  put_be32(bad, 6, 1024);
  expect_sense(run(lu, bad), SenseKey::illegal_request, kInvalidFieldInCdb);
}

}  // namespace
}  // namespace offcopy::scsi::testing
