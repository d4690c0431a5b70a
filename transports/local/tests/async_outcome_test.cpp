// What becomes of commands on a `local` route: retries that leave other keys alone, dead letters, status, queue depth,
// stopping with a deadline, and queries that wait for a command's effects.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "async_support.hpp"
#include "cmdbus/cmdbus.hpp"
#include "cmdbus/transaction_middleware.hpp"

namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::gate;

class briefly_down : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};
class bad_input : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};

/// Fails with briefly_down while `failures_left` of its key is positive; records every attempt.
struct Step {
  static constexpr std::string_view command_name = "test.step";
  int key = 0;
  int seq = 0;
  [[nodiscard]] int partition_key() const { return key; }
};

struct Job {
  static constexpr std::string_view command_name = "test.job";
  int n = 0;
};

struct ReadCounter {
  static constexpr std::string_view query_name = "test.read_counter";
  using result_type = int;
};

/// One worker, so that the order of attempts is the order the worker chose.
std::string one_worker(std::string_view command, const std::string& extra = "") {
  return "[routes.work]\nkind = \"local\"\nworkers = 1\n" + extra + "[commands]\n\"" + std::string{command} +
         "\" = \"work\"\n";
}

/// Opens `g` (where the running command waits) once `bus.stop()` has begun: that command then ends after the stop's
/// deadline (now), and nothing queued behind it starts.
std::thread open_once_stopping(cmdbus::bus& bus, gate& g) {
  return std::thread([&bus, &g] {
    EXPECT_TRUE(eventually([&] { return bus.queue_stats().at(0).stopping; }));
    g.open();
  });
}

cmdbus::retry_policy quick_retries(std::uint32_t attempts, std::chrono::milliseconds delay) {
  cmdbus::retry_policy p;
  p.max_attempts = attempts;
  p.initial_delay = delay;
  p.max_delay = delay;
  p.jitter = 0;
  return p;
}

struct attempt_log {
  std::mutex m;
  std::vector<std::string> entries;
  void add(std::string s) {
    std::lock_guard lock(m);
    entries.push_back(std::move(s));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(m);
    return entries;
  }
};

TEST(AsyncOutcome, ARetryWaitsBesideTheQueueWhileOtherKeysRun) {
  attempt_log log;
  std::atomic<int> failures_left{1};
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(quick_retries(3, 500ms)));
  b.handle<Step>([&](const Step& s) {
    log.add(std::to_string(s.key) + "." + std::to_string(s.seq));
    if (s.key == 1 && failures_left.fetch_sub(1) > 0) {
      throw briefly_down("store briefly down");
    }
  });
  b.config_text(one_worker("test.step"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto first = bus.post(Step{1, 1});
  bus.post(Step{1, 2});  // same key: must wait for 1.1's retry
  for (int i = 1; i <= 3; ++i) {
    bus.post(Step{2, i});  // other key: must not wait 500 ms behind 1.1
  }
  const auto report = bus.stop();
  EXPECT_EQ(report.completed, 5U);
  EXPECT_TRUE(report.not_run.empty());
  const std::vector<std::string> expected{"1.1", "2.1", "2.2", "2.3", "1.1", "1.2"};
  EXPECT_EQ(log.snapshot(), expected) << "key 2 ran while 1.1 waited; 1.2 stayed behind 1.1";
  const auto st = bus.status(first);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(st->attempts, 2U);
  EXPECT_EQ(bus.queue_stats().at(0).value("retries"), 1U);
  EXPECT_EQ(bus.dead_letters().size(), 0U);
}

TEST(AsyncOutcome, APostedCommandOutOfAttemptsBecomesADeadLetter) {
  std::atomic<int> attempts{0};
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(quick_retries(3, 1ms)));
  b.handle<Step>([&](const Step& s) {
    ++attempts;
    if (s.key == 7) {
      throw bad_input("key 7 is not allowed");
    }
    throw briefly_down("store down for good");
  });
  b.config_text(one_worker("test.step"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto before = cmdbus::clock::now();
  const auto transient = bus.post(Step{3, 1});
  const auto rejected = bus.post(Step{7, 1});
  bus.stop();
  EXPECT_EQ(attempts.load(), 4) << "three attempts for the transient failure, one for the rejected command";
  EXPECT_EQ(bus.unobserved_failures(), 2U);

  const auto letters = bus.dead_letters().list();
  ASSERT_EQ(letters.size(), 2U);
  const auto d = bus.dead_letters().inspect(transient);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->command, "test.step");
  EXPECT_EQ(d->route, "work");
  EXPECT_EQ(d->partition_key, "3");
  EXPECT_EQ(d->attempts, 3U);
  EXPECT_EQ(d->code, cmdbus::error_code::transient);
  EXPECT_NE(d->error_type.find("briefly_down"), std::string::npos) << d->error_type;
  EXPECT_EQ(d->error, "store down for good");
  EXPECT_GE(d->first_attempt, before - 1ms) << "(times are kept as cycle counts: exact to about 0.1 %)";
  EXPECT_GE(d->last_attempt, d->first_attempt + 2ms) << "two retry pauses lie between the first and last attempt";
  EXPECT_EQ(d->correlation_id, transient) << "a root command correlates to itself";

  const auto r = bus.dead_letters().inspect(rejected);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->attempts, 1U) << "a rejected command is not retried";
  EXPECT_EQ(r->code, cmdbus::error_code::rejected);
  EXPECT_EQ(r->error, "key 7 is not allowed");

  for (const auto& id : {transient, rejected}) {
    const auto st = bus.status(id);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->status, cmdbus::command_status::dead);
  }
}

