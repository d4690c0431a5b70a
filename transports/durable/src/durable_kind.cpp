// The `durable` route kind: reads [routes.NAME] settings and starts durable_route instances on its store's table.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cmdbus/durable.hpp"
#if CMDBUS_DURABLE_WITH_POSTGRES
#include "cmdbus/durable/postgres.hpp"
#endif
#include "durable_route.hpp"
#include "sqlite_queue.hpp"
#if CMDBUS_DURABLE_WITH_POSTGRES
#include "pg_queue.hpp"
#endif

namespace cmdbus::durable {
namespace {

class durable_plan final : public route_plan {
 public:
  durable_plan(const detail::durable_settings& settings, std::shared_ptr<detail::queue> q) noexcept
      : settings_(settings), queue_(std::move(q)) {}
  [[nodiscard]] bool needs_encoding() const noexcept override { return true; }
  [[nodiscard]] std::unique_ptr<route> start(const std::string& name, worker_host& host) override {
    return std::make_unique<detail::durable_route>(name, settings_, queue_, host);
  }

 private:
  detail::durable_settings settings_;
  std::shared_ptr<detail::queue> queue_;
};

class durable_kind final : public route_kind {
 public:
  durable_kind(std::shared_ptr<detail::queue> q, std::string store_name)
      : queue_(std::move(q)), store_name_(std::move(store_name)) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "durable"; }
  [[nodiscard]] std::vector<std::string_view> keys() const override {
    return {"store",         "workers",         "poll_ms", "lease_ms", "batch", "execute_timeout_ms",
            "start_workers", "max_lost_claims", "inbox"};
  }
  [[nodiscard]] std::unique_ptr<route_plan> plan(route_table& table) const override {
    detail::durable_settings s;
    if (const auto store = table.string("store"); store && *store != store_name_) {
      table.problem("store", fmt::format("names store '{}', but this bus's durable routes are on store '{}' "
                                         "(cmdbus::durable::kind(store, \"{}\"))",
                                         *store, store_name_, store_name_));
    }
    read(table, "workers", 0, 256, s.workers);
    read(table, "poll_ms", 1, 60'000, s.poll_ms);
    read(table, "lease_ms", 100, 86'400'000, s.lease_ms);
    read(table, "batch", 1, 1000, s.batch);
    read(table, "execute_timeout_ms", 1, 86'400'000, s.execute_timeout_ms);
    read(table, "max_lost_claims", 1, 1'000'000, s.max_lost_claims);
    if (const auto start = table.boolean("start_workers")) {
      s.start_workers = *start;
    }
    if (const auto inbox = table.boolean("inbox")) {
      s.inbox = *inbox;
    }
    s.origin = table.location();
    return std::make_unique<durable_plan>(s, queue_);
  }

 private:
  static void read(route_table& table, std::string_view key, std::uint32_t low, std::uint32_t high,
                   std::uint32_t& out) {
    if (const auto v = table.integer(key, low, high)) {
      out = static_cast<std::uint32_t>(*v);
    }
  }

  std::shared_ptr<detail::queue> queue_;
  std::string store_name_;
};

}  // namespace

std::shared_ptr<route_kind> kind(sqlite::store& store, std::string store_name) {
  return std::make_shared<durable_kind>(std::make_shared<detail::sqlite_queue>(store), std::move(store_name));
}

void migrate(sqlite::store& store) {
  detail::sqlite_queue::migrate(store);
}

#if CMDBUS_DURABLE_WITH_POSTGRES
std::shared_ptr<route_kind> kind(postgres::store& store, std::string store_name) {
  return std::make_shared<durable_kind>(std::make_shared<detail::pg_queue>(store), std::move(store_name));
}

void migrate(postgres::store& store) {
  detail::pg_queue::migrate(store);
}
#endif

}  // namespace cmdbus::durable
