#include "status_table.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <thread>

#include "cycle_clock.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
namespace {

// A record's status byte: a command_status, or one of these.
constexpr std::uint8_t free_slot = 0xff;
constexpr std::uint8_t moved = 0xfe;  // the command moved to the overflow map

// The slot bytes of an id (its last six, mixed with the table's salt): the ring (12 bits) and the ticket (36 bits).
constexpr int ticket_bits = 36;
constexpr std::uint64_t ticket_mask = (std::uint64_t{1} << ticket_bits) - 1;
constexpr std::uint64_t tag_mask = (std::uint64_t{1} << 48) - 1;
constexpr std::uint32_t overflow_ring = 0xfff;  // the ring field of an id tracked in the overflow map
constexpr std::size_t min_slots = 1024;
constexpr std::size_t max_slots = std::size_t{1} << 17;

/// The id's last eight bytes as one big-endian number.
std::uint64_t tail_of(const command_id& id) noexcept {
  std::uint64_t t = 0;
  std::memcpy(&t, id.bytes().data() + 8, sizeof t);
  if constexpr (std::endian::native == std::endian::little) {
    t = __builtin_bswap64(t);
  }
  return t;
}

std::uint64_t tag_of(const command_id& id, std::uint64_t salt) noexcept {
  return (tail_of(id) ^ salt) & tag_mask;
}

/// `id` with `tag` in its last six bytes (mixed with the salt, so that ids still look random).
command_id with_tag(const command_id& id, std::uint64_t tag, std::uint64_t salt) noexcept {
  std::uint64_t t = (tail_of(id) & ~tag_mask) | ((tag ^ salt) & tag_mask);
  if constexpr (std::endian::native == std::endian::little) {
    t = __builtin_bswap64(t);
  }
  auto b = id.bytes();
  std::memcpy(b.data() + 8, &t, sizeof t);
  return command_id::from_bytes(b);
}

std::uint64_t half(const command_id& id, std::size_t offset) noexcept {
  std::uint64_t h = 0;
  std::memcpy(&h, id.bytes().data() + offset, sizeof h);
  return h;
}

command_id from_halves(std::uint64_t hi, std::uint64_t lo) noexcept {
  std::array<unsigned char, 16> b{};
  std::memcpy(b.data(), &hi, sizeof hi);
  std::memcpy(b.data() + 8, &lo, sizeof lo);
  return command_id::from_bytes(b);
}

/// When a command was accepted: the time in its id (UUIDv7, to the millisecond; a thread making ids faster than 4096
/// a millisecond borrows the next millisecond, so readers clamp it).
clock::time_point accepted_at(const command_id& id) noexcept {
  return clock::time_point{std::chrono::milliseconds{id.unix_ms()}};
}

void pause() noexcept {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

std::size_t id_hash::operator()(const command_id& id) const noexcept {
  return static_cast<std::size_t>(half(id, 0) ^ (half(id, 8) * 0x9e3779b97f4a7c15ULL));
}

/// Written by the sender that accepted the command, once; read by status queries. Two to a cache line: the senders
/// write them in ticket order. The time of acceptance is the one in the id (to the millisecond).
struct alignas(32) status_table::notice {
  std::atomic<std::uint64_t> seq{0};  // the ticket times two; odd while a sender writes
  std::atomic<std::uint64_t> id_hi{0};
  std::atomic<std::uint64_t> id_lo{0};  // both zero: no command (never used, or forgotten)
  std::atomic<const message_info*> info{nullptr};

  struct snapshot {
    std::uint64_t hi, lo;
    const message_info* info;
  };
  [[nodiscard]] snapshot read() const noexcept {
    for (;;) {
      const auto s1 = seq.load(std::memory_order_acquire);
      if ((s1 & 1U) != 0) {
        pause();
        continue;
      }
      snapshot s{id_hi.load(std::memory_order_relaxed), id_lo.load(std::memory_order_relaxed),
                 info.load(std::memory_order_relaxed)};
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq.load(std::memory_order_relaxed) == s1) {
        return s;
      }
    }
  }
};

/// Written by the worker of its ring only (running, settled); read by status queries. A line of its own.
struct alignas(64) status_table::record {
  std::atomic<std::uint32_t> version{0};  // odd while the worker writes
  std::atomic<std::uint8_t> status{free_slot};
  std::atomic<bool> has_error{false};
  std::atomic<std::uint32_t> attempts{0};
  std::atomic<std::uint64_t> id_hi{0};
  std::atomic<std::uint64_t> id_lo{0};
  std::atomic<const message_info*> info{nullptr};
  std::atomic<std::uint64_t> updated{0};
  std::atomic<const void*> token_store{nullptr};
  std::atomic<std::uint64_t> token_version{0};

