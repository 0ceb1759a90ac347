// The login phase through a Connection (RFC 7143 6.3, 11.12-11.13, 13):
// what each key is answered, the Login Response fields, the refusals and
// their status class/detail, and text continued over PDUs (C bit).
#include "iscsi/login.h"

#include <gtest/gtest.h>

#include "iscsi_testing.h"

namespace offcopy::iscsi::testing {
namespace {

// The Login Response to one request, sent on a fresh connection.
class LoginTest : public ::testing::Test {
 protected:
  Pdu first_response(const KeyValues& kv, LoginPdu l = {}) {
    ini_.send(login_request(l, kv));
    return ini_.expect(Opcode::login_response);
  }
  void expect_refused(const Pdu& r, uint8_t cls, uint8_t detail) {
    EXPECT_EQ(r.opcode(), Opcode::login_response);
    EXPECT_EQ(status_class(r), cls);
    EXPECT_EQ(status_detail(r), detail);
    EXPECT_EQ(r.bhs[1] & 0x80, 0) << "a refusal does not transit";
    EXPECT_EQ(tsih_of(r), 0);
    EXPECT_TRUE(ini_.link.close_requested);
    EXPECT_TRUE(ini_.conn().finished());
    EXPECT_FALSE(ini_.conn().logged_in());
  }

