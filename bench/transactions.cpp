// bench_transactions — a bank transfer in one database transaction: through cmdbus (execute, unit of work, the
// projection writing the ledger) against the same statements run raw with sqlite3 prepared statements.
//
//   BM_Raw_SQLite_Transfer   BEGIN IMMEDIATE; UPDATE debit; UPDATE credit; INSERT ledger; COMMIT
//   BM_Bus_SQLite_Transfer   bus.execute(Transfer) with retry + unit-of-work middleware; the handler runs the two
//                            UPDATEs, emits Transferred, and a projection INSERTs the ledger row, in one transaction
// Both on a file database in a temporary directory, WAL, synchronous=NORMAL. The target: bus throughput at least
// 0.9 x raw, printed as "throughput ratio Bus_SQLite_Transfer / Raw_SQLite_Transfer".
//
//   BM_Raw_Postgres_Transfer / BM_Bus_Postgres_Transfer   the same pair against the PostgreSQL server named by
//                            $CMDBUS_TEST_PG (`./run bench transactions` starts a throwaway one); skipped without it.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/sqlite/store.hpp"
#if defined(CMDBUS_BENCH_POSTGRES)
#include <libpq-fe.h>

#include "cmdbus/postgres/store.hpp"
#endif
#include "support/ratio_report.hpp"

namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY, from_id INTEGER NOT NULL, to_id INTEGER NOT NULL,
                                   amount INTEGER NOT NULL);
)sql";
constexpr int accounts = 100;
constexpr const char* debit_sql = "UPDATE account SET balance = balance - ? WHERE id = ?";
constexpr const char* credit_sql = "UPDATE account SET balance = balance + ? WHERE id = ?";
constexpr const char* ledger_sql = "INSERT INTO ledger (from_id, to_id, amount) VALUES (?, ?, ?)";

/// A fresh database file with the schema and funded accounts, removed afterwards.
class database_file {
 public:
  database_file() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cmdbus-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    dir_ = pattern;
    path_ = (dir_ / "bank.db").string();
    cmdbus::sqlite::store setup({.path = path_});
    setup.exec_script(schema);
    for (int i = 0; i < accounts; ++i) {
      setup.exec_script("INSERT INTO account (id, balance) VALUES (" + std::to_string(i) + ", 1000000000)");
    }
  }
  database_file(const database_file&) = delete;
  database_file& operator=(const database_file&) = delete;
  ~database_file() { std::filesystem::remove_all(dir_); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

void check(sqlite3* db, int rc, int expected) {
  if (rc != expected) {
    throw std::runtime_error(sqlite3_errmsg(db));
  }
}

void BM_Raw_SQLite_Transfer(benchmark::State& state) {
  database_file file;
  sqlite3* db = nullptr;
  check(db, sqlite3_open(file.path().c_str(), &db), SQLITE_OK);
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr),
        SQLITE_OK);
  auto prepare = [db](const char* sql) {
    sqlite3_stmt* s = nullptr;
    check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), SQLITE_OK);
    return s;
  };
  sqlite3_stmt* begin = prepare("BEGIN IMMEDIATE");
  sqlite3_stmt* commit = prepare("COMMIT");
  sqlite3_stmt* debit = prepare(debit_sql);
  sqlite3_stmt* credit = prepare(credit_sql);
  sqlite3_stmt* ledger = prepare(ledger_sql);
  auto run = [db](sqlite3_stmt* s) {
    check(db, sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
  };
  std::int64_t n = 0;
  for (auto _ : state) {
    const std::int64_t from = n % accounts;
    const std::int64_t to = (n + 1) % accounts;
    run(begin);
    sqlite3_bind_int64(debit, 1, 1);
    sqlite3_bind_int64(debit, 2, from);
    run(debit);
    sqlite3_bind_int64(credit, 1, 1);
    sqlite3_bind_int64(credit, 2, to);
    run(credit);
    sqlite3_bind_int64(ledger, 1, from);
    sqlite3_bind_int64(ledger, 2, to);
    sqlite3_bind_int64(ledger, 3, 1);
    run(ledger);
    run(commit);
    ++n;
  }
  for (auto* s : {begin, commit, debit, credit, ledger}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations());
}

struct Transfer {
  static constexpr std::string_view command_name = "bank.transfer";
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t amount = 0;
};
struct Transferred {
  static constexpr std::string_view event_name = "bank.transferred";
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t amount = 0;
};

