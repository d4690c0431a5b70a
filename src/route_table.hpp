// Internal: a [routes.NAME] table of the routing file as a route kind reads it (cmdbus::route_table over toml++).
#pragma once

#include <string>
#include <vector>

#include "cmdbus/route_kind.hpp"
#include "route_config.hpp"

namespace cmdbus::detail {

class toml_route_table final : public route_table {
 public:
  /// Problems go to `problems`, as "file:line: [routes.NAME] ...".
  toml_route_table(const route_definition& definition, std::vector<std::string>& problems) noexcept
      : def_(&definition), problems_(&problems) {}

  [[nodiscard]] const std::string& route_name() const noexcept override { return def_->name; }
  [[nodiscard]] std::string location() const override { return def_->at.to_string(); }
  [[nodiscard]] std::optional<std::uint64_t> integer(std::string_view key, std::uint64_t low,
                                                     std::uint64_t high) override;
  [[nodiscard]] std::optional<std::string> string(std::string_view key) override;
  [[nodiscard]] std::optional<std::string> choice(std::string_view key,
                                                  const std::vector<std::string_view>& allowed) override;
  [[nodiscard]] std::optional<bool> boolean(std::string_view key) override;
  [[nodiscard]] std::optional<std::vector<std::pair<std::string, std::string>>> text_table(
      std::string_view key) override;
  void problem(std::string_view key, std::string_view what) override;

 private:
  /// "file:line" of the key, or of the route if absent.
  [[nodiscard]] std::string where(std::string_view key) const;
  void wrong(std::string_view key, std::string_view expected);

  const route_definition* def_;
  std::vector<std::string>* problems_;
};

}  // namespace cmdbus::detail
