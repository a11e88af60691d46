// See shim.h. Errors are C++ exceptions (c10::Error, std::runtime_error); the `cxx` bridge
// turns each into an `Err` on the Rust side with the exception's message.
#include "gptlab-dist/cpp/shim.h"

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
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

// Gloo's network device: the interfaces in GLOO_SOCKET_IFNAME (comma-separated), as
// torch.distributed reads it, else the address this host's name resolves to (loopback when
// it resolves to nothing else).
static void add_gloo_devices(c10d::ProcessGroupGloo::Options& opts) {
  const char* names = std::getenv("GLOO_SOCKET_IFNAME");
  if (names != nullptr && *names != '\0') {
    std::stringstream ss(names);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (!name.empty()) {
        opts.devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name, false));
      }
    }
  }
  if (opts.devices.empty()) {
    opts.devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice(false));
  }
}

std::unique_ptr<Group> group_new(rust::Str host, uint16_t port, int32_t rank, int32_t size, bool client_only, bool nccl, int64_t timeout_ms) {
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
    add_gloo_devices(*opts);
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

bool nccl_compiled() {
#ifdef GPTLAB_NCCL
  return true;
#else
  return false;
#endif
}

} // namespace gptlab_dist
