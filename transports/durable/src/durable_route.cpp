#include "durable_route.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "claim.hpp"
#include "cmdbus/detail/type_index.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/wire/convert.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "cmdbus/wire/outcome.hpp"
#include "inbox_marker.hpp"

namespace cmdbus::durable::detail {

namespace {

const std::string no_worker = "a caller";

}  // namespace

durable_route::durable_route(std::string name, const durable_settings& settings, std::shared_ptr<queue> q,
                             worker_host& host)
    : host_(&host),
      queue_(std::move(q)),
      name_(std::move(name)),
      settings_(settings),
      dead_letters_(queue_, name_, [this] {
        {
          std::lock_guard lock(wake_mutex_);
          ++posted_;  // a requeued row: this process's idle workers look now
        }
        wake_.notify_all();
      }) {
  for (std::uint32_t i = 0; i < settings_.workers; ++i) {
    workers_.push_back(std::make_unique<worker>());
    workers_.back()->name = fmt::format("pid {} {}#{}", ::getpid(), name_, i);
  }
}

void durable_route::check_inbox() {
  if (workers_.empty()) {
    return;  // this process only posts: it runs no handler of the route
  }
  if (!settings_.inbox) {
    warned_no_inbox_.store(true, std::memory_order_relaxed);
    spdlog::info(
        "cmdbus: route '{}' ({}) runs without the inbox (inbox = false): a worker that dies between a command's "
        "commit and its done mark leaves it to run again (at-least-once)",
        name_, settings_.origin);
    return;
  }
  const void* const store = queue_->store_identity();
  std::string problems;
  for (const auto& command : host_->commands_on(*this)) {
    std::ptrdiff_t unit_of_work = -1;
    std::ptrdiff_t inbox = -1;
    for (std::size_t i = 0; i < command.pipeline.size(); ++i) {
      const auto* const m = command.pipeline[i];
      if (const auto* t = dynamic_cast<const transaction_middleware*>(m);
          t != nullptr && t->store() == store && unit_of_work < 0) {
        unit_of_work = static_cast<std::ptrdiff_t>(i);
      }
      if (const auto* x = dynamic_cast<const inbox_marker*>(m); x != nullptr && x->store() == store) {
        inbox = static_cast<std::ptrdiff_t>(i);
      }
    }
    const char* why = nullptr;
    if (unit_of_work < 0) {
      why = "no unit of work of the route's store";
    } else if (inbox < 0) {
      why = "no inbox of the route's store";
    } else if (inbox < unit_of_work) {
      why = "its inbox comes before the store's unit of work, outside the transaction";
    }
    if (why != nullptr) {
      problems += fmt::format("\n  command '{}' ({}) has {}", command.info->wire_name, command.info->type_name, why);
    }
  }
  if (!problems.empty()) {
    throw config_error(fmt::format(
        "cmdbus: route '{}' ({}) is durable, but its commands would run at-least-once, not exactly once:{}\n"
        "  add the store's unit of work and then the inbox: b.use(db.unit_of_work()); "
        "b.use(cmdbus::durable::inbox(db));\n  or, to accept at-least-once, say inbox = false in [routes.{}]",
        name_, settings_.origin, problems, name_));
  }
}

void durable_route::open() {
  check_inbox();
  poller_ = std::thread([this] { poll_outcomes(); });
  listener_ = std::thread([this] { listen_for_news(); });
  if (settings_.start_workers && !workers_.empty()) {
    start_workers();
  }
}

void durable_route::start_workers() {
  std::lock_guard stop_lock(stop_mutex_);
  if (workers_.empty()) {
    throw std::invalid_argument(
        fmt::format("cmdbus: route '{}' ({}) has workers = 0, so this process only posts to "
                    "it; give it the number of worker threads a worker process runs",
                    name_, settings_.origin));
  }
  if (started_ || joined_) {
    return;  // running already, or stopped: a stopped route starts nothing
  }
  started_ = true;
  for (auto& w : workers_) {
    w->thread = std::thread([this, raw = w.get()] { work(*raw); });
  }
  if (!workers_.empty()) {
    keeper_ = std::thread([this] { keep_leases(); });
  }
}

void durable_route::keep_leases() {
  const std::chrono::milliseconds lease{settings_.lease_ms};
  std::vector<std::int64_t> seqs;
  for (;;) {
    {
      std::unique_lock lock(wake_mutex_);
      if (keeper_wake_.wait_for(lock, lease / 3, [&] { return joined_workers_; })) {
        return;
      }
    }
    for (auto& w : workers_) {
      {
        std::lock_guard lock(w->held_mutex);
        seqs = w->held;
      }
      if (seqs.empty()) {
        continue;
      }
      try {
        queue_->renew(seqs, w->name, clock::now() + lease);
      } catch (const std::exception& x) {
        spdlog::error(
            "cmdbus: route '{}': the leases of worker '{}' could not be renewed ({}); another worker may "
            "take its commands over once they expire",
            name_, w->name, x.what());
      }
    }
  }
}

durable_route::~durable_route() {
  (void)stop(std::nullopt);
}

command_id durable_route::enqueue(cmdbus::detail::parcel& p, cmdbus::detail::partition key) {
  (void)key;  // the claim keeps a key's order; the key's text travels in the row
  cmdbus::detail::envelope* const e = p.heavy;
  const message_info& info = host_->info(e != nullptr ? e->type_index : p.ops->type_index);
  const command_id id = e != nullptr ? e->id : p.id;
  if (stopping_.load(std::memory_order_acquire)) {
    throw stopping_error(fmt::format("cmdbus: route '{}' is stopping; command '{}' {} was not accepted", name_,
                                     info.wire_name, id.to_string()));
  }
  const auto now = clock::now();
  const wire::wire_envelope w =
      e != nullptr ? wire::to_wire(*e, info, now) : wire::to_wire(info, p.payload(), id, nullptr, 0, now);
  const std::string text = wire::encode_envelope(w);
  const std::shared_ptr<cmdbus::detail::completion_base> completion = e != nullptr ? e->completion : nullptr;
  if (completion != nullptr) {
    if (workers_.size() == 1) {  // its one worker could wait for it: an error instead of a hang
      completion->set_runner(workers_.front().get(), info.wire_name, name_, id);
    }
    std::lock_guard lock(waiters_mutex_);
    waiters_[id] = waiter{completion, &info};
    ++waiters_added_;
  }
  try {
    queue_->insert(new_row{id, name_, info.wire_name, &w.partition_key, now, text, completion != nullptr},
                   cmdbus::detail::current_context);
  } catch (...) {
    if (completion != nullptr) {
      std::lock_guard lock(waiters_mutex_);
      waiters_.erase(id);
    }
    throw;
  }
  p.reset();  // the row holds the command now
  if (completion != nullptr) {
    waiters_wake_.notify_one();  // the poller looks for its outcome, in case another process runs it
  }
  {
    std::lock_guard lock(wake_mutex_);
    ++posted_;
  }
  wake_.notify_one();
  return id;
}

bool durable_route::past_deadline() const noexcept {
  return clock::now().time_since_epoch().count() >= give_up_at_.load(std::memory_order_acquire);
}

void durable_route::work(worker& w) {
  worker_host::bind_thread(&w);
  std::uint64_t seen = 0;
  const std::chrono::milliseconds poll{settings_.poll_ms};
  for (;;) {
    const bool stopping = stopping_.load(std::memory_order_acquire);
    if (stopping && past_deadline()) {
      return;
    }
    std::vector<claimed> rows;
    std::unique_ptr<transaction_middleware::batch> claim;  // the transaction of the claim and of its first batch
    bool claim_failed = false;
    try {
      // Where the route batches, the claim is the first statement of the batch that runs it: one transaction (and,
      // on SQLite, one write of the claimed rows' pages) instead of two, and a worker killed in it leaves its rows
      // pending at once instead of after their lease.
      if (batching_.load(std::memory_order_acquire) && settings_.batch > 1 && queue_->claims_in_batch()) {
        claim = queue_->begin_batch();
      }
      rows = queue_->claim(name_, w.name, clock::now(),
                           {std::chrono::milliseconds{settings_.lease_ms}, settings_.batch, settings_.max_lost_claims});
    } catch (const std::exception& x) {
      claim.reset();
      claim_failed = true;
      spdlog::error("cmdbus: route '{}': worker '{}' could not claim commands ({}); it tries again in {} ms", name_,
                    w.name, x.what(), settings_.poll_ms);
    }
    {
      std::lock_guard lock(w.held_mutex);
      for (const auto& row : rows) {
        w.held.push_back(row.seq);
      }
    }
    if (rows.empty()) {
      claim.reset();  // nothing claimed: rolled back
    }
    // A claim that could not commit (a full disk, say) is a failing database too: no tight loop of retries, which
    // would also keep SQLite's one write lock from everybody else.
    claim_failed = !run_rows(w, rows, std::move(claim)) || claim_failed;
    if (!rows.empty() && !claim_failed) {
      continue;
    }
    if (stopping) {
      return;  // nothing due now (or the table cannot be read): what is left waits for the next start
    }
    std::unique_lock lock(wake_mutex_);
    // Woken by a post of this process (unless the database is failing: then no tight loop of errors) or a stop.
    wake_.wait_for(lock, poll,
                   [&] { return (!claim_failed && posted_ != seen) || stopping_.load(std::memory_order_acquire); });
    seen = posted_;
  }
}

std::shared_ptr<cmdbus::detail::completion_base> durable_route::take_waiter(const command_id& id) {
  std::lock_guard lock(waiters_mutex_);
  const auto it = waiters_.find(id);
  if (it == waiters_.end()) {
    return nullptr;
  }
  auto c = it->second.completion.lock();
  waiters_.erase(it);
  return c;
}

void durable_route::return_waiter(const command_id& id,
                                  const std::shared_ptr<cmdbus::detail::completion_base>& completion,
                                  const message_info& info) {
  if (completion == nullptr || completion->ready()) {
    return;
  }
  std::lock_guard lock(waiters_mutex_);
  waiters_[id] = waiter{completion, &info};
}

void durable_route::record_remote_outcome(const claimed& row, const cmdbus::detail::envelope& env, bool succeeded,
                                          const std::string& result) {
  wire::wire_outcome o;
  o.id = env.id;
  o.succeeded = succeeded;
  if (succeeded) {
    o.result = result;
  } else if (env.last_error != nullptr) {
    o.code = env.last_error->code();
    o.error_type = env.last_error->type_name();
    o.error_message = env.last_error->message();
  }
  try {
    queue_->record_outcome(row.seq, name_, wire::encode_outcome(o));
  } catch (const std::exception& x) {
    spdlog::error(
        "cmdbus: route '{}': the outcome of command {} (row {}) could not be recorded for its caller in another "
        "process ({}); that caller gets an error instead",
        name_, env.id.to_string(), row.seq, x.what());
  }
}

bool durable_route::complete_from_row(cmdbus::detail::completion_base& c, const message_info& info,
                                      const ended_row& r) {
  if (!r.outcome) {
    // Ended, and nothing recorded: the worker died between its commit and the outcome, or it ran without a caller in
    // mind. Give it a moment, then say what is known.
    if (clock::now() - r.updated_at < std::chrono::seconds{2}) {
      return false;
    }
    if (r.state == "succeeded" && info.result_index == cmdbus::detail::type_index<void>()) {
      c.complete_encoded({}, 0, info.wire_name, r.id);  // a void result: nothing was lost
    } else {
      c.fail(error(std::make_exception_ptr(remote_error(
                       error_code::fatal, "cmdbus::remote_error",
                       r.state == "succeeded"
                           ? "cmdbus: the command succeeded in another process, whose worker stopped before it "
                             "recorded the result"
                           : r.error_message)),
                   info.wire_name, r.id));
    }
    return true;
  }
  const auto o = wire::parse_outcome(*r.outcome);
  if (!o) {
    c.fail(error(std::make_exception_ptr(remote_error(error_code::fatal, "cmdbus::remote_error",
                                                      "cmdbus: the recorded outcome is unreadable: " + o.error())),
                 info.wire_name, r.id));
    return true;
  }
  c.set_token(consistency_token{r.id});
  if (o->succeeded) {
    c.complete_encoded(o->result, info.result_schema_version, info.wire_name, r.id);
  } else {
    c.fail(
        error(std::make_exception_ptr(remote_error(o->code, o->error_type, o->error_message)), info.wire_name, r.id));
  }
  return true;
}

void durable_route::listen_for_news() {
  const std::string posted = "posted:" + name_;
  const std::string outcome = "outcome:" + name_;
  for (;;) {
    std::unique_ptr<news> n;
    bool failed = false;
    try {
      n = queue_->listen();
    } catch (const std::exception& x) {
      failed = true;
      spdlog::warn(
          "cmdbus: route '{}' cannot listen for news of other processes ({}); its idle workers look every {} ms, "
          "and it tries again in a second",
          name_, x.what(), settings_.poll_ms);
    }
    if (n == nullptr && !failed) {
      return;  // the database sends no news (SQLite): the workers and the outcome reader poll
    }
    if (n != nullptr) {
      {
        std::lock_guard lock(news_mutex_);
        if (news_leaves_) {
          return;
        }
        news_ = n.get();
      }
      hearing_.store(true, std::memory_order_release);
      try {
        for (;;) {
          const auto heard = n->wait(std::chrono::seconds{1});
          {
            std::lock_guard lock(news_mutex_);
            if (news_leaves_) {
              break;
            }
          }
          const bool work = std::find(heard.begin(), heard.end(), posted) != heard.end();
          const bool outcomes = std::find(heard.begin(), heard.end(), outcome) != heard.end();
          if (work) {
            {
              std::lock_guard lock(wake_mutex_);
              ++posted_;
            }
            wake_.notify_all();
          }
          if (outcomes) {
            {
              std::lock_guard lock(waiters_mutex_);
              ++outcomes_heard_;
            }
            waiters_wake_.notify_all();
          }
        }
      } catch (const std::exception& x) {
        spdlog::warn("cmdbus: route '{}' stopped hearing news of other processes ({}); it listens again in a second",
                     name_, x.what());
      }
      hearing_.store(false, std::memory_order_release);
      std::lock_guard lock(news_mutex_);
      news_ = nullptr;
    }
    std::unique_lock lock(news_mutex_);
    if (news_wake_.wait_for(lock, std::chrono::seconds{1}, [&] { return news_leaves_; })) {
      return;
    }
  }
}

void durable_route::poll_outcomes() {
  constexpr std::chrono::milliseconds shortest{2};
  auto pause = shortest;
  std::uint64_t seen_added = 0;
  std::uint64_t seen_heard = 0;
  std::vector<command_id> ids;
  for (;;) {
    {
      std::unique_lock lock(waiters_mutex_);
      waiters_wake_.wait_for(
          lock, pause, [&] { return poller_leaves_ || waiters_added_ != seen_added || outcomes_heard_ != seen_heard; });
      if (poller_leaves_) {
        return;
      }
      // Hearing the news of outcomes, a read after the news suffices: the pause only covers news that got lost.
      const std::chrono::milliseconds longest{hearing_.load(std::memory_order_acquire) ? 1000 : 50};
      if (waiters_added_ != seen_added) {
        seen_added = waiters_added_;
        pause = shortest;
      } else if (outcomes_heard_ != seen_heard) {
        seen_heard = outcomes_heard_;
      } else {
        pause = std::min(pause * 2, longest);
      }
      ids.clear();
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (it->second.completion.expired()) {
          it = waiters_.erase(it);  // the caller gave up (dropped the handle)
        } else {
          ids.push_back(it->first);
          ++it;
        }
      }
    }
    if (ids.empty()) {
      pause = std::chrono::hours{1};  // until the next waiter
      continue;
    }
    std::vector<ended_row> rows;
    try {
      rows = queue_->ended(ids);
    } catch (const std::exception& x) {
      spdlog::warn("cmdbus: route '{}': could not read the outcomes of {} waiting commands ({}); trying again", name_,
                   ids.size(), x.what());
      continue;
    }
    for (const auto& r : rows) {
      std::shared_ptr<cmdbus::detail::completion_base> c;
      const message_info* info = nullptr;
      {
        std::lock_guard lock(waiters_mutex_);
        const auto it = waiters_.find(r.id);
        if (it == waiters_.end()) {
          continue;  // a worker of this process took it meanwhile
        }
        c = it->second.completion.lock();
        info = it->second.info;
        if (c == nullptr) {
          waiters_.erase(it);
          continue;
        }
      }
      // Only this thread completes what is still in the waiters; a worker of this process would have taken it out.
      if (!c->ready() && complete_from_row(*c, *info, r)) {
        std::lock_guard lock(waiters_mutex_);
        waiters_.erase(r.id);
      }
    }
  }
}

