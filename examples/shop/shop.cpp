// The shop's handlers, queries and projection, written once for every store backend (common/sql.hpp).
#include <fmt/format.h>

#include <cmdbus/bus.hpp>
#include <cmdbus/context.hpp>
#include <cmdbus/retry.hpp>
#include <memory>

#include "common/report.hpp"
#include "shop/shop_core.hpp"

namespace shop {
namespace {

struct statements {
  explicit statements(examples::dialect d)
      : add_product(examples::sql_for(d, "INSERT INTO products (sku, name, price, stock) VALUES ($1, $2, $3, $4)")),
        insert_order(examples::sql_for(d, "INSERT INTO orders (customer) VALUES ($1) RETURNING id")),
        take_stock(examples::sql_for(
            d, "UPDATE products SET stock = stock - $1 WHERE sku = $2 AND stock >= $1 RETURNING price")),
        stock(examples::sql_for(d, "SELECT stock FROM products WHERE sku = $1")),
        insert_line(examples::sql_for(
            d, "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price) VALUES ($1, $2, $3, $4, $5)")),
        record_summary(examples::sql_for(
            d, "INSERT INTO order_summary (order_id, customer, item_count, total) VALUES ($1, $2, $3, $4)")),
        get_order(examples::sql_for(
            d, "SELECT order_id, customer, item_count, total FROM order_summary WHERE order_id = $1")),
        list_orders(examples::sql_for(d,
                                      "SELECT order_id, customer, item_count, total FROM order_summary "
                                      "WHERE customer = $1 ORDER BY order_id")) {}

