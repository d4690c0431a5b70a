// bench_durable — the `durable` route against the same work done raw with prepared statements, one command per
// transaction, on SQLite (a file in a temporary directory, WAL, synchronous=NORMAL) and on PostgreSQL (the server
// $CMDBUS_TEST_PG; `./run bench durable` starts one):
//
//   BM_Raw_<Store>_Insert / BM_Durable_<Store>_Post      post to a durable route (no workers in this bus: the post
//                                                        alone) vs inserting the same row; target >= 0.8 x raw
//   BM_Raw_<Store>_Transfer / BM_Durable_<Store>_Drain   2 workers draining 20 000 queued transfers (unit of work +
//                                                        inbox: effect and done mark in one transaction) vs the
//                                                        transfer's two UPDATEs raw; target >= 1 x raw on SQLite,
//                                                        >= 2 x on PostgreSQL (not met yet: one transaction per
//                                                        command; batching with a savepoint each is the next step)
//
// durable_latency.cpp adds the idle CPU of durable workers and post-to-handled latency beside the local and sync
// routes'. Times are per command, real (wall) time: the work waits on the database. The raw PostgreSQL baselines use
// libpq directly (PQexecPrepared).
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#if CMDBUS_DURABLE_WITH_POSTGRES
#include <libpq-fe.h>
#endif

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cmdbus/wire/envelope.hpp"
#include "durable_support.hpp"
#include "support/ratio_report.hpp"

namespace {

using bench_durable::nth_transfer;
using bench_durable::Transfer;

constexpr std::int64_t queued_transfers = 20'000;  // the drain's queue (issue 9, point 9b)

/// A raw SQLite connection with the store's settings (WAL, synchronous=NORMAL, busy timeout).
class raw_sqlite {
 public:
  explicit raw_sqlite(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path);
    }
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
  }
  raw_sqlite(const raw_sqlite&) = delete;
  raw_sqlite& operator=(const raw_sqlite&) = delete;
  ~raw_sqlite() {
    for (auto* s : statements_) {
      sqlite3_finalize(s);
    }
    sqlite3_close(db_);
  }
  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string what = message != nullptr ? message : "?";
      sqlite3_free(message);
      throw std::runtime_error(what);
    }
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    statements_.push_back(s);
    return s;
  }
  /// Binds `params` as text (SQLite converts them by column affinity) and runs `s` to completion.
  void run(sqlite3_stmt* s, const std::vector<std::string>& params = {}) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      sqlite3_bind_text(s, static_cast<int>(i + 1), params[i].c_str(), -1, SQLITE_TRANSIENT);
    }
    if (sqlite3_step(s) != SQLITE_DONE) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    sqlite3_reset(s);
  }
  /// Runs `f()` between BEGIN IMMEDIATE and COMMIT (prepared statements too).
  template <class F>
  void transaction(F&& f) {
    run(begin_);
    f();
    run(commit_);
  }

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> statements_;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
};

#if CMDBUS_DURABLE_WITH_POSTGRES
/// A raw libpq connection with prepared statements.
class raw_postgres {
 public:
  explicit raw_postgres(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) {
      const std::string what = PQerrorMessage(c_);
      PQfinish(c_);
      throw std::runtime_error(what);
    }
    prepare("begin", "BEGIN");
    prepare("commit", "COMMIT");
  }
  raw_postgres(const raw_postgres&) = delete;
  raw_postgres& operator=(const raw_postgres&) = delete;
  ~raw_postgres() { PQfinish(c_); }
  const char* prepare(const char* name, const char* sql) {
    check(PQprepare(c_, name, sql, 0, nullptr));
    return name;
  }
  void run(const char* name, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) {
      values.push_back(p.c_str());
    }
    check(PQexecPrepared(c_, name, static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0));
  }
  /// Runs `f()` between BEGIN and COMMIT (prepared statements too).
  template <class F>
  void transaction(F&& f) {
    run("begin");
    f();
    run("commit");
  }

 private:
  void check(PGresult* r) {
    const auto status = PQresultStatus(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK) {
      throw std::runtime_error(PQerrorMessage(c_));
    }
  }
  PGconn* c_;
};
#endif

