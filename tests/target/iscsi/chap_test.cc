// CHAP and the initiator ACL at login (RFC 7143 12.1.3, RFC 1994): the
// digests against values computed apart from the target's code, the
// binary encodings, the exchange step by step through a Connection, its
// refusals (0x0201 authentication, 0x0202 authorization), SendTargets
// filtered by the ACL, and no secret in the log.
#include "iscsi/chap.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "iscsi/login.h"
#include "iscsi_testing.h"

namespace offcopy::iscsi::testing {
namespace {

using chap::Bytes;

constexpr char kUser[] = "alice";
constexpr char kSecret[] = "correct-horse-battery";  // >= 12 bytes (RFC 7143 12.1.3)
constexpr char kTargetUser[] = "disk-a";
constexpr char kTargetSecret[] = "staple-of-the-target";

// MD5(id || secret || challenge), computed here in one call of OpenSSL's
// EVP_Digest over the concatenation, not through the target's code.
Bytes md5_response(uint8_t id, const std::string& secret, const Bytes& challenge) {
  std::vector<uint8_t> msg{id};
  msg.insert(msg.end(), secret.begin(), secret.end());
  msg.insert(msg.end(), challenge.begin(), challenge.end());
  Bytes out(MD5_DIGEST_LENGTH);
  unsigned len = 0;
  EXPECT_EQ(EVP_Digest(msg.data(), msg.size(), out.data(), &len, EVP_md5(), nullptr), 1);
  return out;
}

TEST(Chap, Md5MatchesAKnownVector) {
  // Python: hashlib.md5(bytes([1]) + b"secret" + bytes(range(16))).hexdigest()
  Bytes challenge;
  for (uint8_t i = 0; i < 16; ++i) challenge.push_back(i);
  const Bytes r = chap::response(chap::kMd5, 1, "secret", challenge);
  EXPECT_EQ(chap::encode_hex(r), "0x740e86463bda3a4d7017d6e0fba0699d");
  EXPECT_EQ(r, md5_response(1, "secret", challenge));
}

TEST(Chap, Sha256MatchesOpenSslOneShot) {
  const Bytes challenge(32, 0xa5);
  std::vector<uint8_t> msg{7};
  msg.insert(msg.end(), kSecret, kSecret + sizeof kSecret - 1);
  msg.insert(msg.end(), challenge.begin(), challenge.end());
  Bytes want(SHA256_DIGEST_LENGTH);
  SHA256(msg.data(), msg.size(), want.data());
  EXPECT_EQ(chap::response(chap::kSha256, 7, kSecret, challenge), want);
  EXPECT_TRUE(chap::supported(chap::kMd5));
  EXPECT_TRUE(chap::supported(chap::kSha1));
  EXPECT_FALSE(chap::supported(56));
}

TEST(Chap, BinaryValuesInHexAndBase64) {
  const Bytes b = {0x00, 0x01, 0xfe, 0xff, 0x10};
  EXPECT_EQ(chap::encode_hex(b), "0x0001feff10");
  EXPECT_EQ(chap::decode("0x0001FEff10"), b);
  EXPECT_EQ(chap::decode("0X0001feff10"), b);
  EXPECT_EQ(chap::decode(chap::encode_base64(b)), b);
  EXPECT_EQ(chap::encode_base64({'f', 'o', 'o', 'b'}), "0bZm9vYg==");
  EXPECT_EQ(chap::decode("0bZm9vYg=="), (Bytes{'f', 'o', 'o', 'b'}));
  EXPECT_EQ(chap::decode("0bZm9vYmE="), (Bytes{'f', 'o', 'o', 'b', 'a'}));
  EXPECT_EQ(chap::decode("0x123"), (Bytes{0x01, 0x23})) << "an odd count: a leading 0";
  EXPECT_FALSE(chap::decode("0x"));
  EXPECT_FALSE(chap::decode("0xzz"));
  EXPECT_FALSE(chap::decode("1234"));
  EXPECT_FALSE(chap::decode("0bZm9vY"));  // not a multiple of 4
  EXPECT_FALSE(chap::decode("0bZm9v!g=="));
}

TEST(Chap, EqualComparesContentsAndLength) {
  EXPECT_TRUE(chap::equal({1, 2, 3}, {1, 2, 3}));
  EXPECT_FALSE(chap::equal({1, 2, 3}, {1, 2, 4}));
  EXPECT_FALSE(chap::equal({1, 2, 3}, {1, 2}));
}

// The exchange through a Connection, target A requiring CHAP.
class ChapLoginTest : public ::testing::Test {
 protected:
  ChapLoginTest() {
    h_.targets[0].auth.user = kUser;
    h_.targets[0].auth.secret = kSecret;
  }

