// common/trace.hpp — a middleware that records, while switched on, every command it sees with its ids and its outcome,
// in the order they started; enough to draw the call tree of a nested chain and to check its ids.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include <cmdbus/id.hpp>
#include <cmdbus/middleware.hpp>

namespace examples {

struct trace_entry {
  std::size_t depth = 0;  ///< 0 for a command the application dispatched, 1 for its children, ...
  std::string command;
  cmdbus::command_id id;
  cmdbus::command_id correlation;
  cmdbus::command_id causation;
  std::string outcome = "running";  ///< "ok", or the error code ("rejected", "transient", "fatal")
  std::string error_type;           ///< the exception type, when it failed
};

class trace_recorder final : public cmdbus::middleware {
 public:
  /// Forgets what was recorded and starts recording.
  void start();
  /// Stops recording and returns what was recorded.
  std::vector<trace_entry> stop();

  void invoke(cmdbus::invocation& call, cmdbus::next_step next) override;

 private:
  std::atomic<bool> on_{false};
  std::mutex mutex_;
  std::vector<trace_entry> entries_;
};

/// The tree, one command per line, indented by depth.
void print_trace(const std::vector<trace_entry>& entries);
/// What is wrong with the ids of a recorded tree: every command must share its root's correlation id, and each
/// child's causation id must be its parent's id (a root's is nil). Empty when all is well.
[[nodiscard]] std::vector<std::string> trace_problems(const std::vector<trace_entry>& entries);

}  // namespace examples
