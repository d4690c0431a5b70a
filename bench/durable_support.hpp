// bench_durable's shared parts: the command, the accounts, the buses, and a database of its own per benchmark (a
// SQLite file in a temporary directory, or a schema of its own on the PostgreSQL server $CMDBUS_TEST_PG).
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/durable.hpp"
#include "cmdbus/sqlite/store.hpp"
#include "cmdbus/wire/json_codec.hpp"
#if CMDBUS_DURABLE_WITH_POSTGRES
#include "cmdbus/durable/postgres.hpp"
#include "cmdbus/postgres/store.hpp"
#endif

namespace bench_durable {

struct Transfer {
  static constexpr std::string_view command_name = "bench.transfer";
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t amount = 0;
  [[nodiscard]] std::int64_t partition_key() const { return from; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Transfer, from, to, amount)

inline constexpr int accounts = 100;

/// Transfer number i: a ring over the accounts, so consecutive transfers have different keys.
[[nodiscard]] inline Transfer nth_transfer(std::int64_t i) {
  return Transfer{i % accounts + 1, (i + 1) % accounts + 1, 1};
}

/// The accounts table with 100 rich accounts; the same SQL text for SQLite and PostgreSQL.
inline constexpr const char* accounts_sql =
    "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
    "INSERT INTO accounts SELECT i, 1000000000 FROM n;";
/// A transfer's two statements ($1 amount, $2 account): what the handler runs, and what the raw baselines run.
inline constexpr const char* debit_sql = "UPDATE accounts SET balance = balance - $1 WHERE id = $2";
inline constexpr const char* credit_sql = "UPDATE accounts SET balance = balance + $1 WHERE id = $2";

/// A temporary directory with the database file, removed afterwards.
class temp_dir {
 public:
  temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir();
  [[nodiscard]] std::string db() const { return (path_ / "bench.db").string(); }

 private:
  std::filesystem::path path_;
};

/// A schema of its own on $CMDBUS_TEST_PG, dropped afterwards. Without a server (or without cmdbus::postgres in
/// this build) the benchmark is skipped, saying why, and conninfo() is empty.
class pg_schema {
 public:
  explicit pg_schema(benchmark::State& state);
  pg_schema(const pg_schema&) = delete;
  pg_schema& operator=(const pg_schema&) = delete;
  ~pg_schema();
  /// The server's conninfo working in this schema; empty without a server (the benchmark was skipped).
  [[nodiscard]] const std::string& conninfo() const noexcept { return conninfo_; }

 private:
  std::string server_;
  std::string name_;
  std::string conninfo_;
};

/// A SQLite file with the durable table and the accounts, in a directory of its own.
struct sqlite_db {
  temp_dir dir;
  cmdbus::sqlite::store store{{.path = dir.db()}};
  sqlite_db() {
    cmdbus::durable::migrate(store);
    store.exec_script(accounts_sql);
  }
};

#if CMDBUS_DURABLE_WITH_POSTGRES
/// A store on `schema` with the durable table (and the accounts, `with_accounts`); null when the benchmark was
/// skipped (no server).
[[nodiscard]] std::unique_ptr<cmdbus::postgres::store> pg_store(const pg_schema& schema, bool with_accounts);
#endif

/// `[routes.transfers]` durable with `workers`, and bench.transfer on it.
[[nodiscard]] std::string durable_config(int workers);

/// A bus whose Transfer handler runs debit and credit in the store's unit of work, with the inbox, on the route
/// `route_config` describes.
template <class Store>
cmdbus::bus_builder transfers(Store& db, const std::string& route_config) {
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.use(db.unit_of_work());
  b.use(cmdbus::durable::inbox(db));
  b.handle<Transfer>([&db](const Transfer& t, cmdbus::context& ctx) {
    auto& sql = *db.transaction_of(ctx);
    sql.execute(debit_sql, t.amount, t.from);
    sql.execute(credit_sql, t.amount, t.to);
  });
  b.config_text(route_config, "bench.toml");
  return b;
}

/// Waits (a cheap look every millisecond, not a busy loop that would take a core from the workers) until no row of
/// route `transfers` is pending or running.
template <class Store>
void wait_until_drained(Store& db) {
  for (bool left = true; left;) {
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
    db.with_connection([&](auto& c) {
      left = c.template query_one<std::int64_t>(
                  "SELECT CASE WHEN EXISTS (SELECT 1 FROM cmdbus_queue WHERE route = 'transfers' AND "
                  "state IN ('pending', 'running')) THEN 1 ELSE 0 END")
                 .value_or(1) != 0;
    });
  }
}

}  // namespace bench_durable

CMDBUS_JSON_CODEC(bench_durable::Transfer, 1);
