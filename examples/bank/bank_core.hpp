// bank/bank_core.hpp — the bank on a store (library target bank_core): its schema, and everything it registers on a
// bus. The demo (main.cpp), the tests (tests/examples) and the benchmarks (bench/) all set it up this way:
//
//   cmdbus::sqlite::store store({.path = "data/bank.db"});
//   bank::create_schema(store);
//   cmdbus::bus_builder b;
//   b.use(cmdbus::make_metrics());               // your own outer middleware first
//   bank::register_bank(b, store);               // retry, the unit of work, handlers, queries, projections
//   bank::register_notifications(b, mail);       // after-commit subscribers (optional)
//   cmdbus::bus bus{std::move(b)};
//   bank::account_id a = bus.execute(bank::OpenAccount{"alice"});
//
// The tables (schema_sql):
//   accounts       write model: id, owner, balance, frozen; CONSTRAINT balance_not_negative CHECK (balance >= 0)
//   transfer_view  read model, kept by projections in the command's transaction: one line per movement of money
//                  (seq, from_account, to_account, amount; a deposit has no from_account, a withdrawal no to_account)
//   account_summary read model over the balances: a SQL view of accounts (id, owner, balance, frozen), so a balance
//                  costs a transfer nothing extra
// A Transfer runs exactly transfer_sql(): two UPDATEs in the handler, one INSERT in its projection.
#pragma once

#include <string>

#include <cmdbus/cmdbus.hpp>
#include <cmdbus/retry.hpp>
#include <cmdbus/sqlite/store.hpp>

#include "bank/bank.hpp"
#include "bank/mailbox.hpp"
#include "common/database.hpp"
#include "common/sql.hpp"

namespace bank {

/// The bank's tables and views for `d` (CREATE ... IF NOT EXISTS).
[[nodiscard]] std::string schema_sql(examples::dialect d);
/// Drops the bank's tables and views.
[[nodiscard]] std::string drop_sql();

/// Creates the bank's tables (those missing); `fresh` drops the bank's tables first.
void create_schema(examples::database& db, bool fresh = false);
void create_schema(cmdbus::sqlite::store& store, bool fresh = false);

/// Whether the bank's bus may put commands on durable routes. `durable_routes` also registers the `durable` route
/// kind on the bank's store and, right after the unit of work, its inbox: a command a durable worker runs is marked
/// done in its own transaction, so it is applied once however often its worker dies (create_durable_table first).
enum class durability : unsigned char { in_process, durable_routes };

/// Registers on `b`, in this order: cmdbus::make_retry(retry), the store's unit of work, the handlers of every
/// command and query, and the projections that keep transfer_view. `use()` your own outer middleware (logging,
/// metrics) before calling this. The store must outlive the bus.
void register_bank(cmdbus::bus_builder& b, examples::database& db, const cmdbus::retry_policy& retry = {},
                   durability d = durability::in_process);
void register_bank(cmdbus::bus_builder& b, cmdbus::sqlite::store& store, const cmdbus::retry_policy& retry = {},
                   durability d = durability::in_process);

/// Creates the durable routes' table (cmdbus_queue) in the bank's store if it is missing.
void create_durable_table(examples::database& db);

/// After-commit subscribers: a welcome notice for every new account and a notice to the payee of every transfer.
/// They never run for a command that rolled back. `mail` must outlive the bus.
void register_notifications(cmdbus::bus_builder& b, mailbox& mail);

/// The statements of one Transfer, in the order it runs them (parameters: debit and credit $1 amount, $2 account;
/// record $1 from, $2 to, $3 amount). A benchmark runs the same by hand to measure what the bus adds.
struct transfer_statements {
  std::string debit;   ///< the handler; changes no row when the payer is missing, frozen or short of money
  std::string credit;  ///< the handler; changes no row when the payee is missing or frozen
  std::string record;  ///< the projection of MoneyTransferred
};
[[nodiscard]] transfer_statements transfer_sql(examples::dialect d);

}  // namespace bank
