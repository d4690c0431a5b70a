// The route kinds every builder starts with: those that registered themselves when their target was linked.
#include "route_kinds.hpp"

#include <stdexcept>

namespace cmdbus {

namespace detail {

std::vector<std::shared_ptr<route_kind>>& default_route_kinds() {
  static std::vector<std::shared_ptr<route_kind>> kinds;  // filled during static initialisation, then only read
  return kinds;
}

}  // namespace detail

void register_default_route_kind(std::shared_ptr<route_kind> kind) {
  if (kind == nullptr) {
    throw std::invalid_argument("cmdbus: register_default_route_kind() was given no kind");
  }
  auto& kinds = detail::default_route_kinds();
  for (auto& k : kinds) {
    if (k->name() == kind->name()) {
      k = std::move(kind);
      return;
    }
  }
  kinds.push_back(std::move(kind));
}

}  // namespace cmdbus