bool durable_route::run_rows(worker& w, std::vector<claimed>& rows,
                             std::unique_ptr<transaction_middleware::batch> claim) {
  const auto let_go = [&w](std::int64_t seq) {
    std::lock_guard lock(w.held_mutex);
    std::erase(w.held, seq);
  };
  const auto alone = [&](claimed& row) {
    run_claimed(w, row);
    let_go(row.seq);
  };
  std::vector<claimed*> batched;
  const bool batching = batching_.load(std::memory_order_acquire);
  for (auto& row : rows) {
    if (batching && !row.awaited) {  // a waiting caller must not hear of an outcome before its COMMIT: alone
      batched.push_back(&row);
    }
  }
  // Batches, each up to the first command that fails transiently in it (on PostgreSQL, one that would wait for a
  // lock): that one runs alone, where it may wait, and a new batch takes the rest.
  std::size_t next = 0;
  if (claim != nullptr) {  // the first batch is the claim's transaction: it commits the claim with what settles in it
    const auto done = run_batch(w, batched, std::move(claim));
    if (done.lost) {
      for (const auto& row : rows) {
        let_go(row.seq);  // the claim did not happen: the rows are pending, for the next claim of any worker
      }
      return false;
    }
    for (std::size_t i = 0; i < done.settled; ++i) {
      let_go(batched[i]->seq);
    }
    next = done.settled;
    if (done.broke) {
      alone(*batched[next++]);
    }
  }
  while (batched.size() - next > 1) {
    const std::vector<claimed*> part(batched.begin() + static_cast<std::ptrdiff_t>(next), batched.end());
    const auto done = run_batch(w, part);
    for (std::size_t i = 0; i < done.settled; ++i) {
      let_go(part[i]->seq);
    }
    next += done.settled;
    if (!done.broke) {
      break;  // all of them settled, or the batch could not begin or commit: the rest alone
    }
    alone(*batched[next++]);
  }
  for (; next < batched.size(); ++next) {
    alone(*batched[next]);
  }
  for (auto& row : rows) {
    if (!batching || row.awaited) {
      alone(row);
    }
  }
  return true;
}

