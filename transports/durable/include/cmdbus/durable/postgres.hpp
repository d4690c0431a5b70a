// cmdbus/durable/postgres.hpp — the `durable` route kind on PostgreSQL: workers of every process share the table,
// claiming with FOR UPDATE SKIP LOCKED; a post wakes idle workers everywhere through LISTEN/NOTIFY.
//
//   cmdbus::postgres::store db({.conninfo = "host=127.0.0.1 dbname=bank"});
//   cmdbus::durable::migrate(db);
//   b.route_kind(cmdbus::durable::kind(db));
//   b.use(db.unit_of_work());
//   b.use(cmdbus::durable::inbox(db));
//
// Built when cmdbus::postgres is (cmdbus::durable then links it). Everything else is in cmdbus/durable.hpp.
//
// Contains: the postgres::store overloads of `durable::kind()`, `durable::inbox()`, `durable::migrate()`.
#pragma once

#include <memory>
#include <string>

#include "cmdbus/durable.hpp"
#include "cmdbus/postgres/store.hpp"

namespace cmdbus::durable {

/// The durable route kind on `store` (which must outlive every bus built with it), known as `store_name` in the
/// routing file's `store = "..."`. Run migrate() on the store first.
[[nodiscard]] std::shared_ptr<route_kind> kind(postgres::store& store, std::string store_name = "main");
/// The inbox middleware for durable routes on `store`; use() it right after store.unit_of_work().
[[nodiscard]] std::shared_ptr<middleware> inbox(postgres::store& store);
/// Creates the durable route's table and indexes in `store` if they are missing; safe to run at every start.
void migrate(postgres::store& store);

}  // namespace cmdbus::durable
