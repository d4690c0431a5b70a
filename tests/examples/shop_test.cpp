// The shop example (examples/shop) on SQLite and PostgreSQL, with every command on the sync route and on a local route
// (example_routes.hpp): GetOrder right after PlaceOrder, and orders that fail leave no trace.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "common/database.hpp"
#include "example_routes.hpp"
#include "example_store.hpp"
#include "shop/shop_core.hpp"

namespace {

using namespace shop;

class Shop : public ::testing::TestWithParam<examples_test::store_and_routes> {
 protected:
  void SetUp() override {
    std::string skip;
    store = std::make_unique<examples_test::example_store>(std::get<0>(GetParam()), skip);
    if (!store->db) {
      GTEST_SKIP() << skip;
    }
    db = store->db.get();
    create_schema(*db);
  }
  void TearDown() override {
    const bool ran = bus != nullptr;
    bus.reset();
    store.reset();
    if (ran && !IsSkipped()) {
      probe->expect_routes(routes());  // every test checks that its commands ran where its configuration says
    }
  }

  /// The route configuration: "sync" or "local".
  [[nodiscard]] const std::string& routes() const { return std::get<1>(GetParam()); }

  /// The bus; `extra` may add registrations (a failing projection) before it is built.
  template <class F>
  void start(F&& extra) {
    cmdbus::bus_builder b;
    b.use(probe);
    register_shop(b, *db);
    register_confirmations(b, mail);
    extra(b);
    examples_test::use_routes(b, routes());
    bus = std::make_unique<cmdbus::bus>(std::move(b));
    bus->execute(AddProduct{"mug", "Mug", 8'50, 10});
    bus->execute(AddProduct{"cap", "Cap", 12'00, 3});
  }
  void start() {
    start([](cmdbus::bus_builder&) {});
  }

  [[nodiscard]] std::int64_t count(const std::string& table) const {
    return db->scalar("SELECT COUNT(*) FROM " + table).value_or(-1);
  }
  /// Everything an order could leave behind.
  [[nodiscard]] std::string footprint() const {
    return std::to_string(count("orders")) + " orders, " + std::to_string(count("order_lines")) + " lines, " +
           std::to_string(count("order_summary")) + " summaries, " + std::to_string(bus->query(GetStock{"mug"})) +
           " mugs, " + std::to_string(bus->query(GetStock{"cap"})) + " caps, " + std::to_string(mail.size()) +
           " confirmations";
  }

  std::unique_ptr<examples_test::example_store> store;
  examples::database* db = nullptr;
  mailbox mail;
  std::shared_ptr<examples_test::thread_probe> probe = std::make_shared<examples_test::thread_probe>();
  std::unique_ptr<cmdbus::bus> bus;
};

INSTANTIATE_TEST_SUITE_P(Stores, Shop, examples_test::all_stores_and_routes(), examples_test::store_and_routes_name);

TEST_P(Shop, EveryCommandTakesTheConfiguredRoute) {
  start();
  examples_test::expect_every_command_on(*bus, routes(), "shop.place_order");
  order_id id = 0;
  probe->expect_one_command_ran_per(routes(), [&] { id = bus->execute(PlaceOrder{"carol", {{"cap", 1}}}); });
  EXPECT_EQ(bus->query(GetOrder{id}).customer, "carol");
}

TEST_P(Shop, GetOrderRightAfterPlaceOrderShowsTheOrder) {
  start();
  const auto committed = db->committed();
  const order_id id = bus->execute(PlaceOrder{"alice", {{"mug", 2}, {"cap", 1}}});
  EXPECT_EQ(db->committed(), committed + 1) << "the order and its summary committed together";
  const order_summary s = bus->query(GetOrder{id});
  EXPECT_EQ(s.id, id);
  EXPECT_EQ(s.customer, "alice");
  EXPECT_EQ(s.item_count, 3);
  EXPECT_EQ(s.total, 2 * 8'50 + 12'00);
  EXPECT_EQ(bus->query(GetStock{"mug"}), 8);
  EXPECT_EQ(count("order_lines"), 2);
  ASSERT_EQ(mail.size(), 1U);
  EXPECT_EQ(mail.sent()[0].second, "Thank you, alice! Order 1: 3 item(s), $29.00.");
}

TEST_P(Shop, ListOrdersShowsACustomersOrdersOldestFirst) {
  start();
  const auto first = bus->execute(PlaceOrder{"alice", {{"mug", 1}}});
  bus->execute(PlaceOrder{"bob", {{"mug", 1}}});
  const auto second = bus->execute(PlaceOrder{"alice", {{"cap", 2}}});
  const auto orders = bus->query(ListOrders{"alice"});
  ASSERT_EQ(orders.size(), 2U);
  EXPECT_EQ(orders[0].id, first);
  EXPECT_EQ(orders[1].id, second);
  EXPECT_EQ(orders[1].total, 24'00);
}

TEST_P(Shop, AnOrderAboveTheStockIsRejectedAndLeavesNoTrace) {
  start();
  bus->execute(PlaceOrder{"alice", {{"mug", 1}}});
  const auto before = footprint();
  // The order row and the mug line are written before the cap line fails.
  const auto r = bus->try_execute(PlaceOrder{"bob", {{"mug", 2}, {"cap", 4}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(), "shop::out_of_stock");
  EXPECT_NE(r.error().message().find("'cap' has 3 left"), std::string::npos) << r.error().message();
  EXPECT_EQ(footprint(), before);
}

TEST_P(Shop, AnUnknownProductIsRejectedAndLeavesNoTrace) {
  start();
  const auto before = footprint();
  const auto r = bus->try_execute(PlaceOrder{"bob", {{"mug", 1}, {"hat", 1}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type_name(), "shop::unknown_product");
  EXPECT_EQ(footprint(), before);
}

TEST_P(Shop, AProjectionThatFailsRollsTheOrderBack) {
  start([](cmdbus::bus_builder& b) {
    b.project<OrderPlaced>([](const OrderPlaced&) { throw std::runtime_error("read model unavailable"); });
  });
  const auto before = footprint();
  EXPECT_THROW(bus->execute(PlaceOrder{"alice", {{"mug", 1}}}), std::runtime_error);
  EXPECT_EQ(footprint(), before) << "no order without its summary, and no summary without its order";
}

TEST_P(Shop, BadInputIsRejected) {
  start();
  auto dup = bus->try_execute(AddProduct{"mug", "Mug again", 1, 1});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(dup.error().type_name(),
            db->sqlite() != nullptr ? "cmdbus::sqlite::constraint_error" : "cmdbus::postgres::constraint_error");
  auto empty = bus->try_execute(PlaceOrder{"alice", {}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().type_name(), "cmdbus::validation_error");
  auto missing = bus->try_query(GetOrder{42});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type_name(), "shop::order_not_found");
}

}  // namespace
