#include "route_resolver.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "nearest_name.hpp"
#include "route_config.hpp"

namespace cmdbus::detail {
namespace {

constexpr std::string_view sync_kind = "sync";
constexpr std::string_view local_kind = "local";
// The route kinds this build provides; both run handlers in this process. Later: transports.
const std::vector<std::string_view> known_kinds{sync_kind, local_kind};

struct route_info {
  std::string kind;
  std::string origin;
  const route_definition* definition = nullptr;  // null for the built-in sync route
};

std::optional<route_config> read_config(const bus_builder::state& r, std::vector<std::string>& problems) {
  if (r.config_text) {
    return parse_route_config(r.config_text->first, r.config_text->second, problems);
  }
  if (r.config_path) {
    return load_route_config(*r.config_path, problems);
  }
  if (const char* env = std::getenv("CMDBUS_CONFIG"); env != nullptr && *env != '\0') {
    const auto before = problems.size();
    auto config = load_route_config(env, problems);
    for (auto i = before; i < problems.size(); ++i) {
      problems[i] += " (file named by $CMDBUS_CONFIG)";
    }
    return config;
  }
  return std::nullopt;
}

}  // namespace

resolved_routes resolve_routes(const bus_builder::state& r) {
  resolved_routes out;
  auto& problems = out.problems;
  const auto config = read_config(r, problems);

  // Routes: the built-in "sync", then those the file defines.
  std::map<std::string, route_info, std::less<>> routes{{"sync", {"sync", "built in"}}};
  std::vector<std::string> broken_routes;  // defined, but already reported: entries naming them stay quiet
  if (config) {
    for (const auto& def : config->routes) {
      if (std::find(known_kinds.begin(), known_kinds.end(), def.kind) == known_kinds.end()) {
        broken_routes.push_back(def.name);
        problems.push_back(
            fmt::format("{}: route '{}' has kind '{}', which this build does not provide{} (route "
                        "kinds available: sync, local)",
                        def.at.to_string(), def.name, def.kind, did_you_mean(def.kind, known_kinds)));
        continue;
      }
      if (def.name == "sync" && def.kind != sync_kind) {
        problems.push_back(
            fmt::format("{}: the route name 'sync' is reserved for the built-in sync route", def.at.to_string()));
        continue;
      }
      routes[def.name] = route_info{def.kind, def.at.to_string(), &def};
    }
  }
  std::vector<std::string_view> route_names;
  for (const auto& [name, info] : routes) {
    route_names.push_back(name);
  }
  const auto known_routes = fmt::format("{}", fmt::join(route_names, ", "));
  auto route_exists = [&](const std::string& name, const std::string& where, std::string_view what) {
    if (routes.count(name) != 0) {
      return true;
    }
    if (std::find(broken_routes.begin(), broken_routes.end(), name) != broken_routes.end()) {
      return false;
    }
    problems.push_back(fmt::format("{}: {} names unknown route '{}'{} (known routes: {})", where, what, name,
                                   did_you_mean(name, route_names), known_routes));
    return false;
  };

  // Command rules from the file: each must name a registered command and a known route.
  std::vector<std::string_view> command_names;
  for (const auto& m : r.messages) {
    if (m.info.kind == message_kind::command) {
      command_names.push_back(m.info.wire_name);
    }
  }
  std::map<std::string, const command_rule*, std::less<>> file_rules;
  const command_rule* fallback = nullptr;
  if (config) {
    for (const auto& rule : config->commands) {
      const auto where = rule.at.to_string();
      if (!route_exists(rule.route, where, fmt::format("[commands] entry '{}'", rule.command))) {
        continue;
      }
      if (rule.command == "*") {
        fallback = &rule;
        continue;
      }
      const auto m = std::find_if(r.messages.begin(), r.messages.end(),
                                  [&](const auto& reg) { return reg.info.wire_name == rule.command; });
      if (m == r.messages.end()) {
        problems.push_back(
            fmt::format("{}: [commands] names unknown command '{}'{}; no command type with this wire "
                        "name is registered",
                        where, rule.command, did_you_mean(rule.command, command_names)));
      } else if (m->info.kind == message_kind::query) {
        problems.push_back(
            fmt::format("{}: '{}' is a query ({}); queries always run on the caller's thread and "
                        "take no route",
                        where, rule.command, m->info.type_name));
      } else {
        file_rules[rule.command] = &rule;
      }
    }
  }

  // Each registered command's route: the file's own entry, else code, else the file's "*", else sync.
  for (const auto& m : r.messages) {
    if (m.info.kind != message_kind::command) {
      continue;
    }
    route_entry e{std::string{m.info.wire_name}, "sync", "sync", "default"};
    if (const auto it = file_rules.find(m.info.wire_name); it != file_rules.end()) {
      e.route = it->second->route;
      e.origin = it->second->at.to_string();
    } else if (m.code_route) {
      const auto where = fmt::format("code ({})", m.code_route->second.to_string());
      if (!route_exists(m.code_route->first, m.code_route->second.to_string(),
                        fmt::format("route<{}>()", m.info.type_name))) {
        continue;
      }
      e.route = m.code_route->first;
      e.origin = where;
    } else if (fallback != nullptr) {
      e.route = fallback->route;
      e.origin = fallback->at.to_string() + " (\"*\")";
    }
    const auto& chosen = routes.at(e.route);
    e.kind = chosen.kind;
    if (chosen.definition != nullptr && e.kind == local_kind &&
        std::none_of(out.local_routes.begin(), out.local_routes.end(),
                     [&](const route_definition& d) { return d.name == e.route; })) {
      out.local_routes.push_back(*chosen.definition);
    }
    if (m.invoke == nullptr && (e.kind == sync_kind || e.kind == local_kind)) {
      problems.push_back(
          fmt::format("{}: command '{}' ({}) is declared but has no handler, and its route '{}' "
                      "(from {}) runs it in this process; register one with "
                      "bus_builder::handle<{}>() or route it elsewhere",
                      m.declared_at ? m.declared_at->to_string() : std::string{"registration"}, m.info.wire_name,
                      m.info.type_name, e.route, e.origin, m.info.type_name));
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

}  // namespace cmdbus::detail
