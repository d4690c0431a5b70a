// Internal (cmdbus::durable): the row a worker thread is running right now, for the inbox middleware that marks it
// done inside the command's own transaction.
#pragma once

#include <cstdint>
#include <string>

#include "cmdbus/id.hpp"

namespace cmdbus::durable::detail {

struct active_claim {
  command_id id;
  std::int64_t seq = 0;
  const std::string* worker = nullptr;  // the lease owner
  bool marked = false;                  // the inbox marked it succeeded in the command's transaction (in a batch:
                                        // left to the batch's one done mark before its COMMIT)
  bool lost = false;                    // the inbox found another worker holding it: this run was rolled back
};

/// Set by a durable worker around each run; null on every other thread.
inline thread_local active_claim* current_claim = nullptr;

}  // namespace cmdbus::durable::detail
