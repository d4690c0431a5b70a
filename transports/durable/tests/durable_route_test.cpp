// The `durable` route on SQLite in one process: a command is a committed row before post() returns, a worker runs it
// through the same handler chain, and what it became is in the row; what was not run survives the bus.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/durable.hpp"
#include "cmdbus/sqlite/store.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "cmdbus/wire/json_codec.hpp"
#include "durable_fixtures.hpp"
#include "test_commands.hpp"

namespace {

using namespace std::chrono_literals;
using durable_test::Deposit;
using durable_test::durable_config;
using durable_test::eventually;
using durable_test::migrated_store;
using durable_test::row_state;
using durable_test::temp_db;

/// Deposits per account, in the order the handler ran them; and whether two of one account ever ran at once.
struct ledger {
  std::mutex m;
  std::map<std::string, std::vector<int>> seqs;
  std::map<std::string, int> running;
  std::atomic<bool> overlapped{false};
  std::atomic<int> runs{0};
  std::atomic<int> refused{0};  // overdrawn deposits the handler refused

  void handle(const Deposit& d) {
    {
      std::lock_guard lock(m);
      if (++running[d.account] > 1) {
        overlapped = true;
      }
    }
    std::this_thread::sleep_for(100us);
    std::lock_guard lock(m);
    --running[d.account];
    seqs[d.account].push_back(d.seq);
    ++runs;
  }
};

cmdbus::bus_builder builder(cmdbus::sqlite::store& db, ledger& l, int workers, const std::string& extra = "") {
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.handle<Deposit>([&l](const Deposit& d) -> long {
    if (d.amount < 0) {
      ++l.refused;
      throw durable_test::overdrawn("account " + d.account + " cannot go below zero");
    }
    l.handle(d);
    return d.amount * 2;
  });
  b.config_text(durable_config(workers, extra), "app.toml");
  return b;
}

TEST(DurableRoute, APostedCommandIsACommittedRowAndAWorkerRunsIt) {
  migrated_store m;
  auto& db = m.db;
  ledger l;
  cmdbus::bus bus{builder(db, l, 1)};
  EXPECT_EQ(bus.routes()[0].kind, "durable");
  const auto id = bus.post(Deposit{"alice", 5, 1});
  EXPECT_NE(row_state(db, id), "none") << "the row is committed when post returns";
  ASSERT_TRUE(eventually([&] { return row_state(db, id) == "succeeded"; })) << row_state(db, id);
  EXPECT_EQ(l.runs.load(), 1);
  const auto st = bus.status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(st->route, "transfers");
  EXPECT_EQ(st->attempts, 1U);
  // The row is plain SQL: the command and its JSON payload, readable with sqlite3.
  std::string command, account;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    command = c.query_one<std::string>("SELECT command FROM cmdbus_queue WHERE id = ?", id.to_string()).value();
    account = c.query_one<std::string>(
                   "SELECT json_extract(envelope, '$.payload.account') FROM cmdbus_queue "
                   "WHERE id = ?",
                   id.to_string())
                  .value();
  });
  EXPECT_EQ(command, "bank.deposit");
  EXPECT_EQ(account, "alice");
}

TEST(DurableRoute, ExecuteAndSendGiveTheResultOrTheOriginalError) {
  migrated_store m;
  auto& db = m.db;
  ledger l;
  cmdbus::bus bus{builder(db, l, 2)};
  EXPECT_EQ(bus.execute(Deposit{"bob", 21, 1}), 42);
  auto h = bus.send(Deposit{"bob", 4, 2});
  EXPECT_EQ(h.get(), 8);
  EXPECT_THROW((void)bus.execute(Deposit{"bob", -1, 3}), durable_test::overdrawn);
  const auto r = bus.try_execute(Deposit{"carol", -1, 1});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().message(), "account carol cannot go below zero");
  const auto st = bus.status(r.error().id());
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::failed);
  EXPECT_EQ(row_state(db, r.error().id()), "failed");
}

TEST(DurableRoute, CommandsOfOneKeyRunInOrderAndNeverAtOnceAcrossWorkers) {
  migrated_store m;
  auto& db = m.db;
  ledger l;
  cmdbus::bus bus{builder(db, l, 3, "batch = 8\n")};
  const std::vector<std::string> accounts{"a", "b", "c", "d"};
  constexpr int per_account = 40;
  for (int i = 1; i <= per_account; ++i) {
    for (const auto& a : accounts) {
      (void)bus.post(Deposit{a, 1, i});
    }
  }
  ASSERT_TRUE(eventually([&] { return l.runs.load() == per_account * static_cast<int>(accounts.size()); }))
      << l.runs.load();
  EXPECT_FALSE(l.overlapped.load());
  std::lock_guard lock(l.m);
  for (const auto& a : accounts) {
    const auto& seen = l.seqs[a];
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(per_account)) << a;
    for (int i = 0; i < per_account; ++i) {
      EXPECT_EQ(seen[static_cast<std::size_t>(i)], i + 1) << "account " << a;
    }
  }
}

