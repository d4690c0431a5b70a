// cmdbus/bus.hpp — one dispatch API whatever the route: execute, send, post (and query for reads).
//
//   cmdbus::bus bus{std::move(builder)};
//   long id = bus.execute(OpenAccount{"alice"});                   // runs, returns the result or throws
//   auto r = bus.try_execute(Withdraw{id, 500});                   // tl::expected<void, cmdbus::error>
//   cmdbus::handle<long> h = bus.send(Deposit{id, 100});           // outcome handle: wait, get, then, co_await
//   cmdbus::command_id cid = bus.post(Deposit{id, 100});           // fire and forget: the id once accepted
//   long balance = bus.query(GetBalance{id});
//
// Which route a command takes comes from configuration; the call sites stay the same. On the `sync` route the handler
// runs on the caller's thread, inside the caller's call, and the bus holds no lock while it does; on an asynchronous
// route it runs on that route's workers (docs/async.md; route kinds: cmdbus/route_kind.hpp).
//
// Contains: `bus`, `route_entry`, `stop_report`.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <tl/expected.hpp>

#include "cmdbus/builder.hpp"
#include "cmdbus/command_status.hpp"
#include "cmdbus/consistency.hpp"
#include "cmdbus/context.hpp"
#include "cmdbus/dead_letters.hpp"
#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/detail/parcel.hpp"
#include "cmdbus/detail/type_index.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/handle.hpp"
#include "cmdbus/message.hpp"
#include "cmdbus/message_info.hpp"
#include "cmdbus/route_kind.hpp"

namespace cmdbus {

namespace detail {

/// Everything the hot path needs about one message type, in one place.
struct slot {
  invoke_fn invoke = nullptr;  ///< null: no handler in this process
  direct_fn direct = nullptr;  ///< the same handler, typed: used when the chain is empty
  void* handler = nullptr;
  middleware* const* chain = nullptr;
  std::uint32_t chain_size = 0;
  const message_info* info = nullptr;
  cmdbus::route* async = nullptr;  ///< null: the sync route (run on the caller's thread)
};

/// Makes `ctx` the current context of this thread for its lifetime: what it dispatches becomes its child.
class context_scope {
 public:
  explicit context_scope(context& ctx) noexcept : previous_(current_context) { current_context = &ctx; }
  context_scope(const context_scope&) = delete;
  context_scope& operator=(const context_scope&) = delete;
  ~context_scope() { current_context = previous_; }

 private:
  context* previous_;
};
/// Blocks until `token` is stopped. Defined in the library for std::stop_token (src/run_workers.cpp).
template <class StopToken>
void wait_for_stop(const StopToken& token);

}  // namespace detail

/// Where a command type runs, and what decided it.
struct route_entry {
  std::string command;  ///< wire name
  std::string route;    ///< route name ("sync", ...)
  std::string kind;     ///< route kind ("sync", ...)
  std::string origin;   ///< "cmdbus.toml:12", "code (main.cpp:40)", or "default"
};

/// What bus::stop() did.
struct stop_report {
  std::uint64_t completed = 0;      ///< commands the asynchronous routes finished since the start
  std::vector<command_id> not_run;  ///< accepted but not run before the stop's deadline (see dead_letters())
};

class bus {
 public:
  /// Checks the registrations against the route configuration and starts; throws config_error (every problem, each
  /// with file:line) or registration_error.
  explicit bus(bus_builder builder);
  bus(const bus&) = delete;
  bus& operator=(const bus&) = delete;
  ~bus();

  // ---- execute: run and wait for the result ------------------------------------------------------------------
  template <cmdbus::command C>
  result_t<C> execute(const C& cmd) {
    return run<C>(cmd, nullptr);
  }
  template <cmdbus::command C>
  result_t<C> execute(const C& cmd, const dispatch_options& options) {
    return run<C>(cmd, &options);
  }
  template <cmdbus::command C>
  [[nodiscard]] tl::expected<result_t<C>, error> try_execute(const C& cmd) {
    return try_run<C>(cmd, nullptr).first;
  }
  template <cmdbus::command C>
  [[nodiscard]] tl::expected<result_t<C>, error> try_execute(const C& cmd, const dispatch_options& options) {
    return try_run<C>(cmd, &options).first;
  }

