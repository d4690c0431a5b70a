#include "status_table.hpp"

#include <algorithm>
#include <cstring>
#include <string>

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

namespace detail {

std::size_t status_table::id_hash::operator()(const command_id& id) const noexcept {
  // The last eight bytes of a UUIDv7 are random: a hash already.
  std::uint64_t h = 0;
  std::memcpy(&h, id.bytes().data() + 8, sizeof h);
  return static_cast<std::size_t>(h);
}

status_table::status_table(std::size_t retention) : per_shard_(std::max<std::size_t>(1, retention / shard_count)) {}

status_table::shard& status_table::shard_of(const command_id& id) const noexcept {
  return shards_[id_hash{}(id) % shard_count];
}

void status_table::accepted(const command_id& id, std::string_view command, std::string_view route) {
  auto& s = shard_of(id);
  const auto now = clock::now();
  std::lock_guard lock(s.mutex);
  auto& r = s.records[id];
  r.state.id = id;
  r.state.command.assign(command);
  r.state.route.assign(route);
  r.state.status = command_status::pending;
  r.state.attempts = 0;
  r.state.error.clear();
  r.state.token = {};
  r.state.accepted = now;
  r.state.updated = now;
  r.settled_seq = 0;
}

void status_table::running(const command_id& id, std::uint32_t attempt) {
  auto& s = shard_of(id);
  const auto now = clock::now();
  std::lock_guard lock(s.mutex);
  if (auto it = s.records.find(id); it != s.records.end()) {
    it->second.state.status = command_status::running;
    it->second.state.attempts = attempt;
    it->second.state.updated = now;
  }
}

void status_table::retrying(const command_id& id, std::string_view error) {
  auto& s = shard_of(id);
  const auto now = clock::now();
  std::lock_guard lock(s.mutex);
  if (auto it = s.records.find(id); it != s.records.end()) {
    it->second.state.status = command_status::pending;
    it->second.state.error.assign(error);
    it->second.state.updated = now;
  }
}

void status_table::settle(const command_id& id, command_status status, const consistency_token& token,
                          std::string_view error) {
  auto& s = shard_of(id);
  const auto now = clock::now();
  {
    std::lock_guard lock(s.mutex);
    auto it = s.records.find(id);
    if (it == s.records.end()) {
      return;
    }
    auto& r = it->second;
    r.state.status = status;
    r.state.token = token;
    r.state.error.assign(error);
    r.state.updated = now;
    r.settled_seq = s.next_seq++;
    s.settled_order.emplace_back(id, r.settled_seq);
    while (s.settled_order.size() > per_shard_) {
      const auto [old, seq] = s.settled_order.front();
      s.settled_order.pop_front();
      // Only if it has not been accepted again since (a requeued dead letter is tracked anew).
      if (auto o = s.records.find(old); o != s.records.end() && o->second.settled_seq == seq) {
        s.records.erase(o);
      }
    }
  }
  s.settled.notify_all();
}

std::optional<command_state> status_table::find(const command_id& id) const {
  auto& s = shard_of(id);
  std::lock_guard lock(s.mutex);
  if (auto it = s.records.find(id); it != s.records.end()) {
    return it->second.state;
  }
  return std::nullopt;
}

std::optional<command_state> status_table::wait_settled(const command_id& id, clock::time_point until) const {
  auto& s = shard_of(id);
  std::unique_lock lock(s.mutex);
  for (;;) {
    auto it = s.records.find(id);
    if (it == s.records.end()) {
      return std::nullopt;
    }
    if (it->second.settled_seq != 0 || s.settled.wait_until(lock, until) == std::cv_status::timeout) {
      it = s.records.find(id);
      if (it == s.records.end()) {
        return std::nullopt;
      }
      return it->second.state;
    }
  }
}

}  // namespace detail
}  // namespace cmdbus