TEST(DurableRoute, WhatABusDidNotRunStaysInTheTableAndTheNextBusRunsIt) {
  temp_db tmp;
  std::vector<cmdbus::command_id> ids;
  {
    cmdbus::sqlite::store db({.path = tmp.path()});
    cmdbus::durable::migrate(db);
    ledger l;
    cmdbus::bus producer{builder(db, l, 0)};  // no workers: a process that only posts
    for (int i = 1; i <= 25; ++i) {
      ids.push_back(producer.post(Deposit{"dora", 1, i}));
    }
    (void)producer.stop();
    EXPECT_EQ(l.runs.load(), 0);
    EXPECT_EQ(producer.queue_stats()[0].queued, 25U);
  }
  cmdbus::sqlite::store db({.path = tmp.path()});
  cmdbus::durable::migrate(db);  // again: it changes nothing
  ledger l;
  cmdbus::bus worker{builder(db, l, 2)};
  ASSERT_TRUE(eventually([&] { return l.runs.load() == 25; })) << l.runs.load();
  for (const auto& id : ids) {
    EXPECT_TRUE(eventually([&] { return row_state(db, id) == "succeeded"; })) << id.to_string();
  }
  std::lock_guard lock(l.m);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(l.seqs["dora"][static_cast<std::size_t>(i)], i + 1);
  }
}

TEST(DurableRoute, MigrateDropsTheOlderKeyIndexThatHeldTheState) {
  temp_db tmp;
  cmdbus::sqlite::store db({.path = tmp.path()});
  cmdbus::durable::migrate(db);
  const auto index_count = [&](std::string_view name) {
    std::int64_t n = -1;
    db.with_connection([&](cmdbus::sqlite::connection& c) {
      n = c.query_one<std::int64_t>("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", name)
              .value_or(-1);
    });
    return n;
  };
  // A table an older cmdbus made: its key index had the state in it, which every claim and done mark moved.
  db.exec_script(
      "CREATE INDEX cmdbus_queue_key ON cmdbus_queue (route, partition_key, state, seq) "
      "WHERE partition_key IS NOT NULL");
  ASSERT_EQ(index_count("cmdbus_queue_key"), 1);
  cmdbus::durable::migrate(db);
  EXPECT_EQ(index_count("cmdbus_queue_key"), 0);
  EXPECT_EQ(index_count("cmdbus_queue_order"), 1);
}

TEST(DurableRoute, ATransientFailureWaitsForItsRetryInTheTableWhileOtherKeysGoOn) {
  migrated_store m;
  auto& db = m.db;
  std::atomic<int> flaky_runs{0};
  std::atomic<bool> steady_ran_first{false};
  std::atomic<bool> steady_ran{false};
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  cmdbus::retry_policy policy;
  policy.initial_delay = 200ms;
  policy.max_attempts = 3;
  b.use(cmdbus::make_retry(policy));
  b.handle<Deposit>([&](const Deposit& d, cmdbus::context& ctx) -> long {
    if (d.account == "steady") {
      steady_ran = true;
      return 0;
    }
    ++flaky_runs;
    if (ctx.attempt() < 3) {
      throw cmdbus::transient_error("the ledger is busy (attempt " + std::to_string(ctx.attempt()) + ")");
    }
    steady_ran_first = steady_ran.load();
    return 1;
  });
  b.config_text(durable_config(1), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto flaky = bus.post(Deposit{"flaky", 1, 1});
  (void)bus.post(Deposit{"steady", 1, 1});
  ASSERT_TRUE(eventually([&] { return row_state(db, flaky) == "succeeded"; })) << row_state(db, flaky);
  EXPECT_EQ(flaky_runs.load(), 3);
  EXPECT_TRUE(steady_ran_first.load()) << "the one worker ran another key while the retry waited";
  const auto st = bus.status(flaky);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->attempts, 3U);
  EXPECT_NE(st->error.find("the ledger is busy (attempt 2)"), std::string::npos) << st->error;
}