  Harness h_;
  Initiator ini_{h_};
};

TEST_F(LoginTest, LibiscsiLikeLoginAnswersEveryKey) {
  LoginPdu l;  // CmdSN 0x500, ExpStatSN 0x1000, ITT 0x10
  ini_.send(login_request(l, security_keys()));
  const Pdu r1 = ini_.expect(Opcode::login_response);
  EXPECT_EQ(r1.bhs[1], 0x81) << "T=1, CSG=0, NSG=1";
  EXPECT_EQ(r1.bhs[2], 0) << "VersionMax";
  EXPECT_EQ(r1.bhs[3], 0) << "VersionActive";
  EXPECT_TRUE(std::equal(std::begin(kIsid), std::end(kIsid), r1.bhs.begin() + 8));
  EXPECT_EQ(tsih_of(r1), 0) << "TSIH only on the final response";
  EXPECT_EQ(r1.itt(), 0x10u);
  EXPECT_EQ(stat_sn(r1), 0x1000u) << "the first StatSN is the initiator's ExpStatSN";
  EXPECT_EQ(exp_cmd_sn(r1), 0x500u);
  EXPECT_EQ(max_cmd_sn(r1), 0x500u + h_.options.queue_depth - 1);
  EXPECT_EQ(status_class(r1), 0);
  EXPECT_EQ(status_detail(r1), 0);
  const auto k1 = keys_of(r1);
  EXPECT_EQ(k1.size(), 3u);
  EXPECT_EQ(k1.count("AuthMethod") ? k1.at("AuthMethod") : "-", "None");
  EXPECT_EQ(k1.count("TargetPortalGroupTag") ? k1.at("TargetPortalGroupTag") : "-", "1");
  EXPECT_EQ(k1.count("TargetAlias") ? k1.at("TargetAlias") : "-", "disk-a");

  l.csg = 1;
  l.nsg = 3;
  l.exp_stat_sn = 0x1001;
  ini_.send(login_request(l, libiscsi_operational_keys()));
  const Pdu r2 = ini_.expect(Opcode::login_response);
  EXPECT_EQ(r2.bhs[1], 0x87) << "T=1, CSG=1, NSG=3";
  EXPECT_EQ(status_class(r2), 0);
  EXPECT_EQ(stat_sn(r2), 0x1001u);
  EXPECT_EQ(exp_cmd_sn(r2), 0x500u) << "login requests are immediate";
  EXPECT_EQ(tsih_of(r2), 0x0101) << "the TSIH the server handed out";
  EXPECT_TRUE(ini_.conn().logged_in());
  EXPECT_FALSE(ini_.conn().finished());

  const std::map<std::string, std::string> want = {
      {"HeaderDigest", "None"},            // the first of the list it supports
      {"DataDigest", "None"},
      {"MaxRecvDataSegmentLength", "262144"},  // the target's own, declared
      {"ImmediateData", "Yes"},            // AND
      {"InitialR2T", "No"},                // OR (the target's No)
      {"FirstBurstLength", "262144"},      // min
      {"MaxBurstLength", "1048576"},       // min with the target's 1 MiB
      {"MaxOutstandingR2T", "1"},          // min
      {"ErrorRecoveryLevel", "0"},         // min
      {"DefaultTime2Wait", "2"},           // max
      {"DefaultTime2Retain", "0"},         // min
      {"IFMarker", "No"},
      {"OFMarker", "No"},
      {"MaxConnections", "1"},
      {"DataPDUInOrder", "Yes"},
      {"DataSequenceInOrder", "Yes"},
  };
  EXPECT_EQ(keys_of(r2), want);
}

TEST_F(LoginTest, NegotiationRulesMinMaxAndOr) {
  ini_.send(login_request(LoginPdu{}, security_keys()));
  ini_.expect(Opcode::login_response);
  LoginPdu l;
  l.csg = 1, l.nsg = 3, l.exp_stat_sn = 0x1001;
  ini_.send(login_request(l, KeyValues{{"HeaderDigest", "CRC32C,None"},
                                       {"DataDigest", "FancyDigest,CRC32C"},
                                       {"ImmediateData", "No"},
                                       {"InitialR2T", "Yes"},
                                       {"FirstBurstLength", "1048576"},
                                       {"MaxBurstLength", "4096"},
                                       {"MaxOutstandingR2T", "64"},
                                       {"ErrorRecoveryLevel", "2"},
                                       {"DefaultTime2Wait", "0"},
                                       {"DefaultTime2Retain", "3600"},
                                       {"IFMarker", "Yes"},
                                       {"MaxConnections", "8"},
                                       {"DataPDUInOrder", "No"},
                                       {"DataSequenceInOrder", "No"}}));
  const Pdu r = ini_.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 0);
  EXPECT_EQ(r.bhs[1], 0x87);
  const std::map<std::string, std::string> want = {
      {"HeaderDigest", "CRC32C"},
      {"DataDigest", "CRC32C"},
      {"ImmediateData", "No"},
      {"InitialR2T", "Yes"},
      {"FirstBurstLength", "262144"},  // the target's
      {"MaxBurstLength", "4096"},
      {"MaxOutstandingR2T", "16"},
      {"ErrorRecoveryLevel", "0"},
      {"DefaultTime2Wait", "2"},
      {"DefaultTime2Retain", "20"},
      {"IFMarker", "No"},
      {"MaxConnections", "1"},
      {"DataPDUInOrder", "Yes"},
      {"DataSequenceInOrder", "Yes"},
      // Not offered: declared anyway on the way to the full feature phase.
      {"MaxRecvDataSegmentLength", "262144"},
  };
  EXPECT_EQ(keys_of(r), want);
}

TEST_F(LoginTest, UnknownKeyIsNotUnderstoodAndBadValueRejected) {
  ini_.send(login_request(LoginPdu{}, security_keys()));
  ini_.expect(Opcode::login_response);
  LoginPdu l;
  l.csg = 1, l.nsg = 3, l.exp_stat_sn = 0x1001;
  ini_.send(login_request(l, KeyValues{{"X-com.example.Frobnicate", "7"},
                                       {"NoSuchKey", "Yes"},
                                       {"MaxBurstLength", "abc"},
                                       {"FirstBurstLength", "100"},
                                       {"MaxOutstandingR2T", "0"},
                                       {"ImmediateData", "Maybe"},
                                       {"HeaderDigest", "MD5"},
                                       {"DefaultTime2Wait", "3601"}}));
  const Pdu r = ini_.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 0) << "a bad value is answered, not fatal";
  const std::map<std::string, std::string> want = {
      {"X-com.example.Frobnicate", "NotUnderstood"},
      {"NoSuchKey", "NotUnderstood"},
      {"MaxBurstLength", "Reject"},
      {"FirstBurstLength", "Reject"},
      {"MaxOutstandingR2T", "Reject"},
      {"ImmediateData", "Reject"},
      {"HeaderDigest", "Reject"},
      {"DefaultTime2Wait", "Reject"},
      {"MaxRecvDataSegmentLength", "262144"},
  };
  EXPECT_EQ(keys_of(r), want);
}

