// Internal (cmdbus::local): the status of every command a local route has accepted, and the outcome of the most recent
// ones.
//
// One ring per worker, so that the thread that sends a command and the worker that runs it never write the same
// cache line: the sender writes a *notice* (accepted: id and type) into the ring's next slot, the worker writes the
// slot's *record* (running, settled) in a separate array that only it writes. The slot (ring and ticket) travels in
// the command id's last six bytes, so finding a command's status is two slot reads, with no map and no lock.
//
// A sender reuses a slot only once the worker has picked up the slot's previous command (its record holds it): a lap
// of the ring earlier, as a rule, but not always (a command waiting behind its key, a sender held up between accept()
// and the queue, a queue that is FIFO only per sending thread). Otherwise, and for a command waiting for a retry (which
// may outlast a lap) and a requeued dead letter, the status goes to a locked overflow map: every accepted command stays
// known until it has settled. The records keep the outcomes of about the ring's size of each worker's latest commands.
//
// Writers of a notice are serialised by a compare-and-swap on its sequence word, a record has one writer (its worker);
// readers take consistent copies (seqlock). Error texts (rare: retries and failures) live in a locked map keyed by id.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cmdbus/command_status.hpp"
#include "cmdbus/detail/cycle_clock.hpp"
#include "cmdbus/message_info.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cmdbus::detail {

/// The layout of status slots and of the slot bytes in an id.
namespace status_bits {

// A record's status byte: a command_status, or one of these.
inline constexpr std::uint8_t free_slot = 0xff;
inline constexpr std::uint8_t moved = 0xfe;  // the command moved to the overflow map

// The slot bytes of an id (its last six, mixed with the table's salt): the ring (12 bits) and the ticket (36 bits).
inline constexpr int ticket_bits = 36;
inline constexpr std::uint64_t ticket_mask = (std::uint64_t{1} << ticket_bits) - 1;
inline constexpr std::uint64_t tag_mask = (std::uint64_t{1} << 48) - 1;
inline constexpr std::uint32_t overflow_ring = 0xfff;  // the ring field of an id tracked in the overflow map
inline constexpr std::size_t min_slots = 1024;
inline constexpr std::size_t max_slots = std::size_t{1} << 17;

/// The id's last eight bytes as one big-endian number.
inline std::uint64_t tail_of(const command_id& id) noexcept {
  std::uint64_t t = 0;
  std::memcpy(&t, id.bytes().data() + 8, sizeof t);
  if constexpr (std::endian::native == std::endian::little) {
    t = __builtin_bswap64(t);
  }
  return t;
}

inline std::uint64_t tag_of(const command_id& id, std::uint64_t salt) noexcept {
  return (tail_of(id) ^ salt) & tag_mask;
}

/// `id` with `tag` in its last six bytes (mixed with the salt, so that ids still look random).
inline command_id with_tag(const command_id& id, std::uint64_t tag, std::uint64_t salt) noexcept {
  std::uint64_t t = (tail_of(id) & ~tag_mask) | ((tag ^ salt) & tag_mask);
  if constexpr (std::endian::native == std::endian::little) {
    t = __builtin_bswap64(t);
  }
  auto b = id.bytes();
  std::memcpy(b.data() + 8, &t, sizeof t);
  return command_id::from_bytes(b);
}

inline std::uint64_t half(const command_id& id, std::size_t offset) noexcept {
  std::uint64_t h = 0;
  std::memcpy(&h, id.bytes().data() + offset, sizeof h);
  return h;
}

/// Whether the two words of a slot's id (`hi`, `lo`, as stored) are `id`.
inline bool same_id(std::uint64_t hi, std::uint64_t lo, const command_id& id) noexcept {
  return hi == half(id, 0) && lo == half(id, 8);
}

inline command_id from_halves(std::uint64_t hi, std::uint64_t lo) noexcept {
  std::array<unsigned char, 16> b{};
  std::memcpy(b.data(), &hi, sizeof hi);
  std::memcpy(b.data() + 8, &lo, sizeof lo);
  return command_id::from_bytes(b);
}

/// When a command was accepted: the time in its id (UUIDv7, to the millisecond; a thread making ids faster than 4096
/// a millisecond borrows the next millisecond, so readers clamp it).
inline clock::time_point accepted_at(const command_id& id) noexcept {
  return clock::time_point{std::chrono::milliseconds{id.unix_ms()}};
}

inline void pause() noexcept {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

/// A consistent copy of what `copy` reads, under a sequence word that is odd while its writer writes (seqlock): retried
/// while a writer is in the middle.
template <class Word, class Copy>
auto read_consistent(const std::atomic<Word>& sequence, Copy&& copy) noexcept {
  for (;;) {
    const auto s1 = sequence.load(std::memory_order_acquire);
    if ((s1 & 1U) != 0) {
      pause();
      continue;
    }
    auto snapshot = copy();
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence.load(std::memory_order_relaxed) == s1) {
      return snapshot;
    }
  }
}

}  // namespace status_bits