TEST(DurableRoute, AFailedPostIsADeadLetterThatARequeueRunsAgainUnderItsId) {
  migrated_store m;
  auto& db = m.db;
  ledger l;
  cmdbus::bus bus{builder(db, l, 1)};
  const auto id = bus.post(Deposit{"gina", -5, 1});
  ASSERT_TRUE(eventually([&] { return row_state(db, id) == "dead"; })) << row_state(db, id);
  const auto letters = bus.dead_letters().list();
  ASSERT_EQ(letters.size(), 1U);
  EXPECT_EQ(letters[0].id, id);
  EXPECT_EQ(letters[0].error, "account gina cannot go below zero");
  EXPECT_EQ(letters[0].route, "transfers");
  std::string message;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    message = c.query_one<std::string>("SELECT error_message FROM cmdbus_queue WHERE id = ?", id.to_string()).value();
  });
  EXPECT_NE(message.find("account gina cannot go below zero"), std::string::npos) << message;
  bus.dead_letters().requeue(id);  // the same command again: still overdrawn, so dead again, under the same id
  ASSERT_TRUE(eventually([&] { return l.refused.load() == 2; })) << "it ran again";
  ASSERT_TRUE(eventually([&] { return bus.dead_letters().list().size() == 1 && row_state(db, id) == "dead"; }));
  std::int64_t rows = 0;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    rows = c.query_one<std::int64_t>("SELECT count(*) FROM cmdbus_queue WHERE id = ?", id.to_string()).value();
  });
  EXPECT_EQ(rows, 1) << "a requeue reuses the command's row";
  EXPECT_EQ(l.runs.load(), 0);
}

TEST(DurableRoute, AOneWorkerRouteWaitingOnItselfGetsAnErrorNotAHang) {
  migrated_store m;
  auto& db = m.db;
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.handle<Deposit>([](const Deposit& d, cmdbus::context& ctx) -> long {
    if (d.seq == 1) {
      return ctx.bus().send(Deposit{d.account, d.amount, 2}).get();  // queued behind this very command
    }
    return d.amount;
  });
  b.config_text(durable_config(1), "app.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW((void)bus.execute(Deposit{"hana", 1, 1}), cmdbus::self_wait_error);
}

/// OpenAccount (sync, in a unit of work on `db`) posts Deposit{account, 10} to `deposit_route` (kind `kind`).
cmdbus::bus_builder opening_accounts(cmdbus::sqlite::store& db, ledger& l, const std::string& kind) {
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.use(db.unit_of_work());
  b.handle<Deposit>([&l](const Deposit& d) -> long {
    l.handle(d);
    return d.amount;
  });
  b.handle<durable_test::OpenAccount>([](const durable_test::OpenAccount& o, cmdbus::context& ctx) {
    cmdbus::sqlite::connection_of(ctx).execute("INSERT INTO account (id) VALUES (?)", o.account);
    (void)ctx.bus().post(Deposit{o.account, 10, 1});
    if (o.fail_after_posting) {
      throw durable_test::overdrawn("opening " + o.account + " failed after it posted its deposit");
    }
  });
  b.config_text("[routes.deposits]\nkind = \"" + kind + "\"\nworkers = 1\n" +
                    (kind == "durable" ? "poll_ms = 20\ninbox = false\n" : "") +
                    "[commands]\n\"bank.deposit\" = \"deposits\"\n",
                "app.toml");
  return b;
}

TEST(DurableRoute, ACommandPostedInsideAUnitOfWorkExistsOnlyIfItCommits) {
  migrated_store m;
  auto& db = m.db;
  db.exec_script("CREATE TABLE account (id TEXT PRIMARY KEY)");
  ledger l;
  cmdbus::bus bus{opening_accounts(db, l, "durable")};
  EXPECT_THROW(bus.execute(durable_test::OpenAccount{"ivan", true}), durable_test::overdrawn);
  bus.execute(durable_test::OpenAccount{"jane", false});
  ASSERT_TRUE(eventually([&] { return l.runs.load() == 1; }));
  std::int64_t rows = -1;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    rows = c.query_one<std::int64_t>("SELECT count(*) FROM cmdbus_queue").value();
  });
  EXPECT_EQ(rows, 1) << "the rolled-back handler's post left no row";
  (void)bus.stop();
  std::lock_guard lock(l.m);
  EXPECT_EQ(l.seqs.count("ivan"), 0U) << "and never ran";
  EXPECT_EQ(l.seqs.count("jane"), 1U);
}

// The difference: a local route's queue is not part of the transaction, so its child runs even after a rollback.
TEST(DurableRoute, OnALocalRouteTheSameChildRunsEvenWhenItsParentRollsBack) {
  temp_db tmp;
  cmdbus::sqlite::store db({.path = tmp.path()});
  db.exec_script("CREATE TABLE account (id TEXT PRIMARY KEY)");
  ledger l;
  cmdbus::bus bus{opening_accounts(db, l, "local")};
  EXPECT_THROW(bus.execute(durable_test::OpenAccount{"ivan", true}), durable_test::overdrawn);
  (void)bus.stop();
  std::lock_guard lock(l.m);
  EXPECT_EQ(l.seqs.count("ivan"), 1U) << "the local route ran the child of a rolled-back parent";
}

