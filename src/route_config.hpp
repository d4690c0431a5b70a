// Internal: the routing file as data. Parsing checks its shape (syntax, known keys, value types); the bus checks
// its content against what is registered.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace cmdbus::detail {

struct config_location {
  std::string source;  // file path or origin text
  std::uint32_t line = 0;
  [[nodiscard]] std::string to_string() const;
};

struct command_rule {
  std::string command;  // wire name, or "*" for the default
  std::string route;
  config_location at;
};

/// A [routes.NAME] table: the core reads its kind; the kind reads the rest (route_kind::plan, through route_table).
struct route_definition {
  std::string name;
  std::string kind;
  config_location at;
  const toml::table* table = nullptr;  // into route_config::document
};

struct route_config {
  std::vector<command_rule> commands;
  std::vector<route_definition> routes;
  std::shared_ptr<toml::table> document;  // what the routes' tables point into
};

/// Appends a problem for every key of `table` not in `allowed` ("unknown key 'x' in <where>", with the nearest name).
void check_keys(const toml::table& table, const std::vector<std::string_view>& allowed, std::string_view where,
                const std::string& source, std::vector<std::string>& problems);
/// "a table", "a string", ...: what a TOML value is, for messages.
[[nodiscard]] std::string type_of(const toml::node& n);
[[nodiscard]] config_location location_of(const std::string& source, const toml::source_region& region);

/// Parses TOML text; every problem is appended to `problems` as "source:line: what, and what to do".
[[nodiscard]] route_config parse_route_config(std::string_view text, const std::string& source,
                                              std::vector<std::string>& problems);
/// Reads and parses a file; an unreadable file is a problem naming the path.
[[nodiscard]] route_config load_route_config(const std::filesystem::path& path, std::vector<std::string>& problems);

}  // namespace cmdbus::detail
