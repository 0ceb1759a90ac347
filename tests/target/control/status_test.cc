// What `offcopy-target status` prints (target/control/status.h): the
// table's layout and the JSON's fields, from a snapshot made by hand.
#include "control/status.h"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace offcopy::control {
namespace {

constexpr const char* kIqnA = "iqn.2026-12.org.offcopy:a";
constexpr const char* kIqnB = "iqn.2026-12.org.offcopy:bee";

// Two targets: A with LUNs 0 (written and copied into) and 1 (idle), B
// with a read-only LUN 7.
Status sample() {
  Status s;
  s.version = "1.2.3";
  s.pid = 4242;
  s.uptime_seconds = 3725;  // 1h 2m 5s
  s.server.connections = 3;
  s.server.logging_in = 1;
  s.server.paused = 0;
  s.server.refused = 5;
  s.server.stalled = 2;
  LunStatus busy{0, "/srv/a0.img", 64ull << 20, 512, false, {}};
  busy.stats.bytes_read = 1536 * 1024;  // 1.5 MiB
  busy.stats.bytes_written = 4096;
  busy.stats.copies = 2;
  busy.stats.bytes_cloned = 1ull << 30;
  busy.stats.bytes_kernel_copied = 1ull << 20;
  busy.stats.bytes_host_copied = 512;
  LunStatus idle{1, "/srv/a1.img", 1ull << 30, 4096, false, {}};
  LunStatus golden{7, "/srv/golden.img", 8ull << 20, 512, true, {}};
  s.targets = {{kIqnA, {busy, idle}}, {kIqnB, {golden}}};
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(HumanDuration, LeavesOutLeadingZeroUnits) {
  EXPECT_EQ(human_duration(0), "0s");
  EXPECT_EQ(human_duration(59), "59s");
  EXPECT_EQ(human_duration(60), "1m 0s");
  EXPECT_EQ(human_duration(3725), "1h 2m 5s");
  EXPECT_EQ(human_duration(86400), "1d 0h 0m 0s");
  EXPECT_EQ(human_duration(2 * 86400 + 3 * 3600 + 4 * 60 + 5), "2d 3h 4m 5s");
}

TEST(StatusText, HeaderSaysVersionPidUptimeAndConnections) {
  const std::vector<std::string> lines = lines_of(status_text(sample()));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "offcopy-target 1.2.3, pid 4242, up 1h 2m 5s");
  EXPECT_EQ(lines[1], "connections: 3 open (1 logging in, 0 paused); 5 refused, 2 stalled");
  EXPECT_EQ(lines[2], "");
}

TEST(StatusText, OneAlignedTableWithARowPerLun) {
  const std::vector<std::string> lines = lines_of(status_text(sample()));
  ASSERT_EQ(lines.size(), 3u + 1 + 3);  // header, headings, three LUNs
  const std::string& headings = lines[3];
  EXPECT_EQ(headings.rfind("TARGET", 0), 0u);
  const size_t path_column = headings.find("PATH");
  ASSERT_NE(path_column, std::string::npos);
  const char* const paths[] = {"/srv/a0.img", "/srv/a1.img", "/srv/golden.img"};
  for (int i = 0; i < 3; ++i) {
    const std::string& row = lines[4 + i];
    EXPECT_EQ(row.find(paths[i]), path_column) << row;  // every path starts under PATH
    EXPECT_EQ(row.back(), paths[i][std::string(paths[i]).size() - 1]) << "no trailing spaces";
  }
  // The target's name on its first row only.
  EXPECT_EQ(lines[4].rfind(kIqnA, 0), 0u);
  EXPECT_EQ(lines[5].find(kIqnA), std::string::npos);
  EXPECT_EQ(lines[5][0], ' ');
  EXPECT_EQ(lines[6].rfind(kIqnB, 0), 0u);
}

TEST(StatusText, SizesAreHumanAndZerosQuiet) {
  const std::vector<std::string> lines = lines_of(status_text(sample()));
  const std::string& busy = lines[4];
  for (const char* cell : {"64 MiB", "1.5 MiB", "4 KiB", "1 GiB", "1 MiB", "512 bytes", " rw "}) {
    EXPECT_NE(busy.find(cell), std::string::npos) << "'" << cell << "' in: " << busy;
  }
  // The idle LUN: 1 GiB of 4096-byte blocks, nothing done, each count "0".
  const std::string& idle = lines[5];
  EXPECT_NE(idle.find("1 GiB   4096"), std::string::npos) << idle;
  EXPECT_EQ(idle.find("bytes"), std::string::npos) << idle;
  EXPECT_NE(lines[6].find(" ro "), std::string::npos) << lines[6];
}

TEST(StatusText, NumbersAreRightAlignedUnderTheirHeadings) {
  const std::vector<std::string> lines = lines_of(status_text(sample()));
  const std::string& headings = lines[3];
  // The end of "COPIES" is the end of each row's copy count.
  const size_t copies_end = headings.find("COPIES") + 6;
  EXPECT_EQ(lines[4][copies_end - 1], '2') << lines[4];
  EXPECT_EQ(lines[5][copies_end - 1], '0') << lines[5];
  EXPECT_EQ(lines[4][copies_end], ' ');
}

TEST(StatusText, NoTargetsIsJustTheHeadings) {
  Status s = sample();
  s.targets.clear();
  const std::vector<std::string> lines = lines_of(status_text(s));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3].rfind("TARGET", 0), 0u);
}

