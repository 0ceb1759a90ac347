#include "scsi/copy_engine.h"

#include <cerrno>

#include "offcopy/engine.h"

namespace offcopy::scsi {
namespace {

// What liboffcopy's report says of the bytes, in the three ways an admin
// is told of (offcopy-target status): splice, io_uring and read/write
// all move the bytes through this host.
void count(const Report& report, CopyOutcome& out) {
  out.cloned = static_cast<uint64_t>(report.bytes(Mechanism::clone));
  out.kernel_copied = static_cast<uint64_t>(report.bytes(Mechanism::kernel_copy));
  out.host_copied = static_cast<uint64_t>(report.bytes(Mechanism::splice) +
                                          report.bytes(Mechanism::uring) +
                                          report.bytes(Mechanism::read_write));
}

}  // namespace

std::unique_ptr<CopyEngine> CopyEngine::open(int workers, std::string& error) {
  EngineOptions options;
  options.workers = workers;
  // Each unit bounds its own copies (its copy lists); the engine never
  // makes a submitter wait, which would be the event loop.
  options.max_jobs_in_flight = 1 << 16;
  options.on_full = OnFull::busy;
  options.shutdown = OnShutdown::cancel;
  offcopy::Result<std::unique_ptr<Engine>> engine = Engine::open(options);
  if (!engine) {
    error = "cannot start the copy engine: " + engine.error().message();
    return nullptr;
  }
  return std::unique_ptr<CopyEngine>(new CopyEngine(std::move(*engine)));
}

CopyEngine::CopyEngine(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

CopyEngine::~CopyEngine() = default;

uint64_t CopyEngine::start(const CopyPiece& piece, Done done) {
  RangeJob job;
  job.source_fd = piece.source_fd;
  job.source_offset = static_cast<int64_t>(piece.source_offset);
  job.length = static_cast<int64_t>(piece.length);
  job.destinations = {{piece.destination_fd, static_cast<int64_t>(piece.destination_offset)}};
  // Reflink where the filesystem can, and holes stay holes (punched in
  // the destination, whose old data must not show through).
  job.flags = CopyFlags{};
  auto shared_done = std::make_shared<Done>(std::move(done));
  offcopy::Result<JobId> id = engine_->submit(std::move(job), [shared_done](Completion c) {
    CopyOutcome out;
    const offcopy::Result<Report>& r = c.results.at(0);
    if (r) {
      count(*r, out);
    } else {
      out.error = r.error().code != 0 ? r.error().code : EIO;
      if (r.error().report) count(*r.error().report, out);
    }
    (*shared_done)(out);
  });
  if (!id) {
    (*shared_done)(CopyOutcome{id.error().code != 0 ? id.error().code : EIO});
    return 0;
  }
  return *id;
}

void CopyEngine::cancel(uint64_t id) {
  if (id != 0) engine_->cancel(id);
}

}  // namespace offcopy::scsi
