// Internal (cmdbus::durable): a durable route's dead letters are its table's dead rows, so every process that has the
// route lists, inspects, requeues and discards the same ones through bus.dead_letters().
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cmdbus/dead_letters.hpp"
#include "queue.hpp"

namespace cmdbus::durable::detail {

class table_dead_letters final : public route_dead_letters {
 public:
  /// `requeued` runs after a dead row became pending again (this process's workers may take it at once).
  table_dead_letters(std::shared_ptr<queue> q, std::string route, std::function<void()> requeued)
      : queue_(std::move(q)), route_(std::move(route)), requeued_(std::move(requeued)) {}

  /// On the worker thread that ran the command: its row ends dead, failed by that worker.
  void put(const dead_letter& letter) override;
  [[nodiscard]] std::vector<dead_letter> list() const override { return queue_->dead(route_, nullptr); }
  [[nodiscard]] std::optional<dead_letter> find(const command_id& id) const override;
  [[nodiscard]] std::size_t size() const override { return queue_->count_dead(route_); }
  bool requeue(const command_id& id) override;
  bool discard(const command_id& id) override { return queue_->discard_dead(route_, id); }

 private:
  std::shared_ptr<queue> queue_;
  std::string route_;
  std::function<void()> requeued_;
};

}  // namespace cmdbus::durable::detail