TEST(AsyncOutcome, ADeadLetterCanBeRequeuedOrDiscarded) {
  std::atomic<bool> broken{true};
  std::atomic<int> done{0};
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j) {
    if (broken.load()) {
      throw bad_input("job " + std::to_string(j.n) + " cannot run yet");
    }
    done += j.n;
  });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto keep = bus.post(Job{5});
  const auto drop = bus.post(Job{100});
  ASSERT_TRUE(eventually([&] { return bus.dead_letters().size() == 2; }));

  broken = false;
  EXPECT_TRUE(bus.dead_letters().requeue(keep));
  ASSERT_TRUE(eventually([&] {
    const auto st = bus.status(keep);
    return st && st->status == cmdbus::command_status::succeeded;
  }));
  EXPECT_EQ(done.load(), 5) << "the requeued command ran with its payload";
  EXPECT_EQ(bus.status(keep)->attempts, 1U) << "attempts count afresh";
  EXPECT_FALSE(bus.dead_letters().inspect(keep));

  EXPECT_TRUE(bus.dead_letters().discard(drop));
  EXPECT_FALSE(bus.dead_letters().discard(drop));
  EXPECT_FALSE(bus.dead_letters().requeue(drop));
  EXPECT_EQ(bus.dead_letters().size(), 0U);
  bus.stop();
  EXPECT_EQ(done.load(), 5) << "the discarded command never ran";
}

TEST(AsyncOutcome, ARequeueTheRouteRefusesKeepsTheDeadLetter) {
  cmdbus::bus_builder b;
  b.handle<Job>([](const Job&) { throw bad_input("no"); });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto id = bus.post(Job{1});
  ASSERT_TRUE(eventually([&] { return bus.dead_letters().size() == 1; }));
  bus.stop();
  EXPECT_THROW(bus.dead_letters().requeue(id), cmdbus::stopping_error);
  EXPECT_TRUE(bus.dead_letters().inspect(id)) << "still there, payload and all";
}

TEST(AsyncOutcome, AWaitingCallerGetsTheErrorAndNoDeadLetterIsMade) {
  gate g;
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j) {
    if (j.n == 0) {
      g.wait();
      return;
    }
    throw bad_input("refused");
  });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  cmdbus::command_id failed_id;
  try {
    bus.execute(Job{1});
    ADD_FAILURE() << "no error";
  } catch (const bad_input&) {
  }
  const auto r = bus.try_execute(Job{2});
  ASSERT_FALSE(r);
  failed_id = r.error().id();
  EXPECT_EQ(bus.dead_letters().size(), 0U);
  const auto st = bus.status(failed_id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::failed);
  EXPECT_EQ(st->error, "refused");

  // A handle dropped before the outcome: nobody can see it, so the failure is a dead letter.
  bus.post(Job{0});  // holds the only worker
  cmdbus::command_id dropped;
  {
    auto h = bus.send(Job{3});
    dropped = h.id();
  }
  g.open();
  bus.stop();
  EXPECT_TRUE(bus.dead_letters().inspect(dropped));
}

