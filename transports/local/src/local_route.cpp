#include "local_route.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>

#include "cmdbus/detail/cycle_clock.hpp"
#include "cmdbus/error.hpp"
#include "status_table.hpp"

namespace cmdbus::detail {

/// The route's capacity: a semaphore that spins briefly before it sleeps, so that a producer waiting for a slot the
/// worker is about to give back does not go through the kernel.
struct local_route::space {
  moodycamel::LightweightSemaphore slots;  // signalled for senders waiting for places (full = "block")
};

struct local_route::worker {
  moodycamel::BlockingConcurrentQueue<parcel> queue;
  std::thread thread;
  const local_route* route = nullptr;
  std::uint32_t status_ring = 0;  // this worker's ring in the status table
  // Written by this worker only (read by stats() and stop()); a cache line of their own.
  alignas(64) std::atomic<std::uint64_t> started{0};  // taken off the queue (run, held or abandoned)
  std::atomic<std::uint64_t> finished{0};             // done for good (succeeded, failed, dead, or abandoned)
  std::atomic<std::uint64_t> abandoned{0};            // not run: the stop deadline passed
  std::atomic<std::uint64_t> waiting{0};              // waiting for a retry, or held behind one of their key
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> failed{0};    // finished with the error delivered to its waiting caller
  std::atomic<std::uint64_t> dead{0};      // finished as a dead letter
  std::atomic<std::uint64_t> released{0};  // places given back (finished - released: held back for the next batch)
  std::uint64_t unreleased = 0;            // finished, capacity not yet given back (this batch)
  // The time (cycle_clock ticks), read once per batch and then taken from each finished command's status: a command
  // picked up right after another finished starts when that one ended.
  std::uint64_t clock = 0;
  // Touched by this worker's thread only.
  std::multimap<std::chrono::steady_clock::time_point, std::unique_ptr<envelope>> due;  // retries, by due time
  // Keys (by hash: a collision only holds back one more key) behind a command waiting for its retry.
  std::unordered_map<std::uint64_t, std::deque<std::unique_ptr<envelope>>> held;

  void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {  // single writer: no RMW needed
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  void remove(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) - n, std::memory_order_release);
  }
};

local_route::local_route(std::string name, const local_route_settings& settings, worker_host& host)
    : host_(&host),
      status_(std::make_unique<status_table>(host.status_retention())),
      name_(std::move(name)),
      settings_(settings),
      // A "reject" route gives places back after every batch (a refused sender does not wait to be told); otherwise
      // the workers together hold back at most an eighth of the capacity.
      release_batch_(settings.reject_when_full
                         ? 1
                         : std::clamp<std::uint64_t>(settings.capacity / (8ULL * settings.workers), 1, 64)),
      space_(std::make_unique<space>()) {
  for (std::uint32_t i = 0; i < settings_.workers; ++i) {
    workers_.push_back(std::make_unique<worker>());
    workers_.back()->route = this;
    workers_.back()->status_ring = status_->add_ring(name_, settings_.capacity);
  }
  for (auto& w : workers_) {
    w->thread = std::thread([this, raw = w.get()] { work(*raw); });
  }
}

local_route::~local_route() {
  (void)stop(std::nullopt);
}

inline void local_route::take_place(const message_info& info, const command_id& id) {
  // One read-modify-write takes a place within the capacity and tells whether the route is stopping: stop() sets
  // the low bit, so either it counts this command (and the workers wait for it) or this call sees the bit.
  const auto before = producers_.state.fetch_add(2, std::memory_order_seq_cst);
  if ((before & 1U) != 0 || (before >> 1) >= settings_.capacity) [[unlikely]] {
    wait_for_place(info, id, before);
  }
}