durable_route::batch_result durable_route::run_batch(worker& w, const std::vector<claimed*>& rows,
                                                     std::unique_ptr<transaction_middleware::batch> claim) {
  const bool holds_claim = claim != nullptr;
  std::unique_ptr<transaction_middleware::batch> batch = std::move(claim);
  if (batch == nullptr) {
    try {
      batch = queue_->begin_batch();
    } catch (const std::exception& x) {
      spdlog::warn("cmdbus: route '{}': worker '{}' could not begin a batch ({}); it runs its {} commands one by one",
                   name_, w.name, x.what(), rows.size());
      return {};
    }
  }
  std::vector<batch_run> runs(rows.size());
  std::size_t settled = 0;
  // A transient failure (on PostgreSQL often a lock another batch holds: the batch waits for none longer than
  // lock_timeout) ends the batch: what ran before it commits, and it and the rest run alone, where they may wait.
  while (settled < rows.size()) {
    runs[settled].batch = batch.get();
    run_claimed(w, *rows[settled], &runs[settled]);
    if (runs[settled].again) {
      break;
    }
    ++settled;
  }
  const bool broke = settled < rows.size();
  if (settled == 0 && !holds_claim) {
    return {0, broke};  // nothing to commit: the batch rolls back (its one command's savepoint was undone already)
  }
  try {
    std::vector<std::int64_t> to_mark;
    for (std::size_t i = 0; i < settled; ++i) {
      if (runs[i].to_mark) {
        to_mark.push_back(rows[i]->seq);
      }
    }
    if (!to_mark.empty() && queue_->mark_succeeded(to_mark, w.name, clock::now()) != to_mark.size()) {
      // A row whose lease expired (its claim committed before this batch) was taken over: another worker runs it.
      // Rather than find out which, none of the batch happens, and each of its rows runs alone, or is passed over.
      throw std::runtime_error(
          fmt::format("only some of its {} done marks found their rows still held by '{}'", to_mark.size(), w.name));
    }
    batch->commit();
  } catch (const std::exception& x) {
    if (holds_claim) {
      spdlog::warn(
          "cmdbus: route '{}': worker '{}' could not commit the claim of {} commands and the {} of them that ran "
          "({}); none of it happened, and they stay pending for the next claim",
          name_, w.name, rows.size(), settled, x.what());
      return {0, false, true};
    }
    spdlog::warn(
        "cmdbus: route '{}': worker '{}' could not commit a batch of {} commands ({}); none of it happened, and "
        "they run again one by one",
        name_, w.name, settled, x.what());
    return {};
  }
  batch.reset();  // its connection goes back before after-commit subscribers run: they may need one
  bool unmarked = false;
  for (auto& r : runs) {
    if (r.counted) {
      completed_.fetch_add(1, std::memory_order_relaxed);
    }
    if (r.env != nullptr) {
      host_->after_commit(*r.env, r.events);
    }
    unmarked = unmarked || r.unmarked;
  }
  if (unmarked && batching_.exchange(false, std::memory_order_acq_rel)) {
    spdlog::warn(
        "cmdbus: route '{}' ran a command of a batch without the inbox's done mark (its handler chain has no unit "
        "of work of the route's store, or no inbox); it runs one command per transaction from now on",
        name_);
  }
  return {settled, broke};
}

