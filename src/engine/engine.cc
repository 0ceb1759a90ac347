// offcopy::Engine: the public face of engine::Scheduler.
#include "offcopy/engine.h"

#include <errno.h>

#include "engine/open_engine.h"
#include "engine/scheduler.h"

namespace offcopy {

bool Completion::ok() const {
  for (const Result<Report>& r : results) {
    if (!r) return false;
  }
  return true;
}

bool Completion::cancelled() const {
  for (const Result<Report>& r : results) {
    if (!r && r.error().code == ECANCELED) return true;
  }
  return false;
}

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  return engine::EngineAccess::open(std::move(options), mech::Context::process());
}

Result<std::unique_ptr<Engine>> engine::EngineAccess::open(EngineOptions options,
                                                           const mech::Context& ctx) {
  auto s = Scheduler::start(ctx, std::move(options));
  if (!s) return s.error();
  return std::unique_ptr<Engine>(new Engine(std::move(*s)));
}

Engine::Engine(std::unique_ptr<engine::Scheduler> s) : s_(std::move(s)) {}

Engine::~Engine() = default;

Result<JobId> Engine::submit(Job job) {
  return s_->submit(std::move(job), engine::Notify{});
}

Result<JobId> Engine::submit(Job job, CompletionCallback done) {
  return s_->submit(std::move(job), engine::Notify{std::move(done)});
}

Result<FutureJob> Engine::submit_future(Job job) {
  std::promise<Completion> promise;
  std::future<Completion> future = promise.get_future();
  auto id = s_->submit(std::move(job), engine::Notify{std::move(promise)});
  if (!id) return id.error();
  return FutureJob{*id, std::move(future)};
}

bool Engine::cancel(JobId id) { return s_->cancel(id); }
int Engine::cancel_all() { return s_->cancel_all(); }

std::optional<Progress> Engine::progress(JobId id) const { return s_->progress(id); }

int Engine::fd() const { return s_->fd(); }

std::vector<Completion> Engine::reap() { return s_->reap(); }

EngineStats Engine::stats() const { return s_->stats(); }

Status Engine::set_workers(int workers) { return s_->set_workers(workers); }

}  // namespace offcopy
