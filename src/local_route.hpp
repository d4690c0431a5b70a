// Internal: the `local` route: in-process workers behind bounded queues. Commands with the same partition key go to
// the same worker (so they run in submission order, never concurrently); commands without one are spread round-robin.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/detail/envelope.hpp"
#include "route_config.hpp"

namespace cmdbus::detail {

class local_route final : public route {
 public:
  local_route(cmdbus::bus& owner, const route_definition& definition);
  ~local_route() override;

  void enqueue(std::unique_ptr<envelope> e) override;
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::chrono::milliseconds execute_timeout() const noexcept override {
    return std::chrono::milliseconds{settings_.execute_timeout_ms};
  }
  /// Refuses new commands, runs what was accepted, joins the workers. Returns how many ran since the start.
  std::uint64_t stop();
  [[nodiscard]] std::uint64_t depth() const noexcept { return queued_.load(std::memory_order_relaxed); }

 private:
  struct worker;
  void work(worker& w);

  cmdbus::bus* bus_;
  std::string name_;
  local_route_settings settings_;
  std::counting_semaphore<> free_slots_;
  std::atomic<std::uint64_t> in_flight_{0};  // accepted (or being accepted) and not finished: stop() waits for 0
  std::atomic<std::uint64_t> queued_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> round_robin_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace cmdbus::detail
