// cmdbus/worker.hpp — what the workers of any route kind ask of the bus: run a command's handler chain, learn what
// became of it, hand it to the dead letters. A route gets its bus's worker_host when it starts (route_plan::start)
// and needs nothing else of the bus.
//
//   detail::parcel_run r = host.run(parcel, started);        // first attempt of a command carried by value
//   detail::run_outcome o = host.run(*envelope);             // one attempt of a command in a heap envelope
//   switch (o.what) { case retry: ...; case dead: host.bury(std::move(envelope)); ... }
//
// A run restores the command's context (its id, correlation and causation ids, trace, deadline, attempt) and goes
// through the same middleware and handler as on the sync route. Its outcome reaches a waiting caller through the
// command's completion; the route's status hears of it first (route::note_settled / note_retrying), so that a caller
// who got the outcome and asks for the status sees it settled. Everything here may be called from any worker thread.
//
// A route that hands a waiting caller's command to one particular worker names that worker on the command's
// completion (completion_base::set_runner) and calls bind_thread on the worker's thread: a handler there that would
// wait for a command queued behind itself gets self_wait_error at once instead of a hang.
//
// Contains: `worker_host`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "cmdbus/context.hpp"
#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/detail/parcel.hpp"
#include "cmdbus/handle.hpp"
#include "cmdbus/message_info.hpp"

namespace cmdbus {

class bus;
class middleware;
class route;

class worker_host {
 public:
  /// A command type this process routes to a route, and the middleware its runs pass through, outermost first (the
  /// bus's, then the type's own).
  struct routed_command {
    const message_info* info = nullptr;
    std::span<middleware* const> pipeline;
  };

  explicit worker_host(cmdbus::bus& owner) noexcept : bus_(&owner) {}
  worker_host(const worker_host&) = delete;
  worker_host& operator=(const worker_host&) = delete;

  /// Call first on each worker thread, with something that names this worker (its address): an execute() on the
  /// thread then runs inline instead of queueing, and a blocking wait for a command the route queued to this very
  /// worker (detail::completion_base::set_runner) throws self_wait_error instead of waiting for ever.
  static void bind_thread(const void* runner) noexcept {
    detail::on_worker_thread = true;
    detail::current_runner = runner;
  }

  /// The description of the command type with this detail::type_index (the one in a parcel or an envelope).
  [[nodiscard]] const message_info& info(std::uint32_t type_index) const noexcept;

  /// A command that arrived as bytes (a durable queue's row, a broker's message), ready for run(envelope&): its type
  /// found by wire name, its payload decoded by the type's codec (cmdbus/codec.hpp), its partition key computed. Its
  /// id, options and attempts are the caller's to restore. Or why it cannot run in this process, as one sentence: an
  /// unknown command, a type without a handler or a codec here, a payload the codec refuses (with the codec's
  /// reason). Never throws for bad input.
  [[nodiscard]] tl::expected<std::unique_ptr<detail::envelope>, std::string> decode(std::string_view command,
                                                                                    std::string_view payload,
                                                                                    std::uint32_t schema_version) const;

  /// The first attempt of the command carried by value in `p`, which began at `started` (cycle_clock ticks). On
  /// success the route records it (parcel_run::succeeded, token); on failure the command has moved into an envelope
  /// (parcel_run::failed) and parcel_run::outcome says what to do with it, as for run(envelope&).
  detail::parcel_run run(detail::parcel& p, std::uint64_t started) { return p.ops->run(*bus_, p, started); }
  /// One attempt of the command in `e` (count it in e.attempts first). `done`: succeeded, or the error went to the
  /// waiting caller; `failed`: the same, with an error; `retry`: run it again after outcome.delay; `dead`: call bury().
  detail::run_outcome run(detail::envelope& e) { return e.run(*bus_, e); }
  /// The partition of the command carried by value in `p` (computed again: its sender had it).
  [[nodiscard]] detail::partition key_of(const detail::parcel& p) { return p.ops->key(*bus_, p); }
  /// Moves the command carried by value in `p` into a heap envelope (`p` is left empty): to wait behind its key, to
  /// be abandoned. Out of memory it is lost: reported (status failed, logged, with `failure` if given) and null.
  [[nodiscard]] std::unique_ptr<detail::envelope> unpack(detail::parcel& p,
                                                         const std::exception_ptr& failure = nullptr) noexcept;

  /// For a command run in a batch (transaction_middleware::batch), once the batch has committed: its after-commit
  /// subscribers see the events it deferred (batch::take_events), with a context like the one it ran in.
  void after_commit(detail::envelope& e, const std::vector<detail::pending_event>& events) noexcept;
  /// Failed for good with nobody waiting (outcome `dead`): a dead letter, logged and counted; status dead.
  void bury(std::unique_ptr<detail::envelope> e) noexcept;
  /// Not run because the bus stopped (its deadline passed): the waiting caller gets stopping_error, else it becomes a
  /// dead letter.
  void abandon(std::unique_ptr<detail::envelope> e, std::string_view route) noexcept;

  /// The command types routed to `r` in this process (with a handler here or not), for checks at open().
  [[nodiscard]] std::vector<routed_command> commands_on(const route& r) const;

  /// How many settled commands' status to keep per worker (bus_builder::status_retention).
  [[nodiscard]] std::size_t status_retention() const noexcept;

 private:
  cmdbus::bus* bus_;
};

}  // namespace cmdbus
