#include "cmdbus/command_status.hpp"

namespace cmdbus {

std::string_view to_string(command_status s) noexcept {
  switch (s) {
    case command_status::pending:
      return "pending";
    case command_status::running:
      return "running";
    case command_status::succeeded:
      return "succeeded";
    case command_status::failed:
      return "failed";
    case command_status::dead:
      return "dead";
  }
  return "unknown";
}

}  // namespace cmdbus
