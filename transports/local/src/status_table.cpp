#include "status_table.hpp"

#include <algorithm>
#include <stdexcept>

namespace cmdbus::detail {

using namespace status_bits;

status_table::status_table(std::size_t retention) : retention_(retention) {
  detail::random_bytes(reinterpret_cast<unsigned char*>(&salt_), sizeof salt_);
  (void)cycle_clock::ns_per_tick();  // calibrate now, not on the first status read
}

status_table::~status_table() = default;

std::uint32_t status_table::add_ring(const std::string& route, std::size_t capacity) {
  if (rings_.size() >= overflow_ring) {
    throw std::length_error("cmdbus: too many asynchronous workers on one bus (at most 4095)");
  }
  const std::size_t size = std::bit_ceil(std::clamp<std::size_t>(retention_ + capacity, min_slots, max_slots));
  auto r = std::make_unique<ring>(route, size);
  r->notices = std::make_unique<notice[]>(size);
  r->records = std::make_unique<record[]>(size);
  rings_.push_back(std::move(r));
  return static_cast<std::uint32_t>(rings_.size() - 1);
}

command_id status_table::to_overflow(const command_id& id, const message_info& info, const std::string& route,
                                     bool keep_id) {
  // An overflow id keeps its random bits; only the ring field says "overflow".
  const command_id tagged =
      keep_id ? id
              : with_tag(id, (std::uint64_t{overflow_ring} << ticket_bits) | (tag_of(id, salt_) & ticket_mask), salt_);
  command_state st;
  st.id = tagged;
  st.command = std::string{info.wire_name};
  st.route = route;
  st.accepted = st.updated = clock::now();
  std::lock_guard lock(side_mutex_);
  overflow_[tagged] = std::move(st);
  overflow_size_.store(overflow_.size(), std::memory_order_release);
  return tagged;
}

void status_table::forget(const command_id& id, bool keep_id) noexcept {
  if (const auto p = place_of(id); p.r != nullptr && !keep_id) {
    notice& n = p.r->notices[p.ticket & p.r->mask];
    auto seq = n.seq.load(std::memory_order_acquire);
    const bool mine = n.holds(id);
    if (mine && (seq & 1U) == 0 && n.seq.compare_exchange_strong(seq, seq | 1U, std::memory_order_acquire)) {
      std::atomic_thread_fence(std::memory_order_release);
      n.id_hi.store(0, std::memory_order_relaxed);
      n.id_lo.store(0, std::memory_order_relaxed);
      n.info.store(nullptr, std::memory_order_relaxed);
      n.seq.store(seq, std::memory_order_release);
    }
    return;
  }
  try {
    std::lock_guard lock(side_mutex_);
    if (keep_id) {  // a dead letter that did not go back on its route after all: it is dead again
      if (auto it = overflow_.find(id); it != overflow_.end()) {
        it->second.status = command_status::dead;
        it->second.updated = clock::now();
      }
      return;
    }
    overflow_.erase(id);
    overflow_size_.store(overflow_.size(), std::memory_order_release);
  } catch (...) {  // NOLINT(bugprone-empty-catch): only the lock can throw; the record then stays pending
  }
}

status_table::record* status_table::own_record(const command_id& id, bool requeued) const noexcept {
  if (requeued) {
    return nullptr;
  }
  const auto p = place_of(id);
  if (p.r == nullptr) {
    return nullptr;
  }
  record& rec = p.r->records[p.ticket & p.r->mask];
  // Only the command's own worker asks, and only it writes its records: no lock needed to look.
  const auto status = rec.status.load(std::memory_order_relaxed);
  return rec.holds(id) && status != moved && status != free_slot ? &rec : nullptr;
}

status_table::record* status_table::running(const command_id& id, const message_info& info, std::uint32_t attempt,
                                            std::uint64_t at, bool requeued) noexcept {
  if (record* rec = own_record(id, requeued)) {
    rec->begin();
    rec->attempts.store(attempt, std::memory_order_relaxed);
    rec->updated.store(at, std::memory_order_relaxed);
    rec->status.store(static_cast<std::uint8_t>(command_status::running), std::memory_order_relaxed);
    rec->end();
    return rec;
  }
  const auto p = place_of(id);
  if (!requeued && p.r != nullptr && attempt <= 1) {  // the first attempt (or settling unrun) takes the record slot
    return claim(p.r->records[p.ticket & p.r->mask], id, info, attempt, at);
  }
  try {
    update_overflow(id, [&](command_state& st) {
      st.status = command_status::running;
      st.attempts = attempt;
      st.updated = cycle_clock::to_system(at);
    });
  } catch (...) {  // NOLINT(bugprone-empty-catch): the status is advisory (only the overflow map's lock can throw)
  }
  return nullptr;
}

void status_table::retrying(const command_id& id, std::string_view error, bool requeued) {
  if (record* rec = own_record(id, requeued)) {
    // Waiting for a retry can outlast a lap of the ring: the record moves to the overflow map, which keeps it.
    auto st = find(id);
    if (st) {
      st->status = command_status::pending;
      st->error.assign(error);
      st->updated = clock::now();
      std::lock_guard lock(side_mutex_);
      overflow_[id] = std::move(*st);
      overflow_size_.store(overflow_.size(), std::memory_order_release);
      errors_.erase(id);
    }
    rec->begin();
    rec->status.store(moved, std::memory_order_relaxed);
    rec->has_error.store(false, std::memory_order_relaxed);
    rec->end();
    return;
  }
  update_overflow(id, [&](command_state& st) {
    st.status = command_status::pending;
    st.error.assign(error);
    st.updated = clock::now();
  });
}

void status_table::settle(const command_id& id, command_status status, const consistency_token& token,
                          std::string_view error, bool requeued) {
  const auto now = cycle_clock::now();
  record* rec = own_record(id, requeued);
  if (rec == nullptr && !requeued) {
    // Settled without having run (abandoned at a stop): its record slot is taken now, from its notice.
    if (const auto p = place_of(id); p.r != nullptr && !read_overflow(id)) {
      const auto n = p.r->notices[p.ticket & p.r->mask].read();
      if (same_id(n.hi, n.lo, id)) {
        rec = running(id, *n.info, 0, now, false);
      }
    }
  }
  if (rec != nullptr) {
    if (!error.empty()) {
      note_error(id, error);  // before the status says so: a reader that sees the status finds the text
    }
    rec->settle(status, token, now, !error.empty());
    return;
  }
  std::lock_guard lock(side_mutex_);
  if (auto it = overflow_.find(id); it != overflow_.end()) {
    it->second.status = status;
    it->second.token = token;
    it->second.updated = clock::now();
    if (!error.empty()) {
      it->second.error.assign(error);
    }
    overflow_settled_.push_back(id);
    while (overflow_settled_.size() > std::max(retention_, min_slots)) {  // bounded, like a ring
      if (const auto old = overflow_.find(overflow_settled_.front()); old != overflow_.end() && old->second.settled()) {
        overflow_.erase(old);  // unless it was accepted again since (a requeued dead letter)
      }
      overflow_settled_.pop_front();
    }
    overflow_size_.store(overflow_.size(), std::memory_order_release);
  }
}

template <class F>
void status_table::update_overflow(const command_id& id, F&& f) {
  if (overflow_size_.load(std::memory_order_acquire) == 0) {
    return;
  }
  std::lock_guard lock(side_mutex_);
  if (auto it = overflow_.find(id); it != overflow_.end()) {
    f(it->second);
  }
}

void status_table::note_error(const command_id& id, std::string_view error) {
  std::lock_guard lock(side_mutex_);
  errors_[id].assign(error);
}

void status_table::drop_error(const command_id& id) {
  std::lock_guard lock(side_mutex_);
  errors_.erase(id);
}

std::string status_table::error_of(const command_id& id) const {
  std::lock_guard lock(side_mutex_);
  const auto it = errors_.find(id);
  return it != errors_.end() ? it->second : std::string{};
}

std::optional<command_state> status_table::read_overflow(const command_id& id) const {
  if (overflow_size_.load(std::memory_order_acquire) == 0) {
    return std::nullopt;
  }
  std::lock_guard lock(side_mutex_);
  if (const auto it = overflow_.find(id); it != overflow_.end()) {
    return it->second;
  }
  return std::nullopt;
}

std::optional<command_state> status_table::find(const command_id& id) const {
  if (auto st = read_overflow(id)) {  // first: a requeued command's old record may still be in its ring
    return st;
  }
  const auto p = place_of(id);
  if (p.r == nullptr || id.is_nil()) {  // (an unused slot holds the nil id)
    return std::nullopt;
  }
  const auto slot = p.ticket & p.r->mask;
  const auto n = p.r->notices[slot].read();
  const bool noticed = same_id(n.hi, n.lo, id) && n.info != nullptr;
  const auto rec = p.r->records[slot].read();
  if (same_id(rec.hi, rec.lo, id) && rec.status != free_slot) {
    if (rec.status == moved) {
      return read_overflow(id);  // moved there after the first look
    }
    command_state st;
    st.id = id;
    st.command = std::string{rec.info->wire_name};
    st.route = p.r->route;
    st.status = static_cast<command_status>(rec.status);
    st.attempts = rec.attempts;
    if (st.settled()) {  // (a running record still holds its slot's previous token)
      st.token = consistency_token{id, rec.token_store, rec.token_version};
    }
    st.updated = cycle_clock::to_system(rec.updated);
    st.accepted = std::min(accepted_at(id), st.updated);
    if (rec.has_error) {
      st.error = error_of(id);
    }
    return st;
  }
  if (noticed) {  // accepted, not picked up yet
    command_state st;
    st.id = id;
    st.command = std::string{n.info->wire_name};
    st.route = p.r->route;
    st.status = command_status::pending;
    st.accepted = st.updated = std::min(accepted_at(id), clock::now());
    return st;
  }
  return read_overflow(id);  // moved there (and its record reused) after the first look
}

std::optional<command_state> status_table::wait_settled(const command_id& id, clock::time_point until) const {
  auto pause_for = std::chrono::microseconds{20};
  for (int round = 0;; ++round) {
    auto st = find(id);
    if (!st || st->settled() || clock::now() >= until) {
      return st;
    }
    if (round < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(pause_for);
      pause_for = std::min(pause_for * 2, std::chrono::microseconds{1000});
    }
  }
}

}  // namespace cmdbus::detail