  // One login request in the security stage; its response.
  Pdu step(const KeyValues& kv, bool transit = false) {
    l_.transit = transit;
    l_.exp_stat_sn = ini_.exp_stat_sn;
    ini_.send(login_request(l_, kv));
    return ini_.expect(Opcode::login_response);
  }
  // The offer and CHAP_A=`algorithms`: the target's challenge, as
  // libiscsi's first two requests get it.
  Pdu challenge(const std::string& algorithms = "5") {
    const Pdu r1 = step(with(security_keys(), {{"AuthMethod", "CHAP,None"}}), true);
    EXPECT_EQ(status_class(r1), 0) << "detail " << int(status_detail(r1));
    EXPECT_EQ(r1.bhs[1], 0x00) << "no transit until CHAP is done";
    EXPECT_EQ(keys_of(r1).at("AuthMethod"), "CHAP");
    const Pdu r2 = step({{"CHAP_A", algorithms}});
    if (status_class(r2) == 0) {
      EXPECT_EQ(r2.bhs[1], 0x00);
      const auto k = keys_of(r2);
      id_ = static_cast<uint8_t>(std::stoi(k.at("CHAP_I")));
      c_ = *chap::decode(k.at("CHAP_C"));
    }
    return r2;
  }
  void expect_refused(const Pdu& r, uint8_t detail) {
    EXPECT_EQ(status_class(r), 2);
    EXPECT_EQ(status_detail(r), detail);
    EXPECT_EQ(r.bhs[1] & 0x80, 0);
    EXPECT_TRUE(ini_.conn().finished());
    EXPECT_FALSE(ini_.conn().logged_in());
  }
  // The operational stage to the full feature phase, and a command.
  void finish_login() {
    LoginPdu l = l_;
    l.csg = 1, l.nsg = 3, l.transit = true, l.exp_stat_sn = ini_.exp_stat_sn;
    ini_.send(login_request(l, libiscsi_operational_keys()));
    const Pdu r = ini_.expect(Opcode::login_response);
    EXPECT_EQ(status_class(r), 0);
    EXPECT_EQ(r.bhs[1], 0x87);
    ASSERT_TRUE(ini_.conn().logged_in());
    ini_.cmd_sn = exp_cmd_sn(r);
    ini_.send(ini_.command(tur(), 0, 0));
    EXPECT_EQ(ini_.expect(Opcode::scsi_response).bhs[3], 0) << "GOOD";
  }