TEST(DurableRoute, AHandlerLongerThanTheLeaseKeepsItsCommandAndRunsOnce) {
  migrated_store m;
  auto& db = m.db;
  std::atomic<int> runs{0};
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.handle<Deposit>([&](const Deposit& d) -> long {
    ++runs;
    std::this_thread::sleep_for(1200ms);  // four leases long: renewed meanwhile, so no other worker takes it over
    return d.amount;
  });
  b.config_text(durable_config(2, "lease_ms = 300\n"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.execute(Deposit{"kim", 7, 1}), 7);
  (void)bus.stop();
  EXPECT_EQ(runs.load(), 1);
}

// The inbox: the row is marked succeeded in the handler's own transaction, so effect and mark commit together. A
// trigger that refuses one command's mark shows it: that command's effect is rolled back with the mark.
TEST(DurableRoute, WithTheInboxTheEffectAndTheDoneMarkCommitTogetherOrNotAtAll) {
  migrated_store m;
  auto& db = m.db;
  db.exec_script(
      "CREATE TABLE ledger (account TEXT PRIMARY KEY);"
      "CREATE TRIGGER refuse_lara BEFORE UPDATE OF state ON cmdbus_queue "
      "WHEN NEW.state = 'succeeded' AND json_extract(NEW.envelope, '$.payload.account') = 'lara' "
      "BEGIN SELECT RAISE(ABORT, 'the done mark was refused'); END;");
  std::atomic<int> runs{0};
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.use(db.unit_of_work());
  b.use(cmdbus::durable::inbox(db));
  b.handle<Deposit>([&](const Deposit& d, cmdbus::context& ctx) -> long {
    ++runs;
    cmdbus::sqlite::connection_of(ctx).execute("INSERT INTO ledger (account) VALUES (?)", d.account);
    return d.amount;
  });
  b.config_text(durable_config(1, "", true), "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto lara = bus.post(Deposit{"lara", 1, 1});
  const auto mia = bus.post(Deposit{"mia", 1, 1});
  ASSERT_TRUE(eventually([&] { return row_state(db, mia) == "succeeded"; })) << row_state(db, mia);
  ASSERT_TRUE(eventually([&] { return row_state(db, lara) == "dead"; })) << row_state(db, lara);
  (void)bus.stop();
  std::int64_t lara_rows = -1, mia_rows = -1;
  std::string message;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    lara_rows = c.query_one<std::int64_t>("SELECT count(*) FROM ledger WHERE account = 'lara'").value();
    mia_rows = c.query_one<std::int64_t>("SELECT count(*) FROM ledger WHERE account = 'mia'").value();
    message = c.query_one<std::string>("SELECT error_message FROM cmdbus_queue WHERE id = ?", lara.to_string()).value();
  });
  EXPECT_EQ(lara_rows, 0) << "the effect was rolled back with the refused mark";
  EXPECT_EQ(mia_rows, 1);
  EXPECT_EQ(runs.load(), 2) << "and it was not run again";
  EXPECT_NE(message.find("the done mark was refused"), std::string::npos) << message;
}

TEST(DurableRoute, ARowThatCannotBecomeACommandHereIsADeadLetterWithTheReasonAndTheWorkerGoesOn) {
  migrated_store m;
  auto& db = m.db;
  db.exec_script(
      "INSERT INTO cmdbus_queue (id, route, command, state, attempts, available_at, created_at, updated_at, envelope) "
      "VALUES ('0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f60', 'transfers', 'bank.renamed', 'pending', 0, 0, 0, 0, "
      "'{\"id\":\"0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f60\",\"command\":\"bank.renamed\",\"schema_version\":1,"
      "\"payload\":{}}'),"
      "('0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f61', 'transfers', 'bank.deposit', 'pending', 0, 0, 0, 0, 'not json'),"
      "('0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f62', 'transfers', 'bank.deposit', 'pending', 0, 0, 0, 0, "
      "'{\"id\":\"0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f62\",\"command\":\"bank.deposit\",\"schema_version\":1,"
      "\"payload\":{\"amount\":\"lots\"}}')");
  ledger l;
  cmdbus::bus bus{builder(db, l, 1)};
  const auto after = bus.post(Deposit{"erin", 3, 1});
  ASSERT_TRUE(eventually([&] { return row_state(db, after) == "succeeded"; })) << "the worker went on";
  const std::map<std::string, std::string> expected{
      {"0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f60", "unknown command 'bank.renamed'"},
      {"0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f61", "a command envelope is not JSON"},
      {"0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f62",
       "the payload of command 'bank.deposit' (schema version 1; this process "
       "writes 1) does not decode"},
  };
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    for (const auto& [id, reason] : expected) {
      EXPECT_EQ(c.query_one<std::string>("SELECT state FROM cmdbus_queue WHERE id = ?", id).value_or(""), "dead");
      const auto message =
          c.query_one<std::string>("SELECT error_message FROM cmdbus_queue WHERE id = ?", id).value_or("");
      EXPECT_NE(message.find(reason), std::string::npos) << message;
    }
  });
  EXPECT_EQ(bus.queue_stats()[0].dead, 3U);
}

