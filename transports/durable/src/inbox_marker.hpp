// Internal (cmdbus::durable): what a durable route looks for in its commands' pipelines at open(): the inbox of its
// own store, after that store's unit of work.
#pragma once

#include "cmdbus/middleware.hpp"

namespace cmdbus::durable::detail {

/// The base of the inbox middleware (durable::inbox()): which store's transactions it marks rows in.
class inbox_marker : public middleware {
 public:
  /// `store`: the store's identity, as its unit of work's transaction_middleware::store() says.
  explicit inbox_marker(const void* store) noexcept : store_(store) {}
  [[nodiscard]] const void* store() const noexcept { return store_; }

 private:
  const void* store_;
};

}  // namespace cmdbus::durable::detail
