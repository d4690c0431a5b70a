// The durable route's safeguards: a worker killed while it holds a command does not use up that command's retries
// (a command that keeps killing its workers still ends dead); a route whose commands would run without the inbox
// does not start unless it says so; a post of an id the table holds changes nothing; a row needs few columns by hand.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/durable.hpp"
#include "cmdbus/sqlite/store.hpp"
#include "durable_fixtures.hpp"
#include "test_commands.hpp"

namespace {

using namespace std::chrono_literals;
using durable_test::Deposit;
using durable_test::durable_config;
using durable_test::eventually;
using durable_test::migrated_store;
using durable_test::row_state;

template <class T>
T column(cmdbus::sqlite::store& db, const std::string& sql) {
  T out{};
  db.with_connection([&](cmdbus::sqlite::connection& c) { out = c.query_one<T>(sql).value_or(T{}); });
  return out;
}

/// A worker process (fork) on `path` whose handler says so on a pipe and then hangs, never settling its command.
/// Returns its pid once its handler runs; the caller kills it.
pid_t hanging_worker(const std::string& path) {
  int ready[2];
  if (::pipe(ready) != 0) {
    ADD_FAILURE() << "pipe failed";
    return -1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    cmdbus::sqlite::store db({.path = path});
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(db));
    b.handle<Deposit>([fd = ready[1]](const Deposit&) -> long {
      const char byte = 'r';
      (void)!::write(fd, &byte, 1);
      for (;;) {
        std::this_thread::sleep_for(1h);
      }
    });
    b.config_text(durable_config(1, "lease_ms = 200\nbatch = 1\n"), "app.toml");
    cmdbus::bus bus{std::move(b)};
    for (;;) {
      ::pause();
    }
  }
  ::close(ready[1]);
  pollfd p{ready[0], POLLIN, 0};
  char byte = 0;
  const bool running = ::poll(&p, 1, 20'000) == 1 && ::read(ready[0], &byte, 1) == 1;
  ::close(ready[0]);
  EXPECT_TRUE(running) << "the worker process never ran the command";
  return pid;
}

void kill_and_reap(pid_t pid) {
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
}

// With two attempts allowed, a command whose first worker process was SIGKILLed while running it still gets both:
// the lost claim gave its attempt back and is counted on its own.
TEST(DurableSafeguards, AWorkerKilledWhileHoldingACommandLeavesItsFailureBudgetUntouched) {
  migrated_store m;
  cmdbus::command_id id;
  {
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(m.db));
    b.handle<Deposit>([](const Deposit&) -> long { return 0; });
    b.config_text(durable_config(0), "app.toml");
    cmdbus::bus poster{std::move(b)};
    id = poster.post(Deposit{"kim", 5, 1});
  }
  kill_and_reap(hanging_worker(m.tmp.path()));
  ASSERT_EQ(row_state(m.db, id), "running");
  EXPECT_EQ(column<std::int64_t>(m.db, "SELECT attempts FROM cmdbus_queue"), 1);

  std::mutex seen_mutex;
  std::vector<std::uint32_t> seen;
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(m.db));
  cmdbus::retry_policy policy;
  policy.initial_delay = 10ms;
  policy.max_attempts = 2;
  b.use(cmdbus::make_retry(policy));
  b.handle<Deposit>([&](const Deposit& d, cmdbus::context& ctx) -> long {
    std::lock_guard lock(seen_mutex);
    seen.push_back(ctx.attempt());
    if (seen.size() == 1) {
      throw cmdbus::transient_error("the ledger is busy");
    }
    return d.amount;
  });
  b.config_text(durable_config(1, "lease_ms = 200\n"), "app.toml");
  cmdbus::bus worker{std::move(b)};
  ASSERT_TRUE(eventually([&] {
    const auto s = row_state(m.db, id);
    return s == "succeeded" || s == "dead";
  }));
  EXPECT_EQ(row_state(m.db, id), "succeeded") << "the kill used up an attempt";
  std::lock_guard lock(seen_mutex);
  EXPECT_EQ(seen, (std::vector<std::uint32_t>{1, 2})) << "attempts as the handler saw them";
  EXPECT_EQ(column<std::int64_t>(m.db, "SELECT attempts FROM cmdbus_queue"), 2);
  EXPECT_EQ(column<std::int64_t>(m.db, "SELECT lost_claims FROM cmdbus_queue"), 1);
}

