// The bus: built once from a builder (routes checked, handler table and middleware chains laid out), then only read.
#include "cmdbus/bus.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "builder_state.hpp"
#include "cmdbus/detail/cycle_clock.hpp"
#include "cmdbus/transaction_middleware.hpp"
#include "cmdbus/unit_of_work.hpp"
#include "cmdbus/validation.hpp"
#include "cmdbus/worker.hpp"
#include "route_resolver.hpp"

namespace cmdbus {

struct bus::state {
  bus_builder::state registrations;
  std::vector<message_info> infos;  // stable storage for the slots' info pointers (commands, queries, events)
  std::vector<const message_info*> catalog;
  std::vector<detail::slot> slots;
  std::vector<std::vector<middleware*>> chains;                           // per slot index
  std::vector<std::vector<bus_builder::state::subscriber>> projections;   // per event index
  std::vector<std::vector<bus_builder::state::subscriber>> after_commit;  // per event index
  std::atomic<std::uint64_t> after_commit_failures{0};
  std::vector<std::shared_ptr<middleware>> owned_middleware;
  std::vector<route_entry> entries;
  std::atomic<std::uint64_t> unobserved_failures{0};
  std::vector<const transaction_middleware*> stores;  // read-model versions, for queries with at_least(token)
  std::unique_ptr<dead_letter_queue> dead_letters;
  std::unique_ptr<worker_host> host;  // what the routes' workers use of this bus
  // Last, so destroyed first: workers stop before the handlers and tables they use go away.
  std::vector<std::unique_ptr<route>> routes;

