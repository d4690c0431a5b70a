// cmdbus/handle.hpp — the outcome of a command sent with `bus.send()`: wait for it, get it, chain on it, co_await it.
//
//   cmdbus::handle<long> h = bus.send(Deposit{"alice", 100});   // complete at once on the sync route
//   h.then([](tl::expected<long, cmdbus::error>& r) { ... });   // runs when complete (now, if it already is)
//   long balance = h.get();                                     // waits; rethrows the handler's exception
//   long again = co_await bus.send(Deposit{"bob", 5});          // inside a C++20 coroutine
//
// On the sync route the handle holds its value inline (no allocation). Routes that complete later (worker queues,
// brokers) hand out a shared completion that the worker fills in.
//
// Contains: `handle<R>`, `detail::completion<R>`.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <tl/expected.hpp>

#include "cmdbus/codec.hpp"
#include "cmdbus/consistency.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus {

namespace detail {

/// The worker whose thread this is (set by worker_host::bind_thread), null elsewhere: a blocking wait for a command
/// that only this worker would run fails at once instead of waiting for ever.
inline constinit thread_local const void* current_runner = nullptr;

/// The part of a shared completion that needs no knowledge of R; its locking lives in src/ so that this header
/// pulls in no thread headers.
class completion_base {
 public:
  completion_base();
  completion_base(const completion_base&) = delete;
  completion_base& operator=(const completion_base&) = delete;
  virtual ~completion_base();

  [[nodiscard]] bool ready() const noexcept;
  /// Waits for the outcome. Throws self_wait_error if only this thread could produce it (see set_runner).
  void wait() const;
  /// False on timeout. Throws self_wait_error as wait() does, unless `timeout` is zero (a look, not a wait).
  [[nodiscard]] bool wait_for(std::chrono::nanoseconds timeout) const;
  /// Set by a route when it queues the command: the worker that will run it (compared with detail::current_runner
  /// by a waiter), and what to name in the error when that worker itself waits. The strings must outlive the wait
  /// (the command's wire name, the route's name).
  void set_runner(const void* runner, std::string_view command, std::string_view route, const command_id& id) noexcept {
    runner_ = runner;
    command_ = command;
    route_ = route;
    id_ = id;
  }
  /// Runs `f` once complete, on the completing thread; returns false (and keeps nothing) if already complete.
  [[nodiscard]] bool add_continuation(std::function<void()> f);
  /// Completes with an error, whatever R is (a route that gives up on the command: stopping, abandoned).
  virtual void fail(error e) = 0;
  /// Completes with a result another process encoded (message_info::encode_result; `schema_version` is what it
  /// wrote): decoded by R's codec, nothing for void. A result that cannot be decoded here (R has no codec, or its codec
  /// refuses the bytes) completes with that error instead.
  virtual void complete_encoded(std::string_view bytes, std::uint32_t schema_version, std::string_view command,
                                const command_id& id) = 0;
  /// Set by the worker before completing: what the command committed.
  void set_token(const consistency_token& t) noexcept { token_ = t; }
  /// Only after ready().
  [[nodiscard]] const consistency_token& token() const noexcept { return token_; }

 protected:
  /// Publishes the stored value: wakes waiters, then runs the continuations.
  void mark_complete();

 private:
  /// Throws self_wait_error when this thread is the worker that would run the command (it is not ready yet).
  void refuse_self_wait() const;

