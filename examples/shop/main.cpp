// shop_demo — a shop on SQLite driven through cmdbus: a catalog, orders read back from the order_summary read model
// the moment `execute` returns, orders that cannot be served leaving no trace, and confirmations sent after commit.
// It checks as it goes and exits non-zero if a check fails. Each run starts from an empty database.
//
//   shop_demo [path/to/cmdbus.toml]        (default: the copy of examples/shop/cmdbus.toml in the build directory)
#include <fmt/format.h>

#include <cmdbus/cmdbus.hpp>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "common/database.hpp"
#include "common/report.hpp"
#include "common/store_config.hpp"
#include "shop/shop_core.hpp"

#ifndef SHOP_DEMO_CONFIG
#define SHOP_DEMO_CONFIG "cmdbus.toml"
#endif

namespace {

using examples::format_money;

constexpr std::int64_t initial_stock = 10 + 5 + 3;

struct demo {
  cmdbus::bus& bus;
  examples::database& db;
  shop::mailbox& mail;
  examples::checks& check;

  [[nodiscard]] std::int64_t count(std::string_view sql) const { return db.scalar(sql).value_or(-1); }
  /// Everything an order leaves behind: orders, lines, summaries, stock, confirmations.
  [[nodiscard]] std::string footprint() const {
    return fmt::format("{} orders, {} lines, {} summaries, {} units in stock, {} confirmations",
                       count("SELECT COUNT(*) FROM orders"), count("SELECT COUNT(*) FROM order_lines"),
                       count("SELECT COUNT(*) FROM order_summary"), count("SELECT SUM(stock) FROM products"),
                       mail.size());
  }
};

void print_order(const shop::order_summary& s) {
  fmt::print("      order {}: {}, {} item(s), {}\n", s.id, s.customer, s.item_count, format_money(s.total));
}

void section_catalog(demo& d) {
  examples::print_section("a", "the catalog");
  d.bus.execute(shop::AddProduct{"mug", "Mug", 8'50, 10});
  d.bus.execute(shop::AddProduct{"tee", "T-shirt", 19'99, 5});
  d.bus.execute(shop::AddProduct{"cap", "Cap", 12'00, 3});
  fmt::print("  execute(AddProduct) x3: mug $8.50 (10), tee $19.99 (5), cap $12.00 (3)\n");
  auto r = d.bus.try_execute(shop::AddProduct{"mug", "Another mug", 1'00, 1});
  if (!r) {
    fmt::print("  try_execute(AddProduct mug again): {}\n", r.error().describe());
  }
  d.check.expect(!r && r.error().code() == cmdbus::error_code::rejected,
                 "a second product with the same sku is rejected by the primary key");
}

void section_orders(demo& d) {
  examples::print_section("b", "an order, read back from the read model the moment execute returns");
  const auto id = d.bus.execute(shop::PlaceOrder{"alice", {{"mug", 2}, {"tee", 1}}});
  fmt::print("  execute(PlaceOrder alice: 2 mug, 1 tee) -> order {}; at once, query(GetOrder {}):\n", id, id);
  const auto s = d.bus.query(shop::GetOrder{id});
  print_order(s);
  d.check.expect(s.id == id && s.customer == "alice" && s.item_count == 3 && s.total == 2 * 8'50 + 19'99,
                 "GetOrder right after execute shows the order (its projection ran in the same transaction)");

  const auto second = d.bus.execute(shop::PlaceOrder{"alice", {{"cap", 1}}});
  d.bus.execute(shop::PlaceOrder{"bob", {{"mug", 1}}});
  fmt::print(
      "  execute(PlaceOrder alice: 1 cap) -> order {}; execute(PlaceOrder bob: 1 mug); query(ListOrders alice):\n",
      second);
  const auto orders = d.bus.query(shop::ListOrders{"alice"});
  for (const auto& o : orders) {
    print_order(o);
  }
  d.check.expect(orders.size() == 2 && orders.back().id == second, "ListOrders shows both of alice's orders");
}

void section_rejected(demo& d) {
  examples::print_section("c", "orders that cannot be served are rejected and leave no trace");
  const auto before = d.footprint();
  fmt::print("  before: {}\n", before);
  {
    fmt::print(
        "  try_execute(PlaceOrder bob: 1 mug, 10 cap): the order row and the mug line are written, then the\n"
        "  cap line finds too little stock and the handler throws\n");
    const auto mugs = d.bus.query(shop::GetStock{"mug"});
    auto r = d.bus.try_execute(shop::PlaceOrder{"bob", {{"mug", 1}, {"cap", 10}}});
    if (!r) {
      examples::print_error(r.error());
    }
    fmt::print("    query(GetStock mug): {} before, {} after (the mug line's stock was given back)\n", mugs,
               d.bus.query(shop::GetStock{"mug"}));
    d.check.expect(
        !r && r.error().type_name() == "shop::out_of_stock" && r.error().code() == cmdbus::error_code::rejected,
        "an order above the stock is rejected with shop::out_of_stock");
  }
  {
    auto r = d.bus.try_execute(shop::PlaceOrder{"carol", {{"tee", 1}, {"hat", 1}}});
    fmt::print("  try_execute(PlaceOrder carol: 1 tee, 1 hat): {}\n", r ? "placed" : r.error().describe());
    d.check.expect(!r && r.error().type_name() == "shop::unknown_product", "an unknown product is rejected");
  }
  {
    auto r = d.bus.try_execute(shop::PlaceOrder{"carol", {{"tee", 0}}});
    fmt::print("  try_execute(PlaceOrder carol: 0 tee): {}\n", r ? "placed" : r.error().describe());
    d.check.expect(!r && r.error().type_name() == "cmdbus::validation_error", "a quantity of 0 fails validation");
  }
  const auto after = d.footprint();
  fmt::print("  after:  {}\n", after);
  d.check.expect(after == before, "the rejected orders left no order, line, summary, stock change or confirmation");
  auto missing = d.bus.try_query(shop::GetOrder{999});
  d.check.expect(!missing && missing.error().type_name() == "shop::order_not_found",
                 "GetOrder of an order that does not exist is rejected with shop::order_not_found");
}

void section_invariants(demo& d) {
  examples::print_section("", "confirmations (after commit) and invariants");
  for (const auto& [customer, text] : d.mail.sent()) {
    fmt::print("  to {}: \"{}\"\n", customer, text);
  }
  const auto orders = d.count("SELECT COUNT(*) FROM orders");
  d.check.expect(d.mail.size() == static_cast<std::size_t>(orders),
                 "one confirmation per committed order, none for the rejected ones");
  const auto mismatched = d.count(
      "SELECT COUNT(*) FROM orders o LEFT JOIN order_summary s ON s.order_id = o.id WHERE s.order_id IS NULL "
      "OR s.item_count <> (SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id) "
      "OR s.total <> (SELECT SUM(l.quantity * l.unit_price) FROM order_lines l WHERE l.order_id = o.id)");
  d.check.expect(mismatched == 0 && d.count("SELECT COUNT(*) FROM order_summary") == orders,
                 "every order has one order_summary row, and it agrees with the order's lines");
  d.check.expect(
      d.count("SELECT SUM(stock) FROM products") + d.count("SELECT SUM(quantity) FROM order_lines") == initial_stock,
      "stock left + items sold = the stock the catalog started with");
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path config = argc > 1 ? argv[1] : SHOP_DEMO_CONFIG;

  examples::print_section("", "startup: the store and the routes");
  std::unique_ptr<examples::database> db;
  try {
    const auto store = examples::read_store_config(config, {"shop.db", examples::program_dir()});
    db = std::make_unique<examples::database>(examples::database::open(store, examples::database::mode::fresh));
    shop::create_schema(*db);
    fmt::print("  store: {}\n    from {}; started afresh\n", db->description(), store.origin);
  } catch (const std::exception& e) {
    fmt::print(stderr, "shop_demo: {}\n", e.what());
    return 2;
  }

  shop::mailbox mail;
  auto metrics = cmdbus::make_metrics();
  cmdbus::bus_builder b;
  b.use(metrics);
  shop::register_shop(b, *db);
  shop::register_confirmations(b, mail);
  b.config_file(config);
  std::unique_ptr<cmdbus::bus> bus;
  try {
    bus = std::make_unique<cmdbus::bus>(std::move(b));
  } catch (const cmdbus::config_error& e) {
    fmt::print(stderr, "shop_demo: {}\n", e.what());
    return 2;
  }
  fmt::print("  routing file: {}\n", config.string());
  examples::print_routes(*bus);

  examples::checks check;
  demo d{*bus, *db, mail, check};
  try {
    section_catalog(d);
    section_orders(d);
    section_rejected(d);
    examples::print_section("d", "metrics per command and query type");
    examples::print_metrics(*metrics);
    section_invariants(d);
  } catch (const std::exception& e) {
    fmt::print(stderr, "shop_demo: unexpected exception: {}\n", e.what());
    return 1;
  }
  fmt::print("\n{} checks passed, {} failed\n", check.passed(), check.failed());
  return check.failed() == 0 ? 0 : 1;
}