TEST(AsyncOutcome, StatusGoesFromPendingToRunningToSucceeded) {
  const auto before = cmdbus::clock::now();
  gate g;
  std::atomic<bool> entered{false};
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j) {
    if (j.n == 1) {
      entered = true;
      g.wait();
    }
  });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto first = bus.post(Job{1});
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  const auto second = bus.post(Job{2});
  const auto third = bus.post(Job{3});

  auto running = bus.status(first);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->status, cmdbus::command_status::running);
  EXPECT_EQ(running->attempts, 1U);
  EXPECT_EQ(running->command, "test.job");
  EXPECT_EQ(running->route, "work");
  EXPECT_EQ(bus.status(second)->status, cmdbus::command_status::pending);

  const auto stats = bus.queue_stats();
  ASSERT_EQ(stats.size(), 1U);
  EXPECT_EQ(stats[0].route, "work");
  EXPECT_EQ(stats[0].kind, "local");
  EXPECT_EQ(stats[0].value("workers"), 1U);
  EXPECT_EQ(stats[0].value("capacity"), 1024U);
  EXPECT_EQ(stats[0].queued, 2U) << "queue depth: the two behind the running one";
  EXPECT_EQ(stats[0].in_flight, 3U);

  g.open();
  bus.stop();
  for (const auto& id : {first, second, third}) {
    const auto st = bus.status(id);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
    // Accepted: the time in the id, to the millisecond, from a clock that may lag by a tick.
    EXPECT_GE(st->accepted, before - 50ms);
    EXPECT_LE(st->accepted, st->updated);
    EXPECT_LE(st->updated, cmdbus::clock::now());
  }
  EXPECT_EQ(bus.queue_stats()[0].queued, 0U);
  EXPECT_EQ(bus.queue_stats()[0].completed, 3U);
  EXPECT_FALSE(bus.status(cmdbus::command_id::generate())) << "an id never sent is unknown";
}