command_id local_route::enqueue(parcel& p, partition key) {
  envelope* const e = p.heavy;
  command_id& id = e != nullptr ? e->id : p.id;
  const message_info& info = e != nullptr ? host_->info(e->type_index) : host_->info(p.ops->type_index);
  take_place(info, id);
  const std::size_t n = workers_.size();
  std::size_t index = 0;
  if (key.keyed) {
    index = static_cast<std::size_t>(key.hash % n);  // one key, one worker: in order
  } else if (n > 1) {
    index = producers_.round_robin.fetch_add(1, std::memory_order_relaxed) % n;
    if (own_worker != nullptr && workers_[index].get() == own_worker) [[unlikely]] {
      index = (index + 1) % n;  // a handler's command goes to another worker, which it may wait for
    }
  }
  try {
    id = status_->accept(workers_[index]->status_ring, id, info, e != nullptr && e->requeued);
  } catch (...) {
    release(1);
    throw;
  }
  const command_id accepted = id;
  if (e != nullptr && e->completion != nullptr) {
    e->completion->set_runner(workers_[index].get(), info.wire_name, name_, accepted);
  }
  if (!workers_[index]->queue.enqueue(std::move(p))) {  // only when out of memory (`p` is left as it was)
    status_->forget(accepted, e != nullptr && e->requeued);
    release(1);
    throw std::bad_alloc();
  }
  return accepted;
}

thread_local local_route::worker* local_route::own_worker = nullptr;

void local_route::wait_for_place(const message_info& info, const command_id& id, std::uint64_t first) {
  std::optional<std::chrono::steady_clock::time_point> deadline;  // read the clock only once the route is full
  for (auto before = first;; before = producers_.state.fetch_add(2, std::memory_order_seq_cst)) {
    if ((before & 1U) != 0) {
      producers_.state.fetch_sub(2, std::memory_order_seq_cst);
      if (waiting_senders_.load(std::memory_order_seq_cst) != 0) {
        space_->slots.signal();  // pass the wake-up on: another waiting sender must learn that the route stops
      }
      throw stopping_error(fmt::format("cmdbus: route '{}' is stopping; command '{}' {} was not accepted", name_,
                                       info.wire_name, id.to_string()));
    }
    if ((before >> 1) < settings_.capacity) {
      return;
    }
    // Full: give the place back. Wake a waiting sender only if a worker freed places meanwhile (hidden from it by
    // this attempt), not for nothing: two waiting senders would otherwise wake each other in turn.
    const auto after = producers_.state.fetch_sub(2, std::memory_order_seq_cst) - 2;
    if ((after >> 1) < settings_.capacity && waiting_senders_.load(std::memory_order_seq_cst) != 0) {
      space_->slots.signal();
    }
    const bool own = on_own_worker();
    if (own && own_worker->unreleased != 0) {
      release_places(*own_worker);  // a handler sending to its own route: its worker's finished places first
      continue;
    }
    if (!settings_.reject_when_full && !own) {
      // Wait for a worker to free places (or for stop). Registered before looking again, so that a worker that frees
      // places after the look sees this sender waiting and signals.
      if (!deadline) {
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{settings_.block_timeout_ms};
      }
      waiting_senders_.fetch_add(1, std::memory_order_seq_cst);
      const auto now_state = producers_.state.load(std::memory_order_seq_cst);
      const bool room = (now_state & 1U) != 0 || (now_state >> 1) < settings_.capacity;
      const auto left =
          std::chrono::duration_cast<std::chrono::microseconds>(*deadline - std::chrono::steady_clock::now());
      const bool woken = room || (left.count() > 0 && space_->slots.wait(left.count()));
      waiting_senders_.fetch_sub(1, std::memory_order_seq_cst);
      if (woken || std::chrono::steady_clock::now() < *deadline) {
        continue;
      }
    }
    if (own && !settings_.reject_when_full) {
      throw queue_full_error(
          fmt::format("cmdbus: route '{}' is full (capacity {}); command '{}' {} was sent by a handler on this route's "
                      "own worker, which cannot wait for a place only the route's workers could free: raise the "
                      "route's capacity, or execute the command instead (it then runs inline)",
                      name_, settings_.capacity, info.wire_name, id.to_string()));
    }
    throw queue_full_error(
        settings_.reject_when_full
            ? fmt::format("cmdbus: route '{}' is full ({} commands queued or running, its capacity); command '{}' {} "
                          "was not accepted: try again later, or raise the route's capacity",
                          name_, settings_.capacity, info.wire_name, id.to_string())
            : fmt::format("cmdbus: route '{}' stayed full (capacity {}) for {} ms; command '{}' {} was not "
                          "accepted: try again later, or raise the route's capacity or workers",
                          name_, settings_.capacity, settings_.block_timeout_ms, info.wire_name, id.to_string()));
  }
}

