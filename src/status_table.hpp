// Internal: the status of every command an asynchronous route has accepted, and the outcome of the most recent ones.
//
// A ring of slots claimed in turn: accepting a command claims the next slot whose previous command has settled and
// writes that slot's index into the command id's last four bytes (random bits in a UUIDv7), so finding a command's
// status is one slot read, with no map and no lock on the hot path. A slot is reused only after its command settled,
// so the ring keeps the outcomes of about its size's most recent commands; the ring is at least twice the retention
// and the routes' capacity together (capped), and when every slot nearby still holds a command in flight the record
// goes to a locked overflow map instead: every accepted command stays known until it has settled.
//
// Writers of one slot are serialised by a lock bit in its version word; readers take a consistent copy (seqlock).
// Error texts (rare: retries and failures) live in a locked map keyed by id.
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

#include "cmdbus/command_status.hpp"
#include "cmdbus/message_info.hpp"

namespace cmdbus::detail {

struct id_hash {
  std::size_t operator()(const command_id& id) const noexcept;
};

class status_table {
 public:
  /// `retention`: settled outcomes to keep (about); `in_flight`: how many commands the routes may hold at once.
  status_table(std::size_t retention, std::size_t in_flight);
  ~status_table();
  status_table(const status_table&) = delete;
  status_table& operator=(const status_table&) = delete;

  /// Records a command accepted by `route` (pending) and returns the id it keeps from now on: `id` with its slot's
  /// index in the last four bytes. `route` must outlive the table. A requeued command (`keep_id`) keeps its id.
  [[nodiscard]] command_id accept(const command_id& id, const message_info& info, const std::string& route,
                                  bool keep_id);
  /// The command was not accepted after all (the queue refused it): forget it.
  void forget(const command_id& id) noexcept;
  /// The attempt began at `at` (cycle_clock ticks; now by default).
  void running(const command_id& id, std::uint32_t attempt, std::uint64_t at) noexcept;
  void running(const command_id& id, std::uint32_t attempt) noexcept;
  /// Back to pending until the retry; `error` is the transient failure's message.
  void retrying(const command_id& id, std::string_view error);
  void settle(const command_id& id, command_status status, const consistency_token& token, std::string_view error);

  [[nodiscard]] std::optional<command_state> find(const command_id& id) const;
  /// A hint: the command's slot will be written soon (a worker about to run it).
  void prefetch(const command_id& id) const noexcept;
  /// Waits until the command has settled (or is unknown: never tracked, or forgotten after settling). The record then,
  /// or nullopt if unknown; `settled()` false on the result means the wait timed out.
  [[nodiscard]] std::optional<command_state> wait_settled(const command_id& id, clock::time_point until) const;

 private:
  struct slot;

  [[nodiscard]] slot* slot_of(const command_id& id) const noexcept;
  [[nodiscard]] std::uint64_t next_ticket() noexcept;
  [[nodiscard]] bool in_ring(const command_id& id) const noexcept;
  [[nodiscard]] std::optional<command_state> read_overflow(const command_id& id) const;
  template <class F>
  bool update(const command_id& id, F&& f);
  void note_error(const command_id& id, std::string_view error);
  [[nodiscard]] std::string error_of(const command_id& id) const;

  std::unique_ptr<slot[]> slots_;
  std::uint32_t mask_ = 0;
  std::uint32_t salt_ = 0;
  std::uint64_t generation_;  // unique per table in this process (see next_ticket)
  alignas(64) std::atomic<std::uint64_t> next_ticket_{0};
  alignas(64) mutable std::mutex side_mutex_;  // errors_ and overflow_
  std::unordered_map<command_id, std::string, id_hash> errors_;
  std::unordered_map<command_id, command_state, id_hash> overflow_;
  std::deque<command_id> overflow_settled_;  // settled overflow records, oldest first: forgotten beyond the ring's size
  std::atomic<std::size_t> overflow_size_{0};
};

}  // namespace cmdbus::detail
