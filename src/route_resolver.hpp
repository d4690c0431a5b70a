// Internal: decides each registered command's route from the config file, code and defaults, has each route's kind
// read its settings and check the commands routed to it, and collects every problem (unknown names, routes and kinds,
// bad settings, commands a route cannot carry, commands with no handler on an in-process route).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "builder_state.hpp"
#include "cmdbus/bus.hpp"
#include "route_config.hpp"

namespace cmdbus::detail {

/// A route some command uses, ready to start.
struct planned_route {
  std::string name;
  std::unique_ptr<route_plan> plan;
};

struct resolved_routes {
  std::vector<route_entry> entries;   // one per registered command, registration order
  std::vector<planned_route> routes;  // the routes (other than sync) some command uses, in file order
  std::vector<std::string> problems;
};

/// `messages` in registration order. Reads the configuration named by the builder or $CMDBUS_CONFIG.
[[nodiscard]] resolved_routes resolve_routes(const bus_builder::state& registrations);

}  // namespace cmdbus::detail
