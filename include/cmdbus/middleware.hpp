// cmdbus/middleware.hpp — code that wraps every handler call: observe, enrich, short-circuit.
//
//   class audit final : public cmdbus::middleware {
//     void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
//       call.ctx().set_header("audited-by", "me");                 // enrich
//       if (forbidden(call.message().wire_name)) throw cmdbus::rejected_error("forbidden");   // short-circuit
//       try { next(); } catch (...) { count_failure(); throw; }   // observe the error, keep it going
//     }
//   };
//   builder.use(std::make_shared<audit>());                     // every command and query, in `use` order
//   builder.use<Transfer>(std::make_shared<audit>());           // one type, inside the global ones
//
// The chain for each type is fixed when the bus is built; a type with no middleware calls its handler directly.
//
// Contains: `invocation`, `next_step`, `middleware`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "cmdbus/context.hpp"
#include "cmdbus/detail/type_index.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/message_info.hpp"

namespace cmdbus {

namespace detail {
struct slot;
}

/// One command (or query) on its way through the pipeline.
class invocation {
 public:
  invocation(context& ctx, const detail::slot& slot, const void* payload, void* result) noexcept
      : ctx_(&ctx), slot_(&slot), payload_(payload), result_(result) {}

  [[nodiscard]] context& ctx() const noexcept { return *ctx_; }
  [[nodiscard]] const message_info& message() const noexcept { return ctx_->message(); }
  [[nodiscard]] const void* payload() const noexcept { return payload_; }
  /// The command as its type, or nullptr when this invocation carries another type.
  template <cmdbus::message M>
  [[nodiscard]] const M* payload_as() const noexcept {
    return message().index == detail::type_index<M>() ? static_cast<const M*>(payload_) : nullptr;
  }
  /// The result once the handler (or a middleware) produced it; nullptr before, or for another result type.
  template <class R>
  [[nodiscard]] const R* result() const noexcept {
    if (message().result_index != detail::type_index<R>() || result_ == nullptr) {
      return nullptr;
    }
    const auto& slot = *static_cast<const std::optional<R>*>(result_);
    return slot ? &*slot : nullptr;
  }
  /// Completes the call without running the rest of the chain (a cache, an idempotency hit). R must be the
  /// message's result type; otherwise this throws registration_error.
  template <class R>
  void set_result(R&& value) {
    using T = std::remove_cvref_t<R>;
    if (message().result_index != detail::type_index<T>() || result_ == nullptr) {
      throw_result_mismatch();
    }
    static_cast<std::optional<T>*>(result_)->emplace(std::forward<R>(value));
  }

 private:
  friend class next_step;
  [[noreturn]] void throw_result_mismatch() const;

  context* ctx_;
  const detail::slot* slot_;
  const void* payload_;
  void* result_;  // std::optional<result_t<M>>*, or nullptr for void results
};

/// Runs the rest of the chain (and at its end the handler, then the event subscribers). Throws what they throw.
class next_step {
 public:
  next_step(invocation& call, std::uint32_t position) noexcept : call_(&call), position_(position) {}
  void operator()() const;

 private:
  invocation* call_;
  std::uint32_t position_;
};

class middleware {
 public:
  middleware() = default;
  middleware(const middleware&) = delete;
  middleware& operator=(const middleware&) = delete;
  virtual ~middleware() = default;

  /// Called once when the bus is built, with every registered command, query and event type.
  virtual void on_start(std::span<const message_info* const> messages) { (void)messages; }
  /// Wraps one call. Call `next()` to go on; throw to fail the command; return without calling it to short-circuit.
  virtual void invoke(invocation& call, next_step next) = 0;
};

}  // namespace cmdbus
