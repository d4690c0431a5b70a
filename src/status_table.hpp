// Internal: the status of every command an asynchronous route has accepted, and the outcome of the most recent ones.
// Sharded by id so that producers and workers of different commands rarely meet on one lock.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "cmdbus/command_status.hpp"

namespace cmdbus::detail {

class status_table {
 public:
  /// Keeps the outcome of about `retention` settled commands (at least one per shard).
  explicit status_table(std::size_t retention);

  /// Accepted by `route` (again, for a requeued dead letter).
  void accepted(const command_id& id, std::string_view command, std::string_view route);
  void running(const command_id& id, std::uint32_t attempt);
  /// Back to pending until the retry; `error` is the transient failure's message.
  void retrying(const command_id& id, std::string_view error);
  void settle(const command_id& id, command_status status, const consistency_token& token, std::string_view error);

  [[nodiscard]] std::optional<command_state> find(const command_id& id) const;
  /// Waits until the command has settled (or is unknown: never tracked, or forgotten after settling). The record then,
  /// or nullopt if unknown; throws nothing; `settled()` false on the result means the wait timed out.
  [[nodiscard]] std::optional<command_state> wait_settled(const command_id& id, clock::time_point until) const;

 private:
  struct id_hash {
    std::size_t operator()(const command_id& id) const noexcept;
  };
  struct record {
    command_state state;
    std::uint64_t settled_seq = 0;  // 0: not settled
  };
  struct shard {
    mutable std::mutex mutex;
    mutable std::condition_variable settled;
    std::unordered_map<command_id, record, id_hash> records;
    std::deque<std::pair<command_id, std::uint64_t>> settled_order;  // oldest first
    std::uint64_t next_seq = 1;
  };
  static constexpr std::size_t shard_count = 16;

  shard& shard_of(const command_id& id) const noexcept;

  std::size_t per_shard_;
  mutable std::array<shard, shard_count> shards_;
};

}  // namespace cmdbus::detail