// A command whose worker is lost max_lost_claims times (here once: its lease given and never renewed, as after a kill)
// ends dead with an error that says so, instead of killing workers for ever.
TEST(DurableSafeguards, ACommandWhoseWorkersKeepDyingEndsDeadAfterMaxLostClaims) {
  migrated_store m;
  std::atomic<int> runs{0};
  const auto build = [&](int workers) {
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(m.db));
    b.handle<Deposit>([&](const Deposit& d) -> long {
      ++runs;
      return d.amount;
    });
    b.config_text(durable_config(workers, "max_lost_claims = 1\n"), "app.toml");
    return b;
  };
  cmdbus::command_id id;
  {
    cmdbus::bus poster{build(0)};
    id = poster.post(Deposit{"lou", 1, 1});
  }
  m.db.exec_script(
      "UPDATE cmdbus_queue SET state = 'running', lease_owner = 'pid 1 transfers#0', attempts = 1, "
      "lease_until = 1");
  cmdbus::bus worker{build(1)};
  ASSERT_TRUE(eventually([&] { return row_state(m.db, id) == "dead"; })) << row_state(m.db, id);
  EXPECT_EQ(runs.load(), 0);
  const auto letters = worker.dead_letters().list();
  ASSERT_EQ(letters.size(), 1U);
  EXPECT_EQ(letters[0].error_type, "cmdbus::worker_lost");
  EXPECT_EQ(letters[0].failed_by, "pid 1 transfers#0");
  EXPECT_NE(letters[0].error.find("max_lost_claims = 1"), std::string::npos) << letters[0].error;
}

cmdbus::bus_builder deposits(cmdbus::sqlite::store& db, const std::string& extra,
                             const std::function<void(cmdbus::bus_builder&)>& pipeline) {
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  pipeline(b);
  b.handle<Deposit>([](const Deposit& d) -> long { return d.amount; });
  b.config_text("[routes.transfers]\nkind = \"durable\"\nworkers = 1\n" + extra +
                    "[commands]\n\"bank.deposit\" = \"transfers\"\n",
                "app.toml");
  return b;
}

std::string start_error(cmdbus::bus_builder b) {
  try {
    cmdbus::bus bus{std::move(b)};
  } catch (const cmdbus::config_error& e) {
    return e.what();
  }
  return {};
}

TEST(DurableSafeguards, ARouteWhoseCommandsWouldRunWithoutTheInboxRefusesToStart) {
  migrated_store m;
  auto& db = m.db;
  const auto none = start_error(deposits(db, "", [](cmdbus::bus_builder&) {}));
  EXPECT_NE(none.find("route 'transfers' (app.toml:1) is durable"), std::string::npos) << none;
  EXPECT_NE(none.find("command 'bank.deposit'"), std::string::npos) << none;
  EXPECT_NE(none.find("no unit of work of the route's store"), std::string::npos) << none;
  EXPECT_NE(none.find("inbox = false"), std::string::npos) << none;

  const auto no_inbox = start_error(deposits(db, "", [&](cmdbus::bus_builder& b) { b.use(db.unit_of_work()); }));
  EXPECT_NE(no_inbox.find("no inbox of the route's store"), std::string::npos) << no_inbox;

  const auto wrong_place = start_error(deposits(db, "", [&](cmdbus::bus_builder& b) {
    b.use(cmdbus::durable::inbox(db));
    b.use(db.unit_of_work());
  }));
  EXPECT_NE(wrong_place.find("its inbox comes before the store's unit of work"), std::string::npos) << wrong_place;

  cmdbus::sqlite::store other({.path = m.tmp.path() + ".other"});
  const auto other_store = start_error(deposits(db, "", [&](cmdbus::bus_builder& b) {
    b.use(other.unit_of_work());
    b.use(cmdbus::durable::inbox(other));
  }));
  EXPECT_NE(other_store.find("no unit of work of the route's store"), std::string::npos) << other_store;

  // inbox = false starts (at-least-once, as it says), and so does the right pipeline, which runs its commands.
  EXPECT_EQ(start_error(deposits(db, "inbox = false\n", [](cmdbus::bus_builder&) {})), "");
  cmdbus::bus bus{deposits(db, "", [&](cmdbus::bus_builder& b) {
    b.use(db.unit_of_work());
    b.use(cmdbus::durable::inbox(db));
  })};
  EXPECT_EQ(bus.execute(Deposit{"ann", 7, 1}), 7);
}

