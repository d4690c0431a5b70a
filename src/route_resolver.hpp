// Internal: decides each registered command's route from the config file, code and defaults, and collects every
// problem (unknown names, unknown routes, commands with no handler on an in-process route).
#pragma once

#include <string>
#include <vector>

#include "builder_state.hpp"
#include "cmdbus/bus.hpp"
#include "route_config.hpp"

namespace cmdbus::detail {

struct resolved_routes {
  std::vector<route_entry> entries;            // one per registered command, registration order
  std::vector<route_definition> local_routes;  // the `local` routes some command uses
  std::vector<std::string> problems;
};

/// `messages` in registration order. Reads the configuration named by the builder or $CMDBUS_CONFIG.
[[nodiscard]] resolved_routes resolve_routes(const bus_builder::state& registrations);

}  // namespace cmdbus::detail