  // ---- send: a handle to the outcome -------------------------------------------------------------------------
  template <cmdbus::command C>
  [[nodiscard]] handle<result_t<C>> send(const C& cmd) {
    return send_impl<C>(cmd, nullptr);
  }
  template <cmdbus::command C>
  [[nodiscard]] handle<result_t<C>> send(const C& cmd, const dispatch_options& options) {
    return send_impl<C>(cmd, &options);
  }

  // ---- post: fire and forget; the id once accepted (on the sync route: once it has run) -----------------------
  template <cmdbus::command C>
  command_id post(const C& cmd) {
    return post_impl<C>(cmd, nullptr);
  }
  template <cmdbus::command C>
  command_id post(const C& cmd, const dispatch_options& options) {
    return post_impl<C>(cmd, &options);
  }
  template <cmdbus::command C>
  [[nodiscard]] tl::expected<command_id, error> try_post(const C& cmd) {
    return try_post_impl<C>(cmd, nullptr);
  }
  template <cmdbus::command C>
  [[nodiscard]] tl::expected<command_id, error> try_post(const C& cmd, const dispatch_options& options) {
    return try_post_impl<C>(cmd, &options);
  }

  // ---- queries: always on the caller's thread ----------------------------------------------------------------
  template <cmdbus::query Q>
  result_t<Q> query(const Q& q) {
    return run<Q>(q, nullptr);
  }
  template <cmdbus::query Q>
  result_t<Q> query(const Q& q, const dispatch_options& options) {
    return run<Q>(q, &options);
  }
  template <cmdbus::query Q>
  [[nodiscard]] tl::expected<result_t<Q>, error> try_query(const Q& q) {
    return try_run<Q>(q, nullptr).first;
  }
  template <cmdbus::query Q>
  [[nodiscard]] tl::expected<result_t<Q>, error> try_query(const Q& q, const dispatch_options& options) {
    return try_run<Q>(q, &options).first;
  }

  // ---- introspection ------------------------------------------------------------------------------------------
  /// The route of every registered command, in registration order.
  [[nodiscard]] const std::vector<route_entry>& routes() const noexcept;
  /// Every registered command, query and event type.
  [[nodiscard]] std::span<const message_info* const> messages() const noexcept;
  /// Stops the asynchronous routes: refuses new commands (stopping_error), runs everything accepted (retries
  /// included) and joins the workers. The destructor does this too. Sync dispatch keeps working.
  stop_report stop();
  /// The same, but from `give_up_at` on, commands not yet started are not run: a waiting caller gets stopping_error,
  /// the others become dead letters, and their ids are listed in the report. Running commands always finish.
  stop_report stop(clock::time_point give_up_at);
  template <class Rep, class Period>
  stop_report stop(std::chrono::duration<Rep, Period> grace) {
    return stop(clock::now() + std::chrono::duration_cast<clock::duration>(grace));
  }
  /// Makes this process a worker of the named routes (routes whose work processes share, such as `durable` ones):
  /// starts their workers here if they do not run yet (`start_workers = false` in the route's table), blocks until
  /// `stop_requested` is requested, then stops these routes as stop() does: what runs finishes, what waits stays in
  /// the store for the other workers. An unknown route name, or a route whose kind runs its workers in every process
  /// that builds the bus (`local`, `sync`), is std::invalid_argument naming it, before any worker starts. Returns what
  /// the stop of these routes reports. Call it from a thread of your own (not from a worker).
  /// `stop_requested` is a std::stop_token (of a std::jthread, a std::stop_source or cmdbus::stop_signals); this header
  /// does not include <stop_token>: the caller who has a token has it.
  template <class StopToken>
  stop_report run_workers(const std::vector<std::string>& routes, const StopToken& stop_requested) {
    return run_workers_while(routes, [&stop_requested] { detail::wait_for_stop(stop_requested); });
  }
  /// run_workers with the wait made explicit: starts the routes' workers, calls `wait` on this thread, and stops them
  /// once it returns (or throws).
  stop_report run_workers_while(const std::vector<std::string>& routes, const std::function<void()>& wait);
  /// Commands on asynchronous routes that failed with nobody waiting (each was logged and made a dead letter).
  [[nodiscard]] std::uint64_t unobserved_failures() const noexcept;
  /// Where a command sent to an asynchronous route is; nullopt for one never tracked (sync) or long forgotten.
  [[nodiscard]] std::optional<command_state> status(const command_id& id) const;
  /// The commands that failed with nobody waiting, or were not run at stop: list, inspect, requeue, discard.
  [[nodiscard]] dead_letter_queue& dead_letters() noexcept;
  /// Queue depth and counters of every asynchronous route (cmdbus/route_kind.hpp).
  [[nodiscard]] std::vector<route_stats> queue_stats() const;