TEST(AsyncOutcome, StatusRetentionIsBounded) {
  // Retention 600 and capacity 400: the table keeps at least the 600 most recent outcomes and at most 1024 (the
  // power of two that holds retention and capacity together).
  cmdbus::bus_builder b;
  b.handle<Job>([](const Job&) {});
  b.status_retention(600);
  b.config_text(one_worker("test.job", "capacity = 400\n"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  std::vector<cmdbus::command_id> ids;
  for (int i = 0; i < 3000; ++i) {
    ids.push_back(bus.post(Job{i}));
  }
  bus.stop();
  const auto known = std::count_if(ids.begin(), ids.end(), [&](const auto& id) { return bus.status(id).has_value(); });
  EXPECT_LE(known, 1024);
  EXPECT_GE(known, 600);
  for (std::size_t i = ids.size() - 600; i < ids.size(); ++i) {
    ASSERT_TRUE(bus.status(ids[i])) << "recent outcome " << i << " is kept";
  }
  EXPECT_FALSE(bus.status(ids.front())) << "the oldest is forgotten";
}

TEST(AsyncOutcome, EveryCommandFromManySendersIsKnownFromItsPostToItsOutcome) {
  // Four threads post to one worker at once: their tickets in the worker's status ring interleave, and the queue hands
  // the commands out in no global order. Each sender checks every id at once, and once more at the end.
  constexpr int senders = 4;
  constexpr int per_sender = 1500;  // 6000 in all: the ring (10 000 + capacity) keeps every outcome
  std::atomic<int> ran{0};
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job&) { ++ran; });
  // A small capacity, so that senders also wait for places; a long block timeout, so that a slow machine only waits.
  b.config_text(one_worker("test.job", "capacity = 64\nblock_timeout_ms = 60000\n"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  std::vector<std::vector<cmdbus::command_id>> ids(senders);
  std::vector<int> unknown(senders, 0);
  std::vector<std::string> refused(senders);
  std::vector<std::thread> threads;
  for (int t = 0; t < senders; ++t) {
    threads.emplace_back([&, t] {
      const auto k = static_cast<std::size_t>(t);
      for (int i = 0; i < per_sender; ++i) {
        const auto id = bus.try_post(Job{i});
        if (!id) {
          refused[k] = id.error().message();
          return;
        }
        if (!bus.status(*id)) {
          ++unknown[k];
        }
        ids[k].push_back(*id);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  bus.stop();
  EXPECT_EQ(ran.load(), senders * per_sender);
  for (int t = 0; t < senders; ++t) {
    EXPECT_EQ(refused[static_cast<std::size_t>(t)], "") << "sender " << t;
    EXPECT_EQ(unknown[static_cast<std::size_t>(t)], 0) << "sender " << t << ": an accepted command was unknown";
    for (const auto& id : ids[static_cast<std::size_t>(t)]) {
      const auto st = bus.status(id);
      ASSERT_TRUE(st) << id.to_string();
      EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
    }
  }
}

TEST(AsyncOutcome, StopWithADeadlineListsWhatDidNotRunAndLosesNothing) {
  gate g;
  std::atomic<bool> entered{false};
  std::atomic<int> ran{0};
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j) {
    if (j.n == 0) {
      entered = true;
      g.wait();
    }
    ++ran;
  });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.post(Job{0});
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  std::vector<cmdbus::command_id> posted;
  for (int i = 1; i <= 5; ++i) {
    posted.push_back(bus.post(Job{i}));
  }
  auto waiting = bus.send(Job{6});

  std::thread opener = open_once_stopping(bus, g);
  const auto report = bus.stop(cmdbus::clock::now());
  opener.join();

  EXPECT_EQ(report.completed, 1U) << "the running command finished";
  EXPECT_EQ(ran.load(), 1);
  ASSERT_EQ(report.not_run.size(), 6U);
  for (const auto& id : posted) {
    EXPECT_NE(std::find(report.not_run.begin(), report.not_run.end(), id), report.not_run.end());
    const auto d = bus.dead_letters().inspect(id);
    ASSERT_TRUE(d) << "a posted command that did not run is a dead letter";
    EXPECT_EQ(d->attempts, 0U);
    EXPECT_NE(d->error.find("stop deadline passed"), std::string::npos) << d->error;
    EXPECT_EQ(d->error.find("again"), std::string::npos) << "it never ran: " << d->error;
    EXPECT_EQ(bus.status(id)->status, cmdbus::command_status::dead);
  }
  EXPECT_NE(std::find(report.not_run.begin(), report.not_run.end(), waiting.id()), report.not_run.end());
  EXPECT_THROW(waiting.get(), cmdbus::stopping_error) << "the waiting caller is told";
  EXPECT_EQ(bus.status(waiting.id())->status, cmdbus::command_status::failed);
  EXPECT_THROW(bus.post(Job{9}), cmdbus::stopping_error);
}

TEST(AsyncOutcome, StopWithoutADeadlineRunsPendingRetriesToo) {
  std::atomic<int> attempts{0};
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(quick_retries(2, 50ms)));
  b.handle<Job>([&](const Job&) {
    if (attempts.fetch_add(1) == 0) {
      throw briefly_down("once");
    }
  });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto id = bus.post(Job{1});
  ASSERT_TRUE(eventually([&] { return attempts.load() == 1; }));
  const auto report = bus.stop();
  EXPECT_EQ(attempts.load(), 2);
  EXPECT_EQ(report.completed, 1U);
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_EQ(bus.status(id)->status, cmdbus::command_status::succeeded);
}

TEST(AsyncOutcome, AQueryWithATokenSeesThePostedCommandsEffect) {
  gate g;
  std::atomic<int> counter{0};
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j) {
    g.wait();
    counter += j.n;
  });
  b.handle<ReadCounter>([&](const ReadCounter&) { return counter.load(); });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto id = bus.post(Job{7});
  EXPECT_EQ(bus.query(ReadCounter{}), 0) << "without a token: the command has not run yet";

  // Bounded: a query that cannot see it in time says so, naming the command and its route.
  try {
    (void)bus.query(ReadCounter{}, [&] {
      auto o = cmdbus::at_least(id);
      o.deadline = cmdbus::clock::now() + 30ms;
      return o;
    }());
    ADD_FAILURE() << "the query did not wait";
  } catch (const cmdbus::consistency_timeout_error& e) {
    const std::string what = e.what();
    EXPECT_NE(
        what.find("query 'test.read_counter' waited for command 'test.job' " + id.to_string() + " on route 'work'"),
        std::string::npos)
        << what;
  }
  const auto r = bus.try_query(ReadCounter{}, [&] {
    auto o = cmdbus::at_least(id);
    o.deadline = cmdbus::clock::now() + 10ms;
    return o;
  }());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::transient);

  std::thread opener([&] {
    std::this_thread::sleep_for(30ms);
    g.open();
  });
  EXPECT_EQ(bus.query(ReadCounter{}, cmdbus::at_least(id)), 7) << "with the token: waits, then sees it";
  opener.join();

  auto h = bus.send(Job{1});
  EXPECT_EQ(bus.query(ReadCounter{}, cmdbus::at_least(h.token())), 8) << "a handle's token, before completion";
  EXPECT_EQ(h.token().command, h.id());
}

