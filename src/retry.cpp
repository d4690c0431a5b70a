#include "cmdbus/retry.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

namespace cmdbus {

std::chrono::nanoseconds retry_policy::delay_before(std::uint32_t attempt, double random01) const noexcept {
  if (attempt < 2) {
    return std::chrono::nanoseconds{0};
  }
  const double base = static_cast<double>(std::chrono::nanoseconds(initial_delay).count()) *
                      std::pow(multiplier, static_cast<double>(attempt - 2));
  const double capped = std::min(base, static_cast<double>(std::chrono::nanoseconds(max_delay).count()));
  const double factor = 1.0 + jitter * (2.0 * random01 - 1.0);
  return std::chrono::nanoseconds{static_cast<std::int64_t>(std::max(0.0, capped * factor))};
}

namespace {

double random01() noexcept {
  std::uint64_t r = 0;
  detail::random_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r);
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

}  // namespace

void retry_middleware::invoke(invocation& call, next_step next) {
  context& ctx = call.ctx();
  if (ctx.unit_of_work() != nullptr) {
    next();  // joined an outer unit of work: the command that owns it retries the whole
    return;
  }
  for (;;) {
    try {
      next();
      return;
    } catch (...) {
      if (!policy_.retries(classify(std::current_exception())) || ctx.attempt() >= policy_.max_attempts) {
        throw;
      }
      const auto delay = policy_.delay_before(ctx.attempt() + 1, random01());
      if (const auto deadline = ctx.deadline(); deadline && clock::now() + delay >= *deadline) {
        throw;  // the next attempt could not finish in time: the caller gets the last error now
      }
      if (ctx.defers_retries() && ctx.parent() == nullptr) {
        // On a worker: the worker runs it again after the pause and meanwhile runs other keys' commands.
        ctx.extras().retry_after = delay;
        throw;
      }
      ctx.prepare_retry();
      std::this_thread::sleep_for(delay);
    }
  }
}

std::shared_ptr<retry_middleware> make_retry(retry_policy policy) {
  return std::make_shared<retry_middleware>(policy);
}

}  // namespace cmdbus