  /// After-commit subscribers that threw (each was logged); their commands stayed committed.
  [[nodiscard]] std::uint64_t after_commit_failures() const noexcept;

  /// For unit-of-work middleware: delivers events to their after-commit subscribers, once the transaction that
  /// `ctx` owns has committed. A subscriber's exception is logged and counted, and the others still run.
  void after_commit(context& ctx, const std::vector<detail::pending_event>& events) noexcept;

  /// The context of the handler running on this thread, if any.
  [[nodiscard]] static const context* current() noexcept { return detail::current_context; }

 private:
  friend class next_step;
  friend class worker_host;
  friend class dead_letter_queue;
  template <class M>
  friend detail::run_outcome detail::run_decoded(bus& b, detail::envelope& e);
  struct state;

  template <class M>
  const detail::slot& slot_of() const {
    const auto i = detail::type_index<M>();
    if (i < slot_count_ && slots_[i].direct != nullptr) [[likely]] {  // `direct` is loaded for the call anyway
      return slots_[i];
    }
    throw_unknown(wire_name_v<M>, detail::type_name<M>());
  }

  template <class C>
  command_id post_impl(const C& cmd, const dispatch_options* options) {
    const detail::slot& s = slot_of<C>();
    if (s.async != nullptr) [[unlikely]] {
      return post_async<C>(s, cmd, options);
    }
    context ctx(*this, *s.info, detail::current_context, options);
    run_in<C>(s, cmd, ctx);
    return ctx.id();
  }
  template <class C>
  handle<result_t<C>> send_impl(const C& cmd, const dispatch_options* options) {
    const auto i = detail::type_index<C>();
    if (i < slot_count_ && slots_[i].async != nullptr) [[unlikely]] {
      return send_async<C>(slots_[i], cmd, options);  // a full queue or a stopping route throws here, at the caller
    }
    auto [result, id] = try_run<C>(cmd, options);
    return handle<result_t<C>>::completed(id, std::move(result));
  }

  // ---- asynchronous routes: the command travels in an envelope and runs the same pipeline on a worker -------------
  template <class M>
  std::unique_ptr<detail::envelope> make_envelope(const detail::slot& s, const M& m, const dispatch_options* options) {
    std::unique_ptr<detail::envelope> e = std::make_unique<detail::typed_envelope<M>>(m);
    e->target = &s;
    e->type_index = detail::type_index<M>();
    e->id = options != nullptr && !options->id.is_nil() ? options->id : command_id::generate();
    const context* parent = detail::current_context;
    if (options != nullptr || parent != nullptr) [[unlikely]] {
      e->options = std::make_unique<dispatch_options>(options != nullptr ? *options : dispatch_options{});
      auto& o = *e->options;
      if (parent != nullptr) {  // sent from a handler: the worker's command is its child
        if (o.correlation_id.is_nil()) {
          o.correlation_id = parent->correlation_id();
        }
        if (o.causation_id.is_nil()) {
          o.causation_id = parent->id();
        }
        if (o.traceparent.empty()) {
          o.traceparent = parent->traceparent();
        }
        if (const auto d = parent->deadline(); d && (!o.deadline || *d < *o.deadline)) {
          o.deadline = d;
        }
      }
    }
    e->run = &run_envelope<M>;
    const auto key = partition_of(s, &m);
    e->key_hash = key.hash;
    e->keyed = key.keyed;
    return e;
  }

  /// The command's partition key (by hash), if its type has one.
  static detail::partition partition_of(const detail::slot& s, const void* payload) {
    if (s.info->partition_key == nullptr) {
      return {};
    }
    return {std::hash<std::string>{}(s.info->partition_key(payload)), true};
  }

  template <class M>
  handle<result_t<M>> send_async(const detail::slot& s, const M& m, const dispatch_options* options) {
    using R = result_t<M>;
    auto e = make_envelope<M>(s, m, options);
    auto outcome = std::make_shared<detail::completion<R>>();
    e->completion = outcome;
    const auto id = s.async->enqueue_envelope(e);
    return handle<R>::pending(id, std::move(outcome));
  }

