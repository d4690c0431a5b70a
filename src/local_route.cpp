#include "local_route.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <fmt/format.h>

#include <deque>
#include <functional>
#include <map>
#include <unordered_map>

#include "cmdbus/error.hpp"
#include "status_table.hpp"

namespace cmdbus::detail {

struct local_route::worker {
  moodycamel::BlockingConcurrentQueue<std::unique_ptr<envelope>> queue;
  std::thread thread;
  // Touched by this worker's thread only.
  std::multimap<std::chrono::steady_clock::time_point, std::unique_ptr<envelope>> retries;  // by due time
  std::unordered_map<std::string, std::deque<std::unique_ptr<envelope>>> held;  // keys behind a waiting retry
};

local_route::local_route(cmdbus::bus& owner, status_table& status, const route_definition& definition)
    : bus_(&owner),
      status_(&status),
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
  std::vector<command_id> ignored;
  stop(std::nullopt, ignored);
}

void local_route::enqueue(std::unique_ptr<envelope>& e) {
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
  try {
    status_->accepted(e->id, e->target->info->wire_name, name_);
  } catch (...) {
    free_slots_.release();
    in_flight_.fetch_sub(1, std::memory_order_seq_cst);
    throw;
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
  constexpr std::chrono::milliseconds idle_wake{50};
  std::unique_ptr<envelope> items[batch];
  for (;;) {
    // Parks on the queue's semaphore when idle (after the queue's own short spin); wakes for the next retry that is
    // due, when stop() sends it an empty item, and at least every 50 ms (a safety net for stop()).
    auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(idle_wake);
    if (!w.retries.empty()) {
      const auto until_due = std::chrono::duration_cast<std::chrono::microseconds>(w.retries.begin()->first -
                                                                                   std::chrono::steady_clock::now());
      timeout = std::clamp(until_due, std::chrono::microseconds{0}, timeout);
    }
    const std::size_t got = w.queue.wait_dequeue_bulk_timed(items, batch, timeout);
    for (std::size_t i = 0; i < got; ++i) {
      if (items[i] == nullptr) {
        continue;  // stop()'s wake-up call
      }
      queued_.fetch_sub(1, std::memory_order_relaxed);
      if (giving_up()) {
        abandon(std::move(items[i]));
      } else {
        admit(w, std::move(items[i]));
      }
    }
    if (giving_up()) {
      give_up(w);
    } else {
      run_due_retries(w);
    }
    if (got == 0 && stopping_.load(std::memory_order_seq_cst) && in_flight_.load(std::memory_order_seq_cst) == 0) {
      return;
    }
  }
}

void local_route::admit(worker& w, std::unique_ptr<envelope> e) {
  if (!e->partition_key.empty()) {
    if (auto it = w.held.find(e->partition_key); it != w.held.end()) {
      waiting_.fetch_add(1, std::memory_order_relaxed);
      it->second.push_back(std::move(e));  // an earlier command of this key waits for a retry: keep the order
      return;
    }
  }
  attempt(w, std::move(e));
}

bool local_route::attempt(worker& w, std::unique_ptr<envelope> e) {
  e->attempts += 1;
  e->last_attempt = clock::now();
  if (e->attempts == 1) {
    e->first_attempt = e->last_attempt;
  }
  status_->running(e->id, e->attempts);
  const run_outcome outcome = e->run(*bus_, *e);
  switch (outcome.what) {
    case run_outcome::kind::retry: {
      retried_.fetch_add(1, std::memory_order_relaxed);
      waiting_.fetch_add(1, std::memory_order_relaxed);
      if (!e->partition_key.empty()) {
        w.held.try_emplace(e->partition_key);
      }
      w.retries.emplace(std::chrono::steady_clock::now() + outcome.delay, std::move(e));
      return true;
    }
    case run_outcome::kind::dead:
      bus_->bury(std::move(e));
      break;
    case run_outcome::kind::done:
      e.reset();
      break;
  }
  finish();
  return false;
}

void local_route::run_due_retries(worker& w) {
  while (!w.retries.empty() && w.retries.begin()->first <= std::chrono::steady_clock::now()) {
    auto node = w.retries.extract(w.retries.begin());
    std::unique_ptr<envelope> e = std::move(node.mapped());
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    const std::string key = e->partition_key;
    if (!attempt(w, std::move(e)) && !key.empty()) {
      release_key(w, key);
    }
  }
}

void local_route::release_key(worker& w, const std::string& key) {
  for (;;) {
    auto it = w.held.find(key);
    if (it == w.held.end()) {
      return;
    }
    if (it->second.empty()) {
      w.held.erase(it);
      return;
    }
    std::unique_ptr<envelope> next = std::move(it->second.front());
    it->second.pop_front();
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    if (attempt(w, std::move(next))) {
      return;  // waits for a retry in its turn: the rest of the key stays held
    }
  }
}

void local_route::finish() noexcept {
  free_slots_.release();
  completed_.fetch_add(1, std::memory_order_relaxed);
  in_flight_.fetch_sub(1, std::memory_order_seq_cst);
}

bool local_route::giving_up() const noexcept {
  return stopping_.load(std::memory_order_acquire) &&
         clock::now().time_since_epoch().count() >= give_up_at_.load(std::memory_order_acquire);
}

void local_route::give_up(worker& w) {
  for (auto& [due, e] : w.retries) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    abandon(std::move(e));
  }
  w.retries.clear();
  for (auto& [key, list] : w.held) {
    for (auto& e : list) {
      waiting_.fetch_sub(1, std::memory_order_relaxed);
      abandon(std::move(e));
    }
  }
  w.held.clear();
}

void local_route::abandon(std::unique_ptr<envelope> e) {
  {
    std::lock_guard lock(not_run_mutex_);
    not_run_.push_back(e->id);
  }
  bus_->abandon(std::move(e), name_);
  free_slots_.release();
  in_flight_.fetch_sub(1, std::memory_order_seq_cst);
}

void local_route::stop_accepting(std::optional<clock::time_point> give_up_at) noexcept {
  if (give_up_at) {
    give_up_at_.store(give_up_at->time_since_epoch().count(), std::memory_order_release);
  }
  stopping_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) {
    try {
      w->queue.enqueue(nullptr);  // wakes a parked worker now rather than at its next 50 ms check
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory: the worker notices within 50 ms all the same
    }
  }
}

std::uint64_t local_route::stop(std::optional<clock::time_point> give_up_at, std::vector<command_id>& not_run) {
  stop_accepting(give_up_at);
  for (auto& w : workers_) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  std::lock_guard lock(not_run_mutex_);
  not_run.insert(not_run.end(), not_run_.begin(), not_run_.end());
  not_run_.clear();
  return completed_.load(std::memory_order_relaxed);
}

route_stats local_route::stats() const {
  route_stats s;
  s.route = name_;
  s.kind = "local";
  s.workers = settings_.workers;
  s.capacity = settings_.capacity;
  s.queued = queued_.load(std::memory_order_relaxed);
  s.waiting_retry = waiting_.load(std::memory_order_relaxed);
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.completed = completed_.load(std::memory_order_relaxed);
  s.retries = retried_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace cmdbus::detail
