// Runs a Rust closure over [0, n) with at::parallel_for: the same thread pool, chunking and
// nesting rule (serial inside a parallel region) as libtorch's own CPU kernels.
#include "gptlab-dist/cpp/parallel.h"

#include <ATen/Parallel.h>

#include "gptlab-dist/src/parallel.rs.h"

namespace gptlab_dist {
void parallel_for(int64_t n, int64_t grain, const Task& task) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { run(task, begin, end); });
}
}  // namespace gptlab_dist
