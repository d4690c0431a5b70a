// cmdbus/builder.hpp — everything is registered here, before the bus starts; the bus itself is then immutable.
//
//   cmdbus::bus_builder b;
//   b.handle<OpenAccount>([&](const OpenAccount& c, cmdbus::context& ctx) { return accounts.open(c.owner); });
//   b.handle<GetBalance>([&](const GetBalance& q) { return accounts.balance(q.id); });
//   b.project<AccountOpened>([&](const AccountOpened& e, cmdbus::context& ctx) { read_model.add(e); });
//   b.subscribe<AccountOpened>([&](const AccountOpened& e) { mailer.welcome(e); });   // after commit
//   b.use(cmdbus::make_metrics());                      // global middleware, outermost first
//   b.config_file("cmdbus.toml");                       // routes; else $CMDBUS_CONFIG; else everything is sync
//   cmdbus::bus bus{std::move(b)};                      // checks registrations against the routes, or throws
//
// Registering a second handler for one type, or two types under one wire name, throws registration_error naming
// both. A handler whose signature does not fit its message does not compile.
//
// Contains: `bus_builder`.
#pragma once

#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cmdbus/context.hpp"
#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/message.hpp"
#include "cmdbus/message_info.hpp"
#include "cmdbus/middleware.hpp"

namespace cmdbus {

class dead_letter_store;
class route_kind;

namespace detail {

using invoke_fn = void (*)(void* handler, const void* payload, void* result, context& ctx);
/// A typed entry point, `result_t<M> (*)(void*, const M&, context&)`, stored erased; cast back only for M.
using direct_fn = void (*)();
using subscriber_fn = void (*)(void* handler, const void* event, context& ctx);

template <class M, class F>
decltype(auto) call_handler(F& f, const M& m, context& ctx) {
  if constexpr (std::is_invocable_v<F&, const M&, context&>) {
    return f(m, ctx);
  } else {
    return f(m);
  }
}

template <class M, class F>
void invoke_handler(void* handler, const void* payload, void* result, context& ctx) {
  auto& f = *static_cast<F*>(handler);
  const auto& m = *static_cast<const M*>(payload);
  if constexpr (std::is_void_v<result_t<M>>) {
    call_handler(f, m, ctx);
  } else {
    static_cast<std::optional<result_t<M>>*>(result)->emplace(call_handler(f, m, ctx));
  }
}

/// The handler called with its own types: what a type with no middleware runs, a tail call into the handler.
template <class M, class F>
result_t<M> call_direct(void* handler, const M& m, context& ctx) {
  if constexpr (std::is_void_v<result_t<M>>) {
    call_handler(*static_cast<F*>(handler), m, ctx);
  } else {
    return call_handler(*static_cast<F*>(handler), m, ctx);
  }
}

template <class E, class F>
void invoke_subscriber(void* handler, const void* event, context& ctx) {
  auto& f = *static_cast<F*>(handler);
  if constexpr (std::is_invocable_v<F&, const E&, context&>) {
    f(*static_cast<const E*>(event), ctx);
  } else {
    f(*static_cast<const E*>(event));
  }
}

/// The compile-time checks behind handle<M>(): each failure names the rule that was broken.
template <class M, class F>
constexpr void check_handler() {
  static_assert(message<M>,
                "cmdbus: handle<M>(): M must be a command (`static constexpr std::string_view command_name`) or a "
                "query (`static constexpr std::string_view query_name` and `using result_type = ...`)");
  if constexpr (message<M>) {
    constexpr bool with_context = std::is_invocable_v<F&, const M&, context&>;
    constexpr bool plain = std::is_invocable_v<F&, const M&>;
    static_assert(with_context || plain,
                  "cmdbus: handle<M>(h): the handler must be callable as `R(const M&, cmdbus::context&)` or "
                  "`R(const M&)`, where R is M::result_type (void when M declares none)");
    if constexpr (with_context || plain) {
      using returned = decltype(call_handler(std::declval<F&>(), std::declval<const M&>(), std::declval<context&>()));
      if constexpr (std::is_void_v<result_t<M>>) {
        static_assert(std::is_void_v<returned>,
                      "cmdbus: handle<M>(h): M declares no result_type, so its handler must return void");
      } else {
        static_assert(std::is_convertible_v<returned, result_t<M>>,
                      "cmdbus: handle<M>(h): the handler's return type does not convert to M::result_type");
      }
    }
  }
}

template <class E, class F>
constexpr void check_subscriber() {
  static_assert(
      event<E>,
      "cmdbus: subscribe<E>()/project<E>(): E must be an event (`static constexpr std::string_view event_name`)");
  static_assert(std::is_invocable_v<F&, const E&, context&> || std::is_invocable_v<F&, const E&>,
                "cmdbus: subscribe<E>(f)/project<E>(f): f must be callable as `void(const E&, cmdbus::context&)` or "
                "`void(const E&)`");
}

struct where {
  std::string file;
  unsigned line = 0;
  [[nodiscard]] std::string to_string() const;
};
[[nodiscard]] where here(const std::source_location& loc);

}  // namespace detail

class bus_builder {
 public:
  bus_builder();
  bus_builder(bus_builder&&) noexcept;
  bus_builder& operator=(bus_builder&&) noexcept;
  bus_builder(const bus_builder&) = delete;
  bus_builder& operator=(const bus_builder&) = delete;
  ~bus_builder();