class status_table {
 public:
  struct record;  // one command's record in a worker's ring
  /// `retention`: settled outcomes to keep per worker (about).
  explicit status_table(std::size_t retention);
  ~status_table();
  status_table(const status_table&) = delete;
  status_table& operator=(const status_table&) = delete;

  /// A ring for one worker of `route`, which holds at most `capacity` commands in flight. Call before any accept().
  [[nodiscard]] std::uint32_t add_ring(const std::string& route, std::size_t capacity);

  /// Records a command accepted for the worker of `ring` (pending) and returns the id it keeps from now on: `id` with
  /// its slot in the last six bytes. A requeued command (`keep_id`) keeps its id (and is tracked in the overflow map).
  [[nodiscard]] command_id accept(std::uint32_t ring, const command_id& id, const message_info& info, bool keep_id);
  /// The command was not accepted after all (the queue refused it): forget it (`keep_id` as given to accept).
  void forget(const command_id& id, bool keep_id) noexcept;

  // The worker's side. `requeued`: the command is a requeued dead letter (see accept).
  /// Attempt `attempt` began at `at` (cycle_clock ticks). Returns the command's record (null if it is kept in the
  /// overflow map).
  record* running(const command_id& id, const message_info& info, std::uint32_t attempt, std::uint64_t at,
                  bool requeued) noexcept;
  /// running() for the first attempt of a command that was not requeued, returning its record (null if the command is
  /// kept in the overflow map) for succeeded(), which then needs no second look-up.
  [[nodiscard]] record* start(std::uint32_t ring, const command_id& id, const message_info& info,
                              std::uint64_t at) noexcept;
  /// settle(succeeded) after start(), which returned `entry`. Returns the time it wrote (cycle_clock ticks).
  std::uint64_t succeeded(record* entry, const command_id& id, const consistency_token& token) noexcept;
  /// Back to pending until the retry; `error` is the transient failure's message.
  void retrying(const command_id& id, std::string_view error, bool requeued);
  void settle(const command_id& id, command_status status, const consistency_token& token, std::string_view error,
              bool requeued);

  [[nodiscard]] std::optional<command_state> find(const command_id& id) const;
  /// A hint for the worker of `ring`: it is about to take the record of `id` (which it accepted for that ring).
  void prefetch(std::uint32_t ring, const command_id& id) const noexcept;
  /// Waits until the command has settled (or is unknown: never tracked, or forgotten after settling). The record then,
  /// or nullopt if unknown; `settled()` false on the result means the wait timed out.
  [[nodiscard]] std::optional<command_state> wait_settled(const command_id& id, clock::time_point until) const;

 private:
  struct notice;
  struct ring;
  struct place {
    ring* r = nullptr;  // null: the overflow map
    std::uint64_t ticket = 0;
  };

  [[nodiscard]] place place_of(const command_id& id) const noexcept;
  /// The first attempt of `id` (or `attempt` 0: settling it unrun) takes `rec` (running).
  record* claim(record& rec, const command_id& id, const message_info& info, std::uint32_t attempt,
                std::uint64_t at) noexcept;
  /// The record slot of `id` if it holds `id` (and the command has not moved to the overflow map).
  [[nodiscard]] record* own_record(const command_id& id, bool requeued) const noexcept;
  [[nodiscard]] command_id to_overflow(const command_id& id, const message_info& info, const std::string& route,
                                       bool keep_id);
  [[nodiscard]] std::optional<command_state> read_overflow(const command_id& id) const;
  template <class F>
  void update_overflow(const command_id& id, F&& f);
  void note_error(const command_id& id, std::string_view error);
  void drop_error(const command_id& id);
  [[nodiscard]] std::string error_of(const command_id& id) const;

  std::size_t retention_;
  std::uint64_t salt_ = 0;  // mixed into the slot bytes of every id, so that ids still look random
  std::vector<std::unique_ptr<ring>> rings_;
  alignas(64) mutable std::mutex side_mutex_;  // errors_ and overflow_
  std::unordered_map<command_id, std::string> errors_;
  std::unordered_map<command_id, command_state> overflow_;
  std::deque<command_id> overflow_settled_;  // settled overflow records, oldest first: forgotten beyond a bound
  std::atomic<std::size_t> overflow_size_{0};
};

// ---- the slots, and what the senders and the workers do for every command (inline: the hot path) ----------

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
    return status_bits::read_consistent(seq, [this] {
      return snapshot{id_hi.load(std::memory_order_relaxed), id_lo.load(std::memory_order_relaxed),
                      info.load(std::memory_order_relaxed)};
    });
  }
  [[nodiscard]] bool holds(const command_id& id) const noexcept {
    return status_bits::same_id(id_hi.load(std::memory_order_relaxed), id_lo.load(std::memory_order_relaxed), id);
  }
};

