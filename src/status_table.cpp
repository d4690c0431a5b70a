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

constexpr std::uint8_t free_slot = 0xff;
constexpr std::size_t max_slots = std::size_t{1} << 18;
constexpr int probes = 16;

bool claimable(std::uint8_t status) noexcept {
  return status == free_slot || status == static_cast<std::uint8_t>(command_status::succeeded) ||
         status == static_cast<std::uint8_t>(command_status::failed) ||
         status == static_cast<std::uint8_t>(command_status::dead);
}

std::uint32_t tag_of(const command_id& id, std::uint32_t salt) noexcept {
  const auto& b = id.bytes();
  return ((std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) | (std::uint32_t{b[14]} << 8) | b[15]) ^ salt;
}

/// `id` with `tag` (a slot index, mixed with the table's random salt so that ids still look random) in its last bytes.
command_id with_tag(const command_id& id, std::uint32_t tag, std::uint32_t salt) noexcept {
  tag ^= salt;
  auto b = id.bytes();
  b[12] = static_cast<unsigned char>(tag >> 24);
  b[13] = static_cast<unsigned char>(tag >> 16);
  b[14] = static_cast<unsigned char>(tag >> 8);
  b[15] = static_cast<unsigned char>(tag);
  return command_id::from_bytes(b);
}