  /// Registers the one handler of command or query M.
  template <class M, class H>
  bus_builder& handle(H&& handler, const std::source_location& loc = std::source_location::current()) {
    using F = std::decay_t<H>;
    detail::check_handler<M, F>();
    if constexpr (message<M>) {
      auto owned = std::make_shared<F>(std::forward<H>(handler));
      add_handler(registered_info<M>(), std::shared_ptr<void>(owned, owned.get()), &detail::invoke_handler<M, F>,
                  reinterpret_cast<detail::direct_fn>(&detail::call_direct<M, F>), detail::here(loc));
    }
    return *this;
  }

  /// Makes command C known without handling it here (a route may send it elsewhere). On the sync route it must
  /// have a handler by the time the bus starts.
  template <command C>
  bus_builder& declare(const std::source_location& loc = std::source_location::current()) {
    add_declaration(registered_info<C>(), detail::here(loc));
    return *this;
  }

  /// A projection of event E: runs right after the emitting handler, inside its unit of work (so queries see the
  /// change when execute returns). Its failure fails the command, and with a unit of work rolls everything back.
  template <class E, class F>
  bus_builder& project(F&& f) {
    return add_event_handler<E>(std::forward<F>(f), false);
  }
  /// An after-commit subscriber of event E: runs once the command's unit of work has committed (at once when there
  /// is none), never for a rolled-back command. Its failure is logged and counted; the command stays committed.
  template <class E, class F>
  bus_builder& subscribe(F&& f) {
    return add_event_handler<E>(std::forward<F>(f), true);
  }

  /// Middleware for every command and query, outermost first in the order of these calls.
  bus_builder& use(std::shared_ptr<middleware> m);
  /// Middleware for M only; it runs inside all global middleware.
  template <message M>
  bus_builder& use(std::shared_ptr<middleware> m) {  // NOLINT(performance-unnecessary-value-param): moved below;
                                                     // clang-tidy 16 misreads the call in an uninstantiated template
    add_middleware_for(registered_info<M>(), std::move(m));
    return *this;
  }

  /// Routes command C from code; an entry for it in the configuration file takes precedence.
  template <command C>
  bus_builder& route(std::string route_name,  // NOLINT(performance-unnecessary-value-param): moved, as in use<M>()
                     const std::source_location& loc = std::source_location::current()) {
    add_code_route(registered_info<C>(), std::move(route_name), detail::here(loc));
    return *this;
  }

  /// The TOML routing file. Without this, $CMDBUS_CONFIG names it; without either, every command is sync.
  bus_builder& config_file(std::string path);
  /// The same from a std::filesystem::path, or anything else whose string() names the file (this header does not
  /// include <filesystem>: the caller who has a path has it).
  template <class Path>
  requires requires(const Path& p) { std::string(p.string()); }
  bus_builder& config_file(const Path& path) { return config_file(std::string(path.string())); }
  /// Routing configuration as TOML text; `origin` names it in error messages.
  bus_builder& config_text(std::string toml, std::string origin = "<config text>");

  /// Where dead letters go (cmdbus/dead_letters.hpp); in memory unless set.
  bus_builder& dead_letters(std::shared_ptr<dead_letter_store> store);
  /// A route kind this bus can use in `kind = "..."` (cmdbus/route_kind.hpp), besides `sync` and the kinds whose
  /// targets registered themselves when linked (`local` with cmdbus::cmdbus). Takes precedence over a linked kind of
  /// the same name; two of one name on a builder throw registration_error.
  bus_builder& route_kind(std::shared_ptr<cmdbus::route_kind> kind);
  /// How many settled commands of asynchronous routes bus::status() remembers per worker (default 10 000; about: each
  /// worker's ring holds this plus its route's capacity, rounded up to a power of two, at most 131 072). Pending and
  /// running commands are always known.
  bus_builder& status_retention(std::size_t commands);

 public:
  struct state;  // opaque; defined in src/

 private:
  friend class bus;

  /// make_message_info<M>() with the codec's decode (which needs detail/envelope.hpp).
  template <class M>
  static message_info registered_info() {
    message_info info = make_message_info<M>();
    if constexpr (has_codec<M>) {
      info.decode = &detail::decode_envelope<M>;
    }
    return info;
  }
  void add_handler(const message_info& info, std::shared_ptr<void> handler, detail::invoke_fn fn,
                   detail::direct_fn direct, detail::where at);
  void add_declaration(const message_info& info, detail::where at);
  template <class E, class F>
  bus_builder& add_event_handler(F&& f, bool after_commit) {
    using G = std::decay_t<F>;
    detail::check_subscriber<E, G>();
    auto owned = std::make_shared<G>(std::forward<F>(f));
    add_subscriber(make_message_info<E>(), std::shared_ptr<void>(owned, owned.get()), &detail::invoke_subscriber<E, G>,
                   after_commit);
    return *this;
  }
  void add_subscriber(const message_info& info, std::shared_ptr<void> fn, detail::subscriber_fn invoke,
                      bool after_commit);
  void add_middleware_for(const message_info& info, std::shared_ptr<middleware> m);
  void add_code_route(const message_info& info, std::string route_name, detail::where at);

  std::unique_ptr<state> state_;
};

}  // namespace cmdbus