TEST(StatusJson, VersionedWithExactIntegers) {
  Status s = sample();
  s.targets[0].luns[0].stats.bytes_written = UINT64_MAX;  // no double would hold it
  const std::string text = status_json(s);
  ASSERT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find("\"version\""), text.find('"')) << "version comes first";
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["version"], kStatusJsonVersion);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["offcopy_target"], "1.2.3");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["uptime_seconds"], 3725);
  EXPECT_EQ(j["server"]["connections"], 3);
  EXPECT_EQ(j["server"]["logging_in"], 1);
  EXPECT_EQ(j["server"]["refused"], 5);
  EXPECT_EQ(j["server"]["stalled"], 2);
  ASSERT_EQ(j["targets"].size(), 2u);
  EXPECT_EQ(j["targets"][0]["iqn"], kIqnA);
  EXPECT_EQ(j["targets"][1]["iqn"], kIqnB);
  const nlohmann::json& busy = j["targets"][0]["luns"][0];
  EXPECT_EQ(busy["lun"], 0);
  EXPECT_EQ(busy["path"], "/srv/a0.img");
  EXPECT_EQ(busy["size_bytes"], 64ull << 20);
  EXPECT_EQ(busy["block_size"], 512);
  EXPECT_EQ(busy["read_only"], false);
  EXPECT_EQ(busy["bytes_read"], 1536 * 1024);
  EXPECT_EQ(busy["bytes_written"].get<uint64_t>(), UINT64_MAX);
  EXPECT_NE(text.find("18446744073709551615"), std::string::npos);
  EXPECT_EQ(busy["copies"], 2);
  EXPECT_EQ(busy["bytes_cloned"], 1ull << 30);
  EXPECT_EQ(busy["bytes_kernel_copied"], 1ull << 20);
  EXPECT_EQ(busy["bytes_host_copied"], 512);
  EXPECT_EQ(j["targets"][0]["luns"][1]["bytes_written"], 0);
  EXPECT_EQ(j["targets"][1]["luns"][0]["lun"], 7);
  EXPECT_EQ(j["targets"][1]["luns"][0]["read_only"], true);
}

TEST(StatusJson, APathThatIsNotUtf8StillGivesJson) {
  Status s = sample();
  s.targets[0].luns[0].path = "/srv/\xff\xfe.img";
  const nlohmann::json j = nlohmann::json::parse(status_json(s));
  EXPECT_EQ(j["targets"][0]["luns"][0]["path"], "/srv/\xef\xbf\xbd\xef\xbf\xbd.img");  // U+FFFD
}

}  // namespace
}  // namespace offcopy::control
