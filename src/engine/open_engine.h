// The library's own ways into an Engine, which the public header does not
// offer: an engine that runs its copies against a given Context (a
// FaultSys, small chunk sizes, a rung table of a test's own) instead of the
// process's.  The tree copier and the tests use it.
#ifndef OFFCOPY_ENGINE_OPEN_ENGINE_H_
#define OFFCOPY_ENGINE_OPEN_ENGINE_H_

#include <memory>

#include "mech/context.h"
#include "offcopy/engine.h"

namespace offcopy::engine {

struct EngineAccess {
  // Engine::open, with the copies run against `ctx`, which must outlive
  // the engine.
  static Result<std::unique_ptr<Engine>> open(EngineOptions options,
                                              const mech::Context& ctx);
};

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_OPEN_ENGINE_H_
