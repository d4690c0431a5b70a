#include "fault_bank.hpp"

#include <fmt/format.h>

#include <cmdbus/durable.hpp>
#include <cmdbus/retry.hpp>

namespace fault {
namespace {

// The statements number their parameters $1, $2, ... in order of first use: SQLite and PostgreSQL both read them.
template <class Store>
void create_on(Store& db) {
  cmdbus::durable::migrate(db);
  db.exec_script(
      "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0));"
      "CREATE TABLE balance_view (account BIGINT PRIMARY KEY, balance BIGINT NOT NULL);"
      "CREATE TABLE ledger (command_id TEXT NOT NULL, n BIGINT NOT NULL, from_account BIGINT NOT NULL,"
      " to_account BIGINT NOT NULL, amount BIGINT NOT NULL);");
  std::string seed;
  for (std::int64_t a = 1; a <= account_count; ++a) {
    seed += fmt::format("INSERT INTO accounts VALUES ({0}, {1}); INSERT INTO balance_view VALUES ({0}, {1});", a,
                        initial_balance);
  }
  db.exec_script(seed);
}

template <class Store>
void register_on(cmdbus::bus_builder& b, Store& db) {
  b.route_kind(cmdbus::durable::kind(db));
  cmdbus::retry_policy retry;
  retry.max_attempts = 10;
  retry.initial_delay = std::chrono::milliseconds{5};
  b.use(cmdbus::make_retry(retry));
  b.use(db.unit_of_work());
  b.use(cmdbus::durable::inbox(db));
  b.handle<Transfer>([&db](const Transfer& t, cmdbus::context& ctx) {
    if (flaky_by_design(t.n) && ctx.attempt() == 1) {
      throw flaky_failure(fmt::format("transfer {} failed at its first attempt, by design", t.n));
    }
    auto& c = *db.transaction_of(ctx);
    if (c.execute("UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1", t.amount, t.from) !=
        1) {
      throw insufficient_funds(fmt::format("account {} holds less than {}", t.from, t.amount));
    }
    c.execute("UPDATE accounts SET balance = balance + $1 WHERE id = $2", t.amount, t.to);
    ctx.emit(MoneyMoved{t.from, t.to, t.amount});
    c.execute("INSERT INTO ledger (command_id, n, from_account, to_account, amount) VALUES ($1, $2, $3, $4, $5)",
              ctx.id().to_string(), t.n, t.from, t.to, t.amount);
  });
  b.project<MoneyMoved>([&db](const MoneyMoved& e, cmdbus::context& ctx) {
    auto& c = *db.transaction_of(ctx);
    c.execute("UPDATE balance_view SET balance = balance - $1 WHERE account = $2", e.amount, e.from);
    c.execute("UPDATE balance_view SET balance = balance + $1 WHERE account = $2", e.amount, e.to);
  });
}

}  // namespace

std::string route_config(std::uint32_t workers_per_process, std::uint32_t lease_ms) {
  return fmt::format(R"([routes.transfers]
kind = "durable"
workers = {}
start_workers = false
poll_ms = 20
lease_ms = {}
batch = 8
[commands]
"fault.transfer" = "transfers"
)",
                     workers_per_process, lease_ms);
}

void create_bank(cmdbus::sqlite::store& db) {
  create_on(db);
}
void register_bank(cmdbus::bus_builder& b, cmdbus::sqlite::store& db) {
  register_on(b, db);
}

#if CMDBUS_DURABLE_WITH_POSTGRES
void create_bank(cmdbus::postgres::store& db) {
  create_on(db);
}
void register_bank(cmdbus::bus_builder& b, cmdbus::postgres::store& db) {
  register_on(b, db);
}
#endif

}  // namespace fault