  /// The route that knows `id` and what it says of it; null and nullopt if no route does.
  [[nodiscard]] std::pair<const route*, std::optional<command_state>> find(const command_id& id) const {
    for (const auto& r : routes) {
      if (auto found = r->status(id)) {
        return {r.get(), std::move(found)};
      }
    }
    return {nullptr, std::nullopt};
  }
};

namespace {

bool has_validation(const std::vector<std::shared_ptr<middleware>>& list) {
  return std::any_of(list.begin(), list.end(),
                     [](const auto& m) { return dynamic_cast<validation_middleware*>(m.get()) != nullptr; });
}

}  // namespace

bus::bus(bus_builder builder) : state_(std::make_unique<state>()) {
  // spdlog makes its registry at first use; made here, before any worker thread logs, two workers' first log lines
  // do not race to make it (libspdlog's lazy static is not visible to TSan).
  (void)spdlog::default_logger_raw();
  auto& st = *state_;
  st.registrations = std::move(*builder.state_);
  auto& regs = st.registrations;

  auto resolved = detail::resolve_routes(regs);
  if (!resolved.problems.empty()) {
    std::string text = fmt::format("cmdbus: the bus cannot start ({} problem{}):", resolved.problems.size(),
                                   resolved.problems.size() == 1 ? "" : "s");
    for (const auto& p : resolved.problems) {
      text += "\n  " + p;
    }
    throw config_error(text);
  }
  st.entries = std::move(resolved.entries);

  // Lay out the tables. Infos are stored first, so the pointers into st.infos stay valid.
  std::uint32_t max_index = 0;
  for (const auto& m : regs.messages) {
    st.infos.push_back(m.info);
    max_index = std::max(max_index, m.info.index);
  }
  for (const auto& e : regs.events) {
    st.infos.push_back(e.info);
    max_index = std::max(max_index, e.info.index);
  }
  for (const auto& info : st.infos) {
    st.catalog.push_back(&info);
  }
  const std::size_t size = st.infos.empty() ? 0 : max_index + 1;
  st.slots.resize(size);
  st.chains.resize(size);
  st.projections.resize(size);
  st.after_commit.resize(size);

  const bool global_validation = has_validation(regs.global);
  auto implicit_validation = std::make_shared<validation_middleware>();
  bool implicit_used = false;
  for (std::size_t i = 0; i < regs.messages.size(); ++i) {
    const auto& m = regs.messages[i];
    auto& chain = st.chains[m.info.index];
    for (const auto& g : regs.global) {
      chain.push_back(g.get());
    }
    for (const auto& own : m.own_middleware) {
      chain.push_back(own.get());
      st.owned_middleware.push_back(own);
    }
    // A command that defines validate() is validated even when nobody added the middleware: innermost, so that
    // logging and metrics see the rejection. Types without validate() pay nothing.
    if (m.info.validate != nullptr && !global_validation && !has_validation(m.own_middleware)) {
      chain.push_back(implicit_validation.get());
      implicit_used = true;
    }
    auto& s = st.slots[m.info.index];
    s.invoke = m.invoke;
    s.direct = m.direct;
    s.handler = m.handler.get();
    s.chain = chain.data();
    s.chain_size = static_cast<std::uint32_t>(chain.size());
    s.info = &st.infos[i];
  }
  if (implicit_used) {
    st.owned_middleware.push_back(implicit_validation);
  }
  for (const auto& g : regs.global) {
    st.owned_middleware.push_back(g);
  }
  for (auto& e : regs.events) {
    for (const auto& sub : e.subscribers) {
      (sub.after_commit ? st.after_commit : st.projections)[e.info.index].push_back(sub);
    }
  }

  // Each middleware learns the catalog once (metrics size their tables here).
  std::vector<middleware*> started;
  for (const auto& m : st.owned_middleware) {
    if (std::find(started.begin(), started.end(), m.get()) == started.end()) {
      m->on_start(st.catalog);
      started.push_back(m.get());
      if (const auto* tm = dynamic_cast<const transaction_middleware*>(m.get())) {
        st.stores.push_back(tm);
      }
    }
  }

  st.dead_letters = std::make_unique<dead_letter_queue>(
      *this, regs.dead_letters != nullptr ? regs.dead_letters : make_memory_dead_letter_store());

  // Asynchronous routes: their workers start now, and each command routed there points at its route.
  st.host = std::make_unique<worker_host>(*this);
  for (auto& planned : resolved.routes) {
    st.routes.push_back(planned.plan->start(planned.name, *st.host));
  }
  for (const auto& entry : st.entries) {
    for (const auto& r : st.routes) {
      if (r->name() != entry.route) {
        continue;
      }
      for (const auto& m : regs.messages) {
        if (m.info.wire_name == entry.command) {
          st.slots[m.info.index].async = r.get();
        }
      }
    }
  }

  for (const auto& r : st.routes) {
    if (route_dead_letters* kept = r->dead_letters()) {
      st.dead_letters->keep(r->name(), *kept);
    }
  }

  slots_ = st.slots.data();
  slot_count_ = static_cast<std::uint32_t>(st.slots.size());
  for (const auto& r : st.routes) {
    r->open();
  }
}

bus::~bus() {
  stop();
}

namespace {

stop_report stop_routes(const std::vector<route*>& routes, std::optional<clock::time_point> give_up_at) {
  const bool own_worker = std::any_of(routes.begin(), routes.end(), [](const route* r) { return r->on_own_worker(); });
  if (own_worker) {
    throw std::logic_error(
        "cmdbus: bus.stop() was called on a worker thread (in a handler or continuation of an asynchronous route): "
        "it would wait for that worker, that is for itself; call it from another thread");
  }
  stop_report report;
  for (route* r : routes) {  // each route drains on its own workers: stop them all first, then wait
    r->stop_accepting(give_up_at);
  }
  for (route* r : routes) {
    auto part = r->stop(give_up_at);
    report.completed += part.completed;
    report.not_run.insert(report.not_run.end(), part.not_run.begin(), part.not_run.end());
  }
  return report;
}

std::vector<route*> all_routes(const std::vector<std::unique_ptr<route>>& routes) {
  std::vector<route*> all;
  all.reserve(routes.size());
  for (const auto& r : routes) {
    all.push_back(r.get());
  }
  return all;
}

}  // namespace

stop_report bus::stop() {
  return stop_routes(all_routes(state_->routes), std::nullopt);
}

stop_report bus::stop(clock::time_point give_up_at) {
  return stop_routes(all_routes(state_->routes), give_up_at);
}

stop_report bus::run_workers_while(const std::vector<std::string>& routes, const std::function<void()>& wait) {
  std::vector<route*> chosen;
  for (const auto& name : routes) {
    const auto it =
        std::find_if(state_->routes.begin(), state_->routes.end(), [&](const auto& r) { return r->name() == name; });
    if (it == state_->routes.end()) {
      std::string known;
      for (const auto& r : state_->routes) {
        known += fmt::format("{}'{}' ({})", known.empty() ? "" : ", ", r->name(), r->kind());
      }
      throw std::invalid_argument(
          fmt::format("cmdbus: run_workers: this bus has no route '{}' (its asynchronous "
                      "routes: {})",
                      name, known.empty() ? "none" : known));
    }
    if (!(*it)->shares_work_across_processes()) {
      throw std::invalid_argument(fmt::format(
          "cmdbus: run_workers: route '{}' is of kind '{}', whose workers run in every process that builds the bus "
          "and share nothing with other processes; run_workers runs the workers of routes whose commands live "
          "in a store (kind 'durable')",
          name, (*it)->kind()));
    }
    if (std::find(chosen.begin(), chosen.end(), it->get()) == chosen.end()) {
      chosen.push_back(it->get());
    }
  }
  if (std::any_of(chosen.begin(), chosen.end(), [](const route* r) { return r->on_own_worker(); })) {
    throw std::logic_error(
        "cmdbus: run_workers was called on a worker thread of one of its routes; call it from a "
        "thread of your own");
  }
  for (route* r : chosen) {
    r->start_workers();
  }
  try {
    wait();
  } catch (...) {
    (void)stop_routes(chosen, std::nullopt);
    throw;
  }
  return stop_routes(chosen, std::nullopt);
}

std::uint64_t bus::unobserved_failures() const noexcept {
  return state_->unobserved_failures.load(std::memory_order_relaxed);
}

std::optional<command_state> bus::status(const command_id& id) const {
  return state_->find(id).second;
}

dead_letter_queue& bus::dead_letters() noexcept {
  return *state_->dead_letters;
}

std::vector<route_stats> bus::queue_stats() const {
  std::vector<route_stats> out;
  for (const auto& r : state_->routes) {
    out.push_back(r->stats());
  }
  return out;
}

void bus::on_succeeded(detail::envelope& e, const consistency_token& token) noexcept {
  e.target->async->note_settled(e.id, command_status::succeeded, token, {}, e.requeued);
  if (e.completion != nullptr) {
    e.completion->set_token(token);
  }
}

std::unique_ptr<detail::envelope> bus::unpack(detail::parcel& p, const std::exception_ptr& failure) noexcept {
  const command_id id = p.id;
  const std::uint32_t type = p.ops->type_index;
  try {
    return p.ops->unpack(*this, p);
  } catch (...) {  // out of memory, or its partition_key() threw: it cannot wait nor become a dead letter
    const auto& info = *slots_[type].info;
    state_->unobserved_failures.fetch_add(1, std::memory_order_relaxed);
    try {
      const std::string lost = error(std::current_exception(), info.wire_name, id, 1).message();
      const std::string why = failure != nullptr ? error(failure, info.wire_name, id, 1).describe() : "";
      slots_[type].async->note_settled(id, command_status::failed, consistency_token{id}, "lost: " + lost, false);
      spdlog::critical("cmdbus: could not keep command '{}' {} on its way ({}); it is lost{}{}", info.wire_name,
                       id.to_string(), lost, why.empty() ? "" : ": ", why);
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing is left to report with
    }
    return nullptr;
  }
}

detail::parcel_run bus::on_parcel_failed(detail::parcel& p, std::uint64_t started, const context& ctx,
                                         std::exception_ptr failure) noexcept {
  detail::parcel_run r;
  r.failed = unpack(p, failure);
  if (r.failed == nullptr) {
    return r;  // lost (reported): finished
  }
  r.failed->attempts = 1;
  r.failed->first_attempt = started;
  r.failed->last_attempt = started;
  r.outcome = on_failed(*r.failed, ctx, std::move(failure));
  return r;
}

detail::run_outcome bus::on_failed(detail::envelope& e, const context& ctx, std::exception_ptr failure) noexcept {
  error err(std::move(failure), e.target->info->wire_name, e.id, e.attempts);
  if (const auto delay = ctx.retry_after(); delay.count() >= 0) {
    e.target->async->note_retrying(e.id, err.message(), e.requeued);
    try {
      spdlog::debug("cmdbus: '{}' {} failed on attempt {} ({}); retrying in {} ms", err.command_name(),
                    e.id.to_string(), e.attempts, err.message(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    } catch (...) {  // NOLINT(bugprone-empty-catch): the log line is advisory; the retry stands
    }
    e.last_error = std::make_unique<error>(std::move(err));
    return {detail::run_outcome::kind::retry, delay};
  }
  if (e.completion == nullptr && e.remote_result != nullptr) {  // its caller waits in another process: the route
    e.target->async->note_settled(e.id, command_status::failed, consistency_token{e.id}, err.message(), e.requeued);
    e.last_error = std::make_unique<error>(std::move(err));  // hands it over from here
    return {detail::run_outcome::kind::failed, {}};
  }
  if (e.unobserved()) {
    e.last_error = std::make_unique<error>(std::move(err));
    return {detail::run_outcome::kind::dead, {}};
  }
  e.target->async->note_settled(e.id, command_status::failed, consistency_token{e.id}, err.message(), e.requeued);
  e.completion->set_token(consistency_token{e.id});
  e.completion->fail(std::move(err));
  return {detail::run_outcome::kind::failed, {}};
}

void bus::bury(std::unique_ptr<detail::envelope> e) noexcept {
  auto& st = *state_;
  st.unobserved_failures.fetch_add(1, std::memory_order_relaxed);
  const command_id id = e->id;
  const bool requeued = e->requeued;
  const std::string_view command = e->target->info->wire_name;
  route& owner = *e->target->async;
  std::string described = "(out of memory describing it)";
  try {
    const error& err = *e->last_error;
    described = err.describe();
    dead_letter d;
    d.id = id;
    d.command = e->target->info->wire_name;
    d.route = owner.name();
    if (e->keyed && e->target->info->partition_key != nullptr) {
      d.partition_key = e->target->info->partition_key(e->payload);
    }
    d.correlation_id = e->options != nullptr && !e->options->correlation_id.is_nil() ? e->options->correlation_id : id;
    d.code = err.code();
    d.error_type = err.type_name();
    d.error = err.message();
    d.attempts = e->attempts;
    if (e->attempts > 0) {
      d.first_attempt = detail::cycle_clock::to_system(e->first_attempt);
      d.last_attempt = detail::cycle_clock::to_system(e->last_attempt);
    }
    std::string message = d.error;
    spdlog::error("cmdbus: command failed with nobody waiting; it is now a dead letter: {}", described);
    st.dead_letters->add({std::move(d), std::move(e)}, [&] {
      owner.note_settled(id, command_status::dead, consistency_token{id}, message, requeued);
    });
  } catch (...) {
    try {
      const std::string why = error(std::current_exception(), command, id, 0).message();
      owner.note_settled(id, command_status::failed, consistency_token{id}, "lost: the dead letter store refused it",
                         requeued);
      spdlog::critical("cmdbus: the dead letter store refused {} ({}); the command is lost: {}", id.to_string(), why,
                       described);
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing is left to report with
    }
  }
}

void bus::after_commit_of(detail::envelope& e, const std::vector<detail::pending_event>& events) noexcept {
  if (events.empty()) {
    return;
  }
  context ctx(*this, *e.target->info, nullptr, e.options.get());
  ctx.assign_id(e.id);
  ctx.run_on_worker(e.attempts > 0 ? e.attempts - 1 : 0);
  after_commit(ctx, events);
}

void bus::abandon(std::unique_ptr<detail::envelope> e, std::string_view route) noexcept {
  std::exception_ptr why;
  try {
    why = std::make_exception_ptr(stopping_error(fmt::format(
        "cmdbus: the bus stopped (its stop deadline passed) before '{}' {} could run{} on route '{}'; it did not "
        "run{}",
        e->target->info->wire_name, e->id.to_string(), e->attempts > 0 ? " again (it waited for a retry)" : "", route,
        e->attempts > 0 ? " again" : "")));
  } catch (...) {
    why = std::current_exception();  // out of memory: the caller still learns that it did not run
  }
  try {
    e->last_error = std::make_unique<error>(why, e->target->info->wire_name, e->id, e->attempts);
  } catch (...) {  // NOLINT(bugprone-empty-catch): without the error value the command is still failed below
  }
  if (e->unobserved()) {
    if (e->last_error != nullptr) {
      bury(std::move(e));
    } else {  // no memory for the error, let alone a dead letter: at least its status says it did not run
      e->target->async->note_settled(e->id, command_status::failed, consistency_token{e->id}, "stopped before it ran",
                                     e->requeued);
    }
    return;
  }
  e->target->async->note_settled(e->id, command_status::failed, consistency_token{e->id},
                                 e->last_error != nullptr ? e->last_error->message() : std::string_view{"stopped"},
                                 e->requeued);
  e->completion->set_token(consistency_token{e->id});
  e->completion->fail(e->last_error != nullptr ? *e->last_error : error(why, {}, e->id, e->attempts));
}

void bus::requeue(std::unique_ptr<detail::envelope>& e) {
  // The slot of this bus for the command's type: a dead letter store may outlive the bus that filled it.
  const auto index = e->type_index;
  if (index >= slot_count_ || slots_[index].async == nullptr || slots_[index].info == nullptr) {
    throw rejected_error(
        fmt::format("cmdbus: cannot requeue {}: its command type is not routed to an asynchronous route on this bus",
                    e->id.to_string()));
  }
  e->target = &slots_[index];
  const auto attempts = e->attempts;
  const auto first = e->first_attempt;
  const auto last = e->last_attempt;
  auto last_error = std::move(e->last_error);
  e->attempts = 0;
  e->first_attempt = 0;
  e->last_attempt = 0;
  e->requeued = true;
  try {
    (void)e->target->async->enqueue_envelope(e);
  } catch (...) {  // refused: the dead letter keeps its history
    e->attempts = attempts;
    e->first_attempt = first;
    e->last_attempt = last;
    e->last_error = std::move(last_error);
    throw;
  }
}

void bus::await_consistency(const dispatch_options& options, std::string_view query_name) const {
  using namespace std::chrono_literals;
  if (!options.at_least) {
    return;  // nothing to wait for
  }
  const auto until = options.deadline.value_or(clock::now() + 10s);
  consistency_token target = *options.at_least;
  if (!target.command.is_nil()) {
    const route* owner = state_->find(target.command).first;
    if (const auto st = owner != nullptr ? owner->wait_settled(target.command, until) : std::nullopt) {
      if (!st->settled()) {
        throw consistency_timeout_error(fmt::format(
            "cmdbus: query '{}' waited for command '{}' {} on route '{}' to commit, but it was still {} (attempt {}) "
            "at the query's deadline; the read model does not reflect it yet",
            query_name, st->command, target.command.to_string(), st->route, to_string(st->status), st->attempts));
      }
      if (st->token.store != nullptr && st->token.version > target.version) {
        target.store = st->token.store;
        target.version = st->token.version;
      }
    }
  }
  if (target.store == nullptr || target.version == 0) {
    return;
  }
  const auto found = std::find_if(state_->stores.begin(), state_->stores.end(),
                                  [&](const transaction_middleware* m) { return m->store() == target.store; });
  if (found == state_->stores.end()) {
    throw rejected_error(fmt::format(
        "cmdbus: query '{}' was given a consistency token of a store this bus does not use (a token from another "
        "bus?); it cannot wait for version {} of it",
        query_name, target.version));
  }
  const transaction_middleware& store = **found;
  auto pause = std::chrono::microseconds{20};
  while (store.version() < target.version) {
    if (clock::now() >= until) {
      throw consistency_timeout_error(
          fmt::format("cmdbus: query '{}' waited for the read model to reach version {}, but it was at {} at the "
                      "query's deadline",
                      query_name, target.version, store.version()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds{1000});
  }
}

void bus::throw_execute_timeout(const detail::slot& s, command_id id, std::chrono::nanoseconds waited) {
  throw execute_timeout_error(
      fmt::format("cmdbus: '{}' {} on route '{}': no outcome after {} ms; the command may still run (it was accepted)",
                  s.info->wire_name, id.to_string(), s.async->name(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()));
}

const std::vector<route_entry>& bus::routes() const noexcept {
  return state_->entries;
}

std::span<const message_info* const> bus::messages() const noexcept {
  return state_->catalog;
}

void bus::run_chain(const detail::slot& s, const void* payload, void* result, context& ctx) {
  invocation call(ctx, s, payload, result);
  next_step{call, 0}();
}

void bus::run_handler(const detail::slot& s, const void* payload, void* result, context& ctx) {
  if (ctx.deadline_ != context::no_deadline) {
    check_deadline(ctx);  // here, inside the chain, so that logging and metrics see the rejection
  }
  s.invoke(s.handler, payload, result, ctx);
  if (ctx.has_events()) {
    publish(ctx);
  }
}

void bus::publish(context& ctx) {
  auto& st = *state_;
  auto& events = ctx.extras_->events;
  // Projections first, inside whatever unit of work is open. By index: a projection may emit further events.
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto index = events[i].index;
    if (index < st.projections.size()) {
      for (const auto& sub : st.projections[index]) {
        sub.invoke(sub.fn.get(), events[i].payload.get(), ctx);
      }
    }
  }
  // Then the events someone waits for after commit: held by the unit of work, or delivered now if there is none.
  std::vector<detail::pending_event> waiting;
  for (auto& e : events) {
    if (e.index < st.after_commit.size() && !st.after_commit[e.index].empty()) {
      waiting.push_back(std::move(e));
    }
  }
  events.clear();
  if (waiting.empty()) {
    return;
  }
  if (auto* uow = ctx.unit_of_work()) {
    for (auto& e : waiting) {
      uow->defer(std::move(e));
    }
  } else {
    after_commit(ctx, waiting);
  }
}

void bus::after_commit(context& ctx, const std::vector<detail::pending_event>& events) noexcept {
  auto& st = *state_;
  for (const auto& e : events) {
    if (e.index >= st.after_commit.size()) {
      continue;
    }
    for (const auto& sub : st.after_commit[e.index]) {
      try {
        sub.invoke(sub.fn.get(), e.payload.get(), ctx);
      } catch (...) {
        // The command has committed; its outcome stands. The failure is made visible, never swallowed silently.
        st.after_commit_failures.fetch_add(1, std::memory_order_relaxed);
        const error err(std::current_exception(), ctx.command_name(), ctx.id(), ctx.attempt());
        std::string event_name = "an event";
        for (const auto* info : st.catalog) {
          if (info->index == e.index) {
            event_name = fmt::format("'{}'", info->wire_name);
          }
        }
        spdlog::error(
            "cmdbus: an after-commit subscriber of {} failed for command '{}' {}: {} ({}); the command "
            "stays committed",
            event_name, ctx.command_name(), ctx.id().to_string(), err.message(), err.type_name());
      }
    }
  }
}

std::uint64_t bus::after_commit_failures() const noexcept {
  return state_->after_commit_failures.load(std::memory_order_relaxed);
}

namespace {

unknown_command_error unknown_command(std::string_view wire_name, std::string_view type_name) {
  return unknown_command_error(
      fmt::format("cmdbus: no handler for '{}' ({}) on this bus; register one with "
                  "bus_builder::handle<{}>() before the bus is built",
                  wire_name, type_name, type_name));
}

}  // namespace

void bus::throw_unknown(std::string_view wire_name, std::string_view type_name) const {
  throw unknown_command(wire_name, type_name);
}

error bus::unknown_error(std::string_view wire_name, std::string_view type_name) {
  return error(std::make_exception_ptr(unknown_command(wire_name, type_name)), wire_name, command_id{});
}

void bus::throw_no_result(const context& ctx) {
  throw std::logic_error(
      fmt::format("cmdbus: '{}' {}: a middleware ended the pipeline without calling next() or "
                  "set_result(), so there is no result to return",
                  ctx.command_name(), ctx.id().to_string()));
}

void bus::check_deadline(const context& ctx) {
  if (ctx.expired()) {
    throw deadline_exceeded_error(
        fmt::format("cmdbus: '{}' {}: its deadline had passed before the handler could "
                    "start; it did not run",
                    ctx.command_name(), ctx.id().to_string()));
  }
}

void next_step::operator()() const {
  const detail::slot& s = *call_->slot_;
  if (position_ < s.chain_size) {
    s.chain[position_]->invoke(*call_, next_step{*call_, position_ + 1});
  } else {
    call_->ctx_->bus().run_handler(s, call_->payload_, call_->result_, *call_->ctx_);
  }
}

void invocation::throw_result_mismatch() const {
  throw registration_error(
      fmt::format("cmdbus: a middleware called set_result() on '{}' with a type other than "
                  "its result type",
                  message().wire_name));
}

}  // namespace cmdbus

namespace cmdbus {

// ---- the worker interface (cmdbus/worker.hpp) --------------------------------------------------------------------

const message_info& worker_host::info(std::uint32_t type_index) const noexcept {
  return *bus_->slots_[type_index].info;
}

std::unique_ptr<detail::envelope> worker_host::unpack(detail::parcel& p, const std::exception_ptr& failure) noexcept {
  return bus_->unpack(p, failure);
}

void worker_host::after_commit(detail::envelope& e, const std::vector<detail::pending_event>& events) noexcept {
  bus_->after_commit_of(e, events);
}

void worker_host::bury(std::unique_ptr<detail::envelope> e) noexcept {
  bus_->bury(std::move(e));
}

void worker_host::abandon(std::unique_ptr<detail::envelope> e, std::string_view route) noexcept {
  bus_->abandon(std::move(e), route);
}

tl::expected<std::unique_ptr<detail::envelope>, std::string> worker_host::decode(std::string_view command,
                                                                                 std::string_view payload,
                                                                                 std::uint32_t schema_version) const {
  const detail::slot* found = nullptr;
  for (std::uint32_t i = 0; i < bus_->slot_count_ && found == nullptr; ++i) {
    const auto* info = bus_->slots_[i].info;
    if (info != nullptr && info->wire_name == command) {
      found = &bus_->slots_[i];
    }
  }
  try {
    if (found == nullptr) {
      return tl::unexpected(
          fmt::format("unknown command '{}': no command type of that name is registered in this "
                      "process",
                      command));
    }
    const message_info& info = *found->info;
    if (found->invoke == nullptr) {
      return tl::unexpected(fmt::format("command '{}' ({}) has no handler in this process", command, info.type_name));
    }
    if (found->async == nullptr) {
      return tl::unexpected(
          fmt::format("command '{}' ({}) is on the sync route in this process: a worker runs only "
                      "commands that this process routes to an asynchronous route",
                      command, info.type_name));
    }
    if (info.decode == nullptr) {
      return tl::unexpected(
          fmt::format("command '{}' ({}) has no codec in this process (cmdbus/codec.hpp), so its "
                      "payload cannot be read",
                      command, info.type_name));
    }
    std::unique_ptr<detail::envelope> e;
    try {
      e = info.decode(payload, schema_version);
    } catch (const std::exception& x) {
      return tl::unexpected(
          fmt::format("the payload of command '{}' (schema version {}; this process writes {}) "
                      "does not decode: {}",
                      command, schema_version, info.schema_version, x.what()));
    }
    e->target = found;
    const auto key = bus::partition_of(*found, e->payload);
    e->key_hash = key.hash;
    e->keyed = key.keyed;
    return e;
  } catch (const std::exception& x) {  // out of memory while describing or decoding
    return tl::unexpected(fmt::format("command '{}' could not be decoded: {}", command, x.what()));
  }
}

std::vector<worker_host::routed_command> worker_host::commands_on(const route& r) const {
  std::vector<routed_command> out;
  for (std::uint32_t i = 0; i < bus_->slot_count_; ++i) {
    const auto& s = bus_->slots_[i];
    if (s.async == &r && s.info != nullptr) {
      out.push_back({s.info, std::span<middleware* const>(s.chain, s.chain_size)});
    }
  }
  return out;
}

std::size_t worker_host::status_retention() const noexcept {
  return bus_->state_->registrations.status_retention;
}

}  // namespace cmdbus
