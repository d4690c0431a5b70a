// Internal: the route kinds registered process-wide (cmdbus::register_default_route_kind).
#pragma once

#include <memory>
#include <vector>

#include "cmdbus/route_kind.hpp"

namespace cmdbus::detail {

[[nodiscard]] std::vector<std::shared_ptr<route_kind>>& default_route_kinds();

}  // namespace cmdbus::detail