bool local_route::on_own_worker() const noexcept {
  return own_worker != nullptr && own_worker->route == this;
}

void local_route::release(std::uint64_t n) noexcept {
  producers_.state.fetch_sub(2 * n, std::memory_order_seq_cst);
  if (const auto waiting = waiting_senders_.load(std::memory_order_seq_cst); waiting != 0) {
    space_->slots.signal(static_cast<moodycamel::LightweightSemaphore::ssize_t>(std::min<std::uint64_t>(n, waiting)));
  }
}

void local_route::work(worker& w) {
  worker_host::bind_thread(&w);
  own_worker = &w;
  constexpr std::size_t batch = 32;
  constexpr std::chrono::milliseconds idle_wake{50};
  parcel items[batch];
  for (;;) {
    // Parks on the queue's semaphore when idle (after the queue's own short spin); wakes for the next retry that is
    // due, when stop() sends it an empty item, and at least every 50 ms (a safety net for stop()).
    auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(idle_wake);
    if (stopping_.load(std::memory_order_acquire)) {
      // Draining: look again soon, since this worker may leave only once every worker (and every sender inside
      // enqueue()) is done, and stop()'s single wake-up call may already have been used.
      timeout = std::min(timeout, std::chrono::microseconds{1000});
    }
    if (!w.due.empty()) {
      const auto until_due = std::chrono::duration_cast<std::chrono::microseconds>(w.due.begin()->first -
                                                                                   std::chrono::steady_clock::now());
      timeout = std::clamp(until_due, std::chrono::microseconds{0}, timeout);
    }
    std::size_t got = w.queue.try_dequeue_bulk(items, batch);
    if (got == 0) {
      release_places(w);  // before it waits: nothing it finished holds a place while it sleeps
      got = w.queue.wait_dequeue_bulk_timed(items, batch, timeout);
    }
    w.clock = cycle_clock::now();
    for (std::size_t i = 0; i < got; ++i) {
      parcel& p = items[i];
      if (p.empty()) {
        continue;  // stop()'s wake-up call, not a command
      }
      if (i + 1 < got) {
        if (items[i + 1].heavy != nullptr) {  // a heap envelope comes from the sender's cache
          __builtin_prefetch(items[i + 1].heavy);
          __builtin_prefetch(reinterpret_cast<const char*>(items[i + 1].heavy) + 64);
        } else if (items[i + 1].ops != nullptr) {  // its status record, which its sender looked at a lap ago
          status_->prefetch(w.status_ring, items[i + 1].id);
        }
      }
      w.add(w.started);
      if (giving_up()) {
        const command_id id = p.heavy != nullptr ? p.heavy->id : p.id;
        auto e = p.heavy != nullptr ? p.take_envelope() : host_->unpack(p);
        p.reset();
        abandon(w, id, std::move(e));
      } else if (p.heavy != nullptr) {
        admit(w, p.take_envelope());
        w.clock = cycle_clock::now();  // the next parcel starts now, not when the batch began
      } else {
        admit(w, p);
      }
    }
    if (giving_up()) {
      give_up(w);
    } else {
      run_due_retries(w);
    }
    // The places of finished commands go back in batches (one write to the senders' line per batch), at once when a
    // sender waits for one or the route stops, and before the worker waits for work.
    if (w.unreleased >= release_batch_ ||
        (w.unreleased != 0 &&
         (waiting_senders_.load(std::memory_order_seq_cst) != 0 || stopping_.load(std::memory_order_acquire)))) {
      release_places(w);
    }
    if (stopping_.load(std::memory_order_acquire)) {
      if (const auto state = producers_.state.load(std::memory_order_seq_cst); state >> 1 == 0) {
        return;  // stopping, and everything admitted (on every worker) has finished
      }
    }
  }
}

void local_route::release_places(worker& w) noexcept {
  if (w.unreleased != 0) {
    w.add(w.released, w.unreleased);
    release(w.unreleased);
    w.unreleased = 0;
  }
}

