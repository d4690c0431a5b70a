// Internal (cmdbus::durable): the durable route's table on SQLite. One writer at a time: a claim runs in
// BEGIN IMMEDIATE on a pooled connection, and a busy database waits up to the store's busy_timeout.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cmdbus/sqlite/store.hpp"
#include "sql_queue.hpp"

namespace cmdbus::durable::detail {

struct sqlite_dialect {
  using store = sqlite::store;
  using connection = sqlite::connection;
  using row = sqlite::row;
  static constexpr std::string_view begin = "BEGIN IMMEDIATE";
  static constexpr std::string_view skip_locked = "";  // one writer: nothing to skip
  static constexpr std::string_view seq_column = "INTEGER PRIMARY KEY";
  static constexpr std::string_view next_seq =
      "seq = (SELECT max(seq) + 1 FROM cmdbus_queue)";  // a requeue goes to the back of its key's line
  static constexpr std::string_view seqs_in = "seq IN (SELECT value FROM json_each($2))";
  static constexpr std::string_view ids_in = "id IN (SELECT value FROM json_each($1))";
  static constexpr std::string_view has_column =
      "SELECT count(*) FROM pragma_table_info('cmdbus_queue') WHERE name = $1";
  static constexpr std::string_view now_us = "(CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER))";
  static constexpr std::string_view set_default = "";  // SQLite alters no column's default
  static constexpr std::string_view notify = "";       // no news between processes: idle workers poll every poll_ms
  static std::unique_ptr<news> listen(store&) { return nullptr; }
  static std::string insert_and_announce(std::string_view insert) { return std::string(insert); }
  static constexpr std::string_view batch_setup = "";  // one writer: a batch holds no row locks others wait for
  static bool claims_in_batch(const store&) noexcept { return true; }
  static constexpr char list_open = '[';  // a JSON array for json_each: [1,2,3], ["a","b"]
  static constexpr char list_close = ']';
};

using sqlite_queue = sql_queue<sqlite_dialect>;

}  // namespace cmdbus::durable::detail