void durable_route::run_claimed(worker& w, claimed& row, batch_run* in_batch) {
  const auto count = [&] {
    if (in_batch != nullptr) {
      in_batch->counted = true;  // once the batch commits
    } else {
      completed_.fetch_add(1, std::memory_order_relaxed);
    }
  };
  const auto parsed = wire::parse_envelope(row.envelope);
  auto e = parsed ? wire::from_wire(*host_, *parsed)
                  : tl::expected<std::unique_ptr<cmdbus::detail::envelope>, std::string>(tl::unexpect, parsed.error());
  if (!e) {
    spdlog::error("cmdbus: route '{}': the command in row {} cannot run in this process: {}; it is now a dead letter",
                  name_, row.seq, e.error());
    try {
      queue_->bury_unreadable(row.seq, e.error(), clock::now(), w.name);
    } catch (const std::exception& x) {
      spdlog::error("cmdbus: route '{}': row {} could not be marked dead ({}); its lease will expire", name_, row.seq,
                    x.what());
    }
    if (parsed) {
      if (auto c = take_waiter(parsed->id)) {
        c->fail(
            error(std::make_exception_ptr(std::runtime_error("cmdbus: " + e.error())), parsed->command, parsed->id));
      }
      std::lock_guard lock(waiters_mutex_);
      waiters_.erase(parsed->id);
    }
    count();
    return;
  }
  auto& env = **e;
  env.attempts = row.attempts;
  env.completion = take_waiter(env.id);
  std::string remote_result;
  const bool remote = row.awaited && env.completion == nullptr;  // its caller waits in another process
  if (remote) {
    env.remote_result = &remote_result;
  }
  active_claim claim{env.id, row.seq, &w.name, false};
  current_claim = &claim;  // until this returns: the inbox and note_settled (also from bury) read it
  const struct clear_claim {
    clear_claim() = default;
    clear_claim(const clear_claim&) = delete;
    clear_claim& operator=(const clear_claim&) = delete;
    ~clear_claim() { current_claim = nullptr; }
  } clear;
  const std::size_t mark = in_batch != nullptr ? in_batch->batch->mark() : 0;
  const auto outcome = host_->run(env);
  if (in_batch != nullptr) {
    in_batch->events = in_batch->batch->take_events(mark);
    // A transient failure in a batch (a lock it would have waited for, say) is the batch's doing, not the command's:
    // with or without a retry policy, its savepoint is undone and it runs again alone, on the same attempt.
    if ((outcome.what == cmdbus::detail::run_outcome::kind::retry ||
         outcome.what == cmdbus::detail::run_outcome::kind::dead) &&
        !claim.lost && env.last_error != nullptr && env.last_error->code() == error_code::transient) {
      in_batch->again = true;
      return;
    }
  }
  if (claim.lost) {  // another worker holds the row now: it records the outcome, not this one
    spdlog::warn("cmdbus: route '{}': worker '{}' lost row {} ({}) to another worker; its run was rolled back", name_,
                 w.name, row.seq, env.id.to_string());
    return;
  }
  if (outcome.what == cmdbus::detail::run_outcome::kind::done) {
    if (in_batch != nullptr) {
      in_batch->unmarked = !claim.marked;
      in_batch->to_mark = claim.marked;
    } else if (claim.marked && settings_.batch > 1) {
      batching_.store(true, std::memory_order_release);  // the inbox marks in the command's transaction: batch them
    }
  }
  if (outcome.what == cmdbus::detail::run_outcome::kind::done && !claim.marked &&
      !warned_no_inbox_.exchange(true, std::memory_order_relaxed)) {
    spdlog::warn(
        "cmdbus: route '{}' ran command '{}' without the inbox, so its done mark is a transaction of its own "
        "after the handler's: a crash between the two runs it again (at-least-once). For exactly-once "
        "effects use the store's unit of work and then b.use(cmdbus::durable::inbox(db)). (Said once per "
        "route.)",
        name_, parsed->command);
  }
  switch (outcome.what) {
    case cmdbus::detail::run_outcome::kind::done:
    case cmdbus::detail::run_outcome::kind::failed:
      count();
      if (remote) {
        record_remote_outcome(row, env, outcome.what == cmdbus::detail::run_outcome::kind::done, remote_result);
      }
      break;
    case cmdbus::detail::run_outcome::kind::retry:
      return_waiter(env.id, env.completion, host_->info(env.type_index));
      try {
        const auto now = clock::now();
        queue_->retry_at(row.seq, now + std::chrono::duration_cast<clock::duration>(outcome.delay),
                         env.last_error != nullptr ? env.last_error->message() : std::string{}, now, w.name);
      } catch (const std::exception& x) {
        spdlog::error("cmdbus: route '{}': the retry of row {} could not be scheduled ({}); its lease will expire",
                      name_, row.seq, x.what());
      }
      break;
    case cmdbus::detail::run_outcome::kind::dead:
      count();
      host_->bury(std::move(*e));
      return;
  }
  if (in_batch != nullptr) {
    in_batch->env = std::move(*e);
  }
}