  struct state;
  std::unique_ptr<state> state_;
  consistency_token token_;
  const void* runner_ = nullptr;
  std::string_view command_;
  std::string_view route_;
  command_id id_;
};

template <class R>
class completion final : public completion_base {
 public:
  void complete(tl::expected<R, error> value) {
    value_.emplace(std::move(value));
    mark_complete();
  }
  void fail(error e) override { complete(tl::unexpected(std::move(e))); }
  void complete_encoded(std::string_view bytes, std::uint32_t schema_version, std::string_view command,
                        const command_id& id) override {
    if constexpr (std::is_void_v<R>) {
      (void)bytes;
      (void)schema_version;
      (void)command;
      (void)id;
      complete(tl::expected<void, error>{});
    } else if constexpr (has_codec<R>) {
      try {
        complete(codec<R>::decode(bytes, schema_version));
      } catch (...) {
        fail(error(std::current_exception(), command, id));
      }
    } else {
      (void)bytes;
      (void)schema_version;
      fail(error(std::make_exception_ptr(remote_error(
                     error_code::fatal, "cmdbus::remote_error",
                     "cmdbus: the command ran in another process, but its result type has no codec "
                     "(cmdbus/codec.hpp), so the result cannot come back here; give the result type a codec, or "
                     "read the effect instead")),
                 command, id));
    }
  }
  /// Only after ready().
  [[nodiscard]] tl::expected<R, error>& value() noexcept { return *value_; }

 private:
  std::optional<tl::expected<R, error>> value_;
};

}  // namespace detail

template <class R>
class handle {
 public:
  using value_type = tl::expected<R, error>;

  /// A handle whose outcome is already known (the sync route).
  [[nodiscard]] static handle completed(command_id id, value_type value) {
    handle h;
    h.id_ = id;
    h.value_.emplace(std::move(value));
    return h;
  }
  /// A handle completed later through `state` (asynchronous routes).
  [[nodiscard]] static handle pending(command_id id, std::shared_ptr<detail::completion<R>> state) {
    handle h;
    h.id_ = id;
    h.state_ = std::move(state);
    return h;
  }

  [[nodiscard]] command_id id() const noexcept { return id_; }
  /// For `query(q, cmdbus::at_least(h.token()))`: names this command and, once it has committed on a worker, the store
  /// and read-model version it reached. Usable before the outcome is known (the query then waits for the command).
  [[nodiscard]] consistency_token token() const noexcept {
    if (state_ && state_->ready()) {
      return state_->token();
    }
    return consistency_token{id_};
  }
  [[nodiscard]] bool ready() const noexcept { return value_.has_value() || (state_ && state_->ready()); }
  void wait() const {
    if (!value_ && state_) {
      state_->wait();
    }
  }
  /// False if the outcome is still unknown after `timeout`.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return value_.has_value() || !state_ ||
           state_->wait_for(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }
  /// Waits, then gives the outcome as a value (the error holds the original exception).
  [[nodiscard]] value_type& result() {
    wait();
    return value_ ? *value_ : state_->value();
  }
  /// Waits, then returns the result or throws the handler's original exception. Moves the result out: call once.
  R get() {
    value_type& r = result();
    if (!r) {
      r.error().rethrow();
    }
    if constexpr (!std::is_void_v<R>) {
      return std::move(*r);
    }
  }
  /// Calls `f(value_type&)` once the outcome is known: now, on this thread, if it already is; otherwise on the thread
  /// that completes the command.
  template <class F>
  void then(F&& f) {
    if (value_ || !state_) {
      f(result());
      return;
    }
    auto state = state_;
    auto run = [state, fn = std::forward<F>(f)]() mutable { fn(state->value()); };
    if (!state_->add_continuation(run)) {
      run();
    }
  }

  struct awaiter {
    handle* self;
    [[nodiscard]] bool await_ready() const noexcept { return self->ready(); }
    [[nodiscard]] bool await_suspend(std::coroutine_handle<> waiting) {
      return self->state_->add_continuation([waiting] { waiting.resume(); });
    }
    R await_resume() { return self->get(); }
  };
  /// `co_await h` resumes when the outcome is known, with the result, or throws the original exception.
  awaiter operator co_await() & noexcept { return awaiter{this}; }
  awaiter operator co_await() && noexcept { return awaiter{this}; }

 private:
  handle() = default;
  command_id id_{};
  std::optional<value_type> value_;
  std::shared_ptr<detail::completion<R>> state_;
};

}  // namespace cmdbus