TEST(DurableSafeguards, APostOnlyBusNeedsNoInbox) {
  migrated_store m;
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(m.db));
  b.config_text("[routes.transfers]\nkind = \"durable\"\nworkers = 0\n[commands]\n\"bank.deposit\" = \"transfers\"\n",
                "app.toml");
  b.handle<Deposit>([](const Deposit& d) -> long { return d.amount; });
  cmdbus::bus poster{std::move(b)};
  const auto id = poster.post(Deposit{"pia", 1, 1});
  EXPECT_EQ(row_state(m.db, id), "pending");
}

// A post with the caller's own id: the first makes the row; any later one, whatever the row's state, changes nothing
// (not the state, the envelope, the attempts or the place in line) and returns the same id.
TEST(DurableSafeguards, APostOfAKnownIdChangesNothing) {
  migrated_store m;
  std::atomic<int> runs{0};
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(m.db));
  b.handle<Deposit>([&](const Deposit& d) -> long {
    ++runs;
    return d.amount;
  });
  b.config_text(durable_config(1), "app.toml");
  cmdbus::bus bus{std::move(b)};
  cmdbus::dispatch_options mine;
  mine.id = cmdbus::command_id::generate();
  EXPECT_EQ(bus.post(Deposit{"ona", 5, 1}, mine), mine.id);
  ASSERT_TRUE(eventually([&] { return row_state(m.db, mine.id) == "succeeded"; }));
  const auto before = column<std::string>(
      m.db, "SELECT state || ' ' || seq || ' ' || attempts || ' ' || updated_at || ' ' || envelope FROM cmdbus_queue");
  EXPECT_EQ(bus.post(Deposit{"ona", 999, 2}, mine), mine.id);
  std::this_thread::sleep_for(100ms);  // a worker would have run it by now (poll_ms = 20)
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(column<std::int64_t>(m.db, "SELECT count(*) FROM cmdbus_queue"), 1);
  EXPECT_EQ(column<std::string>(m.db,
                                "SELECT state || ' ' || seq || ' ' || attempts || ' ' || updated_at || ' ' || "
                                "envelope FROM cmdbus_queue"),
            before);
}

// Inserting a command by hand (docs/durable.md) takes its id, route, command and envelope; the rest has defaults.
TEST(DurableSafeguards, ARowInsertedByHandNeedsOnlyIdRouteCommandAndEnvelope) {
  migrated_store m;
  std::atomic<long> paid{0};
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(m.db));
  b.handle<Deposit>([&](const Deposit& d) -> long { return paid += d.amount; });
  b.config_text(durable_config(1), "app.toml");
  m.db.exec_script(
      "INSERT INTO cmdbus_queue (id, route, command, envelope) VALUES ('0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f70', "
      "'transfers', 'bank.deposit', '{\"id\":\"0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f70\",\"command\":\"bank.deposit\","
      "\"schema_version\":1,\"payload\":{\"account\":\"hal\",\"amount\":42,\"seq\":1}}')");
  const auto created = column<std::int64_t>(m.db, "SELECT created_at FROM cmdbus_queue");
  const auto now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_LT(std::abs(now_us - created), 60'000'000) << "created_at defaults to now, in microseconds";
  cmdbus::bus bus{std::move(b)};
  ASSERT_TRUE(eventually([&] { return paid.load() == 42; }));
  const auto id = cmdbus::command_id::parse("0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f70");
  ASSERT_TRUE(id);
  ASSERT_TRUE(eventually([&] { return row_state(m.db, *id) == "succeeded"; }));
}

}  // namespace
