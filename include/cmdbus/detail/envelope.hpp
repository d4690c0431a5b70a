// Internal (detail): a command on its way to a route that runs it later (workers, transports), in a
// heap envelope with everything it may need: options, a waiting caller, its attempt history. No thread headers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "cmdbus/codec.hpp"
#include "cmdbus/context.hpp"
#include "cmdbus/detail/type_index.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/handle.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus {
class bus;
namespace detail {

struct slot;
struct envelope;

/// Envelope memory, recycled between the threads that send and the workers that finish commands: with plain
/// new/delete every command would be allocated on one thread and freed on another, and the two would fight over
/// malloc's arena lock.
[[nodiscard]] void* allocate_envelope(std::size_t size);
void free_envelope(void* p, std::size_t size) noexcept;

/// What became of one run of an envelope on a worker.
struct run_outcome {
  enum class kind : unsigned char {
    done,    ///< succeeded: finished
    failed,  ///< failed, the error delivered to the waiting caller: finished
    retry,   ///< failed transiently: run it again after `delay` (other keys go on meanwhile)
    dead,    ///< failed for good with nobody waiting: the worker hands the envelope to the dead letters
  };
  kind what = kind::done;
  std::chrono::nanoseconds delay{0};
};

/// One allocation per command: the envelope and, in typed_envelope<M>, the command itself.
struct envelope {
  envelope() = default;
  envelope(const envelope&) = delete;
  envelope& operator=(const envelope&) = delete;
  virtual ~envelope() = default;
  static void* operator new(std::size_t size) { return allocate_envelope(size); }
  static void operator delete(void* p, std::size_t size) noexcept { free_envelope(p, size); }
  // Commands aligned beyond the default take the plain aligned allocation: the pool's blocks are not.
  static void* operator new(std::size_t size, std::align_val_t align) { return ::operator new(size, align); }
  static void operator delete(void* p, std::size_t size, std::align_val_t align) noexcept {
    ::operator delete(p, size, align);
  }

  // Small on purpose (it crosses from the sending thread's cache to the worker's): what most commands never use
  // sits behind pointers that stay null.
  const slot* target = nullptr;
  std::uint32_t type_index = 0;  // the command's detail::type_index: finds its slot again on another bus
  command_id id;
  const void* payload = nullptr;  // the command, in the typed_envelope
  /// Deadline, correlation, causation, traceparent, headers: filled at send time. Null for a root command sent
  /// without options (it correlates to itself and has no deadline).
  std::unique_ptr<dispatch_options> options;
  std::uint64_t key_hash = 0;                             // the partition key's hash; meaningful when `keyed`
  bool keyed = false;                                     // false: no ordering constraint
  std::shared_ptr<completion_base> completion;            // detail::completion<R>; null for post
  run_outcome (*run)(cmdbus::bus&, envelope&) = nullptr;  // one attempt through the pipeline
  // Attempt history (for retries, status and dead letters). Times are cycle-counter ticks (detail/cycle_clock.hpp).
  std::uint32_t attempts = 0;
  bool requeued = false;  // a dead letter sent again: it keeps its id
  std::uint64_t first_attempt = 0;
  std::uint64_t last_attempt = 0;
  std::unique_ptr<error> last_error;
  /// Set by a route whose caller waits in another process (a durable route's row): receives the result, encoded
  /// (message_info::encode_result), when an attempt succeeds; and a failure is then `failed` (the route hands the
  /// error to that process) rather than a dead letter.
  std::string* remote_result = nullptr;

  /// Nobody can see this command's outcome: it was posted, or the handle was dropped.
  [[nodiscard]] bool unobserved() const noexcept { return completion == nullptr || completion.use_count() == 1; }
};

template <class M>
struct typed_envelope final : envelope {
  explicit typed_envelope(const M& m) : message(m) { payload = &message; }
  explicit typed_envelope(M&& m) noexcept(std::is_nothrow_move_constructible_v<M>) : message(std::move(m)) {
    payload = &message;
  }
  M message;
};

/// One attempt of a typed_envelope<M> made by decode_envelope (defined in cmdbus/bus.hpp, beside the pipeline).
template <class M>
run_outcome run_decoded(cmdbus::bus& b, envelope& e);

/// message_info::decode for a type with a codec: the command in an envelope of its own, with its run function
/// (worker_host::decode sets its route target and partition key).
template <class M>
std::unique_ptr<envelope> decode_envelope(std::string_view bytes, std::uint32_t schema_version) {
  auto e = std::make_unique<typed_envelope<M>>(codec<M>::decode(bytes, schema_version));
  e->type_index = type_index<M>();
  e->run = &run_decoded<M>;
  return e;
}

}  // namespace detail
}  // namespace cmdbus
