// Internal: how a command travels through an in-process queue: by value, in one cache line. A plain post of a small
// command (no options, no waiting caller) carries the command itself, so the sending thread writes and the worker
// reads one line per command, in queue order, and nothing is allocated. Anything else (options, a waiting caller, a
// large command, a requeued dead letter) travels as a heap envelope the parcel points at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "cmdbus/detail/envelope.hpp"

namespace cmdbus {
class bus;
namespace detail {

struct parcel;

/// What became of the first attempt of a command carried by value.
struct parcel_run {
  run_outcome outcome;
  bool succeeded = false;
  consistency_token token;           // once succeeded: what its commit reached
  std::unique_ptr<envelope> failed;  // after a failure: the command, moved into an envelope (see `outcome`)
};

/// Where a command goes among a route's workers: commands with the same key run in order, one at a time.
struct partition {
  std::uint64_t hash = 0;
  bool keyed = false;  // false: no ordering constraint
};

/// What a worker needs to handle one command type carried in a parcel (one instance per type).
struct parcel_ops {
  std::uint32_t type_index = 0;                               // the command's detail::type_index: its slot on the bus
  bool trivial = false;                                       // moved with memcpy, nothing to destroy
  void (*relocate)(void* to, void* from) noexcept = nullptr;  // move-constructs at `to`, destroys `from`
  void (*destroy)(void* p) noexcept = nullptr;
  /// The partition key of the command in `p` (not keyed for a type without one).
  partition (*key)(cmdbus::bus& b, const parcel& p) = nullptr;
  /// The first attempt through the pipeline, which began at `started` (cycle_clock ticks). A success is the caller's to
  /// record; on a failure the command moves into a heap envelope (its later attempts run from there), and the outcome
  /// says what to do with it.
  parcel_run (*run)(cmdbus::bus& b, parcel& p, std::uint64_t started) = nullptr;
  /// Moves the command into a heap envelope (to wait behind its key, to be abandoned at a stop); `p` is left empty.
  std::unique_ptr<envelope> (*unpack)(cmdbus::bus& b, parcel& p) = nullptr;
};

/// A command by value (`ops` set), a heap envelope (`heavy` set), or nothing (both null: a worker's wake-up call).
// NOLINTBEGIN(cppcoreguidelines-pro-type-member-init): `storage` is raw bytes that only a command placed there (ops
// set) gives meaning; zeroing 32 bytes on every parcel would cost the by-value fast path for nothing.
struct alignas(64) parcel {
  static constexpr std::size_t inline_size = 32;
  static constexpr std::size_t inline_align = 32;

  /// Whether an M travels by value.
  template <class M>
  static constexpr bool carries =
      std::conjunction_v<std::bool_constant<(sizeof(M) <= inline_size)>,
                         std::bool_constant<(alignof(M) <= inline_align)>, std::is_nothrow_move_constructible<M>,
                         std::is_nothrow_destructible<M>>;

  parcel() noexcept = default;
  explicit parcel(std::unique_ptr<envelope> e) noexcept : heavy(e.release()) {}
  parcel(parcel&& other) noexcept { take(other); }
  // NOLINTEND(cppcoreguidelines-pro-type-member-init)
  parcel& operator=(parcel&& other) noexcept {
    if (this != &other) {
      clear();
      take(other);
    }
    return *this;
  }
  parcel(const parcel&) = delete;
  parcel& operator=(const parcel&) = delete;
  ~parcel() { clear(); }

  [[nodiscard]] bool empty() const noexcept { return heavy == nullptr && ops == nullptr; }
  /// The heap envelope, handed over (null if the parcel carries the command by value).
  [[nodiscard]] std::unique_ptr<envelope> take_envelope() noexcept {
    return std::unique_ptr<envelope>(std::exchange(heavy, nullptr));
  }
  [[nodiscard]] void* payload() noexcept { return storage; }
  [[nodiscard]] const void* payload() const noexcept { return storage; }
  /// The command by value has been moved out (or destroyed): the parcel is empty.
  void release_payload() noexcept { ops = nullptr; }
  /// Destroys what the parcel carries: it is empty.
  void reset() noexcept { clear(); }

  envelope* heavy = nullptr;        // owned
  const parcel_ops* ops = nullptr;  // set: the command is in `storage`
  command_id id;                    // of the command by value (a heavy parcel's id is in its envelope)
  alignas(inline_align) std::byte storage[inline_size];

 private:
  void take(parcel& other) noexcept {
    heavy = std::exchange(other.heavy, nullptr);
    ops = std::exchange(other.ops, nullptr);
    id = other.id;
    if (ops != nullptr) {
      if (ops->trivial) {
        std::memcpy(storage, other.storage, inline_size);
      } else {
        ops->relocate(storage, other.storage);
      }
    }
  }
  void clear() noexcept {
    delete std::exchange(heavy, nullptr);
    if (ops != nullptr && !ops->trivial) {
      ops->destroy(storage);
    }
    ops = nullptr;
  }
};
static_assert(sizeof(parcel) == 64, "a parcel is one cache line");

}  // namespace detail
}  // namespace cmdbus