TEST(DurableRoute, ACommandThatCannotBeEncodedIsRefusedAtStartNamingTheRouteAndLine) {
  temp_db tmp;
  cmdbus::sqlite::store db({.path = tmp.path()});
  cmdbus::bus_builder b;
  b.route_kind(cmdbus::durable::kind(db));
  b.handle<durable_test::Unencodable>([](const durable_test::Unencodable&) {});
  b.config_text("[routes.transfers]\nkind = \"durable\"\n[commands]\n\"test.unencodable\" = \"transfers\"\n",
                "app.toml");
  try {
    cmdbus::bus bus{std::move(b)};
    FAIL() << "started";
  } catch (const cmdbus::config_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'test.unencodable'"), std::string::npos) << what;
    EXPECT_NE(what.find("'transfers'"), std::string::npos) << what;
    EXPECT_NE(what.find("app.toml:4"), std::string::npos) << what;
  }
}

TEST(DurableRoute, AStoreTheKindDoesNotKnowIsAnErrorAtItsLine) {
  temp_db tmp;
  cmdbus::sqlite::store db({.path = tmp.path()});
  ledger l;
  auto b = builder(db, l, 1);
  b.config_text(durable_config(1, "store = \"reports\"\n"), "app.toml");
  try {
    cmdbus::bus bus{std::move(b)};
    FAIL() << "started";
  } catch (const cmdbus::config_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("app.toml:5"), std::string::npos) << what;
    EXPECT_NE(what.find("names store 'reports', but this bus's durable routes are on store 'main'"), std::string::npos)
        << what;
  }
}

TEST(DurableRoute, WithoutTheTableAPostFailsAtTheCallerAndNothingIsHalfDone) {
  temp_db tmp;
  cmdbus::sqlite::store db({.path = tmp.path()});  // migrate() not run
  ledger l;
  cmdbus::bus bus{builder(db, l, 1)};
  try {
    (void)bus.post(Deposit{"fred", 1, 1});
    FAIL() << "accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string{e.what()}.find("cmdbus_queue"), std::string::npos) << e.what();
  }
  EXPECT_EQ(l.runs.load(), 0);
}

cmdbus::route_stats route_stats_of(const cmdbus::bus& bus, const std::string& route) {
  for (auto& s : bus.queue_stats()) {
    if (s.route == route) {
      return s;
    }
  }
  ADD_FAILURE() << "no route " << route;
  return {};
}

// A process that only posts (start_workers = false) leaves the rows to whoever runs the route's workers; run_workers
// runs them in this process until its stop token is requested, then stops the route.
TEST(DurableRoute, WithStartWorkersFalseRowsWaitUntilRunWorkersRunsThem) {
  migrated_store m;
  auto& db = m.db;
  ledger l;
  cmdbus::bus bus{builder(db, l, 2, "start_workers = false\n")};
  std::vector<cmdbus::command_id> ids;
  for (int i = 1; i <= 20; ++i) {
    ids.push_back(bus.post(Deposit{"gina", 1, i}));
  }
  std::this_thread::sleep_for(150ms);  // several poll_ms: a started worker would have taken some
  EXPECT_EQ(l.runs.load(), 0);
  EXPECT_EQ(row_state(db, ids.back()), "pending");
  cmdbus::stop_report report;
  std::jthread runner([&](std::stop_token stop) { report = bus.run_workers({"transfers"}, stop); });
  ASSERT_TRUE(eventually([&] { return l.runs.load() == 20; })) << l.runs.load();
  runner.request_stop();
  runner.join();
  EXPECT_EQ(report.completed, 20U);
  EXPECT_EQ(row_state(db, ids.back()), "succeeded");
  std::lock_guard lock(l.m);
  EXPECT_EQ(l.seqs["gina"].size(), 20U);
  EXPECT_TRUE(std::is_sorted(l.seqs["gina"].begin(), l.seqs["gina"].end())) << "one key, in order";
  EXPECT_THROW((void)bus.post(Deposit{"gina", 1, 21}), cmdbus::stopping_error) << "run_workers stopped the route";
}

