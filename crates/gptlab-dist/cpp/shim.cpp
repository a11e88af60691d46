// See shim.h. Errors are C++ exceptions (c10::Error, std::runtime_error); the `cxx` bridge
// turns each into an `Err` on the Rust side with the exception's message.
#include "gptlab-dist/cpp/shim.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#ifdef GPTLAB_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace gptlab_dist {

// The tensor at `addr`, an `at::Tensor*` from tch (shared handle, no copy of the data).
static at::Tensor tensor_at(size_t addr) {
  if (addr == 0) {
    throw std::invalid_argument("gptlab-dist: null tensor");
  }
  return *reinterpret_cast<const at::Tensor*>(addr);
}

// Gloo's network devices: the interfaces in GLOO_SOCKET_IFNAME (comma-separated), as
// torch.distributed reads it, else the address this host's name resolves to (loopback when
// it resolves to nothing else); each opened `lanes` times. ProcessGroupGloo keeps a context
// (a set of connections) per device and hands successive collectives to them in turn, so
// collectives started together run on separate connections. Two worker threads per device,
// as torch.distributed sets them.
static void add_gloo_devices(c10d::ProcessGroupGloo::Options& opts, uint32_t lanes) {
  std::vector<std::string> names;
  const char* env = std::getenv("GLOO_SOCKET_IFNAME");
  if (env != nullptr && *env != '\0') {
    std::stringstream ss(env);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (!name.empty()) {
        names.push_back(name);
      }
    }
  }
  for (uint32_t i = 0; i < std::max<uint32_t>(lanes, 1); ++i) {
    for (const auto& name : names) {
      opts.devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name, false));
    }
    if (names.empty()) {
      opts.devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice(false));
    }
  }
  opts.threads = static_cast<int>(opts.devices.size() * 2);
}

// Every rank must open as many Gloo connection sets, and split large all-reduces alike: a
// rank that opens more would wait for a set its peers never open (until the timeout), and
// ranks that split differently would pair the wrong collectives. Each rank publishes its
// lanes and sets; rank 0 checks everyone's, the others rank 0's, before any set is opened.
static void check_same_sets(c10d::Store& store, int32_t rank, int32_t size, uint32_t lanes, size_t sets) {
  auto text = "lanes " + std::to_string(lanes) + ", sets " + std::to_string(sets);
  auto key = [](int32_t r) { return "gloo_sets/" + std::to_string(r); };
  store.set(key(rank), std::vector<uint8_t>(text.begin(), text.end()));
  for (int32_t r = rank == 0 ? 1 : 0; r < (rank == 0 ? size : 1); ++r) {
    auto v = store.get(key(r));
    auto other = std::string(v.begin(), v.end());
    if (other != text) {
      throw std::runtime_error("Gloo connection sets differ: rank " + std::to_string(rank) + " has " + text + ", rank " + std::to_string(r) + " has " + other +
                               " (GPTLAB_GLOO_LANES and the number of interfaces in GLOO_SOCKET_IFNAME must be the same on every rank)");
    }
  }
}

std::unique_ptr<Group> group_new(rust::Str host, uint16_t port, int32_t rank, int32_t size, bool client_only, bool nccl, int64_t timeout_ms, uint32_t gloo_lanes) {
  auto timeout = std::chrono::milliseconds(timeout_ms);
  c10d::TCPStoreOptions so;
  so.port = port;
  // Rank 0 hosts the store unless a launcher already does (torchrun's agent store).
  so.isServer = !client_only && rank == 0;
  if (!client_only) {
    so.numWorkers = static_cast<size_t>(size);
  }
  so.waitWorkers = !client_only;
  so.timeout = timeout;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
  // gptlab's keys live under their own prefix, apart from a launcher's.
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("gptlab", tcp);
  auto g = std::make_unique<Group>();
  g->store = store;
  g->rank = rank;
  g->size = size;
  if (nccl) {
#ifdef GPTLAB_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    g->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
#else
    throw std::runtime_error("gptlab-dist was built without the `nccl` feature: NCCL (CUDA tensors) is unavailable; build with --features cuda,nccl");
#endif
  } else {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    add_gloo_devices(*opts, gloo_lanes);
    check_same_sets(*store, rank, size, gloo_lanes, opts->devices.size());
    g->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
  }
  return g;
}

rust::String backend_name(const Group& g) { return rust::String(g.backend->getBackendName()); }

