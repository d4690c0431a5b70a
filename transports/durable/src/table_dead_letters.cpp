#include "table_dead_letters.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "claim.hpp"

namespace cmdbus::durable::detail {

void table_dead_letters::put(const dead_letter& letter) {
  if (current_claim != nullptr && current_claim->id == letter.id) {
    queue_->bury(letter, clock::now(), *current_claim->worker);
    return;
  }
  queue_->bury(letter, clock::now(), fmt::format("pid {} (not a worker of route '{}')", ::getpid(), route_));
}

std::optional<dead_letter> table_dead_letters::find(const command_id& id) const {
  auto found = queue_->dead(route_, &id);
  if (found.empty()) {
    return std::nullopt;
  }
  return std::move(found.front());
}

bool table_dead_letters::requeue(const command_id& id) {
  if (!queue_->requeue_dead(route_, id, clock::now())) {
    return false;
  }
  requeued_();
  return true;
}

}  // namespace cmdbus::durable::detail
