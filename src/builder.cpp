#include <fmt/format.h>

#include <algorithm>

#include "builder_state.hpp"
#include "cmdbus/error.hpp"

namespace cmdbus {
namespace detail {

std::string where::to_string() const {
  return fmt::format("{}:{}", file, line);
}

where here(const std::source_location& loc) {
  return where{loc.file_name(), static_cast<unsigned>(loc.line())};
}

}  // namespace detail

namespace {

template <class Registration>
Registration& find_or_add(std::vector<Registration>& list, const message_info& info) {
  for (auto& r : list) {
    if (r.info.index == info.index) {
      return r;
    }
    if (r.info.wire_name == info.wire_name) {
      throw registration_error(
          fmt::format("cmdbus: wire name '{}' is used by two types, {} and {}; each command, "
                      "query and event needs a name of its own",
                      info.wire_name, r.info.type_name, info.type_name));
    }
  }
  list.push_back(Registration{});
  list.back().info = info;
  return list.back();
}

}  // namespace

bus_builder::state::message_registration& bus_builder::state::message_for(const message_info& info) {
  for (const auto& e : events) {
    if (e.info.wire_name == info.wire_name) {
      throw registration_error(fmt::format("cmdbus: wire name '{}' is used by event {} and by {}", info.wire_name,
                                           e.info.type_name, info.type_name));
    }
  }
  return find_or_add(messages, info);
}

bus_builder::state::event_registration& bus_builder::state::event_for(const message_info& info) {
  for (const auto& m : messages) {
    if (m.info.wire_name == info.wire_name) {
      throw registration_error(fmt::format("cmdbus: wire name '{}' is used by {} and by event {}", info.wire_name,
                                           m.info.type_name, info.type_name));
    }
  }
  return find_or_add(events, info);
}

bus_builder::bus_builder() : state_(std::make_unique<state>()) {}
bus_builder::bus_builder(bus_builder&&) noexcept = default;
bus_builder& bus_builder::operator=(bus_builder&&) noexcept = default;
bus_builder::~bus_builder() = default;

void bus_builder::add_handler(const message_info& info, std::shared_ptr<void> handler, detail::invoke_fn fn,
                              detail::direct_fn direct, detail::where at) {
  auto& r = state_->message_for(info);
  if (r.invoke != nullptr) {
    throw registration_error(
        fmt::format("cmdbus: a second handler for {} '{}' (type {}) at {}; the first was "
                    "registered at {}. A {} has exactly one handler",
                    info.kind == message_kind::query ? "query" : "command", info.wire_name, info.type_name,
                    at.to_string(), r.handled_at ? r.handled_at->to_string() : std::string{"?"},
                    info.kind == message_kind::query ? "query" : "command"));
  }
  r.handler = std::move(handler);
  r.invoke = fn;
  r.direct = direct;
  r.handled_at = std::move(at);
}

void bus_builder::add_declaration(const message_info& info, detail::where at) {
  auto& r = state_->message_for(info);
  if (!r.declared_at) {
    r.declared_at = std::move(at);
  }
}

void bus_builder::add_subscriber(const message_info& info, std::shared_ptr<void> fn, detail::subscriber_fn invoke,
                                 bool after_commit) {
  state_->event_for(info).subscribers.push_back(state::subscriber{std::move(fn), invoke, after_commit});
}

bus_builder& bus_builder::use(std::shared_ptr<middleware> m) {
  if (!m) {
    throw registration_error("cmdbus: use(nullptr): a middleware is required");
  }
  state_->global.push_back(std::move(m));
  return *this;
}

void bus_builder::add_middleware_for(const message_info& info, std::shared_ptr<middleware> m) {
  if (!m) {
    throw registration_error(fmt::format("cmdbus: use<{}>(nullptr): a middleware is required", info.type_name));
  }
  state_->message_for(info).own_middleware.push_back(std::move(m));
}

void bus_builder::add_code_route(const message_info& info, std::string route_name, detail::where at) {
  state_->message_for(info).code_route = std::make_pair(std::move(route_name), std::move(at));
}

bus_builder& bus_builder::config_file(std::string path) {
  state_->config_path = std::move(path);
  state_->config_text.reset();  // the last of config_file() / config_text() wins
  return *this;
}

bus_builder& bus_builder::config_text(std::string toml, std::string origin) {
  state_->config_text = std::make_pair(std::move(toml), std::move(origin));
  state_->config_path.reset();
  return *this;
}

bus_builder& bus_builder::dead_letters(std::shared_ptr<dead_letter_store> store) {
  if (store == nullptr) {
    throw registration_error("cmdbus: bus_builder::dead_letters() needs a store, not null");
  }
  state_->dead_letters = std::move(store);
  return *this;
}

bus_builder& bus_builder::route_kind(std::shared_ptr<cmdbus::route_kind> kind) {
  if (kind == nullptr) {
    throw registration_error("cmdbus: bus_builder::route_kind() needs a kind, not null");
  }
  for (const auto& k : state_->kinds) {
    if (k->name() == kind->name()) {
      throw registration_error(
          fmt::format("cmdbus: bus_builder::route_kind(): a route kind named '{}' is already registered on this "
                      "builder",
                      kind->name()));
    }
  }
  state_->kinds.push_back(std::move(kind));
  return *this;
}

bus_builder& bus_builder::status_retention(std::size_t commands) {
  state_->status_retention = commands;
  return *this;
}

}  // namespace cmdbus