  // One writer: no lock, only the version's parity for readers.
  void begin() noexcept {
    version.store(version.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);  // the odd version before the data, for readers
  }
  void end() noexcept { version.store(version.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  [[nodiscard]] bool holds(const command_id& id) const noexcept {
    return id_hi.load(std::memory_order_relaxed) == half(id, 0) && id_lo.load(std::memory_order_relaxed) == half(id, 8);
  }

  struct snapshot {
    std::uint64_t hi, lo, updated, token_version;
    const message_info* info;
    const void* token_store;
    std::uint32_t attempts;
    std::uint8_t status;
    bool has_error;
  };
  [[nodiscard]] snapshot read() const noexcept {
    for (;;) {
      const auto v1 = version.load(std::memory_order_acquire);
      if ((v1 & 1U) != 0) {
        pause();
        continue;
      }
      snapshot s{id_hi.load(std::memory_order_relaxed),    id_lo.load(std::memory_order_relaxed),
                 updated.load(std::memory_order_relaxed),  token_version.load(std::memory_order_relaxed),
                 info.load(std::memory_order_relaxed),     token_store.load(std::memory_order_relaxed),
                 attempts.load(std::memory_order_relaxed), status.load(std::memory_order_relaxed),
                 has_error.load(std::memory_order_relaxed)};
      std::atomic_thread_fence(std::memory_order_acquire);
      if (version.load(std::memory_order_relaxed) == v1) {
        return s;
      }
    }
  }
};

struct status_table::ring {
  ring(std::string name, std::size_t size) : route(std::move(name)), mask(size - 1) {}

  std::string route;
  std::uint64_t mask;
  std::unique_ptr<notice[]> notices;
  std::unique_ptr<record[]> records;
  alignas(64) std::atomic<std::uint64_t> next_ticket{1};  // taken by the senders; 0 is "no ticket"
};

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

status_table::place status_table::place_of(const command_id& id) const noexcept {
  const auto tag = tag_of(id, salt_);
  const auto r = static_cast<std::size_t>(tag >> ticket_bits);
  if (r >= rings_.size()) {
    return {};
  }
  return {rings_[r].get(), tag & ticket_mask};
}

command_id status_table::accept(std::uint32_t ring_index, const command_id& id, const message_info& info,
                                bool keep_id) {
  ring& g = *rings_[ring_index];
  if (keep_id) {
    return to_overflow(id, info, g.route, true);
  }
  const auto ticket = g.next_ticket.fetch_add(1, std::memory_order_relaxed);
  const auto slot = ticket & g.mask;
  notice& n = g.notices[slot];
  // Whether the command whose notice is in the slot has been picked up (its worker took its record). Usually long
  // since, but not always: the queue is FIFO only per sending thread, a command can wait behind its key, and a sender
  // can be held up between accept() and the queue.
  const auto picked_up = [&] {
    const auto hi = n.id_hi.load(std::memory_order_relaxed);
    const auto lo = n.id_lo.load(std::memory_order_relaxed);
    const record& r = g.records[slot];
    return (hi | lo) == 0 ||
           (r.id_hi.load(std::memory_order_relaxed) == hi && r.id_lo.load(std::memory_order_relaxed) == lo);
  };
  auto seq = n.seq.load(std::memory_order_acquire);
  for (;;) {
    // A newer ticket holds the slot (this sender was delayed a whole lap), or the slot's previous command still waits:
    // keep this one aside instead.
    const bool lapped = (seq & 1U) != 0 || (seq >> 1) >= ticket;
    if (lapped || !picked_up()) {
      return to_overflow(id, info, g.route, false);
    }
    if (n.seq.compare_exchange_weak(seq, (ticket << 1) | 1U, std::memory_order_acquire)) {
      break;
    }
  }
  std::atomic_thread_fence(std::memory_order_release);  // the odd sequence before the data, for readers
  const command_id tagged = with_tag(id, (std::uint64_t{ring_index} << ticket_bits) | (ticket & ticket_mask), salt_);
  n.id_hi.store(half(tagged, 0), std::memory_order_relaxed);
  n.id_lo.store(half(tagged, 8), std::memory_order_relaxed);
  n.info.store(&info, std::memory_order_relaxed);
  n.seq.store(ticket << 1, std::memory_order_release);
  // The slot this sender most likely takes next was last used a lap ago: fetch its notice and record meanwhile.
  __builtin_prefetch(&g.notices[(ticket + 1) & g.mask], 1);
  __builtin_prefetch(&g.records[(ticket + 1) & g.mask], 0);
  return tagged;
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
    const bool mine = n.id_hi.load(std::memory_order_relaxed) == half(id, 0) &&
                      n.id_lo.load(std::memory_order_relaxed) == half(id, 8);
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

status_table::record* status_table::start(std::uint32_t ring_index, const command_id& id, const message_info& info,
                                          std::uint64_t at) noexcept {
  const auto tag = tag_of(id, salt_);
  if ((tag >> ticket_bits) == ring_index) {  // (else it is kept in the overflow map)
    ring& g = *rings_[ring_index];
    return claim(g.records[tag & g.mask], id, info, 1, at);  // a first attempt: no record yet
  }
  return running_in(id, info, 1, at, false);
}

std::uint64_t status_table::succeeded(record* entry, const command_id& id, const consistency_token& token) noexcept {
  const auto now = cycle_clock::now();
  if (entry != nullptr) {
    entry->begin();
    entry->token_store.store(token.store, std::memory_order_relaxed);
    entry->token_version.store(token.version, std::memory_order_relaxed);
    entry->updated.store(now, std::memory_order_relaxed);
    entry->status.store(static_cast<std::uint8_t>(command_status::succeeded), std::memory_order_relaxed);
    entry->end();
    return now;
  }
  try {
    settle(id, command_status::succeeded, token, {}, false);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the status is advisory (only the overflow map's lock can throw)
  }
  return now;
}

inline status_table::record* status_table::claim(record& rec, const command_id& id, const message_info& info,
                                                 std::uint32_t attempt, std::uint64_t at) noexcept {
  if (rec.has_error.load(std::memory_order_relaxed)) {
    try {
      drop_error(from_halves(rec.id_hi.load(std::memory_order_relaxed), rec.id_lo.load(std::memory_order_relaxed)));
    } catch (...) {  // NOLINT(bugprone-empty-catch): only the lock can throw; the stale text is then kept
    }
  }
  rec.begin();
  rec.id_hi.store(half(id, 0), std::memory_order_relaxed);
  rec.id_lo.store(half(id, 8), std::memory_order_relaxed);
  rec.info.store(&info, std::memory_order_relaxed);
  rec.attempts.store(attempt, std::memory_order_relaxed);
  rec.updated.store(at, std::memory_order_relaxed);
  rec.has_error.store(false, std::memory_order_relaxed);
  rec.status.store(static_cast<std::uint8_t>(command_status::running), std::memory_order_relaxed);
  rec.end();
  return &rec;
}

void status_table::running(const command_id& id, const message_info& info, std::uint32_t attempt, std::uint64_t at,
                           bool requeued) noexcept {
  (void)running_in(id, info, attempt, at, requeued);
}

status_table::record* status_table::running_in(const command_id& id, const message_info& info, std::uint32_t attempt,
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
      if (n.hi == half(id, 0) && n.lo == half(id, 8)) {
        running(id, *n.info, 0, now, false);
        rec = own_record(id, false);
      }
    }
  }
  if (rec != nullptr) {
    if (!error.empty()) {
      note_error(id, error);  // before the status says so: a reader that sees the status finds the text
    }
    rec->begin();
    rec->token_store.store(token.store, std::memory_order_relaxed);
    rec->token_version.store(token.version, std::memory_order_relaxed);
    rec->updated.store(now, std::memory_order_relaxed);
    rec->has_error.store(rec->has_error.load(std::memory_order_relaxed) || !error.empty(), std::memory_order_relaxed);
    rec->status.store(static_cast<std::uint8_t>(status), std::memory_order_relaxed);
    rec->end();
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

void status_table::prefetch(std::uint32_t ring_index, const command_id& id) const noexcept {
  const ring& g = *rings_[ring_index];
  __builtin_prefetch(&g.records[tag_of(id, salt_) & g.mask], 1);  // (a wrong guess costs nothing)
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
  const bool noticed = n.hi == half(id, 0) && n.lo == half(id, 8) && n.info != nullptr;
  const auto rec = p.r->records[slot].read();
  if (rec.hi == half(id, 0) && rec.lo == half(id, 8) && rec.status != free_slot) {
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

}  // namespace detail
}  // namespace cmdbus
