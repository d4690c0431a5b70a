// shop/shop.hpp — the shop's messages (commands, queries, events) and its domain exceptions. Money is in cents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cmdbus/error.hpp>

namespace shop {

using money = std::int64_t;  // cents
using order_id = std::int64_t;

// ---- domain exceptions (all "rejected": the order is wrong for the current state) --------------------------------
class unknown_product : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};
class out_of_stock : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};
class order_not_found : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};

// ---- commands -----------------------------------------------------------------------------------------------------
struct AddProduct {
  static constexpr std::string_view command_name = "shop.add_product";
  std::string sku;
  std::string name;
  money price = 0;
  std::int64_t stock = 0;

  [[nodiscard]] std::string_view partition_key() const { return sku; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (sku.empty() || name.empty()) {
      return "a product needs a sku and a name";
    }
    if (price < 0 || stock < 0) {
      return "price and stock must not be negative";
    }
    return std::nullopt;
  }
};

struct line_request {
  std::string sku;
  std::int64_t quantity = 0;
};
/// Writes the order (orders + order_lines), takes the items from stock and emits OrderPlaced, whose projection
/// writes the order's row in order_summary in the same transaction. Returns the new order's id.
struct PlaceOrder {
  static constexpr std::string_view command_name = "shop.place_order";
  using result_type = order_id;
  std::string customer;
  std::vector<line_request> lines;

  [[nodiscard]] std::string_view partition_key() const { return customer; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (customer.empty()) {
      return "customer must not be empty";
    }
    if (lines.empty()) {
      return "an order needs at least one line";
    }
    for (const auto& l : lines) {
      if (l.quantity <= 0) {
        return "quantity of " + l.sku + " must be positive, got " + std::to_string(l.quantity);
      }
    }
    return std::nullopt;
  }
};

// ---- queries ------------------------------------------------------------------------------------------------------
/// A row of the read model order_summary.
struct order_summary {
  order_id id = 0;
  std::string customer;
  std::int64_t item_count = 0;  ///< the sum of the quantities
  money total = 0;
};
/// From the read model; throws order_not_found.
struct GetOrder {
  static constexpr std::string_view query_name = "shop.get_order";
  using result_type = order_summary;
  order_id id = 0;
};
/// A customer's orders from the read model, oldest first.
struct ListOrders {
  static constexpr std::string_view query_name = "shop.list_orders";
  using result_type = std::vector<order_summary>;
  std::string customer;
};
/// Units left of a product; throws unknown_product.
struct GetStock {
  static constexpr std::string_view query_name = "shop.get_stock";
  using result_type = std::int64_t;
  std::string sku;
};

// ---- events -------------------------------------------------------------------------------------------------------
struct OrderPlaced {
  static constexpr std::string_view event_name = "shop.order_placed";
  order_id id = 0;
  std::string customer;
  std::int64_t item_count = 0;
  money total = 0;
};

}  // namespace shop