const char* const insert_sql =
    "INSERT INTO cmdbus_queue (id, route, command, partition_key, state, attempts, available_at, created_at, "
    "updated_at, envelope) VALUES ($1, 'transfers', 'bench.transfer', $2, 'pending', 0, $3, $3, $3, $4)";

/// The row a post of transfer `t` writes: id, key, now, envelope.
std::vector<std::string> row_of(const Transfer& t) {
  const std::string id = cmdbus::command_id::generate().to_string();
  const std::string key = std::to_string(t.from);
  return {id, key, std::to_string(cmdbus::wire::micros(cmdbus::clock::now())),
          R"({"id":")" + id + R"(","command":"bench.transfer","schema_version":1,"partition_key":")" + key +
              R"(","payload":)" + nlohmann::json(t).dump() + "}"};
}

std::vector<std::string> debit_of(const Transfer& t) {
  return {std::to_string(t.amount), std::to_string(t.from)};
}
std::vector<std::string> credit_of(const Transfer& t) {
  return {std::to_string(t.amount), std::to_string(t.to)};
}

/// Posts to a durable route of a bus without workers: the post alone.
template <class Store>
void post_each(benchmark::State& state, Store& db) {
  cmdbus::bus bus{bench_durable::transfers(db, bench_durable::durable_config(0))};
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(bus.post(nth_transfer(i++)));
  }
  state.SetItemsProcessed(state.iterations());
}

/// Queues `max_iterations` transfers (not timed), then times two workers draining them: the first iteration starts
/// the workers, the last waits until every row has ended.
template <class Store>
void drain(benchmark::State& state, Store& db) {
  const auto n = static_cast<std::int64_t>(state.max_iterations);
  {
    cmdbus::bus producer{bench_durable::transfers(db, bench_durable::durable_config(0))};
    for (std::int64_t i = 0; i < n; ++i) {
      (void)producer.post(nth_transfer(i));
    }
  }
  std::unique_ptr<cmdbus::bus> workers;
  std::int64_t i = 0;
  for (auto _ : state) {
    if (i++ == 0) {
      workers = std::make_unique<cmdbus::bus>(bench_durable::transfers(db, bench_durable::durable_config(2)));
    }
    if (i == n) {
      bench_durable::wait_until_drained(db);
    }
  }
  state.SetItemsProcessed(state.iterations());
  const auto stats = workers->queue_stats()[0];
  if (stats.completed != static_cast<std::uint64_t>(n) || stats.failed + stats.dead != 0) {
    state.SkipWithError("not every transfer succeeded");
  }
}

// ---- SQLite ------------------------------------------------------------------------------------------------------

void BM_Raw_SQLite_Insert(benchmark::State& state) {
  bench_durable::temp_dir dir;
  {
    cmdbus::sqlite::store s({.path = dir.db()});
    cmdbus::durable::migrate(s);
  }
  raw_sqlite db(dir.db());
  auto* insert = db.prepare(insert_sql);
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto row = row_of(nth_transfer(i++));
    db.transaction([&] { db.run(insert, row); });
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Durable_SQLite_Post(benchmark::State& state) {
  bench_durable::sqlite_db db;
  post_each(state, db.store);
}

void BM_Raw_SQLite_Transfer(benchmark::State& state) {
  bench_durable::temp_dir dir;
  raw_sqlite db(dir.db());
  db.exec(bench_durable::accounts_sql);
  auto* debit = db.prepare(bench_durable::debit_sql);
  auto* credit = db.prepare(bench_durable::credit_sql);
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto t = nth_transfer(i++);
    db.transaction([&] {
      db.run(debit, debit_of(t));
      db.run(credit, credit_of(t));
    });
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Durable_SQLite_Drain(benchmark::State& state) {
  bench_durable::sqlite_db db;
  drain(state, db.store);
}

// ---- PostgreSQL --------------------------------------------------------------------------------------------------

void BM_Raw_Postgres_Insert(benchmark::State& state) {
  bench_durable::pg_schema schema(state);
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (bench_durable::pg_store(schema, false) == nullptr) {
    return;
  }
  raw_postgres db(schema.conninfo());
  const char* insert = db.prepare("insert", insert_sql);
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto row = row_of(nth_transfer(i++));
    db.transaction([&] { db.run(insert, row); });
  }
  state.SetItemsProcessed(state.iterations());
#endif
}

void BM_Durable_Postgres_Post(benchmark::State& state) {
  bench_durable::pg_schema schema(state);
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (auto s = bench_durable::pg_store(schema, true)) {
    post_each(state, *s);
  }
#endif
}

void BM_Raw_Postgres_Transfer(benchmark::State& state) {
  bench_durable::pg_schema schema(state);
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (bench_durable::pg_store(schema, true) == nullptr) {
    return;
  }
  raw_postgres db(schema.conninfo());
  const char* debit = db.prepare("debit", bench_durable::debit_sql);
  const char* credit = db.prepare("credit", bench_durable::credit_sql);
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto t = nth_transfer(i++);
    db.transaction([&] {
      db.run(debit, debit_of(t));
      db.run(credit, credit_of(t));
    });
  }
  state.SetItemsProcessed(state.iterations());
#endif
}

