// Internal (cmdbus::durable): the durable route's table on SQLite (one writer at a time: every change runs in
// BEGIN IMMEDIATE on a pooled connection, and a busy database waits up to the store's busy_timeout).
#pragma once

#include <string_view>

#include "cmdbus/sqlite/store.hpp"
#include "queue.hpp"

namespace cmdbus::durable::detail {

/// The table, its indexes: docs/durable.md. Idempotent.
extern const std::string_view sqlite_schema;

class sqlite_queue final : public queue {
 public:
  explicit sqlite_queue(sqlite::store& store) noexcept : store_(&store) {}

  void insert(const new_row& row, const context* ctx) override;
  std::vector<claimed> claim(std::string_view route, std::string_view worker, clock::time_point now,
                             std::chrono::milliseconds lease, std::size_t batch) override;
  void renew(const std::vector<std::int64_t>& seqs, std::string_view worker, clock::time_point until) override;
  void set_state(const command_id& id, command_status status, std::string_view error, clock::time_point now,
                 std::string_view worker) override;
  void retry_at(std::int64_t seq, clock::time_point due, std::string_view error, std::string_view worker) override;
  void bury_unreadable(std::int64_t seq, std::string_view reason, clock::time_point now,
                       std::string_view worker) override;
  [[nodiscard]] std::optional<command_state> status(const command_id& id) override;
  [[nodiscard]] counts count(std::string_view route, clock::time_point now) override;

 private:
  sqlite::store* store_;
};

}  // namespace cmdbus::durable::detail