TEST_F(LoginTest, UnknownTargetIsRefusedTargetNotFound) {
  const Pdu r = first_response(security_keys("iqn.2026-12.org.offcopy:nope"));
  expect_refused(r, 2, 0x03);
  EXPECT_EQ(r.itt(), 0x10u);
  EXPECT_EQ(stat_sn(r), 0x1000u);
}

TEST_F(LoginTest, MissingInitiatorNameIsMissingParameter) {
  const Pdu r = first_response(KeyValues{
      {"SessionType", "Normal"}, {"TargetName", kTargetA}, {"AuthMethod", "None"}});
  expect_refused(r, 2, 0x07);
}

TEST_F(LoginTest, MissingTargetNameInNormalSessionIsMissingParameter) {
  const Pdu r = first_response(KeyValues{
      {"InitiatorName", kInitiator}, {"SessionType", "Normal"}, {"AuthMethod", "None"}});
  expect_refused(r, 2, 0x07);
}

TEST_F(LoginTest, NoSessionTypeMeansNormalAndNeedsTargetName) {
  const Pdu r = first_response(KeyValues{{"InitiatorName", kInitiator}, {"AuthMethod", "None"}});
  expect_refused(r, 2, 0x07);
}

TEST_F(LoginTest, UnsupportedVersionIsRefused) {
  LoginPdu l;
  l.version_min = 1;
  const Pdu r = first_response(security_keys(), l);
  expect_refused(r, 2, 0x05);
  EXPECT_EQ(r.itt(), 0x10u);
  EXPECT_EQ(stat_sn(r), 0x1000u) << "the first response's StatSN is the initiator's ExpStatSN";
  EXPECT_EQ(exp_cmd_sn(r), 0x500u);
}

TEST_F(LoginTest, NonzeroTsihIsSessionDoesNotExist) {
  LoginPdu l;
  l.tsih = 0x1234;
  const Pdu r = first_response(security_keys(), l);
  expect_refused(r, 2, 0x0a);
  EXPECT_EQ(stat_sn(r), 0x1000u);
  EXPECT_EQ(exp_cmd_sn(r), 0x500u);
}

TEST_F(LoginTest, NonzeroTsihOfALiveSessionIsTooManyConnections) {
  // MaxConnections is 1: a session's second connection is refused (RFC
  // 7143 11.13.5, 0x0206); a TSIH no session has is 0x020a.
  Initiator first(h_);
  const uint16_t tsih = tsih_of(first.login());
  ASSERT_NE(tsih, 0);
  LoginPdu l;
  l.isid = first.isid;
  l.tsih = tsih;
  expect_refused(first_response(security_keys(), l), 2, 0x06);
  Initiator other(h_);
  l.tsih = static_cast<uint16_t>(tsih + 1);
  other.send(login_request(l, security_keys()));
  const Pdu r = other.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 2);
  EXPECT_EQ(status_detail(r), 0x0a);
  EXPECT_FALSE(first.link.close_requested) << "the session itself goes on";
}

TEST_F(LoginTest, UnknownSessionTypeIsRefused) {
  const Pdu r = first_response(with(security_keys(), {{"SessionType", "Bogus"}}));
  expect_refused(r, 2, 0x09);
}