/// Written by the worker of its ring only (running, settled); read by status queries. A line of its own.
struct alignas(64) status_table::record {
  std::atomic<std::uint32_t> version{0};  // odd while the worker writes
  std::atomic<std::uint8_t> status{status_bits::free_slot};
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
    return status_bits::same_id(id_hi.load(std::memory_order_relaxed), id_lo.load(std::memory_order_relaxed), id);
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
    return status_bits::read_consistent(version, [this] {
      return snapshot{id_hi.load(std::memory_order_relaxed),    id_lo.load(std::memory_order_relaxed),
                      updated.load(std::memory_order_relaxed),  token_version.load(std::memory_order_relaxed),
                      info.load(std::memory_order_relaxed),     token_store.load(std::memory_order_relaxed),
                      attempts.load(std::memory_order_relaxed), status.load(std::memory_order_relaxed),
                      has_error.load(std::memory_order_relaxed)};
    });
  }
  /// Writes an outcome (the record holds its command).
  void settle(command_status outcome, const consistency_token& token, std::uint64_t at, bool with_error) noexcept {
    begin();
    token_store.store(token.store, std::memory_order_relaxed);
    token_version.store(token.version, std::memory_order_relaxed);
    updated.store(at, std::memory_order_relaxed);
    if (with_error) {
      has_error.store(true, std::memory_order_relaxed);
    }
    status.store(static_cast<std::uint8_t>(outcome), std::memory_order_relaxed);
    end();
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

inline status_table::place status_table::place_of(const command_id& id) const noexcept {
  const auto tag = status_bits::tag_of(id, salt_);
  const auto r = static_cast<std::size_t>(tag >> status_bits::ticket_bits);
  if (r >= rings_.size()) {
    return {};
  }
  return {rings_[r].get(), tag & status_bits::ticket_mask};
}

inline command_id status_table::accept(std::uint32_t ring_index, const command_id& id, const message_info& info,
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
  const command_id tagged = status_bits::with_tag(
      id, (std::uint64_t{ring_index} << status_bits::ticket_bits) | (ticket & status_bits::ticket_mask), salt_);
  n.id_hi.store(status_bits::half(tagged, 0), std::memory_order_relaxed);
  n.id_lo.store(status_bits::half(tagged, 8), std::memory_order_relaxed);
  n.info.store(&info, std::memory_order_relaxed);
  n.seq.store(ticket << 1, std::memory_order_release);
  // The slot this sender most likely takes next was last used a lap ago: fetch its notice and record meanwhile.
  __builtin_prefetch(&g.notices[(ticket + 1) & g.mask], 1);
  __builtin_prefetch(&g.records[(ticket + 1) & g.mask], 0);
  return tagged;
}

inline status_table::record* status_table::claim(record& rec, const command_id& id, const message_info& info,
                                                 std::uint32_t attempt, std::uint64_t at) noexcept {
  if (rec.has_error.load(std::memory_order_relaxed)) {
    try {
      drop_error(status_bits::from_halves(rec.id_hi.load(std::memory_order_relaxed),
                                          rec.id_lo.load(std::memory_order_relaxed)));
    } catch (...) {  // NOLINT(bugprone-empty-catch): only the lock can throw; the stale text is then kept
    }
  }
  rec.begin();
  rec.id_hi.store(status_bits::half(id, 0), std::memory_order_relaxed);
  rec.id_lo.store(status_bits::half(id, 8), std::memory_order_relaxed);
  rec.info.store(&info, std::memory_order_relaxed);
  rec.attempts.store(attempt, std::memory_order_relaxed);
  rec.updated.store(at, std::memory_order_relaxed);
  rec.has_error.store(false, std::memory_order_relaxed);
  rec.status.store(static_cast<std::uint8_t>(command_status::running), std::memory_order_relaxed);
  rec.end();
  return &rec;
}

inline status_table::record* status_table::start(std::uint32_t ring_index, const command_id& id,
                                                 const message_info& info, std::uint64_t at) noexcept {
  const auto tag = status_bits::tag_of(id, salt_);
  if ((tag >> status_bits::ticket_bits) == ring_index) {  // (else it is kept in the overflow map)
    ring& g = *rings_[ring_index];
    return claim(g.records[tag & g.mask], id, info, 1, at);  // a first attempt: no record yet
  }
  return running(id, info, 1, at, false);
}

inline std::uint64_t status_table::succeeded(record* entry, const command_id& id,
                                             const consistency_token& token) noexcept {
  const auto now = cycle_clock::now();
  if (entry != nullptr) {
    entry->settle(command_status::succeeded, token, now, false);
    return now;
  }
  try {
    settle(id, command_status::succeeded, token, {}, false);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the status is advisory (only the overflow map's lock can throw)
  }
  return now;
}

inline void status_table::prefetch(std::uint32_t ring_index, const command_id& id) const noexcept {
  const ring& g = *rings_[ring_index];
  __builtin_prefetch(&g.records[status_bits::tag_of(id, salt_) & g.mask], 1);  // (a wrong guess costs nothing)
}

}  // namespace cmdbus::detail
