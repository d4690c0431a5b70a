// Internal: a fixed set of connections handed out one command at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "cmdbus/sqlite/connection.hpp"

namespace cmdbus::sqlite::detail {

class pool {
 public:
  pool(const std::string& path, bool full_sync, std::chrono::milliseconds busy_timeout, std::size_t size);

  class lease {
   public:
    lease(pool& p, std::unique_ptr<connection> c) noexcept : pool_(&p), conn_(std::move(c)) {}
    lease(lease&&) noexcept = default;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (conn_) {
        pool_->give_back(std::move(conn_));
      }
    }
    [[nodiscard]] connection& get() const noexcept { return *conn_; }

   private:
    pool* pool_;
    std::unique_ptr<connection> conn_;
  };

  /// Waits up to the busy timeout for a free connection; then throws busy_error.
  [[nodiscard]] lease acquire();

 private:
  void give_back(std::unique_ptr<connection> c);

  std::string path_;
  std::chrono::milliseconds timeout_;
  std::size_t size_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace cmdbus::sqlite::detail