void durable_route::stop_accepting(std::optional<clock::time_point> give_up_at) {
  if (give_up_at) {
    auto current = give_up_at_.load(std::memory_order_acquire);
    const auto wanted = give_up_at->time_since_epoch().count();
    while (wanted < current && !give_up_at_.compare_exchange_weak(current, wanted, std::memory_order_acq_rel)) {
    }
  }
  stopping_.store(true, std::memory_order_release);
  { std::lock_guard lock(wake_mutex_); }
  wake_.notify_all();
}

route_stop durable_route::stop(std::optional<clock::time_point> give_up_at) {
  stop_accepting(give_up_at);
  std::lock_guard stop_lock(stop_mutex_);
  if (!joined_) {
    for (auto& w : workers_) {
      if (w->thread.joinable()) {
        w->thread.join();
      }
    }
    {
      std::lock_guard lock(wake_mutex_);
      joined_workers_ = true;
    }
    keeper_wake_.notify_all();
    if (keeper_.joinable()) {
      keeper_.join();
    }
    {
      std::lock_guard lock(waiters_mutex_);
      poller_leaves_ = true;
    }
    waiters_wake_.notify_all();
    if (poller_.joinable()) {
      poller_.join();
    }
    {
      std::lock_guard lock(news_mutex_);
      news_leaves_ = true;
      if (news_ != nullptr) {
        news_->interrupt();
      }
    }
    news_wake_.notify_all();
    if (listener_.joinable()) {
      listener_.join();
    }
    joined_ = true;
    std::unordered_map<command_id, waiter> left;
    {
      std::lock_guard lock(waiters_mutex_);
      left.swap(waiters_);
    }
    for (auto& [id, wt] : left) {
      if (const auto c = wt.completion.lock(); c != nullptr && !c->ready()) {
        c->fail(error(std::make_exception_ptr(stopping_error(fmt::format(
                          "cmdbus: route '{}' stopped before the outcome of command '{}' {} was known here; it "
                          "stays in the table and runs (or ran) in a worker",
                          name_, wt.info->wire_name, id.to_string()))),
                      wt.info->wire_name, id));
      }
    }
  }
  return route_stop{completed_.load(std::memory_order_relaxed), {}};
}

