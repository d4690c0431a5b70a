// Read your own writes across a local route: orders posted to workers, then queried with the post's token (issue 4,
// point 9). Without the token a query may run before the worker has committed; with it, the order is always there.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/database.hpp"
#include "example_routes.hpp"
#include "example_store.hpp"
#include "shop/shop_core.hpp"

namespace {

using namespace shop;

class Consistency : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string skip;
    store = std::make_unique<examples_test::example_store>(GetParam(), skip);
    if (!store->db) {
      GTEST_SKIP() << skip;
    }
    create_schema(*store->db);
    cmdbus::bus_builder b;
    register_shop(b, *store->db);
    b.config_text(
        "[routes.orders]\nkind = \"local\"\nworkers = 2\ncapacity = 10000\n"
        "[commands]\n\"shop.place_order\" = \"orders\"\n",
        "consistency.toml");
    bus = std::make_unique<cmdbus::bus>(std::move(b));
    bus->execute(AddProduct{"mug", "Mug", 8'50, 100'000});
  }
  void TearDown() override {
    bus.reset();
    store.reset();
  }

  std::unique_ptr<examples_test::example_store> store;
  std::unique_ptr<cmdbus::bus> bus;
};

INSTANTIATE_TEST_SUITE_P(Stores, Consistency, ::testing::Values("sqlite", "postgres"), examples_test::routes_name);

TEST_P(Consistency, APostedOrderQueriedWithItsTokenIsAlwaysVisible) {
  for (const auto& r : bus->routes()) {
    EXPECT_EQ(r.kind, r.command == PlaceOrder::command_name ? "local" : "sync") << r.command;
  }
  const std::string customers[] = {"ann", "bob", "cat"};
  int placed[3] = {0, 0, 0};
  for (int i = 0; i < 150; ++i) {
    const int c = i % 3;
    const cmdbus::command_id id = bus->post(PlaceOrder{customers[c], {{"mug", 1}}});
    ++placed[c];
    const auto orders = bus->query(ListOrders{customers[c]}, cmdbus::at_least(id));
    ASSERT_EQ(orders.size(), static_cast<std::size_t>(placed[c])) << "order " << i << " was not visible";
    EXPECT_EQ(bus->status(id)->status, cmdbus::command_status::succeeded);
  }
}

TEST_P(Consistency, ASentOrdersTokenCarriesTheReadModelVersion) {
  const auto before = store->db->committed();
  auto h = bus->send(PlaceOrder{"dan", {{"mug", 2}}});
  const order_id id = h.get();
  const cmdbus::consistency_token token = h.token();
  EXPECT_EQ(token.command, h.id());
  EXPECT_NE(token.store, nullptr) << "the worker's unit of work committed to the store";
  EXPECT_GT(token.version, before);
  EXPECT_LE(token.version, store->db->committed());
  const order_summary s = bus->query(GetOrder{id}, cmdbus::at_least(token));
  EXPECT_EQ(s.item_count, 2);
  EXPECT_EQ(bus->status(h.id())->token.version, token.version);
}

TEST_P(Consistency, AFailedOrderSettlesAndTheQueryDoesNotWaitForIt) {
  const cmdbus::command_id id = bus->post(PlaceOrder{"eve", {{"no-such-sku", 1}}});
  const auto orders = bus->query(ListOrders{"eve"}, cmdbus::at_least(id));
  EXPECT_TRUE(orders.empty());
  const auto st = bus->status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::dead) << "posted, failed, nobody waiting: a dead letter";
  ASSERT_TRUE(bus->dead_letters().inspect(id));
  EXPECT_EQ(bus->dead_letters().inspect(id)->error_type, "shop::unknown_product");
}

}  // namespace
