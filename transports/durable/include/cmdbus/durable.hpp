// cmdbus/durable.hpp — the `durable` route kind: a command on a durable route is a row in a table of the
// application's own database (SQLite, or PostgreSQL when several processes share the work) before post() returns, and
// stays there until a worker has run it.
//
//   cmdbus::sqlite::store db({.path = "data/bank.db"});
//   cmdbus::durable::migrate(db);                    // creates cmdbus_queue if missing (docs/durable.md)
//   cmdbus::bus_builder b;
//   b.route_kind(cmdbus::durable::kind(db));          // this store is `store = "main"`
//   b.config_file("cmdbus.toml");                     // [routes.transfers] kind = "durable", workers = 2, ...
//
// Keys of a [routes.NAME] table with kind = "durable": store (the name given to kind(); default "main"), workers
// (threads of this process that run its commands, 0 for a process that only posts), poll_ms (how often an idle
// worker looks for commands posted by other processes), lease_ms, batch (commands claimed at once),
// execute_timeout_ms, max_lost_claims (a command whose worker was lost this many times while running it, killed
// say, ends dead: default 10; these lost claims do not use up its retry policy's attempts) and inbox (default true,
// below). Every command type routed to it must be encodable (cmdbus/wire/json_codec.hpp).
//
// Each command type routed to a durable route runs with the inbox right after the store's unit of work: it is then
// marked succeeded in the same transaction as its handler's effects (both commit, or neither), and a run whose row
// another worker took over is rolled back instead of applied twice (exactly-once effects). A bus whose workers would
// run one without it does not start (config_error), unless the route says `inbox = false` (at-least-once).
//
//   b.use(db.unit_of_work());
//   b.use(cmdbus::durable::inbox(db));
//
// PostgreSQL: cmdbus/durable/postgres.hpp.
//
// Contains: `durable::kind()`, `durable::migrate()`, `durable::inbox()`, `durable::claim_lost_error`.
#pragma once

#include <memory>
#include <string>

#include "cmdbus/error.hpp"
#include "cmdbus/middleware.hpp"
#include "cmdbus/route_kind.hpp"
#include "cmdbus/sqlite/store.hpp"

namespace cmdbus::durable {

/// The durable route kind on `store` (which must outlive every bus built with it), known as `store_name` in the
/// routing file's `store = "..."`. Run migrate() on the store first.
[[nodiscard]] std::shared_ptr<route_kind> kind(sqlite::store& store, std::string store_name = "main");

/// The inbox middleware for durable routes on `store` (see above); use() it right after store.unit_of_work().
[[nodiscard]] std::shared_ptr<middleware> inbox(sqlite::store& store);

/// A durable worker's run found its row no longer held by it (see inbox()): rolled back, not retried here.
class claim_lost_error : public rejected_error {
 public:
  using rejected_error::rejected_error;
};

/// Creates the durable route's table and indexes in `store` if they are missing; safe to run at every start.
void migrate(sqlite::store& store);

}  // namespace cmdbus::durable