/// A store of the simplest kind (no database): its unit of work commits at once, and its read model catches up only
/// when told to, as a replica or an asynchronously kept projection would.
class lagging_store final : public cmdbus::transaction_middleware {
 public:
  lagging_store() : cmdbus::transaction_middleware(this) {}
  void catch_up() noexcept { visible_.store(written_.load()); }
  [[nodiscard]] std::uint64_t version() const noexcept override { return visible_.load(); }

 private:
  std::unique_ptr<transaction> begin(bool) override { return std::make_unique<transaction>(this); }
  void commit(transaction&) override {}
  void rollback(transaction&) noexcept override {}
  void savepoint(transaction&, const std::string&) override {}
  void release(transaction&, const std::string&) override {}
  void rollback_to(transaction&, const std::string&) noexcept override {}
  std::uint64_t committed() noexcept override { return ++written_; }

  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> visible_{0};
};

TEST(AsyncOutcome, AQueryWaitsUntilTheReadModelReachesTheTokensVersion) {
  auto store = std::make_shared<lagging_store>();
  std::atomic<int> counter{0};
  cmdbus::bus_builder b;
  b.use(store);
  b.handle<Job>([&](const Job& j) { counter += j.n; });
  b.handle<ReadCounter>([&](const ReadCounter&) { return counter.load(); });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};

  auto h = bus.send(Job{4});
  h.get();
  const cmdbus::consistency_token token = h.token();
  EXPECT_EQ(token.command, h.id());
  EXPECT_EQ(token.store, static_cast<const void*>(store.get()));
  EXPECT_EQ(token.version, 1U) << "the first commit of this store";
  EXPECT_EQ(bus.status(h.id())->token.version, 1U);

  // The command has committed but the read model lags: the query waits, bounded by its deadline.
  try {
    (void)bus.query(ReadCounter{}, [&] {
      auto o = cmdbus::at_least(token);
      o.deadline = cmdbus::clock::now() + 30ms;
      return o;
    }());
    ADD_FAILURE() << "the query did not wait for the read model";
  } catch (const cmdbus::consistency_timeout_error& e) {
    EXPECT_NE(std::string{e.what()}.find("to reach version 1, but it was at 0"), std::string::npos) << e.what();
  }
  std::thread replica([&] {
    std::this_thread::sleep_for(30ms);
    store->catch_up();
  });
  EXPECT_EQ(bus.query(ReadCounter{}, cmdbus::at_least(token)), 4);
  EXPECT_GE(store->version(), 1U) << "it returned only once the read model had caught up";
  replica.join();

  // A token may carry just a version, and one from a store this bus does not use is refused, not ignored.
  EXPECT_EQ(bus.query(ReadCounter{}, cmdbus::at_least(cmdbus::consistency_token{{}, store.get(), 1})), 4);
  lagging_store other;
  EXPECT_THROW((void)bus.query(ReadCounter{}, cmdbus::at_least(cmdbus::consistency_token{{}, &other, 1})),
               cmdbus::rejected_error);
}

TEST(AsyncOutcome, AHandlesTokenNamesTheCommandAfterAFailureToo) {
  cmdbus::bus_builder b;
  b.handle<Job>([](const Job&) { throw bad_input("no"); });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  auto h = bus.send(Job{1});
  h.wait();
  EXPECT_EQ(h.token().command, h.id());
  EXPECT_EQ(h.token().store, nullptr) << "nothing committed";
}

