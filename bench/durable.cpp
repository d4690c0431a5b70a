// bench_durable — the `durable` route on SQLite (a file database in a temporary directory, WAL, synchronous=NORMAL)
// against the same work done raw with prepared statements, one command per transaction:
//
//   BM_Raw_SQLite_Insert / BM_Durable_SQLite_Post     post to a durable route (no workers in this bus: the post
//                                                     alone) vs inserting the same row; target >= 0.8 x raw
//   BM_Raw_SQLite_Transfer / BM_Durable_SQLite_Drain  2 workers draining queued transfers (unit of work + inbox:
//                                                     effect and done mark in one transaction) vs the transfer's
//                                                     two UPDATEs raw; target >= 1 x raw (not met yet: one
//                                                     transaction per command; batching is the next step)
//
// Times are per command, real (wall) time: the work waits on the database. PostgreSQL, idle CPU and latency come with
// the PostgreSQL queue (issue 9, point 9).
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/durable.hpp"
#include "cmdbus/sqlite/store.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "cmdbus/wire/json_codec.hpp"
#include "support/ratio_report.hpp"

namespace bench_durable {

struct Transfer {
  static constexpr std::string_view command_name = "bench.transfer";
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t amount = 0;
  [[nodiscard]] std::int64_t partition_key() const { return from; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Transfer, from, to, amount)

}  // namespace bench_durable

CMDBUS_JSON_CODEC(bench_durable::Transfer, 1);

namespace {

using bench_durable::Transfer;
constexpr int accounts = 100;

/// A temporary directory with the database file, removed afterwards.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cmdbus-bench-durable-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] std::string db() const { return (path_ / "bench.db").string(); }

 private:
  std::filesystem::path path_;
};

const char* const accounts_sql =
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
    "INSERT INTO accounts SELECT i, 1000000000 FROM n;";
const char* const debit_sql = "UPDATE accounts SET balance = balance - ? WHERE id = ?";
const char* const credit_sql = "UPDATE accounts SET balance = balance + ? WHERE id = ?";

Transfer nth_transfer(std::int64_t i) {
  return Transfer{i % accounts + 1, (i + 1) % accounts + 1, 1};
}

/// A raw connection: the same settings as the store's (WAL, synchronous=NORMAL, busy timeout).
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path);
    }
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() {
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
  void step(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    sqlite3_reset(s);
  }

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> statements_;
};

std::string durable_config(int workers) {
  return "[routes.transfers]\nkind = \"durable\"\nworkers = " + std::to_string(workers) +
         "\npoll_ms = 10\nbatch = 32\n[commands]\n\"bench.transfer\" = \"transfers\"\n";
}

cmdbus::bus_builder transfers(cmdbus::sqlite::store& db, int workers) {
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.use(db.unit_of_work());
  b.use(cmdbus::durable::inbox(db));
  b.handle<Transfer>([](const Transfer& t, cmdbus::context& ctx) {
    auto& sql = cmdbus::sqlite::connection_of(ctx);
    sql.execute(debit_sql, t.amount, t.from);
    sql.execute(credit_sql, t.amount, t.to);
  });
  b.config_text(durable_config(workers), "bench.toml");
  return b;
}

