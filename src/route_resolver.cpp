#include "route_resolver.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "nearest_name.hpp"
#include "route_config.hpp"
#include "route_kinds.hpp"
#include "route_table.hpp"

namespace cmdbus::detail {
namespace {

constexpr std::string_view sync_kind = "sync";
const std::vector<std::string_view> sync_route_keys{"kind"};

struct route_info {
  std::string kind;
  std::string origin;
  const route_kind* kind_of = nullptr;  // null for a sync route
  std::unique_ptr<route_plan> plan;     // null for a sync route, or one whose settings had problems
  bool used = false;
  std::size_t order = 0;  // its place in the file
};

/// The kinds this bus can use: the builder's own, then the linked ones it does not override.
std::vector<std::shared_ptr<route_kind>> kinds_for(const bus_builder::state& r) {
  auto kinds = r.kinds;
  for (const auto& k : default_route_kinds()) {
    if (std::none_of(kinds.begin(), kinds.end(), [&](const auto& own) { return own->name() == k->name(); })) {
      kinds.push_back(k);
    }
  }
  return kinds;
}

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

  // Routes: the built-in "sync", then those the file defines, each read by its kind.
  const auto kinds = kinds_for(r);
  std::vector<std::string_view> kind_names{sync_kind};
  for (const auto& k : kinds) {
    kind_names.push_back(k->name());
  }
  std::map<std::string, route_info, std::less<>> routes;
  routes.emplace("sync", route_info{"sync", "built in", nullptr, nullptr, false, 0});
  std::vector<std::string> broken_routes;  // defined, but already reported: entries naming them stay quiet
  if (config) {
    for (const auto& def : config->routes) {
      const std::string where = fmt::format("[routes.{}]", def.name);
      const auto kind = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k->name() == def.kind; });
      if (def.kind != sync_kind && kind == kinds.end()) {
        broken_routes.push_back(def.name);
        problems.push_back(fmt::format(
            "{}: route '{}' has kind '{}', which this build does not provide{} (route kinds available: {}){}",
            def.at.to_string(), def.name, def.kind, did_you_mean(def.kind, kind_names), fmt::join(kind_names, ", "),
            def.kind == "local" ? "; link cmdbus::cmdbus (or cmdbus::local) to have it" : ""));
        continue;
      }
      if (def.name == "sync" && def.kind != sync_kind) {
        problems.push_back(
            fmt::format("{}: the route name 'sync' is reserved for the built-in sync route", def.at.to_string()));
        continue;
      }
      route_info info{def.kind, def.at.to_string(), nullptr, nullptr, false, 0};
      info.order = routes.size();
      if (def.kind == sync_kind) {
        check_keys(*def.table, sync_route_keys, where, def.at.source, problems);
      } else {
        auto keys = (*kind)->keys();
        keys.insert(keys.begin(), "kind");
        check_keys(*def.table, keys, where, def.at.source, problems);
        toml_route_table table(def, problems);
        info.kind_of = kind->get();
        info.plan = (*kind)->plan(table);
        if (info.plan == nullptr) {
          broken_routes.push_back(def.name);
          continue;
        }
      }
      routes[def.name] = std::move(info);
    }
  }
  std::vector<std::string_view> route_names;
  // No structured bindings over `routes` in this function: clang-tidy 16's optional-access analysis crashes on them.
  route_names.reserve(routes.size());
  for (const auto& route : routes) {
    route_names.push_back(route.first);
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
    auto& chosen = routes.at(e.route);
    e.kind = chosen.kind;
    const bool runs_here = chosen.kind_of == nullptr || chosen.kind_of->runs_handlers_here();
    const auto declared = m.declared_at ? m.declared_at->to_string() : std::string{"registration"};
    if (m.invoke == nullptr && runs_here) {
      problems.push_back(
          fmt::format("{}: command '{}' ({}) is declared but has no handler, and its route '{}' "
                      "(from {}) runs it in this process; register one with "
                      "bus_builder::handle<{}>() or route it elsewhere",
                      declared, m.info.wire_name, m.info.type_name, e.route, e.origin, m.info.type_name));
    }
    if (chosen.plan != nullptr) {
      chosen.used = true;
      std::string refused = chosen.plan->check(m.info);
      if (refused.empty() && chosen.plan->needs_encoding() && (m.info.encode == nullptr || m.info.decode == nullptr)) {
        refused = fmt::format(
            "kind '{}' carries commands out of the process, and this type cannot be encoded (give it a codec: "
            "message_info encode/decode)",
            e.kind);
      }
      if (!refused.empty()) {
        problems.push_back(fmt::format("{}: command '{}' ({}) cannot take route '{}' (kind '{}', from {}): {}",
                                       m.handled_at ? m.handled_at->to_string() : declared, m.info.wire_name,
                                       m.info.type_name, e.route, e.kind, e.origin, refused));
      }
    }
    out.entries.push_back(std::move(e));
  }
  // The routes some command uses start, in file order.
  std::vector<std::pair<std::size_t, planned_route>> used;
  for (auto& route : routes) {
    if (route.second.used) {
      used.emplace_back(route.second.order, planned_route{route.first, std::move(route.second.plan)});
    }
  }
  std::sort(used.begin(), used.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& u : used) {
    out.routes.push_back(std::move(u.second));
  }
  return out;
}

}  // namespace cmdbus::detail