// A route the bus started already (named twice, even): run_workers starts nothing more (starting a running worker's
// thread again would terminate the process), works it until the stop, then stops it.
TEST(DurableRoute, RunWorkersOnARouteWhoseWorkersRunAlreadyStartsNoMore) {
  migrated_store m;
  ledger l;
  cmdbus::bus bus{builder(m.db, l, 1)};
  cmdbus::stop_report report;
  std::jthread runner([&](std::stop_token stop) { report = bus.run_workers({"transfers", "transfers"}, stop); });
  EXPECT_EQ(bus.execute(Deposit{"hank", 2, 1}), 4);
  runner.request_stop();
  runner.join();
  EXPECT_EQ(report.completed, 1U);
  EXPECT_EQ(l.runs.load(), 1);
  EXPECT_THROW((void)bus.post(Deposit{"hank", 1, 2}), cmdbus::stopping_error) << "run_workers stopped the route";
}

TEST(DurableRoute, RunWorkersRefusesAnUnknownRouteALocalRouteAndAPostOnlyRouteBeforeStartingAnything) {
  migrated_store m;
  ledger l;
  auto b = builder(m.db, l, 0);
  b.handle<durable_test::OpenAccount>([](const durable_test::OpenAccount&) {});
  b.config_text(durable_config(0) + "\"bank.open\" = \"mail\"\n[routes.mail]\nkind = \"local\"\n", "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto refused = [&](const std::vector<std::string>& routes) {
    try {
      (void)bus.run_workers(routes, std::stop_token{});
      return std::string{"(accepted)"};
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
  };
  const auto unknown = refused({"transfers", "trasnfers"});
  EXPECT_NE(unknown.find("no route 'trasnfers'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'transfers' (durable)"), std::string::npos) << unknown;
  const auto local = refused({"mail"});
  EXPECT_NE(local.find("route 'mail' is of kind 'local'"), std::string::npos) << local;
  const auto post_only = refused({"transfers"});
  EXPECT_NE(post_only.find("route 'transfers' (app.toml:1) has workers = 0"), std::string::npos) << post_only;
  EXPECT_FALSE(route_stats_of(bus, "transfers").stopping) << "nothing was started or stopped";
}

// A caller whose command another process runs (here another bus on the same file, with its own connections and
// workers; tests/fault does it with real processes): execute and send get the result through the row, and an error
// as a remote_error with the original type's name, code and message.
TEST(DurableRoute, ExecuteGetsTheResultOrTheErrorOfACommandAnotherBusRan) {
  migrated_store m;
  ledger posted_here;
  ledger ran_there;
  cmdbus::bus poster{builder(m.db, posted_here, 2, "start_workers = false\n")};
  cmdbus::sqlite::store other({.path = m.tmp.path()});
  cmdbus::bus worker{builder(other, ran_there, 2)};
  EXPECT_EQ(poster.execute(Deposit{"ivy", 21, 1}), 42);
  auto h = poster.send(Deposit{"ivy", 5, 2});
  EXPECT_EQ(h.get(), 10);
  try {
    (void)poster.execute(Deposit{"ivy", -1, 3});
    FAIL() << "no error";
  } catch (const cmdbus::remote_error& e) {
    EXPECT_EQ(e.code(), cmdbus::error_code::rejected);
    EXPECT_EQ(e.original_type(), "durable_test::overdrawn");
    EXPECT_STREQ(e.what(), "account ivy cannot go below zero");
  }
  const auto r = poster.try_execute(Deposit{"ivy", -2, 4});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(), "durable_test::overdrawn");
  EXPECT_EQ(row_state(m.db, r.error().id()), "failed") << "delivered to its caller: not a dead letter";
  EXPECT_TRUE(worker.dead_letters().list().empty());
  EXPECT_EQ(posted_here.runs.load(), 0);
  EXPECT_EQ(ran_there.runs.load(), 2);
}

TEST(DurableRoute, AResultWithoutACodecDoesNotComeBackFromAnotherBusButTheCommandRan) {
  migrated_store m;
  std::atomic<int> runs{0};
  const auto tallying = [&](cmdbus::sqlite::store& db, const std::string& extra) {
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(db));
    b.handle<durable_test::Tally>([&runs](const durable_test::Tally&) {
      ++runs;
      return std::vector<int>{1, 2, 3};
    });
    b.config_text("[routes.transfers]\nkind = \"durable\"\nworkers = 1\npoll_ms = 20\ninbox = false\n" + extra +
                      "[commands]\n\"bank.tally\" = \"transfers\"\n",
                  "app.toml");
    return b;
  };
  cmdbus::bus poster{tallying(m.db, "start_workers = false\n")};
  cmdbus::sqlite::store other({.path = m.tmp.path()});
  cmdbus::bus worker{tallying(other, "")};
  const auto r = poster.try_execute(durable_test::Tally{"jo"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::fatal);
  EXPECT_NE(r.error().message().find("its result type has no codec"), std::string::npos) << r.error().message();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(row_state(m.db, r.error().id()), "succeeded");
  // In the process that runs it, the same call gets its result as always.
  EXPECT_EQ(worker.execute(durable_test::Tally{"jo"}), (std::vector<int>{1, 2, 3}));
}