void local_route::admit(worker& w, std::unique_ptr<envelope> e) {
  if (e->keyed && !w.held.empty()) {
    if (auto it = w.held.find(e->key_hash); it != w.held.end()) {
      w.add(w.waiting);
      it->second.push_back(std::move(e));  // an earlier command of this key waits for a retry: keep the order
      return;
    }
  }
  attempt(w, std::move(e));
}

void local_route::admit(worker& w, parcel& p) {
  if (!w.held.empty()) {
    partition key;
    try {
      key = host_->key_of(p);  // the command's own partition_key(): its sender computed it once already
    } catch (...) {            // it worked on the sender's thread: out of memory here; the command runs without waiting
      spdlog::warn("cmdbus: could not compute the partition key of {} again on its worker; it runs now",
                   p.id.to_string());
    }
    if (key.keyed && w.held.contains(key.hash)) {
      // An earlier command of this key waits for a retry: this one waits behind it, in an envelope.
      if (auto e = host_->unpack(p)) {
        w.add(w.waiting);
        w.held[key.hash].push_back(std::move(e));
      } else {
        finish(w);  // lost (reported: status failed)
      }
      p.reset();
      w.clock = cycle_clock::now();
      return;
    }
  }
  const auto entry = status_->start(w.status_ring, p.id, host_->info(p.ops->type_index), w.clock);
  parcel_run run = host_->run(p, w.clock);
  if (run.succeeded) {
    w.clock = status_->succeeded(entry, p.id, run.token);
  }
  p.reset();
  if (run.failed != nullptr) {
    after_attempt(w, run.outcome, std::move(run.failed));
  } else {
    finish(w);
  }
  if (!run.succeeded) {
    w.clock = cycle_clock::now();  // after a retry is scheduled or a dead letter stored, which may take a while
  }
}

bool local_route::attempt(worker& w, std::unique_ptr<envelope> e) {
  e->attempts += 1;
  e->last_attempt = cycle_clock::now();
  if (e->attempts == 1) {
    e->first_attempt = e->last_attempt;
  }
  status_->running(e->id, host_->info(e->type_index), e->attempts, e->last_attempt, e->requeued);
  const run_outcome outcome = host_->run(*e);
  return after_attempt(w, outcome, std::move(e));
}

bool local_route::after_attempt(worker& w, run_outcome outcome, std::unique_ptr<envelope> e) {
  switch (outcome.what) {
    case run_outcome::kind::retry: {
      w.add(w.retries);
      w.add(w.waiting);
      if (e->keyed) {
        w.held.try_emplace(e->key_hash);
      }
      w.due.emplace(std::chrono::steady_clock::now() + outcome.delay, std::move(e));
      return true;
    }
    case run_outcome::kind::dead:
      w.add(w.dead);
      host_->bury(std::move(e));
      break;
    case run_outcome::kind::failed:
      w.add(w.failed);
      e.reset();
      break;
    case run_outcome::kind::done:
      e.reset();
      break;
  }
  finish(w);
  return false;
}

void local_route::run_due_retries(worker& w) {
  while (!w.due.empty() && w.due.begin()->first <= std::chrono::steady_clock::now()) {
    auto node = w.due.extract(w.due.begin());
    std::unique_ptr<envelope> e = std::move(node.mapped());
    w.remove(w.waiting);
    const bool keyed = e->keyed;
    const std::uint64_t key = e->key_hash;
    if (!attempt(w, std::move(e)) && keyed) {
      release_key(w, key);
    }
  }
}

void local_route::release_key(worker& w, std::uint64_t key) {
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
    w.remove(w.waiting);
    if (attempt(w, std::move(next))) {
      return;  // waits for a retry in its turn: the rest of the key stays held
    }
  }
}

void local_route::finish(worker& w) noexcept {
  ++w.unreleased;
  w.add(w.finished);
}

bool local_route::giving_up() const noexcept {
  return stopping_.load(std::memory_order_acquire) &&
         clock::now().time_since_epoch().count() >= give_up_at_.load(std::memory_order_acquire);
}

void local_route::give_up(worker& w) {
  for (auto& [due, e] : w.due) {
    w.remove(w.waiting);
    const command_id id = e->id;
    abandon(w, id, std::move(e));
  }
  w.due.clear();
  for (auto& [key, list] : w.held) {
    for (auto& e : list) {
      w.remove(w.waiting);
      const command_id id = e->id;
      abandon(w, id, std::move(e));
    }
  }
  w.held.clear();
}