std::unique_ptr<Pending> all_reduce_async(const Group& g, size_t tensor, uint8_t op) {
  c10d::AllreduceOptions o;
  switch (op) {
    case 0: o.reduceOp = c10d::ReduceOp::SUM; break;
    case 1: o.reduceOp = c10d::ReduceOp::MAX; break;
    case 2: o.reduceOp = c10d::ReduceOp::MIN; break;
    default: throw std::invalid_argument("gptlab-dist: unknown reduce op");
  }
  auto p = std::make_unique<Pending>();
  p->inputs.push_back(tensor_at(tensor));
  p->work = g.backend->allreduce(p->inputs, o);
  return p;
}

std::unique_ptr<Pending> broadcast_async(const Group& g, size_t tensor, int32_t root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  auto p = std::make_unique<Pending>();
  p->inputs.push_back(tensor_at(tensor));
  p->work = g.backend->broadcast(p->inputs, o);
  return p;
}

std::unique_ptr<Pending> all_gather_async(const Group& g, size_t input, rust::Slice<const size_t> outputs) {
  auto p = std::make_unique<Pending>();
  p->inputs.push_back(tensor_at(input));
  std::vector<at::Tensor> outs;
  for (size_t a : outputs) {
    outs.push_back(tensor_at(a));
  }
  p->outputs.push_back(std::move(outs));
  p->work = g.backend->allgather(p->outputs, p->inputs, c10d::AllgatherOptions());
  return p;
}

std::unique_ptr<Pending> barrier_async(const Group& g) {
  auto p = std::make_unique<Pending>();
  p->work = g.backend->barrier(c10d::BarrierOptions());
  return p;
}

void wait(Pending& p, int64_t timeout_ms) {
  if (!p.work) {
    return;
  }
  auto w = p.work;
  p.work.reset();
  // 0: the backend's own timeout (the group's, set at creation)
  auto t = timeout_ms > 0 ? std::chrono::milliseconds(timeout_ms) : std::chrono::milliseconds(0);
  if (!w->wait(t)) {
    throw std::runtime_error("gptlab-dist: collective did not complete");
  }
}

struct ReducerState {
  c10::intrusive_ptr<c10d::Backend> backend;
  int32_t size = 1;
  at::Tensor flat;
  std::vector<at::Tensor> params;
  std::vector<int64_t> bucket_of;                 // parameter -> bucket
  std::vector<int64_t> param_offset;              // parameter -> its gradient's offset in `flat`
  std::vector<std::pair<int64_t, int64_t>> spans; // bucket -> (offset, numel) in `flat`
  std::vector<int64_t> members;                   // bucket -> parameters in it
  std::vector<int64_t> left;                      // this step: parameters not yet ready
  std::vector<size_t> order;                      // launch order of the buckets
  size_t pos = 0;                                 // next place in `order` to launch
  std::vector<int64_t> observed;                  // buckets in the order they became ready
  std::deque<std::vector<at::Tensor>> inputs;     // kept alive while their work runs
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  size_t started_in_pass = 0;                     // buckets started by the hooks this step
  std::string error;                              // the first failure seen by a hook
  bool armed = false;
  std::mutex mu;

  // Starts every bucket that is ready and next in the launch order (caller holds `mu`).
  void launch_ready(bool all) {
    while (pos < order.size() && (all || left[order[pos]] == 0)) {
      auto b = order[pos++];
      inputs.push_back({flat.narrow(0, spans[b].first, spans[b].second)});
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      works.push_back(backend->allreduce(inputs.back(), o));
    }
  }
};

// Runs after autograd has accumulated a parameter's gradient into its `.grad` (a view of the
// flat buffer), on the thread running that part of the backward pass.
struct ReadyHook : torch::autograd::PostAccumulateGradHook {
  std::weak_ptr<ReducerState> st;
  int64_t param;
  ReadyHook(std::weak_ptr<ReducerState> s, int64_t p) : st(std::move(s)), param(p) {}
  void operator()(const torch::autograd::Variable& var) override {
    auto s = st.lock();
    if (!s) {
      return;
    }
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->armed || !s->error.empty()) {
      return;
    }
    // the bucket reduces the flat buffer: the gradient must have been accumulated into its view
    const auto& g = var.grad();
    auto want = static_cast<const char*>(s->flat.data_ptr()) + s->param_offset[param] * s->flat.element_size();
    if (!g.defined() || g.data_ptr() != want) {
      s->error = "a parameter's gradient is no longer its view of the flat buffer";
      return;
    }
    auto b = s->bucket_of[param];
    if (--s->left[b] == 0) {
      s->observed.push_back(b);
      try {
        s->launch_ready(false);
        s->started_in_pass = s->pos;
      } catch (const std::exception& e) {
        // an exception would unwind through autograd: kept for reducer_finish to report
        s->error = e.what();
      }
    }
  }
};