  /// On a worker, one attempt: the same pipeline as the sync route. Success completes the handle (after the status
  /// says so); a failure is retried later, delivered to the waiting caller, or made a dead letter.
  template <class M>
  static detail::run_outcome run_envelope(bus& b, detail::envelope& e) {
    using R = result_t<M>;
    using stored = std::conditional_t<std::is_void_v<R>, bool, R>;
    context ctx(b, *e.target->info, nullptr, e.options.get());
    ctx.assign_id(e.id);
    ctx.run_on_worker(e.attempts - 1);
    std::optional<stored> result;
    try {
      const M& m = *static_cast<const M*>(e.payload);
      if constexpr (std::is_void_v<R>) {
        b.run_in<M>(*e.target, m, ctx);
        result.emplace(true);
      } else {
        result.emplace(b.run_in<M>(*e.target, m, ctx));
      }
    } catch (...) {
      return b.on_failed(e, ctx, std::current_exception());
    }
    if (e.remote_result != nullptr && e.target->info->encode_result != nullptr) [[unlikely]] {
      *e.remote_result = e.target->info->encode_result(&*result);
    }
    b.on_succeeded(e, ctx.committed());
    if (auto* outcome = static_cast<detail::completion<R>*>(e.completion.get())) {
      if constexpr (std::is_void_v<R>) {
        outcome->complete(tl::expected<void, error>{});
      } else {
        outcome->complete(std::move(*result));
      }
    }
    return {};
  }

  template <class M>
  [[gnu::noinline]] std::pair<tl::expected<result_t<M>, error>, command_id> try_run_async(
      const detail::slot& s, const M& m, const dispatch_options* options) {
    using R = result_t<M>;
    command_id id;
    try {
      auto h = send_async<M>(s, m, options);
      id = h.id();
      if constexpr (std::is_void_v<R>) {
        wait_for_outcome(std::move(h), s, options);
        return {tl::expected<void, error>{}, id};
      } else {
        return {tl::expected<R, error>{wait_for_outcome(std::move(h), s, options)}, id};
      }
    } catch (...) {
      return {tl::unexpected(error(std::current_exception(), s.info->wire_name, id)), id};
    }
  }

  template <class C>
  [[gnu::noinline]] command_id post_async(const detail::slot& s, const C& cmd, const dispatch_options* options) {
    if constexpr (detail::parcel::carries<C>) {
      if (options == nullptr && detail::current_context == nullptr) [[likely]] {
        // A root command without options: it travels by value (see detail/parcel.hpp).
        detail::parcel p;
        ::new (p.payload()) C(cmd);
        p.ops = &parcel_ops_of<C>();
        p.id = command_id::generate();
        return s.async->enqueue(p, partition_of(s, &cmd));
      }
    }
    auto e = make_envelope<C>(s, cmd, options);
    return s.async->enqueue_envelope(e);
  }

  // ---- a command by value in a parcel (detail/parcel.hpp): what a worker does with it ------------------------------
  template <class M>
  static const detail::parcel_ops& parcel_ops_of() {
    static const detail::parcel_ops ops{
        detail::type_index<M>(),
        std::is_trivially_copyable_v<M>,
        [](void* to, void* from) noexcept {
          M* m = std::launder(static_cast<M*>(from));
          ::new (to) M(std::move(*m));
          m->~M();
        },
        [](void* p) noexcept { std::launder(static_cast<M*>(p))->~M(); },
        [](bus& b, const detail::parcel& p) { return partition_of(b.slots_[detail::type_index<M>()], p.payload()); },
        &run_parcel<M>,
        &unpack_parcel<M>,
    };
    return ops;
  }

  /// The command moves into a typed heap envelope (attempt history empty); the parcel is left empty.
  template <class M>
  static std::unique_ptr<detail::envelope> unpack_parcel(bus& b, detail::parcel& p) {
    M& m = *std::launder(static_cast<M*>(p.payload()));
    auto e = std::make_unique<detail::typed_envelope<M>>(std::move(m));
    m.~M();
    p.release_payload();
    const detail::slot& s = b.slots_[detail::type_index<M>()];
    e->target = &s;
    e->type_index = detail::type_index<M>();
    e->id = p.id;
    e->run = &run_envelope<M>;
    const auto key = partition_of(s, &e->message);
    e->key_hash = key.hash;
    e->keyed = key.keyed;
    return e;
  }

