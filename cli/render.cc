#include "render.h"

#include <cstring>

#include "messages.h"

#include <nlohmann/json.hpp>

namespace offcopy::cli {
namespace {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::used: return "used";
    case Outcome::skipped: return "skipped";
    default: return "failed";
  }
}

const char* status_name(FileStatus s) {
  switch (s) {
    case FileStatus::copied: return "copied";
    case FileStatus::skipped: return "skipped";
    case FileStatus::cancelled: return "cancelled";
    default: return "failed";
  }
}

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::offload_unsupported: return "offload_unsupported";
    case ErrorKind::source_changed: return "source_changed";
    case ErrorKind::system: break;
  }
  return "system";
}

nlohmann::json error_json(const Error& e) {
  return {{"kind", kind_name(e.kind)},
          {"errno", e.code},
          {"error", strerrorname_np(e.code) ? strerrorname_np(e.code) : ""},
          {"op", e.op},
          {"path", e.path},
          {"offset", e.offset},
          {"bytes_done", e.bytes_done},
          {"offload_unsupported", e.offload_unsupported()},
          {"message", e.message()}};
}

nlohmann::json bytes_json(const Report& r) {
  nlohmann::json j;
  for (int i = 0; i < kMechanismCount; ++i) {
    j[mechanism_name(static_cast<Mechanism>(i))] = r.bytes_by[i];
  }
  return j;
}

nlohmann::json file_json(const FileResult& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const Step& s : r.report.steps) {
    steps.push_back({{"mechanism", mechanism_name(s.mech)},
                     {"outcome", outcome_name(s.outcome)},
                     {"bytes", s.bytes},
                     {"errno", s.err},
                     {"reason", s.why}});
  }
  nlohmann::json j = {{"source", r.src},
                      {"destination", r.dst},
                      {"status", status_name(r.status)},
                      {"bytes", r.report.total_bytes()},
                      {"bytes_by", bytes_json(r.report)},
                      {"hole_bytes", r.report.hole_bytes},
                      {"verified_bytes", r.report.verified_bytes},
                      {"verify_skipped_bytes", r.report.verify_skipped_bytes},
                      {"retries", r.report.retries},
                      {"steps", steps},
                      {"seconds", r.seconds}};
  if (r.error) j["error"] = error_json(*r.error);
  return j;
}

// nlohmann::json keeps an object's keys sorted, so the order they are set
// in here does not show in the document.
nlohmann::json totals_json(const Totals& t) {
  nlohmann::json j = {{"bytes", t.bytes},
                      {"bytes_by", bytes_json(t.data)},
                      {"hole_bytes", t.data.hole_bytes},
                      {"verified_bytes", t.data.verified_bytes},
                      {"verify_skipped_bytes", t.data.verify_skipped_bytes},
                      {"retries", t.data.retries}};
  if (!t.tree) {
    // Plain copies: "files" counts every pair, whatever became of it.
    j["files"] = t.copied + t.skipped + t.failed + t.cancelled;
    j["failed"] = t.failed;
    return j;
  }
  j["files"] = t.copied;
  j["directories"] = t.tree->directories;
  j["symlinks"] = t.tree->symlinks;
  j["hardlinks"] = t.tree->hardlinks;
  j["specials"] = t.tree->specials;
  j["snapshots"] = t.tree->snapshots;
  j["skipped"] = t.skipped;
  j["errors"] = t.failed;
  j["warnings"] = t.tree->warnings;
  j["cancelled"] = t.cancelled;
  j["copy_threads"] = t.tree->copy_threads;
  return j;
}

