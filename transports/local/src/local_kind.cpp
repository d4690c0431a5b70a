// The `local` route kind: reads [routes.NAME] settings and starts local_route instances. Registers itself for every
// bus when this target is linked (cmdbus::cmdbus links it whole, so the registration is never dropped).
#include <memory>
#include <string>

#include "cmdbus/local.hpp"
#include "local_route.hpp"

namespace cmdbus::local {
namespace {

class local_plan final : public route_plan {
 public:
  explicit local_plan(const detail::local_route_settings& settings) noexcept : settings_(settings) {}
  [[nodiscard]] std::unique_ptr<route> start(const std::string& name, worker_host& host) override {
    return std::make_unique<detail::local_route>(name, settings_, host);
  }

 private:
  detail::local_route_settings settings_;
};

class local_kind final : public route_kind {
 public:
  [[nodiscard]] std::string_view name() const noexcept override { return "local"; }
  [[nodiscard]] std::vector<std::string_view> keys() const override {
    return {"workers", "capacity", "full", "block_timeout_ms", "execute_timeout_ms"};
  }
  [[nodiscard]] std::unique_ptr<route_plan> plan(route_table& table) const override {
    detail::local_route_settings s;
    read(table, "workers", 1, 256, s.workers);
    read(table, "capacity", 1, 10'000'000, s.capacity);
    read(table, "block_timeout_ms", 0, 3'600'000, s.block_timeout_ms);
    read(table, "execute_timeout_ms", 1, 86'400'000, s.execute_timeout_ms);
    if (const auto full = table.choice("full", {"block", "reject"})) {
      s.reject_when_full = *full == "reject";
    }
    return std::make_unique<local_plan>(s);  // a bad value is reported and its default kept: the bus will not start
  }

 private:
  static void read(route_table& table, std::string_view key, std::uint32_t low, std::uint32_t high,
                   std::uint32_t& out) {
    if (const auto v = table.integer(key, low, high)) {
      out = static_cast<std::uint32_t>(*v);
    }
  }
};

[[maybe_unused]] const bool registered = [] {
  register_default_route_kind(kind());
  return true;
}();

}  // namespace

std::shared_ptr<route_kind> kind() {
  static const auto the_kind = std::make_shared<local_kind>();
  return the_kind;
}

}  // namespace cmdbus::local