TEST(AsyncOutcome, ADeadLetterCanBeRequeuedOnAnotherBusSharingTheStore) {
  auto letters = cmdbus::make_memory_dead_letter_store();
  std::atomic<int> done{0};
  cmdbus::command_id nine, one;
  {
    cmdbus::bus_builder b;
    b.handle<Job>([](const Job&) { throw bad_input("not on this bus"); });
    b.dead_letters(letters);
    b.config_text(one_worker("test.job"), "app.toml");
    cmdbus::bus first{std::move(b)};
    nine = first.post(Job{9});
    one = first.post(Job{1});
    first.stop();
    ASSERT_EQ(letters->size(), 2U);
  }  // the first bus is gone; its dead letters are not
  {
    cmdbus::bus_builder b;
    b.handle<Job>([&](const Job& j) { done += j.n; });
    b.dead_letters(letters);
    b.config_text(one_worker("test.job"), "app.toml");
    cmdbus::bus second{std::move(b)};
    EXPECT_TRUE(second.dead_letters().requeue(nine));
    second.stop();
    EXPECT_EQ(done.load(), 9) << "ran on the second bus, with its payload";
  }
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j) { done += j.n; });
  b.dead_letters(letters);
  cmdbus::bus sync_only{std::move(b)};  // test.job on the sync route here
  EXPECT_THROW(sync_only.dead_letters().requeue(one), cmdbus::rejected_error);
  EXPECT_TRUE(sync_only.dead_letters().inspect(one)) << "a refused requeue keeps the dead letter";
  EXPECT_EQ(sync_only.dead_letters().inspect(one)->attempts, 1U) << "with its history";
}

TEST(AsyncOutcome, StopWakesASenderWaitingForAPlace) {
  gate g;
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job&) { g.wait(); });
  b.config_text(one_worker("test.job", "capacity = 1\nblock_timeout_ms = 600000\n"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.post(Job{1});  // takes the only place and holds it until the gate opens
  std::atomic<bool> refused{false};
  std::thread sender([&] {
    try {
      bus.post(Job{2});
    } catch (const cmdbus::stopping_error&) {
      refused = true;
    }
  });
  std::thread stopper([&] { bus.stop(); });
  // The sender learns at once that the route stops; it does not sleep out its ten-minute block timeout.
  EXPECT_TRUE(eventually([&] { return refused.load(); }));
  g.open();
  sender.join();
  stopper.join();
}

TEST(AsyncOutcome, AHandlerSendingToItsOwnFullRouteFailsAtOnceInsteadOfWaitingForItself) {
  std::atomic<int> handled{0};
  std::string error;
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job& j, cmdbus::context& ctx) {
    ++handled;
    if (j.n == 1) {
      try {
        ctx.bus().post(Job{2});  // the route's one place is this command's own
      } catch (const cmdbus::queue_full_error& e) {
        error = e.what();
      }
    }
  });
  b.config_text(one_worker("test.job", "capacity = 1\nblock_timeout_ms = 600000\n"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Job{1});
  EXPECT_NE(error.find("was sent by a handler on this route's own worker"), std::string::npos) << error;
  bus.stop();
  EXPECT_EQ(handled.load(), 1);
}

TEST(AsyncOutcome, StopFromAWorkerThreadIsRefused) {
  std::string error;
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job&, cmdbus::context& ctx) {
    try {
      ctx.bus().stop();
    } catch (const std::logic_error& e) {
      error = e.what();
    }
  });
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Job{1});
  EXPECT_NE(error.find("would wait for that worker"), std::string::npos) << error;
}

