// Internal (cmdbus::local): the `local` route: in-process workers behind bounded queues. Commands with the same
// partition key go to the same worker (so they run in submission order, never concurrently); commands without one are
// spread round-robin. A transiently failing command waits for its retry beside the queue, holding back only its own
// key.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/detail/parcel.hpp"
#include "cmdbus/route_kind.hpp"
#include "cmdbus/worker.hpp"

namespace cmdbus::detail {

class status_table;

/// The settings of a `local` route (docs/configuration.md).
struct local_route_settings {
  std::uint32_t workers = 2;
  std::uint32_t capacity = 1024;  // commands queued or running at most
  bool reject_when_full = false;  // full = "reject"; else "block" (up to block_timeout, then an error)
  std::uint32_t block_timeout_ms = 1000;
  std::uint32_t execute_timeout_ms = 30000;  // how long execute() waits for the outcome without a deadline
};

class local_route final : public route {
 public:
  local_route(std::string name, const local_route_settings& settings, worker_host& host);
  ~local_route() override;

  command_id enqueue(parcel& p, partition key) override;
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::string_view kind() const noexcept override { return "local"; }
  [[nodiscard]] std::chrono::milliseconds execute_timeout() const noexcept override {
    return std::chrono::milliseconds{settings_.execute_timeout_ms};
  }
  /// Refuses new commands and runs what was accepted; from `give_up_at` on, the commands not yet started are not run
  /// (a waiting caller gets stopping_error, the others become dead letters) and their ids are listed. Joins the
  /// workers. Later calls return at once.
  route_stop stop(std::optional<clock::time_point> give_up_at) override;
  /// The first half of stop(): refuse new commands, set the deadline; the workers go on draining.
  void stop_accepting(std::optional<clock::time_point> give_up_at) override;
  [[nodiscard]] route_stats stats() const override;
  [[nodiscard]] std::optional<command_state> status(const command_id& id) const override;
  [[nodiscard]] std::optional<command_state> wait_settled(const command_id& id, clock::time_point until) const override;
  /// True on the thread of one of this route's workers (where stop() would wait for itself).
  [[nodiscard]] bool on_own_worker() const noexcept override;
  void note_retrying(const command_id& id, std::string_view error, bool requeued) noexcept override;
  void note_settled(const command_id& id, command_status status, const consistency_token& token, std::string_view error,
                    bool requeued) noexcept override;

 private:
  struct worker;
  struct space;
  void work(worker& w);
  /// Runs `e` now, unless its key is held back by an earlier command waiting for a retry.
  void admit(worker& w, std::unique_ptr<envelope> e);
  /// The same for a command carried by value (it moves into an envelope only if it has to wait).
  void admit(worker& w, parcel& p);
  /// One attempt; true if the command now waits for a retry (its key stays held).
  bool attempt(worker& w, std::unique_ptr<envelope> e);
  /// What follows an attempt of `e`: a retry later (true: its key stays held), a dead letter, or finished.
  bool after_attempt(worker& w, run_outcome outcome, std::unique_ptr<envelope> e);
  void run_due_retries(worker& w);
  /// Runs the commands held behind `key` in order, until one has to wait for a retry again.
  void release_key(worker& w, std::uint64_t key);
  void finish(worker& w) noexcept;
  /// Gives the places of the commands `w` finished back.
  void release_places(worker& w) noexcept;
  void give_up(worker& w);
  /// Not run: the stop deadline passed. `e` is null when the command was lost on the way (already reported).
  void abandon(worker& w, command_id id, std::unique_ptr<envelope> e);
  /// Takes a place within the capacity (waiting for one with full = "block"), or throws stopping / queue full.
  void take_place(const message_info& info, const command_id& id);
  /// take_place() when its first try (`first`: the state word before it) found the route full or stopping.
  [[gnu::noinline]] void wait_for_place(const message_info& info, const command_id& id, std::uint64_t first);
  /// Gives `n` places back, waking senders that wait for one.
  void release(std::uint64_t n) noexcept;
  [[nodiscard]] bool giving_up() const noexcept;

  worker_host* host_;
  std::unique_ptr<status_table> status_;  // of the commands this route accepted
  std::string name_;
  local_route_settings settings_;
  // Producer side (written by the threads that post), each on its own cache line, away from the workers' counters.
  struct alignas(64) producer_counters {
    // Twice the commands admitted and not finished (the capacity counts them; a sender inside enqueue() may hold
    // one for a moment), plus 1 once stopping: the workers stop when it is down to that 1.
    std::atomic<std::uint64_t> state{0};
    std::atomic<std::uint64_t> round_robin{0};
  } producers_;
  // Senders waiting for a place (full = "block"): on a line of its own, which the workers read after every batch.
  alignas(64) std::atomic<std::uint64_t> waiting_senders_{0};
  std::uint64_t release_batch_;  // how many finished commands' places a worker gives back at once
  std::unique_ptr<space> space_;
  // The worker whose thread this is, if any: a handler sending to its own route must not wait for a place that only
  // its own worker could free (see wait_for_place), and stop() must not join its own thread.
  static thread_local worker* own_worker;
  // A copy of the stop bit of producers_.state on a line of its own: the workers read it for every command, and the
  // state line is written by every send.
  alignas(64) std::atomic<bool> stopping_{false};
  std::atomic<clock::rep> give_up_at_{clock::duration::max().count()};
  std::mutex stop_mutex_;  // one stop() joins the workers; another waits for it
  std::mutex not_run_mutex_;
  std::vector<command_id> not_run_;
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace cmdbus::detail
