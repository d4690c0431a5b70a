// The synchronisation behind detail::completion_base, kept out of the public headers.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "cmdbus/handle.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace cmdbus::detail {

namespace {

void log_failed_continuation(const char* what) noexcept {
  try {
    spdlog::error(
        "cmdbus: a continuation (handle::then or a resumed coroutine) threw: {}; the other continuations "
        "still ran",
        what);
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing left to report with
  }
}

}  // namespace

struct completion_base::state {
  std::atomic<bool> ready{false};
  mutable std::mutex mutex;
  mutable std::condition_variable cv;
  std::vector<std::function<void()>> continuations;
};

completion_base::completion_base() : state_(std::make_unique<state>()) {}
completion_base::~completion_base() = default;

bool completion_base::ready() const noexcept {
  return state_->ready.load(std::memory_order_acquire);
}

void completion_base::refuse_self_wait() const {
  if (runner_ == nullptr || runner_ != current_runner) {
    return;
  }
  throw self_wait_error(fmt::format(
      "cmdbus: a worker of route '{}' waits for command '{}' {}, which is queued behind it on that same worker: the "
      "wait could never end. Execute the command instead (on a worker it runs inline), co_await or "
      "then() its handle, give the route more workers (for a command without a partition key), or route it elsewhere",
      route_, command_, id_.to_string()));
}

void completion_base::wait() const {
  if (ready()) {
    return;
  }
  refuse_self_wait();
  std::unique_lock lock(state_->mutex);
  state_->cv.wait(lock, [this] { return state_->ready.load(std::memory_order_acquire); });
}

bool completion_base::wait_for(std::chrono::nanoseconds timeout) const {
  if (ready()) {
    return true;
  }
  if (timeout > std::chrono::nanoseconds::zero()) {
    refuse_self_wait();
  }
  std::unique_lock lock(state_->mutex);
  return state_->cv.wait_for(lock, timeout, [this] { return state_->ready.load(std::memory_order_acquire); });
}

bool completion_base::add_continuation(std::function<void()> f) {
  std::lock_guard lock(state_->mutex);
  if (state_->ready.load(std::memory_order_relaxed)) {
    return false;
  }
  state_->continuations.push_back(std::move(f));
  return true;
}

void completion_base::mark_complete() {
  std::vector<std::function<void()>> run;
  {
    std::lock_guard lock(state_->mutex);
    state_->ready.store(true, std::memory_order_release);
    run.swap(state_->continuations);
  }
  state_->cv.notify_all();
  for (auto& f : run) {
    // A continuation runs on the completing thread (a worker): one that throws must neither take the worker down
    // nor keep the others from running.
    try {
      f();
    } catch (const std::exception& e) {
      log_failed_continuation(e.what());
    } catch (...) {
      log_failed_continuation("an exception not derived from std::exception");
    }
  }
}

}  // namespace cmdbus::detail
