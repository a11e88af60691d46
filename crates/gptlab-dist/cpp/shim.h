// The C++ side of gptlab-dist: c10d's TCPStore and a process group (Gloo, or NCCL with the
// `nccl` feature) behind a handful of functions that the `cxx` bridge in src/ffi.rs exposes.
// Tensors cross the bridge as the address of an `at::Tensor` (what `tch::Tensor::as_ptr`
// returns); every function that takes one expects a live tensor at that address.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "rust/cxx.h"

namespace gptlab_dist {

// A store and the process group built on it.
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  int32_t rank;
  int32_t size;
};

// A collective in flight and the tensors it uses (kept alive until it completes).
struct Pending {
  c10::intrusive_ptr<c10d::Work> work;
  std::vector<std::vector<at::Tensor>> outputs;
  std::vector<at::Tensor> inputs;
};

std::unique_ptr<Group> group_new(rust::Str host, uint16_t port, int32_t rank, int32_t size, bool client_only, bool nccl, int64_t timeout_ms);
rust::String backend_name(const Group& g);
std::unique_ptr<Pending> all_reduce_async(const Group& g, size_t tensor, uint8_t op);
std::unique_ptr<Pending> broadcast_async(const Group& g, size_t tensor, int32_t root);
std::unique_ptr<Pending> all_gather_async(const Group& g, size_t input, rust::Slice<const size_t> outputs);
std::unique_ptr<Pending> barrier_async(const Group& g);
void wait(Pending& p, int64_t timeout_ms);
bool nccl_compiled();

} // namespace gptlab_dist