void BM_Bus_SQLite_Transfer(benchmark::State& state) {
  database_file file;
  cmdbus::sqlite::store store({.path = file.path(), .pool_size = 1});
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry());
  b.use(store.unit_of_work());
  b.handle<Transfer>([](const Transfer& t, cmdbus::context& ctx) {
    auto& db = cmdbus::sqlite::connection_of(ctx);
    db.execute(debit_sql, t.amount, t.from);
    db.execute(credit_sql, t.amount, t.to);
    ctx.emit(Transferred{t.from, t.to, t.amount});
  });
  b.project<Transferred>([](const Transferred& e, cmdbus::context& ctx) {
    cmdbus::sqlite::connection_of(ctx).execute(ledger_sql, e.from, e.to, e.amount);
  });
  cmdbus::bus bus{std::move(b)};
  std::int64_t n = 0;
  for (auto _ : state) {
    bus.execute(Transfer{n % accounts, (n + 1) % accounts, 1});
    ++n;
  }
  state.SetItemsProcessed(state.iterations());
}

#if defined(CMDBUS_BENCH_POSTGRES)
// ---- PostgreSQL ------------------------------------------------------------------------------------------------

constexpr const char* pg_debit = "UPDATE account SET balance = balance - $1 WHERE id = $2";
constexpr const char* pg_credit = "UPDATE account SET balance = balance + $1 WHERE id = $2";
constexpr const char* pg_ledger = "INSERT INTO ledger (from_id, to_id, amount) VALUES ($1, $2, $3)";

/// The server from $CMDBUS_TEST_PG with fresh bench tables, or nullopt (the benchmark is then skipped).
std::optional<std::string> pg_setup(benchmark::State& state) {
  const char* conninfo = std::getenv("CMDBUS_TEST_PG");
  if (conninfo == nullptr || *conninfo == '\0') {
    state.SkipWithError("no PostgreSQL: set CMDBUS_TEST_PG (./run bench transactions starts one)");
    return std::nullopt;
  }
  cmdbus::postgres::store setup({.conninfo = conninfo, .pool_size = 1});
  setup.exec_script(R"sql(
    DROP TABLE IF EXISTS ledger; DROP TABLE IF EXISTS account;
    CREATE TABLE account (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0));
    CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, from_id BIGINT NOT NULL, to_id BIGINT NOT NULL,
                         amount BIGINT NOT NULL);
    INSERT INTO account SELECT g, 1000000000 FROM generate_series(0, 99) g;
  )sql");
  return std::string{conninfo};
}

void BM_Raw_Postgres_Transfer(benchmark::State& state) {
  const auto conninfo = pg_setup(state);
  if (!conninfo) {
    return;
  }
  PGconn* c = PQconnectdb(conninfo->c_str());
  auto exec = [c](const char* sql, int n = 0, const char* const* params = nullptr) {
    PGresult* r = PQexecPrepared(c, sql, n, params, nullptr, nullptr, 0);
    const auto status = PQresultStatus(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK) {
      throw std::runtime_error(PQerrorMessage(c));
    }
  };
  for (const auto& [name, sql] :
       {std::pair{"begin", "BEGIN"}, std::pair{"commit", "COMMIT"}, std::pair{"debit", pg_debit},
        std::pair{"credit", pg_credit}, std::pair{"ledger", pg_ledger}}) {
    PQclear(PQprepare(c, name, sql, 0, nullptr));
  }
  std::int64_t n = 0;
  for (auto _ : state) {
    const auto from = std::to_string(n % accounts);
    const auto to = std::to_string((n + 1) % accounts);
    const char* debit[] = {"1", from.c_str()};
    const char* credit[] = {"1", to.c_str()};
    const char* ledger[] = {from.c_str(), to.c_str(), "1"};
    exec("begin");
    exec("debit", 2, debit);
    exec("credit", 2, credit);
    exec("ledger", 3, ledger);
    exec("commit");
    ++n;
  }
  PQfinish(c);
  state.SetItemsProcessed(state.iterations());
}

void BM_Bus_Postgres_Transfer(benchmark::State& state) {
  const auto conninfo = pg_setup(state);
  if (!conninfo) {
    return;
  }
  cmdbus::postgres::store store({.conninfo = *conninfo, .pool_size = 1});
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry());
  b.use(store.unit_of_work());
  b.handle<Transfer>([](const Transfer& t, cmdbus::context& ctx) {
    auto& db = cmdbus::postgres::connection_of(ctx);
    db.execute(pg_debit, t.amount, t.from);
    db.execute(pg_credit, t.amount, t.to);
    ctx.emit(Transferred{t.from, t.to, t.amount});
  });
  b.project<Transferred>([](const Transferred& e, cmdbus::context& ctx) {
    cmdbus::postgres::connection_of(ctx).execute(pg_ledger, e.from, e.to, e.amount);
  });
  cmdbus::bus bus{std::move(b)};
  std::int64_t n = 0;
  for (auto _ : state) {
    bus.execute(Transfer{n % accounts, (n + 1) % accounts, 1});
    ++n;
  }
  state.SetItemsProcessed(state.iterations());
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
#if defined(CMDBUS_BENCH_POSTGRES)
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
