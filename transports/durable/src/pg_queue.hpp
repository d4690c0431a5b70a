// Internal (cmdbus::durable): the durable route's table on PostgreSQL. Many writers: a claim locks the rows it takes
// with FOR UPDATE SKIP LOCKED, so competing workers of every process never wait for each other's rows and never
// take the same one; a key's next row stays unclaimable while an earlier one is pending or running.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cmdbus/postgres/listener.hpp"
#include "cmdbus/postgres/store.hpp"
#include "sql_queue.hpp"

namespace cmdbus::durable::detail {

/// News through a connection of its own that LISTENs on channel cmdbus_queue.
class pg_news final : public news {
 public:
  explicit pg_news(const std::string& conninfo) : listener_(conninfo, "cmdbus_queue") {}
  [[nodiscard]] std::vector<std::string> wait(std::chrono::milliseconds timeout) override {
    return listener_.wait(timeout);
  }
  void interrupt() noexcept override { listener_.interrupt(); }

 private:
  postgres::listener listener_;
};

struct postgres_dialect {
  using store = postgres::store;
  using connection = postgres::connection;
  using row = postgres::row;
  static constexpr std::string_view begin = "BEGIN ISOLATION LEVEL READ COMMITTED";
  static constexpr std::string_view skip_locked = " FOR UPDATE SKIP LOCKED";
  static constexpr std::string_view seq_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  static constexpr std::string_view next_seq = "seq = DEFAULT";  // a requeue goes to the back of its key's line
  static constexpr std::string_view seqs_in = "seq = ANY($2::bigint[])";
  static constexpr std::string_view ids_in = "id = ANY($1::text[])";
  static constexpr std::string_view has_column =
      "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
      "AND table_name = 'cmdbus_queue' AND column_name = $1";
  static constexpr std::string_view now_us = "((extract(epoch FROM clock_timestamp()) * 1000000)::bigint)";
  static constexpr std::string_view set_default = "ALTER TABLE cmdbus_queue ALTER COLUMN {} SET DEFAULT {}";
  /// News for the listeners of every process on the database (LISTEN cmdbus_queue), delivered at COMMIT.
  static constexpr std::string_view notify = "SELECT pg_notify('cmdbus_queue', $1)";
  static std::unique_ptr<news> listen(store& s) { return std::make_unique<pg_news>(s.settings().conninfo); }
  /// The post's INSERT and its news (posted:<route>) in one statement.
  static std::string insert_and_announce(std::string_view insert) {
    return "WITH posted AS (" + std::string(insert) +
           " RETURNING route) SELECT pg_notify('cmdbus_queue', 'posted:' || route) FROM posted";
  }
  /// A batch holds the row locks of all its commands until its COMMIT; competing batches that take them in different
  /// orders would wait for each other (deadlock_timeout, a second, per cycle). A batch waits for no lock longer than
  /// this: the command that would is run again alone, after the batch commits what ran before it.
  static constexpr std::string_view batch_setup = "SET LOCAL lock_timeout = '50ms'";
  /// A claim in a batch's transaction must see rows other claimers changed since it began: READ COMMITTED only.
  static bool claims_in_batch(const store& s) noexcept {
    return s.settings().isolation == postgres::isolation_level::read_committed;
  }
  static constexpr char list_open = '{';  // an array literal: {1,2,3}, {"a","b"}
  static constexpr char list_close = '}';
};

using pg_queue = sql_queue<postgres_dialect>;

}  // namespace cmdbus::durable::detail
