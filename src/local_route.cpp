#include "local_route.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <fmt/format.h>

#include <functional>

#include "cmdbus/bus.hpp"
#include "cmdbus/error.hpp"

namespace cmdbus::detail {

struct local_route::worker {
  moodycamel::BlockingConcurrentQueue<std::unique_ptr<envelope>> queue;
  std::thread thread;
};

local_route::local_route(cmdbus::bus& owner, const route_definition& definition)
    : bus_(&owner),
      name_(definition.name),
      settings_(definition.local),
      free_slots_(static_cast<std::ptrdiff_t>(definition.local.capacity)) {
  for (std::uint32_t i = 0; i < settings_.workers; ++i) {
    workers_.push_back(std::make_unique<worker>());
  }
  for (auto& w : workers_) {
    w->thread = std::thread([this, raw = w.get()] { work(*raw); });
  }
}

local_route::~local_route() {
  stop();
}

void local_route::enqueue(std::unique_ptr<envelope> e) {
  // Counted before the stopping check: stop() then either sees this command in flight or this call sees stopping.
  in_flight_.fetch_add(1, std::memory_order_seq_cst);
  if (stopping_.load(std::memory_order_seq_cst)) {
    in_flight_.fetch_sub(1, std::memory_order_seq_cst);
    throw stopping_error(fmt::format("cmdbus: route '{}' is stopping; command '{}' {} was not accepted", name_,
                                     e->target->info->wire_name, e->id.to_string()));
  }
  const bool accepted = settings_.reject_when_full
                            ? free_slots_.try_acquire()
                            : free_slots_.try_acquire_for(std::chrono::milliseconds{settings_.block_timeout_ms});
  if (!accepted) {
    in_flight_.fetch_sub(1, std::memory_order_seq_cst);
    throw queue_full_error(
        settings_.reject_when_full
            ? fmt::format("cmdbus: route '{}' is full ({} commands queued or running, its capacity); command '{}' {} "
                          "was not accepted: try again later, or raise the route's capacity",
                          name_, settings_.capacity, e->target->info->wire_name, e->id.to_string())
            : fmt::format("cmdbus: route '{}' stayed full (capacity {}) for {} ms; command '{}' {} was not "
                          "accepted: try again later, or raise the route's capacity or workers",
                          name_, settings_.capacity, settings_.block_timeout_ms, e->target->info->wire_name,
                          e->id.to_string()));
  }
  const std::size_t n = workers_.size();
  const std::size_t index = e->partition_key.empty()
                                ? round_robin_.fetch_add(1, std::memory_order_relaxed) % n
                                : std::hash<std::string>{}(e->partition_key) % n;  // one key, one worker: in order
  queued_.fetch_add(1, std::memory_order_relaxed);
  workers_[index]->queue.enqueue(std::move(e));
}

void local_route::work(worker& w) {
  constexpr std::size_t batch = 32;
  std::unique_ptr<envelope> items[batch];
  for (;;) {
    // Parks on the queue's semaphore when idle; wakes at least every 50 ms to notice stop().
    const std::size_t got = w.queue.wait_dequeue_bulk_timed(items, batch, std::chrono::milliseconds(50));
    for (std::size_t i = 0; i < got; ++i) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      items[i]->run(*bus_, *items[i]);
      items[i].reset();
      free_slots_.release();
      completed_.fetch_add(1, std::memory_order_relaxed);
      in_flight_.fetch_sub(1, std::memory_order_seq_cst);
    }
    if (got == 0 && stopping_.load(std::memory_order_seq_cst) && in_flight_.load(std::memory_order_seq_cst) == 0) {
      return;
    }
  }
}

std::uint64_t local_route::stop() {
  stopping_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  return completed_.load(std::memory_order_relaxed);
}

}  // namespace cmdbus::detail
