// Declarations of the few Gloo types that c10d's ProcessGroupGloo.hpp names.
//
// The torch wheel ships c10d's headers and Gloo's compiled code (inside libtorch_cpu.so) but
// not Gloo's headers. ProcessGroupGloo.hpp refers to Gloo types only through pointers
// (std::shared_ptr members, the GlooStore base class), so its object layout does not depend on
// them: these declarations let the header parse. The shim never constructs, calls or inspects
// any of these types; every call goes to c10d functions compiled into libtorch_cpu.so.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
namespace transport {
class Device;
class UnboundBuffer;
} // namespace transport
namespace rendezvous {
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& data) = 0;
  virtual std::vector<char> get(const std::string& key) = 0;
  virtual void wait(const std::vector<std::string>& keys) = 0;
  virtual void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) = 0;
};
} // namespace rendezvous
} // namespace gloo
