// Per-call cost of offcopy::copy_range against the bare syscalls it wraps,
// for small files on tmpfs (/dev/shm): what the ladder's fstat/fcntl/probe
// bookkeeping adds to each copy.
//   build/bench/offcopy_micro_bench
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <benchmark/benchmark.h>

#include "offcopy/copy.h"

namespace {

struct Files {
  explicit Files(int64_t size) {
    char tmpl[] = "/dev/shm/offcopy-bench.XXXXXX";
    dir = mkdtemp(tmpl);
    src = ::open((dir + "/src").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    dst = ::open((dir + "/dst").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    std::string data(static_cast<size_t>(size), 'x');
    if (::pwrite(src, data.data(), data.size(), 0) != size) std::abort();
  }
  ~Files() {
    ::close(src);
    ::close(dst);
    ::unlink((dir + "/src").c_str());
    ::unlink((dir + "/dst").c_str());
    ::rmdir(dir.c_str());
  }
  std::string dir;
  int src, dst;
};

void BM_copy_range(benchmark::State& state) {
  Files f(state.range(0));
  for (auto _ : state) {
    int64_t so = 0, d = 0;
    auto r = offcopy::copy_range(f.src, &so, f.dst, &d, state.range(0), {});
    if (!r) state.SkipWithError(r.error().message().c_str());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_copy_range)->Arg(4096)->Arg(1 << 20);

void BM_raw_copy_file_range(benchmark::State& state) {
  Files f(state.range(0));
  for (auto _ : state) {
    loff_t so = 0, d = 0;
    if (::copy_file_range(f.src, &so, f.dst, &d, state.range(0), 0) != state.range(0)) {
      state.SkipWithError("copy_file_range");
    }
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_raw_copy_file_range)->Arg(4096)->Arg(1 << 20);

void BM_copy_file(benchmark::State& state) {
  Files f(state.range(0));
  const std::string src = f.dir + "/src", dst = f.dir + "/dst";
  for (auto _ : state) {
    auto r = offcopy::copy_file(src, dst, {});
    if (!r) state.SkipWithError(r.error().message().c_str());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_copy_file)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