void BM_Raw_SQLite_Insert(benchmark::State& state) {
  temp_dir dir;
  {
    cmdbus::sqlite::store s({.path = dir.db()});
    cmdbus::durable::migrate(s);
  }
  raw_db db(dir.db());
  auto* begin = db.prepare("BEGIN IMMEDIATE");
  auto* commit = db.prepare("COMMIT");
  auto* insert = db.prepare(
      "INSERT INTO cmdbus_queue (id, route, command, partition_key, state, attempts, available_at, created_at, "
      "updated_at, envelope) VALUES (?, 'transfers', 'bench.transfer', ?, 'pending', 0, ?, ?, ?, ?)");
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto t = nth_transfer(i++);
    const std::string id = cmdbus::command_id::generate().to_string();
    const std::string key = std::to_string(t.from);
    const std::string envelope = R"({"id":")" + id + R"(","command":"bench.transfer","schema_version":1,)" +
                                 R"("partition_key":")" + key + R"(","payload":)" + nlohmann::json(t).dump() + "}";
    const auto now = cmdbus::wire::micros(cmdbus::clock::now());
    db.step(begin);
    sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, now);
    sqlite3_bind_int64(insert, 4, now);
    sqlite3_bind_int64(insert, 5, now);
    sqlite3_bind_text(insert, 6, envelope.c_str(), -1, SQLITE_TRANSIENT);
    db.step(insert);
    db.step(commit);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Durable_SQLite_Post(benchmark::State& state) {
  temp_dir dir;
  cmdbus::sqlite::store s({.path = dir.db()});
  cmdbus::durable::migrate(s);
  s.exec_script(accounts_sql);
  cmdbus::bus bus{transfers(s, 0)};  // no workers: the post alone
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(bus.post(nth_transfer(i++)));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Raw_SQLite_Transfer(benchmark::State& state) {
  temp_dir dir;
  raw_db db(dir.db());
  db.exec(accounts_sql);
  auto* begin = db.prepare("BEGIN IMMEDIATE");
  auto* commit = db.prepare("COMMIT");
  auto* debit = db.prepare(debit_sql);
  auto* credit = db.prepare(credit_sql);
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto t = nth_transfer(i++);
    db.step(begin);
    sqlite3_bind_int64(debit, 1, t.amount);
    sqlite3_bind_int64(debit, 2, t.from);
    db.step(debit);
    sqlite3_bind_int64(credit, 1, t.amount);
    sqlite3_bind_int64(credit, 2, t.to);
    db.step(credit);
    db.step(commit);
  }
  state.SetItemsProcessed(state.iterations());
}

/// Queues `max_iterations` transfers (not timed), then times two workers draining them: the first iteration starts
/// the workers, the last waits until every row has succeeded.
void BM_Durable_SQLite_Drain(benchmark::State& state) {
  temp_dir dir;
  cmdbus::sqlite::store s({.path = dir.db()});
  cmdbus::durable::migrate(s);
  s.exec_script(accounts_sql);
  const std::int64_t n = static_cast<std::int64_t>(state.max_iterations);
  {
    cmdbus::bus producer{transfers(s, 0)};
    for (std::int64_t i = 0; i < n; ++i) {
      (void)producer.post(nth_transfer(i));
    }
  }
  std::unique_ptr<cmdbus::bus> workers;
  std::int64_t i = 0;
  for (auto _ : state) {
    if (i++ == 0) {
      workers = std::make_unique<cmdbus::bus>(transfers(s, 2));
    }
    if (i == n) {
      // A cheap look (two index seeks) every millisecond: the waiting must not take a core from the workers.
      bool left = true;
      while (left) {
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
        s.with_connection([&](cmdbus::sqlite::connection& c) {
          left = c.query_one<std::int64_t>(
                      "SELECT EXISTS (SELECT 1 FROM cmdbus_queue WHERE route = 'transfers' AND "
                      "state IN ('pending', 'running'))")
                     .value_or(1) != 0;
        });
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
  const auto stats = workers->queue_stats()[0];
  if (stats.completed != static_cast<std::uint64_t>(n) || stats.failed + stats.dead != 0) {
    state.SkipWithError("not every transfer succeeded");
  }
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
    ->Iterations(5000)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  using bench_support::ratio;
  return bench_support::run(
      argc, argv,
      {"BM_Raw_SQLite_Insert", "BM_Durable_SQLite_Post", "BM_Raw_SQLite_Transfer", "BM_Durable_SQLite_Drain"},
      {ratio{"Durable_SQLite_Post", "Raw_SQLite_Insert", ">= 0.8", [](double r) { return r >= 0.8; }, true},
       ratio{"Durable_SQLite_Drain", "Raw_SQLite_Transfer", ">= 1.0", [](double r) { return r >= 1.0; }, true}},
      bench_support::clock_kind::real);
}
