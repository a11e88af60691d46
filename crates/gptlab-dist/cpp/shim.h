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

// Gradients reduced while the backward pass runs (see shim.cpp): the parameters' gradients
// are views of one flat buffer, grouped into contiguous buckets; a hook on each parameter
// marks it ready after autograd has accumulated its gradient, and a bucket's all-reduce starts
// once all of its parameters are ready and every bucket before it in the launch order has
// started. The state is shared with the hooks, which hold it weakly.
struct ReducerState;
struct Reducer {
  std::shared_ptr<ReducerState> st;
  ~Reducer();
};

std::unique_ptr<Group> group_new(rust::Str host, uint16_t port, int32_t rank, int32_t size, bool client_only, bool nccl, int64_t timeout_ms, uint32_t gloo_lanes);
rust::String backend_name(const Group& g);
std::unique_ptr<Pending> all_reduce_async(const Group& g, size_t tensor, uint8_t op);
std::unique_ptr<Pending> broadcast_async(const Group& g, size_t tensor, int32_t root);
std::unique_ptr<Pending> all_gather_async(const Group& g, size_t input, rust::Slice<const size_t> outputs);
std::unique_ptr<Pending> barrier_async(const Group& g);
void wait(Pending& p, int64_t timeout_ms);
bool nccl_compiled();
std::unique_ptr<Reducer> reducer_new(const Group& g, size_t flat, rust::Slice<const size_t> params, rust::Slice<const int64_t> param_offsets, rust::Slice<const int64_t> bucket_of, rust::Slice<const int64_t> offsets, rust::Slice<const int64_t> numels);
void reducer_arm(Reducer& r);
void reducer_finish(Reducer& r, int64_t timeout_ms);
rust::Vec<int64_t> reducer_observed(const Reducer& r);
size_t reducer_started_in_pass(const Reducer& r);
void reducer_set_order(Reducer& r, rust::Slice<const int64_t> order);

} // namespace gptlab_dist
