#include "control/status.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "util/human_size.h"

namespace offcopy::control {
namespace {

// The table's columns, in order; numbers are right-aligned so that their
// units line up, the path goes last because it is as long as it is.
enum Column {
  kTarget,
  kLun,
  kSize,
  kBlock,
  kMode,
  kRead,
  kWritten,
  kCopies,
  kCloned,
  kKernelCopied,
  kHostCopied,
  kPath,
  kColumns
};
constexpr std::array<const char*, kColumns> kHeadings = {
    "TARGET",  "LUN",    "SIZE",   "BLOCK",         "MODE",        "READ",
    "WRITTEN", "COPIES", "CLONED", "KERNEL-COPIED", "HOST-COPIED", "PATH"};
constexpr std::array<bool, kColumns> kRightAligned = {false, true, true, true, false, true,
                                                      true,  true, true, true, true,  false};

using Row = std::array<std::string, kColumns>;

// A byte count in a cell: "0" rather than "0 bytes", so that what a unit
// has not done stays quiet in the table.
std::string bytes_cell(uint64_t bytes) { return bytes == 0 ? "0" : human_size(bytes); }

Row lun_row(const std::string& target, const LunStatus& l) {
  const scsi::UnitStats& s = l.stats;
  return {target,
          std::to_string(l.lun),
          human_size(l.size_bytes),
          std::to_string(l.block_size),
          l.read_only ? "ro" : "rw",
          bytes_cell(s.bytes_read),
          bytes_cell(s.bytes_written),
          std::to_string(s.copies),
          bytes_cell(s.bytes_cloned),
          bytes_cell(s.bytes_kernel_copied),
          bytes_cell(s.bytes_host_copied),
          l.path};
}

// The rows laid out in columns two spaces apart, without trailing spaces.
std::string render_table(const std::vector<Row>& rows) {
  std::array<size_t, kColumns> width{};
  for (const Row& r : rows) {
    for (size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  for (const Row& r : rows) {
    std::string line;
    for (size_t c = 0; c < kColumns; ++c) {
      if (c > 0) line += "  ";
      const std::string pad(width[c] - r[c].size(), ' ');
      line += kRightAligned[c] ? pad + r[c] : r[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string human_duration(uint64_t seconds) {
  const uint64_t parts[] = {seconds / 86400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60};
  const char* const units[] = {"d", "h", "m", "s"};
  std::string out;
  for (size_t i = 0; i < 4; ++i) {
    // From the first nonzero unit on; seconds always.
    if (out.empty() && parts[i] == 0 && i < 3) continue;
    if (!out.empty()) out += ' ';
    out += std::to_string(parts[i]) + units[i];
  }
  return out;
}

std::string status_text(const Status& status) {
  const iscsi::ServerStats& s = status.server;
  char head[256];
  std::snprintf(head, sizeof head,
                "offcopy-target %s, pid %" PRId64
                ", up %s\n"
                "connections: %zu open (%zu logging in, %zu paused); %" PRIu64 " refused, %" PRIu64
                " stalled\n\n",
                status.version.c_str(), status.pid, human_duration(status.uptime_seconds).c_str(),
                s.connections, s.logging_in, s.paused, s.refused, s.stalled);
  std::vector<Row> rows;
  Row headings;
  std::copy(kHeadings.begin(), kHeadings.end(), headings.begin());
  rows.push_back(headings);
  for (const TargetStatus& t : status.targets) {
    // The target's name on its first row only: the rows below are its too.
    for (size_t i = 0; i < t.luns.size(); ++i)
      rows.push_back(lun_row(i == 0 ? t.iqn : "", t.luns[i]));
  }
  return head + render_table(rows);
}

std::string status_json(const Status& status) {
  // ordered: the keys in the order written, "version" first.
  using json = nlohmann::ordered_json;
  const iscsi::ServerStats& s = status.server;
  json targets = json::array();
  for (const TargetStatus& t : status.targets) {
    json luns = json::array();
    for (const LunStatus& l : t.luns) {
      luns.push_back({{"lun", l.lun},
                      {"path", l.path},
                      {"size_bytes", l.size_bytes},
                      {"block_size", l.block_size},
                      {"read_only", l.read_only},
                      {"bytes_read", l.stats.bytes_read},
                      {"bytes_written", l.stats.bytes_written},
                      {"copies", l.stats.copies},
                      {"bytes_cloned", l.stats.bytes_cloned},
                      {"bytes_kernel_copied", l.stats.bytes_kernel_copied},
                      {"bytes_host_copied", l.stats.bytes_host_copied}});
    }
    targets.push_back({{"iqn", t.iqn}, {"luns", std::move(luns)}});
  }
  const json doc = {{"version", kStatusJsonVersion},
                    {"offcopy_target", status.version},
                    {"pid", status.pid},
                    {"uptime_seconds", status.uptime_seconds},
                    {"server",
                     {{"connections", s.connections},
                      {"logging_in", s.logging_in},
                      {"paused", s.paused},
                      {"refused", s.refused},
                      {"stalled", s.stalled},
                      {"queued_bytes", s.queued_bytes},
                      {"peak_queued_bytes", s.peak_queued_bytes}}},
                    {"targets", std::move(targets)}};
  // replace: a path is bytes, and dump() would throw on one that is not UTF-8.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace offcopy::control