std::uint64_t half(const command_id& id, std::size_t offset) noexcept {
  std::uint64_t h = 0;
  std::memcpy(&h, id.bytes().data() + offset, sizeof h);
  return h;
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

/// One command's status. On a cache line of its own: a producer claims one slot while a worker updates the previous.
struct alignas(64) status_table::slot {
  std::atomic<std::uint32_t> version{0};  // odd while a writer holds the slot
  std::atomic<std::uint8_t> status{free_slot};
  std::atomic<bool> has_error{false};
  std::atomic<std::uint32_t> attempts{0};
  std::atomic<std::uint64_t> id_hi{0};
  std::atomic<std::uint64_t> id_lo{0};
  std::atomic<const message_info*> info{nullptr};
  std::atomic<const std::string*> route{nullptr};
  std::atomic<std::uint64_t> accepted{0};  // cycle_clock ticks
  std::atomic<std::uint64_t> updated{0};
  std::atomic<const void*> token_store{nullptr};
  std::atomic<std::uint64_t> token_version{0};

  std::uint32_t lock() noexcept {
    for (;;) {
      auto v = version.load(std::memory_order_relaxed);
      if ((v & 1U) == 0 && version.compare_exchange_weak(v, v + 1, std::memory_order_acquire)) {
        std::atomic_thread_fence(std::memory_order_release);  // the odd version before the data, for readers
        return v + 1;
      }
      pause();
    }
  }
  void unlock(std::uint32_t locked) noexcept { version.store(locked + 1, std::memory_order_release); }
  [[nodiscard]] bool holds(const command_id& id) const noexcept {
    return id_hi.load(std::memory_order_relaxed) == half(id, 0) && id_lo.load(std::memory_order_relaxed) == half(id, 8);
  }

  struct snapshot {
    std::uint64_t hi, lo, accepted, updated, token_version;
    const message_info* info;
    const std::string* route;
    const void* token_store;
    std::uint32_t attempts;
    std::uint8_t status;
    bool has_error;
  };
  /// A consistent copy (seqlock read: retried while a writer is in the middle).
  [[nodiscard]] snapshot read() const noexcept {
    for (;;) {
      const auto v1 = version.load(std::memory_order_acquire);
      if ((v1 & 1U) != 0) {
        pause();
        continue;
      }
      snapshot s{id_hi.load(std::memory_order_relaxed),         id_lo.load(std::memory_order_relaxed),
                 accepted.load(std::memory_order_relaxed),      updated.load(std::memory_order_relaxed),
                 token_version.load(std::memory_order_relaxed), info.load(std::memory_order_relaxed),
                 route.load(std::memory_order_relaxed),         token_store.load(std::memory_order_relaxed),
                 attempts.load(std::memory_order_relaxed),      status.load(std::memory_order_relaxed),
                 has_error.load(std::memory_order_relaxed)};
      std::atomic_thread_fence(std::memory_order_acquire);
      if (version.load(std::memory_order_relaxed) == v1) {
        return s;
      }
    }
  }
};

namespace {
std::atomic<std::uint64_t> generations{0};
}  // namespace

status_table::status_table(std::size_t retention, std::size_t in_flight)
    : generation_(generations.fetch_add(1, std::memory_order_relaxed) + 1) {
  const std::size_t want = std::clamp<std::size_t>(retention + in_flight, 1024, max_slots);
  const std::size_t size = std::bit_ceil(want);
  slots_ = std::make_unique<slot[]>(size);
  mask_ = static_cast<std::uint32_t>(size - 1);
  detail::random_bytes(reinterpret_cast<unsigned char*>(&salt_), sizeof salt_);
  (void)cycle_clock::ns_per_tick();  // calibrate now, not on the first status read
}

status_table::~status_table() = default;

std::uint64_t status_table::next_ticket() noexcept {
  // Each sending thread takes its tickets 64 at a time: one shared read-modify-write per 64 commands.
  struct range {
    std::uint64_t table = 0;  // the table's generation, not its address: a new table may reuse an old one's memory
    std::uint64_t next = 0;
    std::uint64_t end = 0;
  };
  thread_local range tickets;
  if (tickets.table != generation_ || tickets.next == tickets.end) {
    constexpr std::uint64_t block = 64;
    tickets.table = generation_;
    tickets.next = next_ticket_.fetch_add(block, std::memory_order_relaxed);
    tickets.end = tickets.next + block;
  }
  return tickets.next++;
}

status_table::slot* status_table::slot_of(const command_id& id) const noexcept {
  const auto tag = tag_of(id, salt_);
  return tag <= mask_ ? &slots_[tag] : nullptr;
}

command_id status_table::accept(const command_id& id, const message_info& info, const std::string& route,
                                bool keep_id) {
  const auto now = cycle_clock::now();
  const auto write = [&](slot& s, const command_id& tagged) {
    s.id_hi.store(half(tagged, 0), std::memory_order_relaxed);
    s.id_lo.store(half(tagged, 8), std::memory_order_relaxed);
    s.info.store(&info, std::memory_order_relaxed);
    s.route.store(&route, std::memory_order_relaxed);
    s.attempts.store(0, std::memory_order_relaxed);
    s.accepted.store(now, std::memory_order_relaxed);
    s.updated.store(now, std::memory_order_relaxed);
    s.token_store.store(nullptr, std::memory_order_relaxed);
    s.token_version.store(0, std::memory_order_relaxed);
    s.has_error.store(false, std::memory_order_relaxed);
    s.status.store(static_cast<std::uint8_t>(command_status::pending), std::memory_order_relaxed);
  };
  // Claims `s` if its command has settled; the id of a previous command's error text, if it had one, to drop.
  const auto try_claim = [&](slot& s, const command_id& tagged, std::optional<command_id>& dropped) {
    if (!claimable(s.status.load(std::memory_order_acquire))) {
      return false;
    }
    const auto v = s.lock();
    const bool ok = claimable(s.status.load(std::memory_order_relaxed));
    if (ok) {
      if (s.has_error.load(std::memory_order_relaxed)) {
        std::array<unsigned char, 16> old{};
        const auto hi = s.id_hi.load(std::memory_order_relaxed);
        const auto lo = s.id_lo.load(std::memory_order_relaxed);
        std::memcpy(old.data(), &hi, sizeof hi);
        std::memcpy(old.data() + 8, &lo, sizeof lo);
        dropped = command_id::from_bytes(old);
      }
      write(s, tagged);
    }
    s.unlock(v);
    return ok;
  };
  const auto finish = [&](const std::optional<command_id>& dropped) {
    if (dropped) {
      std::lock_guard lock(side_mutex_);
      errors_.erase(*dropped);
    }
  };

  if (keep_id) {  // a requeued command: its own slot if that is free, else the overflow map
    if (slot* s = slot_of(id)) {
      std::optional<command_id> dropped;
      if (try_claim(*s, id, dropped)) {
        finish(dropped);
        return id;
      }
    }
  } else {
    for (int i = 0; i < probes; ++i) {
      const auto index = static_cast<std::uint32_t>(next_ticket()) & mask_;
      const command_id tagged = with_tag(id, index, salt_);
      std::optional<command_id> dropped;
      if (try_claim(slots_[index], tagged, dropped)) {
        finish(dropped);
        __builtin_prefetch(&slots_[(index + 1) & mask_], 1);  // the next command's slot, last written by a worker
        return tagged;
      }
    }
  }
  // Every slot tried holds a command in flight: keep this one aside until it settles.
  // An overflow id keeps its random last bytes, unless they would name a slot of the ring: then one bit is flipped.
  command_id tagged = id;
  if (!keep_id && tag_of(id, salt_) <= mask_) {
    tagged = with_tag(id, tag_of(id, salt_) ^ 0x80000000U, salt_);
  }
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

template <class F>
bool status_table::update(const command_id& id, F&& f) {
  // The owner takes the slot's lock too: a sender that saw the slot claimable a moment ago may hold it briefly (it
  // then finds the slot taken and lets go), and two writers must never interleave.
  if (slot* s = slot_of(id); s != nullptr && s->holds(id)) {
    const auto v = s->lock();
    const bool mine = s->holds(id) && s->status.load(std::memory_order_relaxed) != free_slot;
    if (mine) {
      f(*s);
    }
    s->unlock(v);
    return mine;
  }
  return false;
}

void status_table::forget(const command_id& id) noexcept {
  if (update(id, [](slot& s) { s.status.store(free_slot, std::memory_order_relaxed); })) {
    return;
  }
  if (overflow_size_.load(std::memory_order_acquire) != 0) {
    std::lock_guard lock(side_mutex_);
    overflow_.erase(id);
    overflow_size_.store(overflow_.size(), std::memory_order_release);
  }
}

void status_table::running(const command_id& id, std::uint32_t attempt) noexcept {
  running(id, attempt, cycle_clock::now());
}

void status_table::running(const command_id& id, std::uint32_t attempt, std::uint64_t now) noexcept {
  if (update(id, [&](slot& s) {
        s.status.store(static_cast<std::uint8_t>(command_status::running), std::memory_order_relaxed);
        s.attempts.store(attempt, std::memory_order_relaxed);
        s.updated.store(now, std::memory_order_relaxed);
      })) {
    return;
  }
  if (overflow_size_.load(std::memory_order_acquire) != 0) {
    std::lock_guard lock(side_mutex_);
    if (auto it = overflow_.find(id); it != overflow_.end()) {
      it->second.status = command_status::running;
      it->second.attempts = attempt;
      it->second.updated = clock::now();
    }
  }
}

void status_table::note_error(const command_id& id, std::string_view error) {
  std::lock_guard lock(side_mutex_);
  errors_[id].assign(error);
}

std::string status_table::error_of(const command_id& id) const {
  std::lock_guard lock(side_mutex_);
  const auto it = errors_.find(id);
  return it != errors_.end() ? it->second : std::string{};
}

bool status_table::in_ring(const command_id& id) const noexcept {
  // Only the command's own worker asks, and a slot is not reused before its command settles: no lock needed.
  const slot* s = slot_of(id);
  return s != nullptr && s->holds(id);
}

void status_table::retrying(const command_id& id, std::string_view error) {
  const auto now = cycle_clock::now();
  if (in_ring(id)) {
    note_error(id, error);
    update(id, [&](slot& s) {
      s.status.store(static_cast<std::uint8_t>(command_status::pending), std::memory_order_relaxed);
      s.has_error.store(true, std::memory_order_relaxed);
      s.updated.store(now, std::memory_order_relaxed);
    });
    return;
  }
  std::lock_guard lock(side_mutex_);
  if (auto it = overflow_.find(id); it != overflow_.end()) {
    it->second.status = command_status::pending;
    it->second.error.assign(error);
    it->second.updated = clock::now();
  }
}

void status_table::settle(const command_id& id, command_status status, const consistency_token& token,
                          std::string_view error) {
  const auto now = cycle_clock::now();
  if (in_ring(id)) {
    if (!error.empty()) {
      note_error(id, error);  // before the status says so: a reader that sees the status finds the text
    }
    update(id, [&](slot& s) {
      s.token_store.store(token.store, std::memory_order_relaxed);
      s.token_version.store(token.version, std::memory_order_relaxed);
      s.updated.store(now, std::memory_order_relaxed);
      s.has_error.store(s.has_error.load(std::memory_order_relaxed) || !error.empty(), std::memory_order_relaxed);
      s.status.store(static_cast<std::uint8_t>(status), std::memory_order_release);
    });
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
    while (overflow_settled_.size() > static_cast<std::size_t>(mask_) + 1) {  // bounded, like the ring
      if (const auto old = overflow_.find(overflow_settled_.front()); old != overflow_.end() && old->second.settled()) {
        overflow_.erase(old);  // unless it was accepted again since (a requeued dead letter)
      }
      overflow_settled_.pop_front();
    }
    overflow_size_.store(overflow_.size(), std::memory_order_release);
  }
}

void status_table::prefetch(const command_id& id) const noexcept {
  if (const slot* s = slot_of(id)) {
    __builtin_prefetch(s, 1);
  }
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
  if (const slot* s = slot_of(id)) {
    const auto snap = s->read();
    if (snap.hi == half(id, 0) && snap.lo == half(id, 8) && snap.status != free_slot) {
      command_state st;
      st.id = id;
      st.command = std::string{snap.info->wire_name};
      st.route = *snap.route;
      st.status = static_cast<command_status>(snap.status);
      st.attempts = snap.attempts;
      st.token = consistency_token{id, snap.token_store, snap.token_version};
      st.accepted = cycle_clock::to_system(snap.accepted);
      st.updated = cycle_clock::to_system(snap.updated);
      if (snap.has_error) {
        st.error = error_of(id);
      }
      return st;
    }
  }
  return read_overflow(id);
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
