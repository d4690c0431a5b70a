// Internal: the routing file as data. Parsing checks its shape (syntax, known keys, value types); the bus checks
// its content against what is registered.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

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

/// The settings of a `local` route (in-process workers).
struct local_route_settings {
  std::uint32_t workers = 2;
  std::uint32_t capacity = 1024;  // commands queued or running at most
  bool reject_when_full = false;  // full = "reject"; else "block" (up to block_timeout, then an error)
  std::uint32_t block_timeout_ms = 1000;
  std::uint32_t execute_timeout_ms = 30000;  // how long execute() waits for the outcome without a deadline
};

struct route_definition {
  std::string name;
  std::string kind;
  config_location at;
  local_route_settings local;  // kind "local"
};

struct route_config {
  std::vector<command_rule> commands;
  std::vector<route_definition> routes;
};

/// Parses TOML text; every problem is appended to `problems` as "source:line: what, and what to do".
[[nodiscard]] route_config parse_route_config(std::string_view text, const std::string& source,
                                              std::vector<std::string>& problems);
/// Reads and parses a file; an unreadable file is a problem naming the path.
[[nodiscard]] route_config load_route_config(const std::filesystem::path& path, std::vector<std::string>& problems);

}  // namespace cmdbus::detail