  std::string add_product, insert_order, take_stock, stock, insert_line, record_summary, get_order, list_orders;
};

template <class Row>
order_summary summary_of(const Row& r) {
  return order_summary{r.template get<order_id>(0), r.template get<std::string>(1), r.template get<std::int64_t>(2),
                       r.template get<money>(3)};
}

template <class Backend>
void register_handlers(cmdbus::bus_builder& b) {
  const auto sql = std::make_shared<const statements>(Backend::dialect);

  // A second product with the same sku breaks the primary key: the store's constraint_error (rejected).
  b.handle<AddProduct>([sql](const AddProduct& c, cmdbus::context& ctx) {
    Backend::connection_of(ctx).execute(sql->add_product, c.sku, c.name, c.price, c.stock);
  });

  // Writes the order, then its lines, each taking its items from stock. A line that cannot be served throws after
  // the order row (and maybe earlier lines) were written: the unit of work rolls all of it back.
  b.handle<PlaceOrder>([sql](const PlaceOrder& c, cmdbus::context& ctx) {
    auto& db = Backend::connection_of(ctx);
    const order_id id = db.template query_one<order_id>(sql->insert_order, c.customer).value();
    std::int64_t items = 0;
    money total = 0;
    std::int64_t line_no = 0;
    for (const auto& line : c.lines) {
      const auto price = db.template query_one<money>(sql->take_stock, line.quantity, line.sku);
      if (!price) {
        const auto left = db.template query_one<std::int64_t>(sql->stock, line.sku);
        if (!left) {
          throw unknown_product(fmt::format("no product '{}'", line.sku));
        }
        throw out_of_stock(fmt::format("'{}' has {} left; the order asks for {}", line.sku, *left, line.quantity));
      }
      db.execute(sql->insert_line, id, ++line_no, line.sku, line.quantity, *price);
      items += line.quantity;
      total += line.quantity * *price;
    }
    ctx.emit(OrderPlaced{id, c.customer, items, total});
    return id;
  });

  // The read model, in the command's transaction: GetOrder sees the order the moment execute returns.
  b.project<OrderPlaced>([sql](const OrderPlaced& e, cmdbus::context& ctx) {
    Backend::connection_of(ctx).execute(sql->record_summary, e.id, e.customer, e.item_count, e.total);
  });

  b.handle<GetOrder>([sql](const GetOrder& q, cmdbus::context& ctx) {
    std::optional<order_summary> found;
    Backend::connection_of(ctx).query(
        sql->get_order, [&](const typename Backend::row& r) { found = summary_of(r); }, q.id);
    if (!found) {
      throw order_not_found(fmt::format("no order {}", q.id));
    }
    return *found;
  });

  b.handle<ListOrders>([sql](const ListOrders& q, cmdbus::context& ctx) {
    std::vector<order_summary> orders;
    Backend::connection_of(ctx).query(
        sql->list_orders, [&](const typename Backend::row& r) { orders.push_back(summary_of(r)); }, q.customer);
    return orders;
  });

  b.handle<GetStock>([sql](const GetStock& q, cmdbus::context& ctx) {
    const auto left = Backend::connection_of(ctx).template query_one<std::int64_t>(sql->stock, q.sku);
    if (!left) {
      throw unknown_product(fmt::format("no product '{}'", q.sku));
    }
    return *left;
  });
}

template <class Backend>
void register_on(cmdbus::bus_builder& b, typename Backend::store& store, const cmdbus::retry_policy& retry) {
  b.use(cmdbus::make_retry(retry));  // outside the unit of work: each attempt gets a new transaction
  b.use(store.unit_of_work());
  register_handlers<Backend>(b);
}

}  // namespace

std::string schema_sql(examples::dialect d) {
  const bool pg = d == examples::dialect::postgres;
  return fmt::format(R"sql(
-- Write model.
CREATE TABLE IF NOT EXISTS products (
  sku TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  price BIGINT NOT NULL,
  stock BIGINT NOT NULL,
  CONSTRAINT price_not_negative CHECK (price >= 0),
  CONSTRAINT stock_not_negative CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
  id {},
  customer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_lines (
  order_id BIGINT NOT NULL REFERENCES orders (id),
  line_no INTEGER NOT NULL,
  sku TEXT NOT NULL REFERENCES products (sku),
  quantity BIGINT NOT NULL,
  unit_price BIGINT NOT NULL,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT quantity_positive CHECK (quantity > 0)
);
-- Read model, kept by the projection of OrderPlaced in the command's transaction.
CREATE TABLE IF NOT EXISTS order_summary (
  order_id BIGINT PRIMARY KEY,
  customer TEXT NOT NULL,
  item_count BIGINT NOT NULL,
  total BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS order_summary_by_customer ON order_summary (customer, order_id);
)sql",
                     pg ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY");
}

std::string drop_sql() {
  return "DROP TABLE IF EXISTS order_summary; DROP TABLE IF EXISTS order_lines; DROP TABLE IF EXISTS orders; "
         "DROP TABLE IF EXISTS products;";
}

void create_schema(examples::database& db, bool fresh) {
  examples::apply_schema(db, drop_sql(), schema_sql(db.dialect()), fresh);
}

void create_schema(cmdbus::sqlite::store& store, bool fresh) {
  examples::apply_schema(store, drop_sql(), schema_sql(examples::dialect::sqlite), fresh);
}

void register_shop(cmdbus::bus_builder& b, examples::database& db, const cmdbus::retry_policy& retry) {
  db.visit([&]<class Backend>(Backend, typename Backend::store& store) { register_on<Backend>(b, store, retry); });
}

void register_shop(cmdbus::bus_builder& b, cmdbus::sqlite::store& store, const cmdbus::retry_policy& retry) {
  register_on<examples::sqlite_backend>(b, store, retry);
}

void register_confirmations(cmdbus::bus_builder& b, mailbox& mail) {
  b.subscribe<OrderPlaced>([&mail](const OrderPlaced& e) {
    mail.send(e.customer, fmt::format("Thank you, {}! Order {}: {} item(s), {}.", e.customer, e.id, e.item_count,
                                      examples::format_money(e.total)));
  });
}

}  // namespace shop