  /// The first attempt of a command carried by value: run_envelope's pipeline without the envelope. Nobody waits for
  /// it; a failure moves it into an envelope (for its retries or the dead letters).
  template <class M>
  static detail::parcel_run run_parcel(bus& b, detail::parcel& p, std::uint64_t started) {
    const detail::slot& s = b.slots_[detail::type_index<M>()];
    context ctx(b, *s.info, nullptr, nullptr);
    ctx.assign_id(p.id);
    ctx.run_on_worker(0);
    try {
      (void)b.run_in<M>(s, *std::launder(static_cast<const M*>(p.payload())), ctx);
    } catch (...) {
      return b.on_parcel_failed(p, started, ctx, std::current_exception());
    }
    detail::parcel_run done;
    done.succeeded = true;
    done.token = ctx.committed();
    return done;
  }

  /// execute() on an asynchronous route, kept out of line so that the sync path stays small enough to inline.
  template <class M>
  [[gnu::noinline]] result_t<M> run_async(const detail::slot& s, const M& m, const dispatch_options* options) {
    return wait_for_outcome(send_async<M>(s, m, options), s, options);
  }

  /// Whether execute() on an asynchronous route waits for a worker. Inside a handler it runs the command inline
  /// instead, whatever its route: the caller waits for it anyway, it joins the caller's unit of work (a savepoint),
  /// and a worker never waits on a queue it serves itself (so the same holds for any execute on a worker thread, from
  /// a continuation say). send and post from a handler do go to the route.
  [[nodiscard]] static bool waits_for_worker() noexcept {
    return detail::current_context == nullptr && !detail::on_worker_thread;
  }

  /// execute() on an asynchronous route: wait (bounded by the deadline or the route's timeout), then the result or
  /// the handler's original exception.
  template <class R>
  R wait_for_outcome(handle<R> h, const detail::slot& s, const dispatch_options* options) {
    auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(s.async->execute_timeout());
    if (options != nullptr && options->deadline) {
      timeout = std::max(std::chrono::nanoseconds{0}, *options->deadline - clock::now());
    }
    if (!h.wait_for(timeout)) {
      throw_execute_timeout(s, h.id(), timeout);
    }
    return h.get();
  }
  [[noreturn]] static void throw_execute_timeout(const detail::slot& s, command_id id, std::chrono::nanoseconds waited);

  // For the workers and the dead letters (src/): status, outcomes that are not a success, sending again.
  void on_succeeded(detail::envelope& e, const consistency_token& token) noexcept;
  /// The command carried by value in `p` moves into a heap envelope (`p` is left empty). Out of memory, it is lost:
  /// reported (status failed, logged with `failure` if given) and null returned.
  std::unique_ptr<detail::envelope> unpack(detail::parcel& p, const std::exception_ptr& failure = nullptr) noexcept;
  /// A failed first attempt of a command carried by value: it moves into an envelope (`failed`), then on_failed.
  detail::parcel_run on_parcel_failed(detail::parcel& p, std::uint64_t started, const context& ctx,
                                      std::exception_ptr failure) noexcept;
  /// A failed attempt: retry later (the retry middleware asked), the caller's error (status failed), or dead.
  detail::run_outcome on_failed(detail::envelope& e, const context& ctx, std::exception_ptr failure) noexcept;
  /// Failed for good with nobody waiting: a dead letter, logged and counted.
  void bury(std::unique_ptr<detail::envelope> e) noexcept;
  /// After a worker's batch committed: the after-commit subscribers see the events of `e`'s run, with a context
  /// like the one it ran in (its id, options, attempt).
  void after_commit_of(detail::envelope& e, const std::vector<detail::pending_event>& events) noexcept;
  /// Not run because the bus stopped: the waiting caller gets stopping_error, or it becomes a dead letter.
  void abandon(std::unique_ptr<detail::envelope> e, std::string_view route) noexcept;
  /// A dead letter back on its route; `e` is left as it was if the route refuses it.
  void requeue(std::unique_ptr<detail::envelope>& e);
  /// A query with at_least(token): waits until the token's command has settled and its store has reached the version.
  void await_consistency(const dispatch_options& options, std::string_view query_name) const;