void BM_Durable_Postgres_Drain(benchmark::State& state) {
  bench_durable::pg_schema schema(state);
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (auto s = bench_durable::pg_store(schema, true)) {
    drain(state, *s);
  }
#endif
}

constexpr int repetitions = 3;
BENCHMARK(BM_Raw_SQLite_Insert)->Iterations(2000)->Repetitions(repetitions)->DisplayAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Durable_SQLite_Post)
    ->Iterations(2000)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Raw_SQLite_Transfer)
    ->Iterations(5000)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Durable_SQLite_Drain)
    ->Iterations(queued_transfers)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Raw_Postgres_Insert)
    ->Iterations(2000)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Durable_Postgres_Post)
    ->Iterations(2000)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Raw_Postgres_Transfer)
    ->Iterations(5000)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Durable_Postgres_Drain)
    ->Iterations(queued_transfers)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  using bench_support::counter;
  using bench_support::ratio;
  return bench_support::run(
      argc, argv,
      {"BM_Raw_SQLite_Insert", "BM_Durable_SQLite_Post", "BM_Raw_SQLite_Transfer", "BM_Durable_SQLite_Drain",
       "BM_Raw_Postgres_Insert", "BM_Durable_Postgres_Post", "BM_Raw_Postgres_Transfer", "BM_Durable_Postgres_Drain",
       "BM_Sync_SQLite_Latency", "BM_Local_SQLite_Latency", "BM_Durable_SQLite_Latency", "BM_Durable_Postgres_Latency"},
      {ratio{"Durable_SQLite_Post", "Raw_SQLite_Insert", ">= 0.8", [](double r) { return r >= 0.8; }, true},
       ratio{"Durable_SQLite_Drain", "Raw_SQLite_Transfer", ">= 1.0", [](double r) { return r >= 1.0; }, true},
       ratio{"Durable_Postgres_Post", "Raw_Postgres_Insert", ">= 0.8", [](double r) { return r >= 0.8; }, true},
       ratio{"Durable_Postgres_Drain", "Raw_Postgres_Transfer", ">= 2.0", [](double r) { return r >= 2.0; }, true},
       ratio{"Durable_SQLite_Latency", "Sync_SQLite_Latency", "informational", nullptr},
       ratio{"Durable_SQLite_Latency", "Local_SQLite_Latency", "informational", nullptr}},
      bench_support::clock_kind::real,
      {counter{"Durable_SQLite_IdleCpu", "cpu_pct_of_core", "% of one core", "< 1.0", [](double v) { return v < 1.0; }},
       counter{"Durable_Postgres_IdleCpu", "cpu_pct_of_core", "% of one core", "< 1.0",
               [](double v) { return v < 1.0; }},
       counter{"Sync_SQLite_Latency", "p50_us", "us", "informational", nullptr},
       counter{"Sync_SQLite_Latency", "p99_us", "us", "informational", nullptr},
       counter{"Local_SQLite_Latency", "p50_us", "us", "informational", nullptr},
       counter{"Local_SQLite_Latency", "p99_us", "us", "informational", nullptr},
       counter{"Durable_SQLite_Latency", "p50_us", "us", "informational", nullptr},
       counter{"Durable_SQLite_Latency", "p99_us", "us", "informational", nullptr},
       counter{"Durable_Postgres_Latency", "p50_us", "us", "informational", nullptr},
       counter{"Durable_Postgres_Latency", "p99_us", "us", "informational", nullptr}});
}
