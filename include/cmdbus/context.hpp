// cmdbus/context.hpp — what a handler sees besides its command: ids, trace, deadline, headers, and emit().
//
//   bus_builder.handle<Transfer>([](const Transfer& t, cmdbus::context& ctx) {
//     spdlog::info("transfer {} in correlation {}", ctx.id().to_string(), ctx.correlation_id().to_string());
//     ctx.emit(Transferred{t.from, t.to, t.amount});          // delivered to subscribers after the handler succeeds
//     ctx.bus().execute(Notify{t.to});                         // a child: same correlation id, causation = ctx.id()
//   });
//
// Ids are made on first use, so a handler that never looks at them pays nothing for them. A command dispatched while
// another command's handler runs on the same thread becomes that command's child automatically.
//
// Contains: `header`, `dispatch_options`, `context`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cmdbus/consistency.hpp"
#include "cmdbus/detail/type_index.hpp"
#include "cmdbus/id.hpp"
#include "cmdbus/message.hpp"
#include "cmdbus/message_info.hpp"

namespace cmdbus {

class bus;
class context;
class unit_of_work;
class retry_middleware;

using clock = std::chrono::system_clock;

struct header {
  std::string name;
  std::string value;
};

/// Per-call metadata a caller may pass (an HTTP layer passing on its request's trace and correlation, a deadline).
/// Anything left empty is inherited from the enclosing command, or made new.
struct dispatch_options {
  std::optional<clock::time_point> deadline;
  /// nil: a new id. Set: the command's id, chosen by the caller (an idempotency key): on a durable route, a post of
  /// an id its table holds already changes nothing and returns that id (the row stays as it is, whatever its state).
  command_id id{};
  command_id correlation_id{};  ///< nil: inherit from the parent command, or use this command's own id
  command_id causation_id{};    ///< nil: the parent command's id, if any
  std::string traceparent;      ///< a W3C traceparent to continue; empty: inherit, or start a new trace
  std::vector<header> headers;
  /// Queries only: first wait until the read model reflects this token's command (bounded by `deadline`, else 10 s;
  /// then consistency_timeout_error). See cmdbus/consistency.hpp.
  std::optional<consistency_token> at_least;

  [[nodiscard]] static dispatch_options within(clock::duration timeout) {
    dispatch_options o;
    o.deadline = clock::now() + timeout;
    return o;
  }
};

/// Options for a query that must see the effects of the command behind `token` (a handle's token()).
[[nodiscard]] inline dispatch_options at_least(const consistency_token& token) {
  dispatch_options o;
  o.at_least = token;
  return o;
}
/// The same for a posted command's id: waits until that command has settled on its route.
[[nodiscard]] inline dispatch_options at_least(const command_id& posted) {
  return at_least(consistency_token{posted});
}

namespace detail {
/// The context whose handler is running on this thread, if any: the parent of whatever it dispatches.
inline constinit thread_local context* current_context = nullptr;
/// True on the worker threads of asynchronous routes: an execute() there (from a continuation, say) runs inline
/// instead of waiting for a worker, which could be this one.
inline constinit thread_local bool on_worker_thread = false;

/// An emitted event waiting for the handler to succeed.
struct pending_event {
  std::uint32_t index;
  std::unique_ptr<void, void (*)(void*)> payload;
};

/// What most commands never use, allocated on first use so that a bare dispatch stays allocation-free and small.
struct context_extras {
  std::vector<header> headers;  // set on this context by middleware
  std::vector<pending_event> events;
  consistency_token committed;               // the store and version this command's own unit of work committed
  std::chrono::nanoseconds retry_after{-1};  // >= 0: a worker should run the command again after this pause
};

/// The ids a context makes on first use; left uninitialised until then (have_ says which are valid).
struct lazy_ids {
  command_id id;
  trace_id trace;
  span_id span;
};
}  // namespace detail

class context {
 public:
  context(cmdbus::bus& owner, const message_info& info, context* parent, const dispatch_options* options) noexcept
      : bus_(&owner), info_(&info), parent_(parent), options_(options) {
    if (options != nullptr && options->deadline) [[unlikely]] {
      deadline_ = options->deadline->time_since_epoch().count();
    }
    if (parent != nullptr && parent->deadline_ < deadline_) [[unlikely]] {
      deadline_ = parent->deadline_;  // a child never outlives its parent's deadline
    }
  }
  context(const context&) = delete;
  context& operator=(const context&) = delete;
  ~context() {
    if (extras_ != nullptr) [[unlikely]] {
      free_extras();
    }
  }

  /// This command's id (UUIDv7), made on first use.
  [[nodiscard]] const command_id& id() const noexcept {
    if ((have_ & have_id) == 0) [[unlikely]] {
      make_id();
    }
    return lazy_.id;
  }
  /// Shared by every command a root command caused; the root's own id unless the caller passed one in.
  [[nodiscard]] command_id correlation_id() const noexcept;
  /// The id of the command whose handler dispatched this one; nil for a root command.
  [[nodiscard]] command_id causation_id() const noexcept;
  /// The W3C trace id: inherited from the parent or the caller's traceparent, else new.
  [[nodiscard]] const trace_id& trace() const noexcept;
  /// This command's own span id (new for every command).
  [[nodiscard]] const span_id& span() const noexcept;
  /// The span this one continues: the parent command's span, or the caller's; invalid for a new trace.
  [[nodiscard]] span_id parent_span() const noexcept;
  /// "00-<trace>-<span>-01": what to pass on to a downstream service.
  [[nodiscard]] std::string traceparent() const;