  Harness h_;
  Initiator ini_{h_};
  LoginPdu l_;
  uint8_t id_ = 0;
  Bytes c_;
};

TEST_F(ChapLoginTest, OneWayChapLogsIn) {
  ASSERT_EQ(status_class(challenge()), 0);
  EXPECT_GE(c_.size(), 16u) << "RFC 1994: at least as long as the digest";
  const Pdu r = step(
      {{"CHAP_N", kUser}, {"CHAP_R", chap::encode_hex(md5_response(id_, kSecret, c_))}}, true);
  EXPECT_EQ(status_class(r), 0) << "detail " << int(status_detail(r));
  EXPECT_EQ(r.bhs[1], 0x81) << "T=1, CSG=0, NSG=1";
  EXPECT_TRUE(keys_of(r).empty()) << "nothing to say without mutual CHAP";
  finish_login();
}

TEST_F(ChapLoginTest, Base64ResponseIsAccepted) {
  ASSERT_EQ(status_class(challenge()), 0);
  const Pdu r = step(
      {{"CHAP_N", kUser}, {"CHAP_R", chap::encode_base64(md5_response(id_, kSecret, c_))}}, true);
  EXPECT_EQ(status_class(r), 0);
  finish_login();
}

TEST_F(ChapLoginTest, ChallengesDifferPerLogin) {
  ASSERT_EQ(status_class(challenge()), 0);
  const Bytes first = c_;
  Initiator other(h_);
  other.send(login_request(LoginPdu{}, with(security_keys(), {{"AuthMethod", "CHAP"}})));
  other.expect(Opcode::login_response);
  LoginPdu l;
  l.transit = false, l.exp_stat_sn = other.exp_stat_sn;
  other.send(login_request(l, KeyValues{{"CHAP_A", "5"}}));
  EXPECT_NE(*chap::decode(keys_of(other.expect(Opcode::login_response)).at("CHAP_C")), first);
}

TEST_F(ChapLoginTest, WrongSecretIsAuthenticationFailure) {
  ASSERT_EQ(status_class(challenge()), 0);
  expect_refused(step({{"CHAP_N", kUser},
                       {"CHAP_R", chap::encode_hex(md5_response(id_, "wrong-secret!", c_))}},
                      true),
                 0x01);
}

TEST_F(ChapLoginTest, WrongUserIsAuthenticationFailure) {
  ASSERT_EQ(status_class(challenge()), 0);
  expect_refused(
      step({{"CHAP_N", "mallory"}, {"CHAP_R", chap::encode_hex(md5_response(id_, kSecret, c_))}},
           true),
      0x01);
}

TEST_F(ChapLoginTest, MalformedResponseIsAuthenticationFailure) {
  ASSERT_EQ(status_class(challenge()), 0);
  expect_refused(step({{"CHAP_N", kUser}, {"CHAP_R", "0xnothex"}}, true), 0x01);
}

TEST_F(ChapLoginTest, NoneOfferedToAChapTargetIsAuthenticationFailure) {
  expect_refused(step(security_keys(), true), 0x01);  // AuthMethod=None
}

TEST_F(ChapLoginTest, SkippingTheSecurityStageIsAuthenticationFailure) {
  // libiscsi without credentials starts in the operational stage.
  LoginPdu l;
  l.csg = 1, l.nsg = 3;
  KeyValues kv = security_keys();
  kv.pop_back();  // no AuthMethod
  for (const auto& p : libiscsi_operational_keys()) kv.push_back(p);
  ini_.send(login_request(l, kv));
  expect_refused(ini_.expect(Opcode::login_response), 0x01);
}

TEST_F(ChapLoginTest, ManyAlgorithmsTakeTheFirstSupported) {
  // iscsi-test-cu's iSCSI.iSCSICHAP.Simple offers "5,6,7,8".
  ASSERT_EQ(status_class(challenge("5,6,7,8")), 0);
  const Pdu r = step(
      {{"CHAP_N", kUser}, {"CHAP_R", chap::encode_hex(md5_response(id_, kSecret, c_))}}, true);
  EXPECT_EQ(status_class(r), 0);
}

TEST_F(ChapLoginTest, Sha256WhenTheInitiatorPrefersIt) {
  const Pdu r2 = challenge("7,5");
  ASSERT_EQ(status_class(r2), 0);
  EXPECT_EQ(keys_of(r2).at("CHAP_A"), "7");
  const Pdu r = step(
      {{"CHAP_N", kUser},
       {"CHAP_R", chap::encode_hex(chap::response(chap::kSha256, id_, kSecret, c_))}},
      true);
  EXPECT_EQ(status_class(r), 0);
  EXPECT_EQ(r.bhs[1], 0x81);
}

TEST_F(ChapLoginTest, UnsupportedOrEmptyAlgorithmIsAuthenticationFailure) {
  // iSCSI.iSCSICHAP.Invalid: "56" (starting with 5) and "" must fail.
  expect_refused(challenge("56"), 0x01);
  Initiator other(h_);
  other.send(login_request(LoginPdu{}, with(security_keys(), {{"AuthMethod", "CHAP"}})));
  other.expect(Opcode::login_response);
  LoginPdu l;
  l.transit = false, l.exp_stat_sn = other.exp_stat_sn;
  other.send(login_request(l, KeyValues{{"CHAP_A", ""}}));
  const Pdu r = other.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 2);
  EXPECT_EQ(status_detail(r), 1);
}

TEST_F(ChapLoginTest, MutualChapTargetAnswersWithItsOwnSecret) {
  h_.targets[0].auth.mutual_user = kTargetUser;
  h_.targets[0].auth.mutual_secret = kTargetSecret;
  ASSERT_EQ(status_class(challenge()), 0);
  const Bytes mine(32, 0x5a);
  const Pdu r = step({{"CHAP_N", kUser},
                      {"CHAP_R", chap::encode_hex(md5_response(id_, kSecret, c_))},
                      {"CHAP_I", "9"},
                      {"CHAP_C", chap::encode_hex(mine)}},
                     true);
  ASSERT_EQ(status_class(r), 0) << "detail " << int(status_detail(r));
  EXPECT_EQ(r.bhs[1], 0x81);
  const auto k = keys_of(r);
  EXPECT_EQ(k.at("CHAP_N"), kTargetUser);
  EXPECT_EQ(*chap::decode(k.at("CHAP_R")), md5_response(9, kTargetSecret, mine));
  finish_login();
}

TEST_F(ChapLoginTest, MutualChapWithTheTargetsOwnChallengeIsRefused) {
  h_.targets[0].auth.mutual_user = kTargetUser;
  h_.targets[0].auth.mutual_secret = kSecret;  // the worst case: one secret both ways
  ASSERT_EQ(status_class(challenge()), 0);
  // A reflection: the initiator hands the target its own challenge to
  // learn the response it owes.
  expect_refused(step({{"CHAP_N", kUser},
                       {"CHAP_R", chap::encode_hex(md5_response(id_, kSecret, c_))},
                       {"CHAP_I", std::to_string(id_)},
                       {"CHAP_C", chap::encode_base64(c_)}},
                      true),
                 0x01);
}

TEST_F(ChapLoginTest, MutualChapWithoutTargetCredentialsIsRefused) {
  ASSERT_EQ(status_class(challenge()), 0);
  expect_refused(step({{"CHAP_N", kUser},
                       {"CHAP_R", chap::encode_hex(md5_response(id_, kSecret, c_))},
                       {"CHAP_I", "1"},
                       {"CHAP_C", "0x0102030405060708090a0b0c0d0e0f10"}},
                      true),
                 0x01);
}

TEST_F(ChapLoginTest, TargetWithoutCredentialsStillTakesNone) {
  // Target B has no credentials: AuthMethod=CHAP,None gets None.
  const Pdu r = step(with(security_keys(kTargetB), {{"AuthMethod", "CHAP,None"}}), true);
  EXPECT_EQ(status_class(r), 0);
  EXPECT_EQ(r.bhs[1], 0x81);
  EXPECT_EQ(keys_of(r).at("AuthMethod"), "None");
}

TEST_F(ChapLoginTest, NoSecretInTheLog) {
  h_.targets[0].auth.mutual_user = kTargetUser;
  h_.targets[0].auth.mutual_secret = kTargetSecret;
  ::testing::internal::CaptureStderr();
  ASSERT_EQ(status_class(challenge()), 0);
  const Pdu r = step({{"CHAP_N", kUser},
                      {"CHAP_R", chap::encode_hex(md5_response(id_, kTargetSecret, c_))},
                      {"CHAP_I", "3"},
                      {"CHAP_C", "0x00112233445566778899aabbccddeeff"}},
                     true);
  const std::string log = ::testing::internal::GetCapturedStderr();
  expect_refused(r, 0x01);
  EXPECT_NE(log.find("wrong CHAP response"), std::string::npos) << log;
  EXPECT_EQ(log.find(kSecret), std::string::npos) << log;
  EXPECT_EQ(log.find(kTargetSecret), std::string::npos) << log;
  EXPECT_EQ(log.find(chap::encode_hex(c_).substr(2)), std::string::npos) << log;
}

// --- the ACL ----------------------------------------------------------------

TEST(LoginAcl, InitiatorInTheAclLogsIn) {
  Harness h;
  h.targets[0].allow = {"iqn.2026-12.org.example:other", kInitiator};
  Initiator ini(h);
  ini.login();
  EXPECT_TRUE(ini.conn().logged_in());
}

TEST(LoginAcl, AclComparesWithoutCase) {
  Harness h;
  std::string upper = kInitiator;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  h.targets[0].allow = {upper};
  Initiator ini(h);
  ini.login();
  EXPECT_TRUE(ini.conn().logged_in());
}

TEST(LoginAcl, InitiatorNotInTheAclIsAuthorizationFailureBeforeChap) {
  Harness h;
  h.targets[0].allow = {"iqn.2026-12.org.example:other"};
  h.targets[0].auth.user = kUser;
  h.targets[0].auth.secret = kSecret;
  Initiator ini(h);
  ini.send(login_request(LoginPdu{}, with(security_keys(), {{"AuthMethod", "CHAP,None"}})));
  const Pdu r = ini.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 2);
  EXPECT_EQ(status_detail(r), 0x02);
  EXPECT_TRUE(r.data.empty()) << "no AuthMethod=CHAP: nothing said of the target's auth";
  EXPECT_TRUE(ini.conn().finished());
}

TEST(LoginAcl, OtherTargetsAreUnaffected) {
  Harness h;
  h.targets[0].allow = {"iqn.2026-12.org.example:other"};
  Initiator ini(h);
  ini.login(kTargetB);
  EXPECT_TRUE(ini.conn().logged_in());
}

TEST(LoginAcl, DiscoveryListsOnlyTheTargetsThatAdmitTheInitiator) {
  Harness h;
  h.targets[0].allow = {"iqn.2026-12.org.example:other"};
  h.targets.push_back({"iqn.2026-12.org.offcopy:disk-c", "", h.targets[1].luns});
  h.targets.back().allow = {kInitiator};
  Initiator ini(h);
  ASSERT_EQ(status_class(ini.login_discovery()), 0);
  ini.send(ini.text({{"SendTargets", "All"}}));
  const std::string addr = std::string(kLocalAddress) + ",1";
  EXPECT_EQ(parse_text(ini.expect(Opcode::text_response).data),
            (KeyValues{{"TargetName", kTargetB},
                       {"TargetAddress", addr},
                       {"TargetName", "iqn.2026-12.org.offcopy:disk-c"},
                       {"TargetAddress", addr}}));
}

}  // namespace
}  // namespace offcopy::iscsi::testing
