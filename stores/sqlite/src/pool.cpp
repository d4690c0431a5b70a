#include "pool.hpp"

#include <fmt/format.h>

namespace cmdbus::sqlite::detail {

pool::pool(const std::string& path, bool full_sync, std::chrono::milliseconds busy_timeout, std::size_t size)
    : path_(path), timeout_(busy_timeout), size_(size) {
  // All connections open now, so a bad path fails at start rather than on the first command.
  for (std::size_t i = 0; i < size; ++i) {
    idle_.push_back(std::make_unique<connection>(path, full_sync, static_cast<int>(busy_timeout.count())));
  }
}

pool::lease pool::acquire() {
  std::unique_lock lock(mutex_);
  if (!freed_.wait_for(lock, timeout_, [this] { return !idle_.empty(); })) {
    throw busy_error(
        fmt::format("sqlite: all {} connections to {} stayed in use for {} ms; the command may be "
                    "retried (raise options::pool_size for more concurrent commands)",
                    size_, path_, timeout_.count()));
  }
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return lease{*this, std::move(c)};
}

void pool::give_back(std::unique_ptr<connection> c) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(c));
  }
  freed_.notify_one();
}

}  // namespace cmdbus::sqlite::detail
