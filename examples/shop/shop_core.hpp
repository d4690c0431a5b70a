// shop/shop_core.hpp — the shop on a store (library target shop_core): its schema and what it registers on a bus.
//
//   auto db = examples::database::open(cfg);
//   shop::create_schema(db);
//   cmdbus::bus_builder b;
//   shop::register_shop(b, db);                        // retry, the unit of work, handlers, queries, the projection
//   shop::register_confirmations(b, mail);             // after-commit subscriber (optional)
//   cmdbus::bus bus{std::move(b)};
//   auto id = bus.execute(shop::PlaceOrder{"alice", {{"mug", 2}}});
//   shop::order_summary s = bus.query(shop::GetOrder{id});   // already there: projected in the same transaction
//
// The tables (schema_sql):
//   products       write model: sku, name, price, stock; CONSTRAINT stock_not_negative CHECK (stock >= 0)
//   orders         write model: id, customer
//   order_lines    write model: order_id, line_no, sku, quantity, unit_price (the price when ordered)
//   order_summary  read model, kept by the projection of OrderPlaced: order_id, customer, item_count, total
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <cmdbus/cmdbus.hpp>
#include <cmdbus/retry.hpp>
#include <cmdbus/sqlite/store.hpp>

#include "common/database.hpp"
#include "common/sent_list.hpp"
#include "common/sql.hpp"
#include "shop/shop.hpp"

namespace shop {

/// Order confirmations "sent" after commit (customer, text): an in-memory, thread-safe list.
using mailbox = examples::sent_list<std::pair<std::string, std::string>>;

/// The shop's tables for `d` (CREATE ... IF NOT EXISTS).
[[nodiscard]] std::string schema_sql(examples::dialect d);
/// Drops the shop's tables.
[[nodiscard]] std::string drop_sql();

/// Creates the shop's tables (those missing); `fresh` drops the shop's tables first.
void create_schema(examples::database& db, bool fresh = false);
void create_schema(cmdbus::sqlite::store& store, bool fresh = false);

/// Registers on `b`: cmdbus::make_retry(retry), the store's unit of work, the handlers of every command and query,
/// and the projection that keeps order_summary. `use()` your own outer middleware before calling this.
void register_shop(cmdbus::bus_builder& b, examples::database& db, const cmdbus::retry_policy& retry = {});
void register_shop(cmdbus::bus_builder& b, cmdbus::sqlite::store& store, const cmdbus::retry_policy& retry = {});

/// After-commit subscriber: an order confirmation for every order placed (never for one that rolled back).
void register_confirmations(cmdbus::bus_builder& b, mailbox& mail);

}  // namespace shop
