// bench_transactions — a bank transfer in one database transaction: the bank example's Transfer through cmdbus
// (execute: retry and unit-of-work middleware, validation, the handler's two UPDATEs, the MoneyTransferred projection's
// INSERT into the read model) against the very same statements (bank::transfer_sql) run raw in BEGIN ... COMMIT.
//
//   BM_Raw_SQLite_Transfer / BM_Bus_SQLite_Transfer       a file database in a temporary directory, WAL,
//                                                         synchronous=NORMAL; target: bus >= 0.9 x raw throughput
//   BM_Raw_Postgres_Transfer / BM_Bus_Postgres_Transfer   the server named by $CMDBUS_TEST_PG (`./run bench
//                                                         transactions` starts a throwaway one); skipped without it
//
// Ratios are printed as "throughput ratio Bus_X / Raw_X", from real (wall) time: the work waits on the database.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "bank/bank_core.hpp"
#include "cmdbus/cmdbus.hpp"
#include "common/database.hpp"
#include "support/ratio_report.hpp"
#if defined(EXAMPLES_WITH_POSTGRES)
#include <libpq-fe.h>
#endif

namespace {

constexpr int accounts = 100;
constexpr bank::money plenty = 1'000'000'000;

/// Creates the bank's tables (fresh) and `accounts` funded accounts with ids 1..accounts.
void seed(examples::database& db) {
  bank::create_schema(db, true);
  std::string insert = "INSERT INTO accounts (owner, balance) VALUES ";
  for (int i = 1; i <= accounts; ++i) {
    insert += (i > 1 ? ", ('a" : "('a") + std::to_string(i) + "', " + std::to_string(plenty) + ")";
  }
  db.exec_script(insert);
}

/// The i-th transfer: from one account to the next, round the ring.
bank::Transfer nth_transfer(std::int64_t i) {
  return bank::Transfer{i % accounts + 1, (i + 1) % accounts + 1, 1};
}

/// A temporary directory holding the SQLite database, removed afterwards.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cmdbus-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() { std::filesystem::remove_all(path_); }
  [[nodiscard]] std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

examples::database open_sqlite(const std::string& path) {
  examples::store_config cfg;
  cfg.path = path;
  cfg.pool_size = 1;
  return examples::database::open(cfg);
}

void run_bus(benchmark::State& state, examples::database& db) {
  cmdbus::bus_builder b;
  bank::register_bank(b, db);
  cmdbus::bus bus{std::move(b)};
  std::int64_t n = 0;
  for (auto _ : state) {
    bus.execute(nth_transfer(n++));
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- SQLite ------------------------------------------------------------------------------------------------------

void check(sqlite3* db, int rc, int expected) {
  if (rc != expected) {
    throw std::runtime_error(sqlite3_errmsg(db));
  }
}

void BM_Raw_SQLite_Transfer(benchmark::State& state) {
  temp_dir dir;
  const auto path = dir.file("bank.db");
  {
    auto db = open_sqlite(path);
    seed(db);
  }
  sqlite3* db = nullptr;
  check(db, sqlite3_open(path.c_str(), &db), SQLITE_OK);
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr),
        SQLITE_OK);
  auto prepare = [db](const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    check(db, sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), SQLITE_OK);
    return s;
  };
  const auto sql = bank::transfer_sql(examples::dialect::sqlite);
  sqlite3_stmt* begin = prepare("BEGIN IMMEDIATE");
  sqlite3_stmt* commit = prepare("COMMIT");
  sqlite3_stmt* debit = prepare(sql.debit);
  sqlite3_stmt* credit = prepare(sql.credit);
  sqlite3_stmt* record = prepare(sql.record);
  auto run = [db](sqlite3_stmt* s) {
    check(db, sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
  };
  std::int64_t n = 0;
  for (auto _ : state) {
    const auto t = nth_transfer(n++);
    run(begin);
    sqlite3_bind_int64(debit, 1, t.amount);
    sqlite3_bind_int64(debit, 2, t.from);
    run(debit);
    sqlite3_bind_int64(credit, 1, t.amount);
    sqlite3_bind_int64(credit, 2, t.to);
    run(credit);
    sqlite3_bind_int64(record, 1, t.from);
    sqlite3_bind_int64(record, 2, t.to);
    sqlite3_bind_int64(record, 3, t.amount);
    run(record);
    run(commit);
  }
  for (auto* s : {begin, commit, debit, credit, record}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}

void BM_Bus_SQLite_Transfer(benchmark::State& state) {
  temp_dir dir;
  auto db = open_sqlite(dir.file("bank.db"));
  seed(db);
  run_bus(state, db);
}

// ---- PostgreSQL --------------------------------------------------------------------------------------------------
#if defined(EXAMPLES_WITH_POSTGRES)

/// $CMDBUS_TEST_PG, or nullopt after marking the benchmark skipped.
std::optional<std::string> pg_server(benchmark::State& state) {
  const char* conninfo = std::getenv("CMDBUS_TEST_PG");
  if (conninfo == nullptr || *conninfo == '\0') {
    state.SkipWithError("no PostgreSQL: set CMDBUS_TEST_PG (./run bench transactions starts one)");
    return std::nullopt;
  }
  return std::string{conninfo};
}

examples::database open_postgres(const std::string& conninfo) {
  examples::store_config cfg;
  cfg.kind = examples::store_kind::postgres;
  cfg.conninfo = conninfo;
  cfg.pool_size = 1;
  return examples::database::open(cfg);
}

void BM_Raw_Postgres_Transfer(benchmark::State& state) {
  const auto server = pg_server(state);
  if (!server) {
    return;
  }
  {
    auto db = open_postgres(*server);
    seed(db);
  }
  PGconn* c = PQconnectdb(server->c_str());
  auto exec = [c](const char* name, int n = 0, const char* const* params = nullptr) {
    PGresult* r = PQexecPrepared(c, name, n, params, nullptr, nullptr, 0);
    const auto status = PQresultStatus(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK) {
      throw std::runtime_error(PQerrorMessage(c));
    }
  };
  const auto sql = bank::transfer_sql(examples::dialect::postgres);
  for (const auto& [name, text] : {std::pair<const char*, std::string>{"begin", "BEGIN"},
                                   {"commit", "COMMIT"},
                                   {"debit", sql.debit},
                                   {"credit", sql.credit},
                                   {"record", sql.record}}) {
    PQclear(PQprepare(c, name, text.c_str(), 0, nullptr));
  }
  std::int64_t n = 0;
  for (auto _ : state) {
    const auto t = nth_transfer(n++);
    const auto from = std::to_string(t.from);
    const auto to = std::to_string(t.to);
    const auto amount = std::to_string(t.amount);
    const char* debit[] = {amount.c_str(), from.c_str()};
    const char* credit[] = {amount.c_str(), to.c_str()};
    const char* record[] = {from.c_str(), to.c_str(), amount.c_str()};
    exec("begin");
    exec("debit", 2, debit);
    exec("credit", 2, credit);
    exec("record", 3, record);
    exec("commit");
  }
  PQfinish(c);
  state.SetItemsProcessed(state.iterations());
}

void BM_Bus_Postgres_Transfer(benchmark::State& state) {
  const auto server = pg_server(state);
  if (!server) {
    return;
  }
  auto db = open_postgres(*server);
  seed(db);
  run_bus(state, db);
}
#endif

constexpr double min_time_s = 0.5;
constexpr int repetitions = 5;

BENCHMARK(BM_Raw_SQLite_Transfer)
    ->UseRealTime()
    ->MinTime(min_time_s)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true);
BENCHMARK(BM_Bus_SQLite_Transfer)
    ->UseRealTime()
    ->MinTime(min_time_s)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true);
#if defined(EXAMPLES_WITH_POSTGRES)
BENCHMARK(BM_Raw_Postgres_Transfer)
    ->UseRealTime()
    ->MinTime(min_time_s)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true);
BENCHMARK(BM_Bus_Postgres_Transfer)
    ->UseRealTime()
    ->MinTime(min_time_s)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true);
#endif

}  // namespace

int main(int argc, char** argv) {
  using bench_support::ratio;
  return bench_support::run(
      argc, argv,
      {"BM_Raw_SQLite_Transfer", "BM_Bus_SQLite_Transfer", "BM_Raw_Postgres_Transfer", "BM_Bus_Postgres_Transfer"},
      {ratio{"Bus_SQLite_Transfer", "Raw_SQLite_Transfer", ">= 0.9", [](double r) { return r >= 0.9; }, true},
       ratio{"Bus_Postgres_Transfer", "Raw_Postgres_Transfer", "informational", nullptr, true}},
      bench_support::clock_kind::real);
}