// File names need not be UTF-8; such bytes become U+FFFD rather than
// making the dump throw.
void print_doc(std::FILE* out, const nlohmann::json& doc) {
  std::fprintf(out, "%s\n",
               doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

std::string human_bytes(int64_t n) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  return buf;
}

void print_verbose(std::FILE* out, const FileResult& r) {
  std::fprintf(out, "'%s' -> '%s'\n", r.src.c_str(), r.dst.c_str());
}

void print_debug(std::FILE* out, const FileResult& r) {
  const Report& rep = r.report;
  std::fprintf(out, "'%s' -> '%s': %s, %lld bytes moved, %lld bytes of holes%s\n",
               r.src.c_str(), r.dst.c_str(), status_name(r.status),
               static_cast<long long>(rep.total_bytes()),
               static_cast<long long>(rep.hole_bytes), verify_summary(rep).c_str());
  for (const Step& s : rep.steps) {
    std::fprintf(out, "  %-12s %-8s %14lld bytes  %s\n", mechanism_name(s.mech),
                 outcome_name(s.outcome), static_cast<long long>(s.bytes),
                 s.why.c_str());
  }
}

std::string verify_summary(const Report& r) {
  std::string s;
  if (r.verified_bytes > 0 || r.verify_skipped_bytes > 0) {
    s += ", verified " + human_bytes(r.verified_bytes + r.verify_skipped_bytes) + " (" +
         human_bytes(r.verify_skipped_bytes) + " proven shared or holes)";
  }
  if (r.retries > 0) s += ", " + std::to_string(r.retries) + " retried (source changed)";
  return s;
}

void print_error(const FileResult& r, bool debug) {
  if (!r.error || r.status == FileStatus::cancelled) return;
  Error e = *r.error;
  if (e.path.empty()) e.path = e.role == Role::source ? r.src : r.dst;
  print_failure(e, debug);
}

void print_warning(const std::string& dst, const Warning& w) {
  std::fprintf(stderr, "%s: warning: cannot preserve metadata of '%s': %s%s%s: %s (%s)\n",
               program_name(), dst.c_str(), w.op.c_str(), w.detail.empty() ? "" : " ", w.detail.c_str(),
               strerror(w.code), strerrorname_np(w.code) ? strerrorname_np(w.code) : "?");
}

std::string moved_summary(const Report& r) {
  return "cloned " + human_bytes(r.bytes(Mechanism::clone)) + ", kernel-copied " +
         human_bytes(r.bytes(Mechanism::kernel_copy)) + ", spliced " +
         human_bytes(r.bytes(Mechanism::splice)) + ", io_uring " +
         human_bytes(r.bytes(Mechanism::uring)) + ", read/write " +
         human_bytes(r.bytes(Mechanism::read_write)) + ", holes " +
         human_bytes(r.hole_bytes) + verify_summary(r);
}

void print_stopped(const std::string& signal, int64_t copied, int64_t stopped) {
  std::fprintf(stderr,
               "%s: stopped by %s: %lld files copied, %lld stopped or not started "
               "(nothing of them left behind)\n",
               program_name(), signal.c_str(), static_cast<long long>(copied), static_cast<long long>(stopped));
}

Totals totals(const std::vector<FileResult>& all) {
  Totals t;
  for (const FileResult& r : all) {
    t.copied += r.status == FileStatus::copied;
    t.skipped += r.status == FileStatus::skipped;
    t.failed += r.status == FileStatus::failed;
    t.cancelled += r.status == FileStatus::cancelled;
    t.data.merge(r.report);
  }
  t.bytes = t.data.total_bytes();
  return t;
}

Totals totals(const TreeReport& r) {
  Totals t{.copied = r.files,
           .skipped = r.skipped,
           .failed = r.errors,
           .cancelled = r.cancelled,
           .bytes = r.bytes,
           .data = r.data};
  t.tree = Totals::Tree{.directories = r.directories,
                        .symlinks = r.symlinks,
                        .hardlinks = r.hardlinks,
                        .specials = r.specials,
                        .snapshots = r.snapshots,
                        .warnings = r.warnings,
                        .copy_threads = r.copy_threads};
  return t;
}

void print_stats(std::FILE* out, const Totals& t, double seconds) {
  using ll = long long;
  std::string cancelled;
  if (t.cancelled > 0) cancelled = ", " + std::to_string(t.cancelled) + " cancelled";
  std::string threads;
  if (t.tree) {
    // A tree copy makes entries of many kinds: they get a line of their own.
    const Totals::Tree& k = *t.tree;
    std::fprintf(out,
                 "%s: %lld files, %lld directories, %lld symlinks, %lld hard links, "
                 "%lld special, %lld snapshots; %lld skipped, %lld errors, %lld warnings%s\n%s: ",
                 program_name(), ll{t.copied}, ll{k.directories}, ll{k.symlinks}, ll{k.hardlinks},
                 ll{k.specials}, ll{k.snapshots}, ll{t.skipped}, ll{t.failed}, ll{k.warnings},
                 cancelled.c_str(), program_name());
    threads = " by " + std::to_string(k.copy_threads) + " copying threads";
  } else {
    std::fprintf(out, "%s: %lld copied, %lld skipped, %lld failed%s; ", program_name(),
                 ll{t.copied}, ll{t.skipped}, ll{t.failed}, cancelled.c_str());
  }
  const int64_t rate = seconds > 0 ? static_cast<int64_t>(t.bytes / seconds) : 0;
  std::fprintf(out, "%s in %.3f s (%s/s)%s: %s\n", human_bytes(t.bytes).c_str(), seconds,
               human_bytes(rate).c_str(), threads.c_str(), moved_summary(t.data).c_str());
}

void print_json(std::FILE* out, const std::vector<FileResult>& files, const Totals& t,
                double seconds) {
  nlohmann::json list = nlohmann::json::array();
  for (const FileResult& r : files) list.push_back(file_json(r));
  print_doc(out, {{"files", list}, {"totals", totals_json(t)}, {"seconds", seconds}});
}

}  // namespace offcopy::cli