Reducer::~Reducer() {
  if (!st) {
    return;
  }
  // the hooks hold the state weakly; removing them leaves the parameters as they were
  for (auto& p : st->params) {
    torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }
}

std::unique_ptr<Reducer> reducer_new(const Group& g, size_t flat, rust::Slice<const size_t> params, rust::Slice<const int64_t> param_offsets, rust::Slice<const int64_t> bucket_of, rust::Slice<const int64_t> offsets, rust::Slice<const int64_t> numels) {
  if (params.size() != bucket_of.size() || params.size() != param_offsets.size() || offsets.size() != numels.size()) {
    throw std::invalid_argument("gptlab-dist: reducer: mismatched parameter or bucket lists");
  }
  auto st = std::make_shared<ReducerState>();
  st->backend = g.backend;
  st->size = g.size;
  st->flat = tensor_at(flat);
  st->members.assign(offsets.size(), 0);
  for (size_t b = 0; b < offsets.size(); b++) {
    st->spans.emplace_back(offsets[b], numels[b]);
    st->order.push_back(b);
  }
  for (size_t i = 0; i < params.size(); i++) {
    auto b = bucket_of[i];
    if (b < 0 || static_cast<size_t>(b) >= offsets.size()) {
      throw std::invalid_argument("gptlab-dist: reducer: bucket index out of range");
    }
    st->members[b]++;
    st->bucket_of.push_back(b);
    st->param_offset.push_back(param_offsets[i]);
    st->params.push_back(tensor_at(params[i]));
  }
  auto r = std::make_unique<Reducer>();
  r->st = st;
  for (size_t i = 0; i < st->params.size(); i++) {
    torch::autograd::impl::set_post_acc_grad_hooks(st->params[i], std::make_unique<ReadyHook>(st, static_cast<int64_t>(i)));
  }
  return r;
}

void reducer_arm(Reducer& r) {
  auto& s = *r.st;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.armed || !s.works.empty()) {
    throw std::logic_error("gptlab-dist: reducer armed twice without finishing the step");
  }
  s.left = s.members;
  s.started_in_pass = 0;
  s.error.clear();
  s.pos = 0;
  s.observed.clear();
  s.inputs.clear();
  s.works.clear();
  s.armed = true;
}

void reducer_finish(Reducer& r, int64_t timeout_ms) {
  auto& s = *r.st;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.armed = false;
    // parameters that got no gradient this step never became ready: their buckets go now,
    // in the launch order, as on every other rank
    try {
      s.launch_ready(true);
    } catch (const std::exception& e) {
      if (s.error.empty()) {
        s.error = e.what();
      }
    }
    works = s.works;
  }
  auto t = std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0);
  for (auto& w : works) {
    if (!w->wait(t)) {
      throw std::runtime_error("gptlab-dist: collective did not complete");
    }
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.works.clear();
  s.inputs.clear();
  if (!s.error.empty()) {
    throw std::runtime_error("gptlab-dist: gradient reducer: " + s.error);
  }
  if (s.size > 1) {
    // as Dist::all_reduce's mean does it
    at::NoGradGuard ng;
    s.flat.mul_(1.0 / s.size);
  }
}

rust::Vec<int64_t> reducer_observed(const Reducer& r) {
  std::lock_guard<std::mutex> lock(r.st->mu);
  rust::Vec<int64_t> out;
  for (auto b : r.st->observed) {
    out.push_back(b);
  }
  return out;
}

size_t reducer_started_in_pass(const Reducer& r) {
  std::lock_guard<std::mutex> lock(r.st->mu);
  return r.st->started_in_pass;
}

void reducer_set_order(Reducer& r, rust::Slice<const int64_t> order) {
  auto& s = *r.st;
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<size_t> o;
  std::vector<bool> seen(s.spans.size(), false);
  for (auto b : order) {
    if (b < 0 || static_cast<size_t>(b) >= s.spans.size() || seen[b]) {
      throw std::invalid_argument("gptlab-dist: reducer: a launch order must name each bucket once");
    }
    seen[b] = true;
    o.push_back(static_cast<size_t>(b));
  }
  // buckets the order leaves out go last, in index order
  for (size_t b = 0; b < s.spans.size(); b++) {
    if (!seen[b]) {
      o.push_back(b);
    }
  }
  s.order = o;
}

bool nccl_compiled() {
#ifdef GPTLAB_NCCL
  return true;
#else
  return false;
#endif
}

} // namespace gptlab_dist
