// Internal: the status of every command an asynchronous route has accepted, and the outcome of the most recent ones.
//
// One ring per worker, so that the thread that sends a command and the worker that runs it never write the same
// cache line: the sender writes a *notice* (accepted: id and type) into the ring's next slot, the worker writes the
// slot's *record* (running, settled) in a separate array that only it writes. The slot (ring and ticket) travels in
// the command id's last six bytes, so finding a command's status is two slot reads, with no map and no lock.
//
// A sender reuses a slot only once the worker has picked up the slot's previous command (its record holds it): a lap
// of the ring earlier, as a rule, but not always (a command waiting behind its key, a sender held up between accept()
// and the queue, a queue that is FIFO only per sending thread). Otherwise, and for a command waiting for a retry (which
// may outlast a lap) and a requeued dead letter, the status goes to a locked overflow map: every accepted command stays
// known until it has settled. The records keep the outcomes of about the ring's size of each worker's latest commands.
//
// Writers of a notice are serialised by a compare-and-swap on its sequence word, a record has one writer (its worker);
// readers take consistent copies (seqlock). Error texts (rare: retries and failures) live in a locked map keyed by id.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cmdbus/command_status.hpp"
#include "cmdbus/message_info.hpp"

namespace cmdbus::detail {

struct id_hash {
  std::size_t operator()(const command_id& id) const noexcept;
};

class status_table {
 public:
  struct record;  // one command's record in a worker's ring
  /// `retention`: settled outcomes to keep per worker (about).
  explicit status_table(std::size_t retention);
  ~status_table();
  status_table(const status_table&) = delete;
  status_table& operator=(const status_table&) = delete;

  /// A ring for one worker of `route`, which holds at most `capacity` commands in flight. Call before any accept().
  [[nodiscard]] std::uint32_t add_ring(const std::string& route, std::size_t capacity);

  /// Records a command accepted for the worker of `ring` (pending) and returns the id it keeps from now on: `id` with
  /// its slot in the last six bytes. A requeued command (`keep_id`) keeps its id (and is tracked in the overflow map).
  [[nodiscard]] command_id accept(std::uint32_t ring, const command_id& id, const message_info& info, bool keep_id);
  /// The command was not accepted after all (the queue refused it): forget it (`keep_id` as given to accept).
  void forget(const command_id& id, bool keep_id) noexcept;

  // The worker's side. `requeued`: the command is a requeued dead letter (see accept).
  /// Attempt `attempt` began at `at` (cycle_clock ticks).
  void running(const command_id& id, const message_info& info, std::uint32_t attempt, std::uint64_t at,
               bool requeued) noexcept;
  /// running() for the first attempt of a command that was not requeued, returning its record (null if the command is
  /// kept in the overflow map) for succeeded(), which then needs no second look-up.
  [[nodiscard]] record* start(std::uint32_t ring, const command_id& id, const message_info& info,
                              std::uint64_t at) noexcept;
  /// settle(succeeded) after start(), which returned `entry`. Returns the time it wrote (cycle_clock ticks).
  std::uint64_t succeeded(record* entry, const command_id& id, const consistency_token& token) noexcept;
  /// Back to pending until the retry; `error` is the transient failure's message.
  void retrying(const command_id& id, std::string_view error, bool requeued);
  void settle(const command_id& id, command_status status, const consistency_token& token, std::string_view error,
              bool requeued);

  [[nodiscard]] std::optional<command_state> find(const command_id& id) const;
  /// A hint for the worker of `ring`: it is about to take the record of `id` (which it accepted for that ring).
  void prefetch(std::uint32_t ring, const command_id& id) const noexcept;
  /// Waits until the command has settled (or is unknown: never tracked, or forgotten after settling). The record then,
  /// or nullopt if unknown; `settled()` false on the result means the wait timed out.
  [[nodiscard]] std::optional<command_state> wait_settled(const command_id& id, clock::time_point until) const;

 private:
  struct notice;
  struct ring;
  struct place {
    ring* r = nullptr;  // null: the overflow map
    std::uint64_t ticket = 0;
  };

  [[nodiscard]] place place_of(const command_id& id) const noexcept;
  record* running_in(const command_id& id, const message_info& info, std::uint32_t attempt, std::uint64_t at,
                     bool requeued) noexcept;
  /// The first attempt of `id` (or `attempt` 0: settling it unrun) takes `rec` (running).
  record* claim(record& rec, const command_id& id, const message_info& info, std::uint32_t attempt,
                std::uint64_t at) noexcept;
  /// The record slot of `id` if it holds `id` (and the command has not moved to the overflow map).
  [[nodiscard]] record* own_record(const command_id& id, bool requeued) const noexcept;
  [[nodiscard]] command_id to_overflow(const command_id& id, const message_info& info, const std::string& route,
                                       bool keep_id);
  [[nodiscard]] std::optional<command_state> read_overflow(const command_id& id) const;
  template <class F>
  void update_overflow(const command_id& id, F&& f);
  void note_error(const command_id& id, std::string_view error);
  void drop_error(const command_id& id);
  [[nodiscard]] std::string error_of(const command_id& id) const;

  std::size_t retention_;
  std::uint64_t salt_ = 0;  // mixed into the slot bytes of every id, so that ids still look random
  std::vector<std::unique_ptr<ring>> rings_;
  alignas(64) mutable std::mutex side_mutex_;  // errors_ and overflow_
  std::unordered_map<command_id, std::string, id_hash> errors_;
  std::unordered_map<command_id, command_state, id_hash> overflow_;
  std::deque<command_id> overflow_settled_;  // settled overflow records, oldest first: forgotten beyond a bound
  std::atomic<std::size_t> overflow_size_{0};
};

}  // namespace cmdbus::detail