TEST_F(LoginTest, TransitToReservedStageIsInitiatorError) {
  LoginPdu l;
  l.nsg = 2;  // reserved
  const Pdu r = first_response(security_keys(), l);
  expect_refused(r, 2, 0x00);
}

TEST_F(LoginTest, AfterARefusalFurtherPdusAreIgnored) {
  const Pdu r = first_response(security_keys("iqn.2026-12.org.offcopy:nope"));
  expect_refused(r, 2, 0x03);
  const int sends = ini_.link.sends;
  ini_.send(login_request(LoginPdu{}, security_keys()));
  Pdu nop = ini_.nop_out(0x77, kNoTag, {1, 2, 3, 4});
  ini_.send(nop);
  EXPECT_EQ(ini_.link.sends, sends);
  EXPECT_TRUE(ini_.silent());
  EXPECT_FALSE(ini_.conn().logged_in());
}

TEST_F(LoginTest, TextContinuedOverTwoPdus) {
  // The text splits inside a pair; the first request has C=1 and no T.
  std::vector<uint8_t> text = format_text(security_keys());
  const std::string all(text.begin(), text.end());
  const size_t cut = all.find("Normal") + 3;  // "Nor" | "mal"
  LoginPdu l;
  l.transit = false;
  l.more = true;
  ini_.send(login_request(l, std::vector<uint8_t>(text.begin(), text.begin() + cut)));
  const Pdu r1 = ini_.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r1), 0);
  EXPECT_EQ(r1.bhs[1], 0x00) << "no T, CSG 0: go on";
  EXPECT_TRUE(r1.data.empty()) << "the text is not answered until it is whole";
  EXPECT_EQ(stat_sn(r1), 0x1000u);

  l.transit = true;
  l.more = false;
  l.exp_stat_sn = 0x1001;
  ini_.send(login_request(l, std::vector<uint8_t>(text.begin() + cut, text.end())));
  const Pdu r2 = ini_.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r2), 0) << "detail " << int(status_detail(r2));
  EXPECT_EQ(r2.bhs[1], 0x81);
  EXPECT_EQ(stat_sn(r2), 0x1001u);
  const auto k = keys_of(r2);
  EXPECT_EQ(k.count("AuthMethod") ? k.at("AuthMethod") : "-", "None");
  EXPECT_EQ(k.count("TargetPortalGroupTag") ? k.at("TargetPortalGroupTag") : "-", "1");

  l.csg = 1, l.nsg = 3, l.exp_stat_sn = 0x1002;
  ini_.send(login_request(l, libiscsi_operational_keys()));
  const Pdu r3 = ini_.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r3), 0);
  EXPECT_EQ(stat_sn(r3), 0x1002u);
  EXPECT_NE(tsih_of(r3), 0);
  EXPECT_TRUE(ini_.conn().logged_in());
}

TEST_F(LoginTest, ContinueWithTransitIsInitiatorError) {
  LoginPdu l;
  l.more = true;  // and T=1
  const Pdu r = first_response(security_keys(), l);
  expect_refused(r, 2, 0x00);
}

TEST_F(LoginTest, DiscoverySessionNeedsNoTargetName) {
  const Pdu r = ini_.login_discovery();
  EXPECT_EQ(status_class(r), 0) << "detail " << int(status_detail(r));
  EXPECT_EQ(r.bhs[1], 0x83) << "T=1, CSG=0, NSG=3";
  EXPECT_EQ(tsih_of(r), 0x0101);
  const auto k = keys_of(r);
  EXPECT_EQ(k.count("TargetPortalGroupTag"), 0u) << "only a normal session is given it";
  EXPECT_EQ(k.count("AuthMethod") ? k.at("AuthMethod") : "-", "None");
  EXPECT_EQ(k.count("MaxRecvDataSegmentLength") ? k.at("MaxRecvDataSegmentLength") : "-",
            "262144");
  EXPECT_TRUE(ini_.conn().logged_in());
}