void local_route::abandon(worker& w, command_id id, std::unique_ptr<envelope> e) {
  {
    std::lock_guard lock(not_run_mutex_);
    not_run_.push_back(id);
  }
  if (e != nullptr) {
    host_->abandon(std::move(e), name_);
  }
  w.add(w.abandoned);
  finish(w);
}

void local_route::stop_accepting(std::optional<clock::time_point> give_up_at) {
  if (give_up_at) {  // the earliest deadline any stop() gave applies
    const auto wanted = give_up_at->time_since_epoch().count();
    auto current = give_up_at_.load(std::memory_order_acquire);
    while (wanted < current && !give_up_at_.compare_exchange_weak(current, wanted, std::memory_order_acq_rel)) {
    }
  }
  producers_.state.fetch_or(1, std::memory_order_seq_cst);  // first: no sender is admitted after this
  stopping_.store(true, std::memory_order_release);
  if (const auto waiting = waiting_senders_.load(std::memory_order_seq_cst); waiting != 0) {
    space_->slots.signal(static_cast<moodycamel::LightweightSemaphore::ssize_t>(waiting));  // senders waiting: stop
  }
  for (auto& w : workers_) {
    try {
      w->queue.enqueue(parcel{});  // wakes a parked worker now rather than at its next 50 ms check
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory: the worker notices within 50 ms all the same
    }
  }
}

route_stop local_route::stop(std::optional<clock::time_point> give_up_at) {
  stop_accepting(give_up_at);  // a second caller's earlier deadline applies at once
  std::lock_guard joining(stop_mutex_);
  for (auto& w : workers_) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  route_stop report;
  {
    std::lock_guard lock(not_run_mutex_);
    report.not_run.swap(not_run_);
  }
  for (const auto& w : workers_) {
    report.completed += w->finished.load(std::memory_order_acquire) - w->abandoned.load(std::memory_order_acquire);
  }
  return report;
}

route_stats local_route::stats() const {
  route_stats s;
  s.route = name_;
  s.kind = kind();
  s.stopping = stopping_.load(std::memory_order_acquire);
  std::uint64_t retries = 0;
  std::uint64_t started = 0;
  std::uint64_t finished = 0;
  std::uint64_t held_back = 0;  // places of finished commands a worker gives back with its next batch
  for (const auto& w : workers_) {
    started += w->started.load(std::memory_order_acquire);
    const auto done = w->finished.load(std::memory_order_acquire);
    finished += done;
    const auto released = w->released.load(std::memory_order_acquire);
    held_back += done > released ? done - released : 0;
    s.waiting_retry += w->waiting.load(std::memory_order_acquire);
    retries += w->retries.load(std::memory_order_acquire);
    s.completed += done - w->abandoned.load(std::memory_order_acquire);
    s.failed += w->failed.load(std::memory_order_acquire);
    s.dead += w->dead.load(std::memory_order_acquire);
  }
  const auto admitted = producers_.state.load(std::memory_order_acquire) >> 1;
  s.in_flight = admitted > held_back ? admitted - held_back : 0;
  const auto picked_up = started - finished;  // running, or waiting for a retry on a worker
  s.queued = s.in_flight > picked_up ? s.in_flight - picked_up : 0;
  s.extras = {{"workers", settings_.workers}, {"capacity", settings_.capacity}, {"retries", retries}};
  return s;
}

std::optional<command_state> local_route::status(const command_id& id) const {
  return status_->find(id);
}

std::optional<command_state> local_route::wait_settled(const command_id& id, clock::time_point until) const {
  return status_->wait_settled(id, until);
}

void local_route::note_retrying(const command_id& id, std::string_view error, bool requeued) noexcept {
  try {
    status_->retrying(id, error, requeued);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the status is advisory (only its side map's lock can throw)
  }
}

void local_route::note_settled(const command_id& id, command_status status, const consistency_token& token,
                               std::string_view error, bool requeued) noexcept {
  try {
    status_->settle(id, status, token, error, requeued);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the status is advisory; the caller's outcome must still arrive
  }
}

}  // namespace cmdbus::detail
