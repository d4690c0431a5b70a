// Internal: the `local` route: in-process workers behind bounded queues. Commands with the same partition key go to
// the same worker (so they run in submission order, never concurrently); commands without one are spread round-robin.
// A transiently failing command waits for its retry beside the queue, holding back only its own key.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/bus.hpp"
#include "cmdbus/detail/envelope.hpp"
#include "route_config.hpp"

namespace cmdbus::detail {

class status_table;

class local_route final : public route {
 public:
  local_route(cmdbus::bus& owner, status_table& status, const route_definition& definition);
  ~local_route() override;

  void enqueue(std::unique_ptr<envelope>& e) override;
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::chrono::milliseconds execute_timeout() const noexcept override {
    return std::chrono::milliseconds{settings_.execute_timeout_ms};
  }
  /// Refuses new commands and runs what was accepted; from `give_up_at` on, the commands not yet started are not run
  /// (a waiting caller gets stopping_error, the others become dead letters) and their ids are appended to `not_run`.
  /// Joins the workers. Returns how many commands finished since the start. Later calls return at once.
  std::uint64_t stop(std::optional<clock::time_point> give_up_at, std::vector<command_id>& not_run);
  /// The first half of stop(): refuse new commands, set the deadline; the workers go on draining.
  void stop_accepting(std::optional<clock::time_point> give_up_at) noexcept;
  [[nodiscard]] route_stats stats() const;

 private:
  struct worker;
  void work(worker& w);
  /// Runs `e` now, unless its key is held back by an earlier command waiting for a retry.
  void admit(worker& w, std::unique_ptr<envelope> e);
  /// One attempt; true if the command now waits for a retry (its key stays held).
  bool attempt(worker& w, std::unique_ptr<envelope> e);
  void run_due_retries(worker& w);
  /// Runs the commands held behind `key` in order, until one has to wait for a retry again.
  void release_key(worker& w, const std::string& key);
  void finish() noexcept;
  void give_up(worker& w);
  void abandon(std::unique_ptr<envelope> e);
  [[nodiscard]] bool giving_up() const noexcept;

  cmdbus::bus* bus_;
  status_table* status_;
  std::string name_;
  local_route_settings settings_;
  std::counting_semaphore<> free_slots_;
  std::atomic<std::uint64_t> in_flight_{0};  // accepted (or being accepted) and not finished: stop() waits for 0
  std::atomic<std::uint64_t> queued_{0};
  std::atomic<std::uint64_t> waiting_{0};  // waiting for a retry, or held behind one of their key
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> retried_{0};
  std::atomic<std::uint64_t> round_robin_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<clock::rep> give_up_at_{clock::duration::max().count()};
  std::mutex not_run_mutex_;
  std::vector<command_id> not_run_;
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace cmdbus::detail
