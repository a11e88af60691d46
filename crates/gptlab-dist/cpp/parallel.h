// libtorch's intra-op parallel loop for Rust closures (see src/parallel.rs).
#pragma once
#include <cstdint>

namespace gptlab_dist {
struct Task;
void parallel_for(int64_t n, int64_t grain, const Task& task);
}  // namespace gptlab_dist
