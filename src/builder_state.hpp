// Internal: what a bus_builder has collected, read once by the bus constructor.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cmdbus/builder.hpp"
#include "cmdbus/dead_letters.hpp"
#include "cmdbus/route_kind.hpp"

namespace cmdbus {

struct bus_builder::state {
  struct message_registration {
    message_info info;
    std::shared_ptr<void> handler;
    detail::invoke_fn invoke = nullptr;
    detail::direct_fn direct = nullptr;
    std::optional<detail::where> handled_at;
    std::optional<detail::where> declared_at;
    std::vector<std::shared_ptr<middleware>> own_middleware;
    std::optional<std::pair<std::string, detail::where>> code_route;
  };
  struct subscriber {
    std::shared_ptr<void> fn;
    detail::subscriber_fn invoke = nullptr;
    bool after_commit = false;  // false: a projection, inside the unit of work
  };
  struct event_registration {
    message_info info;
    std::vector<subscriber> subscribers;
  };

  std::vector<message_registration> messages;  // registration order
  std::vector<event_registration> events;
  std::vector<std::shared_ptr<middleware>> global;
  std::shared_ptr<dead_letter_store> dead_letters;         // null: in memory
  std::vector<std::shared_ptr<cmdbus::route_kind>> kinds;  // registered on this builder (over the default ones)
  std::size_t status_retention = 10000;
  std::optional<std::filesystem::path> config_path;
  std::optional<std::pair<std::string, std::string>> config_text;  // text, origin

  /// The registration of `info`'s type, made on first sight; two types under one wire name throw.
  message_registration& message_for(const message_info& info);
  event_registration& event_for(const message_info& info);
};

}  // namespace cmdbus