TEST(AsyncOutcome, AnotherBusCanBeStoppedFromAWorkerThread) {
  std::atomic<std::uint64_t> inner_completed{0};
  cmdbus::bus_builder b;
  b.handle<Job>([&](const Job&) {
    cmdbus::bus_builder inner_builder;  // a second bus, built and stopped inside a handler of the first
    inner_builder.handle<Job>([](const Job&) {});
    inner_builder.config_text(one_worker("test.job"), "inner.toml");
    cmdbus::bus inner{std::move(inner_builder)};
    inner.post(Job{1});
    inner_completed = inner.stop().completed;
  });  // ~inner stops it again: not refused either
  b.config_text(one_worker("test.job"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Job{1});
  EXPECT_EQ(inner_completed.load(), 1U);
}

struct alignas(64) Wide {
  static constexpr std::string_view command_name = "test.wide";
  std::int64_t value = 0;
};

TEST(AsyncOutcome, AnOverAlignedCommandKeepsItsAlignmentOnAWorker) {
  std::atomic<bool> aligned{false};
  cmdbus::bus_builder b;
  b.handle<Wide>(
      [&](const Wide& w) { aligned = reinterpret_cast<std::uintptr_t>(&w) % alignof(Wide) == 0 && w.value == 42; });
  b.config_text(one_worker("test.wide"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Wide{42});
  EXPECT_TRUE(aligned.load());
}

/// Small enough to travel by value in the queue (detail::parcel), but it owns memory: a long text is on the heap, so
/// every move of the command between the sender, the queue, the worker and an envelope must move it intact.
struct Note {
  static constexpr std::string_view command_name = "test.note";
  std::string text;
  [[nodiscard]] std::string partition_key() const { return text.substr(0, 1); }
};
static_assert(cmdbus::detail::parcel::carries<Note>, "Note travels by value: the test is about that path");

TEST(AsyncOutcome, ACommandCarriedByValueKeepsWhatItOwnsThroughRetriesKeysAndDeadLetters) {
  const std::string tail(100, 'x');  // beyond the small-string buffer: heap memory owned by the command
  attempt_log log;
  std::atomic<int> failures_left{1};
  std::atomic<bool> refuse{true};
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(quick_retries(3, 500ms)));
  b.handle<Note>([&](const Note& n) {
    log.add(n.text.substr(0, 2) + (n.text.size() > 2 ? "+" + std::to_string(n.text.size() - 2) : ""));
    if (n.text.starts_with("a1") && failures_left.fetch_sub(1) > 0) {
      throw briefly_down("a1 fails once");
    }
    if (n.text.starts_with("z") && refuse.load()) {
      throw bad_input("z is refused");
    }
  });
  b.config_text(one_worker("test.note"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.post(Note{"a1" + tail});                    // fails once, waits 500 ms for its retry in an envelope
  bus.post(Note{"a2" + tail});                    // same key: held behind a1, in an envelope
  bus.post(Note{"b1"});                           // other key: runs at once
  const auto dead = bus.post(Note{"z1" + tail});  // refused: a dead letter holding the command
  ASSERT_TRUE(eventually([&] { return bus.dead_letters().size() == 1; }));
  ASSERT_TRUE(eventually([&] { return log.snapshot().size() == 5; }));  // a2 ran after a1's retry
  refuse = false;
  EXPECT_TRUE(bus.dead_letters().requeue(dead));
  ASSERT_TRUE(eventually([&] {
    const auto st = bus.status(dead);
    return st && st->status == cmdbus::command_status::succeeded;
  }));
  bus.stop();
  const std::vector<std::string> ran{"a1+100", "b1", "z1+100", "a1+100", "a2+100", "z1+100"};
  EXPECT_EQ(log.snapshot(), ran) << "b1 and z1 ran while a1 waited; a2 stayed behind a1; z1 ran again when requeued, "
                                    "each with its whole text";
}

TEST(AsyncOutcome, CommandsCarriedByValueThatDidNotRunAtTheStopDeadlineAreDeadLettersWithTheirText) {
  gate open;
  std::atomic<bool> entered{false};
  std::atomic<int> ran{0};
  cmdbus::bus_builder b;
  b.handle<Note>([&](const Note& n) {
    if (n.text == "first") {
      entered = true;
      open.wait();
    }
    ++ran;
  });
  b.config_text(one_worker("test.note"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.post(Note{"first"});
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  const std::string text = "second, long enough to live on the heap rather than in the string itself";
  const auto second = bus.post(Note{text});
  std::thread opener = open_once_stopping(bus, open);
  const auto report = bus.stop(cmdbus::clock::now());
  opener.join();
  ASSERT_EQ(report.not_run.size(), 1U);
  EXPECT_EQ(report.not_run[0], second);
  EXPECT_EQ(ran.load(), 1);
  const auto letter = bus.dead_letters().inspect(second);
  ASSERT_TRUE(letter);
  EXPECT_EQ(letter->command, "test.note");
  EXPECT_EQ(letter->partition_key, "s") << "the key read from the command moved into the letter";
}

}  // namespace