  [[nodiscard]] std::optional<clock::time_point> deadline() const noexcept {
    if (deadline_ == no_deadline) {
      return std::nullopt;
    }
    return clock::time_point{clock::duration{deadline_}};
  }
  [[nodiscard]] bool expired() const noexcept {
    return deadline_ != no_deadline && clock::now().time_since_epoch().count() >= deadline_;
  }
  /// 1 for the first run; each run after a failure counts up (the retry policy's max_attempts is against this). On a
  /// durable route, a run that its worker never finished (the worker was killed, its claim lost) does not count.
  [[nodiscard]] std::uint32_t attempt() const noexcept { return retries_ + 1; }

  /// The header's value (headers set by middleware shadow the caller's), or nullopt.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept;
  /// Adds or replaces a header on this command (middleware enriching the context).
  void set_header(std::string name, std::string value);
  /// All headers: the caller's, then those set on this context (later ones win in header()).
  [[nodiscard]] std::vector<cmdbus::header> headers() const;

  /// The open unit of work this command runs in: its own, or the one it joined from its parent; null if none.
  [[nodiscard]] cmdbus::unit_of_work* unit_of_work() const noexcept {
    return uow_ != nullptr ? uow_ : (parent_ != nullptr ? parent_->unit_of_work() : nullptr);
  }
  /// For routes that run a command later: the id it was given when it was sent.
  void assign_id(const command_id& id) noexcept {
    lazy_.id = id;
    have_ |= have_id;
  }

  /// For unit-of-work middleware: attaches (or, with nullptr, detaches) this command's unit of work.
  void set_unit_of_work(cmdbus::unit_of_work* uow) noexcept { uow_ = uow; }
  /// For unit-of-work middleware: this command's own transaction committed, taking `store`'s read model to `version`.
  void note_commit(const void* store, std::uint64_t version);
  /// What note_commit() recorded (store null if this command committed nothing itself); the command id is this one's.
  [[nodiscard]] consistency_token committed() const noexcept;

  [[nodiscard]] const message_info& message() const noexcept { return *info_; }
  [[nodiscard]] std::string_view command_name() const noexcept { return info_->wire_name; }
  [[nodiscard]] const context* parent() const noexcept { return parent_; }
  [[nodiscard]] cmdbus::bus& bus() const noexcept { return *bus_; }

  /// Queues an event; subscribers get it, in registration order, after this command's handler succeeds. Dropped if
  /// the handler fails.
  template <event E>
  void emit(E&& e) {
    using T = std::remove_cvref_t<E>;
    extras().events.push_back(detail::pending_event{
        detail::type_index<T>(), {new T(std::forward<E>(e)), [](void* p) { delete static_cast<T*>(p); }}});
  }

 private:
  friend class cmdbus::bus;
  friend class cmdbus::retry_middleware;
  static constexpr clock::rep no_deadline = clock::duration::max().count();
  static constexpr std::uint32_t have_id = 1;
  static constexpr std::uint32_t have_trace = 2;
  static constexpr std::uint32_t have_span = 4;
  static constexpr std::uint32_t worker_run = 8;  // a worker runs this command: a retry is deferred, not slept

  void make_id() const noexcept;
  /// Before another attempt: count it, and forget the events the failed attempt emitted.
  void prepare_retry() noexcept {
    ++retries_;
    if (extras_ != nullptr) {
      extras_->events.clear();
    }
  }
  /// On a worker: `attempts_done` attempts came before this one, and retries go back to the worker (which runs other
  /// keys meanwhile) instead of sleeping here.
  void run_on_worker(std::uint32_t attempts_done) noexcept {
    retries_ = attempts_done;
    have_ |= worker_run;
  }
  [[nodiscard]] bool defers_retries() const noexcept { return (have_ & worker_run) != 0; }
  /// The pause a deferred retry asked for; negative if none was asked.
  [[nodiscard]] std::chrono::nanoseconds retry_after() const noexcept {
    return extras_ != nullptr ? extras_->retry_after : std::chrono::nanoseconds{-1};
  }
  detail::context_extras& extras();
  void free_extras() noexcept;
  [[nodiscard]] bool has_events() const noexcept { return extras_ != nullptr && !extras_->events.empty(); }
  [[nodiscard]] const dispatch_options* options() const noexcept { return options_; }

  // Set from the constructor's arguments first, then the members that start at zero side by side, so the compiler
  // clears them with a few wide stores: a bare dispatch builds this whole object in a handful of instructions.
  cmdbus::bus* bus_;
  const message_info* info_;
  context* parent_;
  clock::rep deadline_ = no_deadline;
  const dispatch_options* options_;
  cmdbus::unit_of_work* uow_ = nullptr;
  detail::context_extras* extras_ = nullptr;  // owned; freed out of line so the destructor stays two instructions
  std::uint32_t retries_ = 0;                 // attempt() - 1
  mutable std::uint32_t have_ = 0;            // a full word, so that it and retries_ clear together with extras_
  union {  // not constructed here: filled on first use, so a context that never needs ids never pays for them
    mutable detail::lazy_ids lazy_;
  };
};

}  // namespace cmdbus