TEST(DurableRoute, DeadLettersAreDeadRowsThatAnotherBusListsInspectsRequeuesAndDiscards) {
  migrated_store m;
  std::atomic<bool> refuse{true};
  std::atomic<int> applied{0};
  const auto banking = [&](cmdbus::sqlite::store& db, const std::string& extra) {
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(db));
    b.handle<Deposit>([&](const Deposit& d) -> long {
      if (d.amount < 0 && refuse) {
        throw durable_test::overdrawn("account " + d.account + " cannot go below zero");
      }
      ++applied;
      return d.amount;
    });
    b.config_text(durable_config(2, extra), "app.toml");
    return b;
  };
  cmdbus::bus operator_bus{banking(m.db, "start_workers = false\n")};  // runs nothing: it only looks
  cmdbus::sqlite::store other({.path = m.tmp.path()});
  cmdbus::bus worker{banking(other, "")};
  cmdbus::dispatch_options traced;
  traced.correlation_id = cmdbus::command_id::generate();
  const auto kim = worker.post(Deposit{"kim", -1, 1}, traced);
  const auto kim_next = worker.post(Deposit{"kim", 3, 2});  // its key goes on past a dead letter
  const auto lou = worker.post(Deposit{"lou", -2, 1});
  ASSERT_TRUE(
      eventually([&] { return operator_bus.dead_letters().size() == 2 && row_state(m.db, kim_next) == "succeeded"; }));

  const auto letters = operator_bus.dead_letters().list();
  ASSERT_EQ(letters.size(), 2U);
  EXPECT_EQ(letters[0].id, kim) << "oldest first";
  EXPECT_EQ(letters[1].id, lou);
  const auto& d = letters[0];
  EXPECT_EQ(d.command, "bank.deposit");
  EXPECT_EQ(d.route, "transfers");
  EXPECT_EQ(d.partition_key, "kim");
  EXPECT_EQ(d.correlation_id, traced.correlation_id);
  EXPECT_EQ(letters[1].correlation_id, lou) << "a command without one is its own correlation";
  EXPECT_EQ(d.code, cmdbus::error_code::rejected);
  EXPECT_EQ(d.error_type, "durable_test::overdrawn");
  EXPECT_EQ(d.error, "account kim cannot go below zero");
  EXPECT_EQ(d.attempts, 1U);
  EXPECT_EQ(d.failed_by.rfind("pid ", 0), 0U) << d.failed_by;
  EXPECT_NE(d.failed_by.find("transfers#"), std::string::npos) << d.failed_by;
  EXPECT_GT(d.first_attempt, cmdbus::clock::time_point{});
  EXPECT_LE(d.first_attempt, d.last_attempt);
  const auto seen = worker.dead_letters().inspect(kim);  // the same letter from the bus that ran it
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->error, d.error);
  EXPECT_EQ(seen->failed_by, d.failed_by);
  EXPECT_FALSE(operator_bus.dead_letters().inspect(kim_next)) << "a succeeded command is no dead letter";
  EXPECT_EQ(operator_bus.status(kim)->status, cmdbus::command_status::dead);

  // Requeued from the operator's bus, the worker's bus runs it: same row, same id, its history kept.
  refuse = false;
  EXPECT_TRUE(operator_bus.dead_letters().requeue(kim));
  ASSERT_TRUE(eventually([&] { return row_state(m.db, kim) == "succeeded"; })) << row_state(m.db, kim);
  EXPECT_EQ(applied.load(), 2);
  std::int64_t requeues = 0, first_failure = 0, kim_seq = 0, kim_next_seq = 0, rows = 0;
  std::string correlation;
  m.db.with_connection([&](cmdbus::sqlite::connection& c) {
    const auto one = [&](const std::string& sql, const cmdbus::command_id& id) {
      return c.query_one<std::int64_t>(sql, id.to_string()).value();
    };
    requeues = one("SELECT requeues FROM cmdbus_queue WHERE id = ?", kim);
    first_failure = one("SELECT first_failure_at FROM cmdbus_queue WHERE id = ?", kim);
    kim_seq = one("SELECT seq FROM cmdbus_queue WHERE id = ?", kim);
    kim_next_seq = one("SELECT seq FROM cmdbus_queue WHERE id = ?", kim_next);
    rows = one("SELECT count(*) FROM cmdbus_queue WHERE id = ?", kim);
    correlation = c.query_one<std::string>(
                       "SELECT json_extract(envelope, '$.correlation_id') FROM cmdbus_queue "
                       "WHERE id = ?",
                       kim.to_string())
                      .value_or("");
  });
  EXPECT_EQ(rows, 1);
  EXPECT_EQ(requeues, 1);
  EXPECT_EQ(first_failure, cmdbus::wire::micros(d.first_attempt)) << "the first failure is history, kept";
  EXPECT_GT(kim_seq, kim_next_seq) << "a requeue goes to the back of its key's line";
  EXPECT_EQ(correlation, traced.correlation_id.to_string());
  EXPECT_EQ(operator_bus.dead_letters().size(), 1U);

  // Discarded: the row is gone for every bus; a second discard or a requeue finds nothing.
  EXPECT_TRUE(operator_bus.dead_letters().discard(lou));
  EXPECT_EQ(row_state(m.db, lou), "none");
  EXPECT_EQ(worker.dead_letters().size(), 0U);
  EXPECT_FALSE(worker.dead_letters().discard(lou));
  EXPECT_FALSE(worker.dead_letters().requeue(lou));
  EXPECT_FALSE(worker.dead_letters().requeue(kim_next)) << "only a dead row is requeued";
  EXPECT_EQ(row_state(m.db, kim_next), "succeeded");
}