route_stats durable_route::stats() const {
  const counts n = queue_->count(name_, clock::now());
  route_stats s;
  s.route = name_;
  s.kind = "durable";
  s.stopping = stopping_.load(std::memory_order_acquire);
  s.queued = n.pending;
  s.waiting_retry = n.waiting_retry;
  s.in_flight = n.pending + n.waiting_retry + n.running;
  s.completed = n.succeeded + n.failed + n.dead;
  s.failed = n.failed;
  s.dead = n.dead;
  s.extras = {{"workers", settings_.workers}, {"running", n.running},
              {"poll_ms", settings_.poll_ms}, {"lease_ms", settings_.lease_ms},
              {"batch", settings_.batch},     {"listening", hearing_.load(std::memory_order_acquire) ? 1U : 0U}};
  return s;
}

std::optional<command_state> durable_route::status(const command_id& id) const {
  return queue_->status(id);
}

std::optional<command_state> durable_route::wait_settled(const command_id& id, clock::time_point until) const {
  auto pause = std::chrono::milliseconds{1};
  for (;;) {
    auto s = queue_->status(id);
    if (!s || s->settled() || clock::now() >= until) {
      return s;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{50});
  }
}

bool durable_route::on_own_worker() const noexcept {
  return std::any_of(workers_.begin(), workers_.end(),
                     [](const auto& w) { return w.get() == cmdbus::detail::current_runner; });
}

void durable_route::note_retrying(const command_id& id, std::string_view error, bool requeued) noexcept {
  (void)id;  // the worker schedules the retry in the row (retry_at), with the error
  (void)error;
  (void)requeued;
}

void durable_route::note_settled(const command_id& id, command_status status, const consistency_token& token,
                                 std::string_view error, bool requeued) noexcept {
  (void)token;
  (void)requeued;
  if (status == command_status::dead ||  // dead_letters_.put() wrote the row, with the error's type and code
      (status == command_status::succeeded && current_claim != nullptr && current_claim->id == id &&
       current_claim->marked)) {
    std::lock_guard lock(waiters_mutex_);
    waiters_.erase(id);
    return;  // the inbox marked it in the command's own transaction
  }
  try {
    queue_->set_state(id, status, error, clock::now(), current_claim != nullptr ? *current_claim->worker : no_worker);
  } catch (const std::exception& x) {
    spdlog::error("cmdbus: route '{}': command {} settled ({}) but its row could not say so: {}", name_, id.to_string(),
                  to_string(status), x.what());
  }
  std::lock_guard lock(waiters_mutex_);
  waiters_.erase(id);
}

}  // namespace cmdbus::durable::detail
