// Internal: a command on its way to a route that runs it later (in-process workers today, transports later), and
// the interface such a route offers the bus. No thread headers: routes are compiled in src/.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cmdbus/context.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/handle.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus {
class bus;
namespace detail {

struct slot;
struct envelope;

/// What became of one run of an envelope on a worker.
struct run_outcome {
  enum class kind : unsigned char {
    done,   ///< succeeded, or failed with the error delivered to a waiting caller: finished
    retry,  ///< failed transiently: run it again after `delay` (other keys go on meanwhile)
    dead,   ///< failed for good with nobody waiting: the worker hands the envelope to the dead letters
  };
  kind what = kind::done;
  std::chrono::nanoseconds delay{0};
};

struct envelope {
  const slot* target = nullptr;
  command_id id;
  dispatch_options options;  // deadline, correlation, causation, traceparent, headers: all filled at send time
  std::unique_ptr<void, void (*)(void*)> payload{nullptr, [](void*) {}};
  std::string partition_key;                              // empty: no ordering constraint
  std::shared_ptr<completion_base> completion;            // detail::completion<R>; null for post
  run_outcome (*run)(cmdbus::bus&, envelope&) = nullptr;  // one attempt through the pipeline
  // Attempt history (for retries, status and dead letters).
  std::uint32_t attempts = 0;
  clock::time_point first_attempt{};
  clock::time_point last_attempt{};
  std::optional<error> last_error;

  /// Nobody can see this command's outcome: it was posted, or the handle was dropped.
  [[nodiscard]] bool unobserved() const noexcept { return completion == nullptr || completion.use_count() == 1; }
};

class route {
 public:
  route() = default;
  route(const route&) = delete;
  route& operator=(const route&) = delete;
  virtual ~route() = default;

  /// Takes the envelope (leaving `e` empty) or throws (queue full, stopping) leaving `e` as it was.
  virtual void enqueue(std::unique_ptr<envelope>& e) = 0;
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  /// How long execute() waits for the outcome of a command without a deadline.
  [[nodiscard]] virtual std::chrono::milliseconds execute_timeout() const noexcept = 0;
};

}  // namespace detail
}  // namespace cmdbus
