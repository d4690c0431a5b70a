// cmdbus/retry.hpp — one retry policy for every route: transient errors are tried again, with backoff and jitter.
//
//   cmdbus::retry_policy policy;            // 3 attempts, 10 ms doubling to at most 1 s, ±20 % jitter
//   policy.max_attempts = 5;
//   b.use(cmdbus::make_retry(policy));      // before (outside) the unit of work: each attempt gets a new one
//
// Only `transient` errors are retried; `rejected` and `fatal` fail at once. A command that joined an outer unit of
// work is never retried on its own: the transaction it shares may be unusable, so the outermost command retries the
// whole. The caller's error says how many attempts were made (`error::attempts()`), and no retry starts after the
// command's deadline.
//
// Contains: `retry_policy`, `retry_middleware`, `make_retry()`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "cmdbus/error.hpp"
#include "cmdbus/middleware.hpp"

namespace cmdbus {

struct retry_policy {
  std::uint32_t max_attempts = 3;  ///< including the first; 1 means "never retry"
  std::chrono::milliseconds initial_delay{10};
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay{1000};
  double jitter = 0.2;  ///< each delay is scaled by a random factor in [1 - jitter, 1 + jitter]

  [[nodiscard]] bool retries(error_code code) const noexcept { return code == error_code::transient; }
  /// The pause before `attempt` (2 for the first retry); `random01` in [0, 1) picks the jitter.
  [[nodiscard]] std::chrono::nanoseconds delay_before(std::uint32_t attempt, double random01) const noexcept;
};

class retry_middleware final : public middleware {
 public:
  explicit retry_middleware(retry_policy policy) : policy_(policy) {}
  void invoke(invocation& call, next_step next) override;
  [[nodiscard]] const retry_policy& policy() const noexcept { return policy_; }

 private:
  retry_policy policy_;
};

[[nodiscard]] std::shared_ptr<retry_middleware> make_retry(retry_policy policy = {});

}  // namespace cmdbus
