// cmdbus/stop_signals.hpp — stop a worker process cleanly on SIGTERM or SIGINT: an application's own binary becomes
// the worker of its durable routes in three lines.
//
//   int main() {
//     cmdbus::stop_signals signals;                 // first, before any thread starts
//     cmdbus::bus bus{make_builder()};              // the same registrations and routes as the posting process
//     bus.run_workers({"transfers"}, signals.token());  // until SIGTERM or SIGINT; then the route stops cleanly
//   }
//
// Contains: `stop_signals`.
#pragma once

#include <stop_token>
#include <thread>

namespace cmdbus {

/// Blocks SIGTERM and SIGINT in the constructing thread (so in every thread it starts afterwards) and waits for them
/// on a thread of its own: the first one requests token()'s stop. Construct it in main() before any other thread, so
/// that no thread of the process takes the signal's default action (termination). The destructor stops waiting.
class stop_signals {
 public:
  stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  ~stop_signals();

  /// Stopped once SIGTERM or SIGINT has arrived.
  [[nodiscard]] std::stop_token token() const noexcept { return source_.get_token(); }

 private:
  std::stop_source source_;
  std::jthread waiter_;
};

}  // namespace cmdbus
