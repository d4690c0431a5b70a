// Reads the routing file (see docs/configuration.md for the schema).
#include "route_config.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <fstream>
#include <sstream>

#include "nearest_name.hpp"

namespace cmdbus::detail {
namespace {

// Keys each table may hold. A route's keys beyond `kind` are its kind's (route_kind::keys()).
// [store] belongs to the application (which store, where): cmdbus reads it only through the store helpers.
const std::vector<std::string_view> top_level_keys{"commands", "routes", "store"};
const std::vector<std::string_view> command_table_keys{"route"};

config_location at(const std::string& source, const toml::source_region& region) {
  return location_of(source, region);
}

void read_commands(const toml::table& commands, const std::string& source, route_config& out,
                   std::vector<std::string>& problems) {
  for (auto&& [key, value] : commands) {
    const std::string name{key.str()};
    const auto loc = at(source, key.source());
    if (const auto* s = value.as_string()) {
      out.commands.push_back(command_rule{name, s->get(), loc});
    } else if (const auto* t = value.as_table()) {
      check_keys(*t, command_table_keys, fmt::format("[commands] entry '{}'", name), source, problems);
      if (const auto* r = t->get_as<std::string>("route")) {
        out.commands.push_back(command_rule{name, r->get(), loc});
      } else {
        // An unquoted dotted wire name (bank.transfer = "sync") arrives as a table ('bank' holding 'transfer').
        // A key nothing like `route` (rather than a typo of it) is the rest of such a name.
        const bool dotted = std::any_of(t->begin(), t->end(), [](const auto& kv) {
          return nearest_name(kv.first.str(), command_table_keys).empty();
        });
        problems.push_back(fmt::format("{}: [commands] entry '{}' needs `route = \"<route name>\"`{}", loc.to_string(),
                                       name,
                                       dotted ? fmt::format(" (a wire name with dots must be quoted: \"{}.x\" = "
                                                            "\"sync\", not {}.x = \"sync\")",
                                                            name, name)
                                              : std::string{}));
      }
    } else {
      problems.push_back(
          fmt::format("{}: [commands] entry '{}' is {}; write `\"{}\" = \"sync\"` or "
                      "`\"{}\" = {{ route = \"sync\" }}`",
                      loc.to_string(), name, type_of(value), name, name));
    }
  }
}

void read_routes(const toml::table& routes, const std::string& source, route_config& out,
                 std::vector<std::string>& problems) {
  for (auto&& [key, value] : routes) {
    const std::string name{key.str()};
    const auto loc = at(source, key.source());
    const auto* t = value.as_table();
    if (t == nullptr) {
      problems.push_back(
          fmt::format("{}: [routes] entry '{}' is {}; a route is a table: [routes.{}] with kind = \"...\"",
                      loc.to_string(), name, type_of(value), name));
      continue;
    }
    const auto* kind = t->get_as<std::string>("kind");
    if (kind == nullptr) {
      problems.push_back(fmt::format("{}: [routes.{}] needs `kind = \"...\"` (sync, or a route kind such as local)",
                                     loc.to_string(), name));
      continue;
    }
    route_definition def{name, kind->get(), loc, t};
    out.routes.push_back(std::move(def));
  }
}

}  // namespace

std::string config_location::to_string() const {
  return fmt::format("{}:{}", source, line);
}

config_location location_of(const std::string& source, const toml::source_region& region) {
  return config_location{source, static_cast<std::uint32_t>(region.begin.line)};
}

std::string type_of(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

void check_keys(const toml::table& table, const std::vector<std::string_view>& allowed, std::string_view where,
                const std::string& source, std::vector<std::string>& problems) {
  for (auto&& [key, value] : table) {
    const auto k = key.str();
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      problems.push_back(fmt::format("{}: unknown key '{}' in {}{}", location_of(source, key.source()).to_string(), k,
                                     where, did_you_mean(k, allowed)));
    }
  }
}

route_config parse_route_config(std::string_view text, const std::string& source, std::vector<std::string>& problems) {
  route_config out;
  out.document = std::make_shared<toml::table>();
  toml::table& doc = *out.document;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    problems.push_back(fmt::format("{}:{}:{}: not valid TOML: {}", source, e.source().begin.line,
                                   e.source().begin.column, e.description()));
    return out;
  }
  check_keys(doc, top_level_keys, "the top level", source, problems);
  if (const auto* node = doc.get("commands")) {
    if (const auto* commands = node->as_table()) {
      read_commands(*commands, source, out, problems);
    } else {
      problems.push_back(
          fmt::format("{}: 'commands' must be a table ([commands])", at(source, node->source()).to_string()));
    }
  }
  if (const auto* node = doc.get("routes")) {
    if (const auto* routes = node->as_table()) {
      read_routes(*routes, source, out, problems);
    } else {
      problems.push_back(
          fmt::format("{}: 'routes' must be a table ([routes.NAME])", at(source, node->source()).to_string()));
    }
  }
  return out;
}

route_config load_route_config(const std::filesystem::path& path, std::vector<std::string>& problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems.push_back(
        fmt::format("{}: cannot read the routing configuration file (does it exist, and may this "
                    "process read it?)",
                    path.string()));
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_route_config(text.str(), path.string(), problems);
}

}  // namespace cmdbus::detail