TEST_F(LoginTest, DiscoverySessionRejectsScsiCommands) {
  ini_.login_discovery();
  ini_.send(ini_.command(tur(), 0, 0));
  const Pdu r = ini_.expect(Opcode::reject);
  EXPECT_EQ(r.bhs[2], 0x04);
  EXPECT_FALSE(ini_.conn().finished());
}

TEST_F(LoginTest, AuthMethodWithoutNoneIsRejected) {
  ini_.send(login_request(LoginPdu{}, with(security_keys(), {{"AuthMethod", "CHAP"}})));
  const Pdu r = ini_.expect(Opcode::login_response);
  const auto k = keys_of(r);
  EXPECT_EQ(k.count("AuthMethod") ? k.at("AuthMethod") : "-", "Reject");
}

TEST_F(LoginTest, FinalResponseCarriesTsihAndTheNextCommandGetsTheNextStatSn) {
  const Pdu r = ini_.login();
  EXPECT_EQ(tsih_of(r), 0x0101);
  EXPECT_EQ(stat_sn(r), 0x1001u);
  ini_.send(ini_.command(tur(), 0, 0));
  const Pdu resp = ini_.expect(Opcode::scsi_response);
  EXPECT_EQ(stat_sn(resp), 0x1002u);
  EXPECT_EQ(exp_cmd_sn(resp), 0x501u);
}

TEST_F(LoginTest, LoginAfterFullFeaturePhaseIsRejected) {
  ini_.login();
  ini_.send(login_request(LoginPdu{}, security_keys()));
  const Pdu r = ini_.expect(Opcode::reject);
  EXPECT_EQ(r.bhs[2], 0x04);
  EXPECT_TRUE(ini_.conn().logged_in());
}

TEST_F(LoginTest, ASessionTypeChangedAfterTheFirstRequestIsRefused) {
  // Found by fuzz_iscsi_pdu: a discovery login that said Normal in its
  // operational stage completed as a normal session with no target, and
  // its first SCSI command would have had no LUNs to look in.
  KeyValues first = security_keys();
  for (auto& [k, v] : first) {
    if (k == "SessionType") v = "Discovery";
  }
  ini_.send(login_request(LoginPdu{}, first));
  EXPECT_EQ(status_class(ini_.expect(Opcode::login_response)), 0);
  LoginPdu op;
  op.csg = 1;
  op.nsg = 3;
  op.transit = true;
  ini_.send(login_request(op, KeyValues{{"SessionType", "Normal"}}));
  const Pdu r = ini_.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 2) << "initiator error";
  EXPECT_FALSE(ini_.conn().logged_in());
}

TEST_F(LoginTest, LoginThatNeverEndsTimesOut) {
  ini_.send(login_request(LoginPdu{}, security_keys()));
  ini_.expect(Opcode::login_response);
  ini_.conn().tick(Connection::Clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(ini_.link.close_requested);
  ini_.conn().tick(Connection::Clock::now() + std::chrono::seconds(31));
  EXPECT_TRUE(ini_.link.close_requested);
}

TEST_F(LoginTest, ALoginTrickledAByteAtATimeStillTimesOut) {
  const auto t0 = Connection::Clock::now();
  const std::vector<uint8_t> bytes = serialize(login_request(LoginPdu{}, security_keys()), {});
  // One byte every 2 s: the connection is never silent, the login never done.
  for (size_t i = 0; i < 15 && !ini_.link.close_requested; ++i) {
    ini_.conn().received(&bytes[i], 1);
    ini_.conn().tick(t0 + std::chrono::seconds(2 * i));
  }
  EXPECT_FALSE(ini_.link.close_requested) << "30 s have not passed";
  ini_.conn().tick(t0 + std::chrono::seconds(31));
  EXPECT_TRUE(ini_.link.close_requested);
}

}  // namespace
}  // namespace offcopy::iscsi::testing