  template <class C>
  tl::expected<command_id, error> try_post_impl(const C& cmd, const dispatch_options* options) {
    const auto i = detail::type_index<C>();
    if (i < slot_count_ && slots_[i].async != nullptr) [[unlikely]] {
      try {
        return post_impl<C>(cmd, options);
      } catch (...) {
        return tl::unexpected(error(std::current_exception(), wire_name_v<C>, command_id{}));
      }
    }
    auto [result, id] = try_run<C>(cmd, options);
    if (!result) {
      return tl::unexpected(std::move(result.error()));
    }
    return id;
  }

  template <class M>
  result_t<M> run(const M& m, const dispatch_options* options) {
    const detail::slot& s = slot_of<M>();
    if (s.async != nullptr && waits_for_worker()) [[unlikely]] {
      return run_async<M>(s, m, options);
    }
    if constexpr (cmdbus::query<M>) {
      if (options != nullptr && options->at_least) [[unlikely]] {
        await_consistency(*options, s.info->wire_name);
      }
    }
    context ctx(*this, *s.info, detail::current_context, options);
    return run_in<M>(s, m, ctx);
  }

  template <class M>
  result_t<M> run_in(const detail::slot& s, const M& m, context& ctx) {
    using R = result_t<M>;
    detail::context_scope scope(ctx);
    if (s.chain_size == 0) [[likely]] {
      // No middleware: call the handler with its own types; no result slot, nothing erased.
      if (ctx.deadline_ != context::no_deadline) [[unlikely]] {
        check_deadline(ctx);
      }
      const auto direct = reinterpret_cast<R (*)(void*, const M&, context&)>(s.direct);
      if constexpr (std::is_void_v<R>) {
        direct(s.handler, m, ctx);
        if (ctx.extras_ != nullptr) [[unlikely]] {
          publish(ctx);
        }
      } else {
        R r = direct(s.handler, m, ctx);
        if (ctx.extras_ != nullptr) [[unlikely]] {
          publish(ctx);
        }
        return r;
      }
    } else if constexpr (std::is_void_v<R>) {
      run_chain(s, &m, nullptr, ctx);
    } else {
      std::optional<R> out;
      run_chain(s, &m, &out, ctx);
      if (!out) [[unlikely]] {
        throw_no_result(ctx);
      }
      return std::move(*out);
    }
  }

  /// The result (or the error, with the command's id) and the command id.
  template <class M>
  std::pair<tl::expected<result_t<M>, error>, command_id> try_run(const M& m, const dispatch_options* options) {
    using R = result_t<M>;
    const auto i = detail::type_index<M>();
    if (i >= slot_count_ || slots_[i].invoke == nullptr) [[unlikely]] {
      return {tl::unexpected(unknown_error(wire_name_v<M>, detail::type_name<M>())), command_id{}};
    }
    const detail::slot& s = slots_[i];
    if (s.async != nullptr && waits_for_worker()) [[unlikely]] {
      return try_run_async<M>(s, m, options);
    }
    context ctx(*this, *s.info, detail::current_context, options);
    try {
      if constexpr (cmdbus::query<M>) {
        if (options != nullptr && options->at_least) [[unlikely]] {
          await_consistency(*options, s.info->wire_name);
        }
      }
      if constexpr (std::is_void_v<R>) {
        run_in<M>(s, m, ctx);
        return {tl::expected<void, error>{}, ctx.id()};
      } else {
        return {tl::expected<R, error>{run_in<M>(s, m, ctx)}, ctx.id()};
      }
    } catch (...) {
      return {tl::unexpected(error(std::current_exception(), s.info->wire_name, ctx.id(), ctx.attempt())), ctx.id()};
    }
  }

  void run_chain(const detail::slot& s, const void* payload, void* result, context& ctx);
  /// The end of every chain: the handler, then the subscribers of the events it emitted.
  void run_handler(const detail::slot& s, const void* payload, void* result, context& ctx);
  void publish(context& ctx);
  [[noreturn]] void throw_unknown(std::string_view wire_name, std::string_view type_name) const;
  [[noreturn]] static void throw_no_result(const context& ctx);
  static void check_deadline(const context& ctx);
  [[nodiscard]] static error unknown_error(std::string_view wire_name, std::string_view type_name);

  // Hot data first: the handler table, indexed by detail::type_index.
  const detail::slot* slots_ = nullptr;
  std::uint32_t slot_count_ = 0;
  std::unique_ptr<state> state_;
};

template <class M>
detail::run_outcome detail::run_decoded(bus& b, detail::envelope& e) {
  return bus::run_envelope<M>(b, e);
}

}  // namespace cmdbus