struct Deposited {
  static constexpr std::string_view event_name = "bank.deposited";
  std::string account;
};

TEST(DurableRoute, WithTheInboxClaimedCommandsShareATransactionAndAFailureUndoesOnlyItsOwnPart) {
  migrated_store m;
  auto& db = m.db;
  db.exec_script("CREATE TABLE ledger (account TEXT NOT NULL)");
  std::mutex heard_mutex;
  std::map<std::string, int> heard;  // by the after-commit subscriber
  std::atomic<int> flaky_runs{0};
  const auto banking = [&](const std::string& extra) {
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(db));
    cmdbus::retry_policy policy;
    policy.initial_delay = 10ms;
    policy.max_attempts = 3;
    b.use(cmdbus::make_retry(policy));
    b.use(db.unit_of_work());
    b.use(cmdbus::durable::inbox(db));
    b.handle<Deposit>([&](const Deposit& d, cmdbus::context& ctx) -> long {
      cmdbus::sqlite::connection_of(ctx).execute("INSERT INTO ledger (account) VALUES (?)", d.account);
      ctx.emit(Deposited{d.account});
      if (d.amount < 0) {  // after its write and its event: both must go with its savepoint, nothing else
        throw durable_test::overdrawn("account " + d.account + " cannot go below zero");
      }
      if (d.account == "flaky" && ++flaky_runs == 1) {
        throw cmdbus::transient_error("the ledger is busy, once");
      }
      return d.amount;
    });
    b.subscribe<Deposited>([&](const Deposited& e) {
      std::lock_guard lock(heard_mutex);
      ++heard[e.account];
    });
    b.config_text(durable_config(1, extra, true), "app.toml");
    return b;
  };
  constexpr int n = 60;
  std::map<std::string, cmdbus::command_id> ids;
  {
    cmdbus::bus poster{banking("start_workers = false\n")};
    for (int i = 0; i < n; ++i) {
      const std::string account = i == 20 ? "flaky" : "acct" + std::to_string(i);
      ids[account] = poster.post(Deposit{account, i == 33 ? -1 : 1, 1});
    }
  }
  const auto commits_before = db.committed();
  cmdbus::bus worker{banking("batch = 8\n")};
  ASSERT_TRUE(eventually([&] {
    return std::all_of(ids.begin(), ids.end(), [&](const auto& kv) {
      const auto st = row_state(db, kv.second);
      return st == "succeeded" || st == "dead";
    });
  }));
  (void)worker.stop();
  const auto commits = db.committed() - commits_before;
  EXPECT_LT(commits, static_cast<std::uint64_t>(n / 2)) << "several commands per transaction";
  EXPECT_GT(commits, 0U);
  std::map<std::string, std::int64_t> lines;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    c.query("SELECT account, count(*) FROM ledger GROUP BY account",
            [&](const cmdbus::sqlite::row& r) { lines[r.get<std::string>(0)] = r.get<std::int64_t>(1); });
  });
  for (const auto& [account, id] : ids) {
    const bool overdrawn = account == "acct33";
    EXPECT_EQ(row_state(db, id), overdrawn ? "dead" : "succeeded") << account;
    EXPECT_EQ(lines[account], overdrawn ? 0 : 1) << account << ": its effect once, or not at all";
    std::lock_guard lock(heard_mutex);
    EXPECT_EQ(heard[account], overdrawn ? 0 : 1) << account << ": its event after the commit, once";
  }
  EXPECT_EQ(flaky_runs.load(), 2) << "the transient failure undid its first attempt and ran again";
  const auto letter = worker.dead_letters().inspect(ids["acct33"]);
  ASSERT_TRUE(letter);
  EXPECT_EQ(letter->error, "account acct33 cannot go below zero");
}

}  // namespace
