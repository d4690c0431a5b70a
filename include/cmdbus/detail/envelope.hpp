// Internal: a command on its way to a route that runs it later (in-process workers today, transports later), and
// the interface such a route offers the bus. No thread headers: routes are compiled in src/.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cmdbus/context.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus {
class bus;
namespace detail {

struct slot;

struct envelope {
  const slot* target = nullptr;
  command_id id;
  dispatch_options options;  // deadline, correlation, causation, traceparent, headers: all filled at send time
  std::unique_ptr<void, void (*)(void*)> payload{nullptr, [](void*) {}};
  std::string partition_key;                       // empty: no ordering constraint
  std::shared_ptr<void> completion;                // detail::completion<R>; null for post
  void (*run)(cmdbus::bus&, envelope&) = nullptr;  // runs the pipeline and completes
};

class route {
 public:
  route() = default;
  route(const route&) = delete;
  route& operator=(const route&) = delete;
  virtual ~route() = default;

  /// Accepts the envelope or throws (queue full, stopping); never drops it silently.
  virtual void enqueue(std::unique_ptr<envelope> e) = 0;
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  /// How long execute() waits for the outcome of a command without a deadline.
  [[nodiscard]] virtual std::chrono::milliseconds execute_timeout() const noexcept = 0;
};

}  // namespace detail
}  // namespace cmdbus
