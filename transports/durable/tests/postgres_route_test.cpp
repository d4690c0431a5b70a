// The `durable` route on PostgreSQL (CMDBUS_TEST_PG; `./run test` starts a server): the same promises as on SQLite,
// with competing buses on one database (each its own connection pool and workers) claiming with SKIP LOCKED.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/durable.hpp"
#include "cmdbus/durable/postgres.hpp"
#include "cmdbus/postgres/store.hpp"
#include "cmdbus/wire/json_codec.hpp"
#include "postgres_support.hpp"
#include "test_commands.hpp"

namespace {

using namespace std::chrono_literals;
using durable_test::Deposit;
namespace pg = cmdbus::postgres;

std::string config(int workers, const std::string& extra = "", int poll_ms = 20) {
  return "[routes.transfers]\nkind = \"durable\"\nworkers = " + std::to_string(workers) +
         "\npoll_ms = " + std::to_string(poll_ms) + "\n" + extra +
         "[commands]\n\"bank.deposit\" = \"transfers\"\n\"bank.open\" = \"sync\"\n";
}

bool eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class DurablePostgres : public pg_test::Postgres {
 protected:
  void SetUp() override {
    pg_test::Postgres::SetUp();
    if (IsSkipped()) {
      return;
    }
    db_ = std::make_unique<pg::store>(schema_->options(8));
    cmdbus::durable::migrate(*db_);
    cmdbus::durable::migrate(*db_);  // twice: it changes nothing
    // pos: the order the handlers wrote their lines in (a key's next command starts after the previous committed).
    db_->exec_script(
        "CREATE TABLE ledger (pos BIGINT GENERATED ALWAYS AS IDENTITY, command_id TEXT NOT NULL, "
        "account TEXT NOT NULL, seq INTEGER NOT NULL)");
  }
  void TearDown() override {
    db_.reset();
    pg_test::Postgres::TearDown();
  }

  /// A bus on `db` whose Deposit handler appends (command id, account, seq) to `ledger` in its unit of work, with
  /// the inbox; a negative amount is refused.
  cmdbus::bus_builder builder(pg::store& db, int workers, const std::string& extra = "", int poll_ms = 20) {
    cmdbus::bus_builder b;
    b.route_kind(cmdbus::durable::kind(db));
    b.use(db.unit_of_work());
    b.use(cmdbus::durable::inbox(db));
    b.handle<Deposit>([this](const Deposit& d, cmdbus::context& ctx) -> long {
      if (d.amount < 0 && refuse_overdrafts_) {
        throw durable_test::overdrawn("account " + d.account + " cannot go below zero");
      }
      note_running(d.account, +1);
      pg::connection_of(ctx).execute("INSERT INTO ledger (command_id, account, seq) VALUES ($1, $2, $3)",
                                     ctx.id().to_string(), d.account, d.seq);
      std::this_thread::sleep_for(200us);
      note_running(d.account, -1);
      return d.amount * 2;
    });
    b.handle<durable_test::OpenAccount>([](const durable_test::OpenAccount& o, cmdbus::context& ctx) {
      (void)ctx.bus().post(Deposit{o.account, 10, 1});
      if (o.fail_after_posting) {
        throw std::runtime_error("opening " + o.account + " failed after it posted its deposit");
      }
    });
    b.config_text(config(workers, extra, poll_ms), "app.toml");
    return b;
  }

  void note_running(const std::string& account, int delta) {
    std::lock_guard lock(m_);
    if ((running_[account] += delta) > 1) {
      overlapped_ = true;
    }
  }

  std::string row_state(const cmdbus::command_id& id) {
    std::string state;
    db_->with_connection([&](pg::connection& c) {
      state = c.query_one<std::string>("SELECT state FROM cmdbus_queue WHERE id = $1", id.to_string()).value_or("none");
    });
    return state;
  }

  std::unique_ptr<pg::store> db_;
  std::mutex m_;
  std::map<std::string, int> running_;
  std::atomic<bool> overlapped_{false};
  std::atomic<bool> refuse_overdrafts_{true};
};

TEST_F(DurablePostgres, APostIsACommittedRowAndExecuteGetsTheResultOrTheOriginalError) {
  cmdbus::bus bus{builder(*db_, 2)};
  const auto id = bus.post(Deposit{"alice", 5, 1});
  EXPECT_NE(row_state(id), "none") << "committed when post returns";
  EXPECT_EQ(bus.execute(Deposit{"bob", 21, 1}), 42);
  EXPECT_THROW((void)bus.execute(Deposit{"bob", -1, 2}), durable_test::overdrawn);
  ASSERT_TRUE(eventually([&] { return row_state(id) == "succeeded"; })) << row_state(id);
  const auto st = bus.status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(st->attempts, 1U);
  EXPECT_EQ(read<std::string>(*db_, "SELECT envelope::jsonb -> 'payload' ->> 'account' FROM cmdbus_queue WHERE id = '" +
                                        id.to_string() + "'"),
            "alice")
      << "the envelope is JSON that psql can read";
}

// Two buses on one database, as two processes would be: each command runs once, a key's commands in order and never
// two at once, whichever bus's worker claims them.
TEST_F(DurablePostgres, CompetingBusesRunEachCommandOnceAndAKeyInOrder) {
  auto other_store = std::make_unique<pg::store>(schema_->options(8));
  cmdbus::bus poster{builder(*db_, 0)};
  const std::vector<std::string> accounts{"a", "b", "c", "d", "e"};
  constexpr int per_account = 40;
  for (int i = 1; i <= per_account; ++i) {
    for (const auto& a : accounts) {
      (void)poster.post(Deposit{a, 1, i});
    }
  }
  {
    cmdbus::bus one{builder(*db_, 2, "batch = 4\n")};
    cmdbus::bus two{builder(*other_store, 2, "batch = 4\n")};
    ASSERT_TRUE(eventually([&] {
      return read(*db_, "SELECT count(*) FROM cmdbus_queue WHERE state = 'succeeded'") ==
             static_cast<std::int64_t>(accounts.size() * per_account);
    }));
  }
  EXPECT_FALSE(overlapped_.load()) << "two commands of one key ran at once";
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM ledger"), static_cast<std::int64_t>(accounts.size() * per_account));
  EXPECT_EQ(read(*db_, "SELECT count(DISTINCT command_id) FROM ledger"),
            static_cast<std::int64_t>(accounts.size() * per_account));
  EXPECT_EQ(read(*db_,
                 "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY account ORDER BY pos) AS prev "
                 "FROM ledger) x WHERE prev IS NOT NULL AND seq <> prev + 1"),
            0)
      << "each account's deposits ran in the order they were posted";
}

// The outbox on PostgreSQL: a deposit posted by a handler exists only if that handler's transaction commits.
TEST_F(DurablePostgres, ACommandPostedInsideAUnitOfWorkExistsOnlyIfItCommits) {
  cmdbus::bus bus{builder(*db_, 1)};
  bus.execute(durable_test::OpenAccount{"kept", false});
  EXPECT_THROW(bus.execute(durable_test::OpenAccount{"lost", true}), std::runtime_error);
  ASSERT_TRUE(eventually([&] { return read(*db_, "SELECT count(*) FROM ledger WHERE account = 'kept'") == 1; }));
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM cmdbus_queue WHERE envelope LIKE '%\"lost\"%'"), 0)
      << "the rolled-back handler's post left no row, so nothing can run it";
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM ledger WHERE account = 'lost'"), 0);
}

// The inbox on PostgreSQL: a refused done mark takes the handler's effect with it, and the command is not run again.
TEST_F(DurablePostgres, WithTheInboxTheEffectAndTheDoneMarkCommitTogetherOrNotAtAll) {
  db_->exec_script(
      "CREATE FUNCTION refuse_lara() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "IF NEW.state = 'succeeded' AND NEW.envelope::jsonb -> 'payload' ->> 'account' = 'lara' THEN "
      "RAISE EXCEPTION 'the done mark was refused'; END IF; RETURN NEW; END $$;"
      "CREATE TRIGGER refuse_lara BEFORE UPDATE OF state ON cmdbus_queue FOR EACH ROW EXECUTE FUNCTION refuse_lara()");
  cmdbus::bus bus{builder(*db_, 1)};
  const auto lara = bus.post(Deposit{"lara", 1, 1});
  const auto mia = bus.post(Deposit{"mia", 1, 1});
  ASSERT_TRUE(eventually([&] { return row_state(mia) == "succeeded"; })) << row_state(mia);
  ASSERT_TRUE(eventually([&] { return row_state(lara) == "dead"; })) << row_state(lara);
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM ledger WHERE account = 'lara'"), 0) << "rolled back with the mark";
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM ledger WHERE account = 'mia'"), 1);
  const auto message =
      read<std::string>(*db_, "SELECT error_message FROM cmdbus_queue WHERE id = '" + lara.to_string() + "'");
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("the done mark was refused"), std::string::npos) << *message;
}

// A worker that dies holding rows (here: its lease is given and never renewed, as after SIGKILL) loses them when the
// lease expires; another bus's worker runs them, once.
TEST_F(DurablePostgres, RowsOfAWorkerWhoseLeaseExpiredAreRunByAnotherOnce) {
  cmdbus::bus poster{builder(*db_, 0)};
  for (int i = 1; i <= 6; ++i) {
    (void)poster.post(Deposit{"zoe", 1, i});
  }
  // A dead worker's claim, by hand: row 1 running under a lease that ended a second ago.
  db_->exec_script(
      "UPDATE cmdbus_queue SET state = 'running', lease_owner = 'pid 1 gone#0', attempts = 1, "
      "lease_until = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 1000000 "
      "WHERE seq = (SELECT min(seq) FROM cmdbus_queue)");
  cmdbus::bus worker{builder(*db_, 2)};
  ASSERT_TRUE(eventually([&] { return read(*db_, "SELECT count(*) FROM ledger") == 6; }));
  EXPECT_EQ(read(*db_, "SELECT count(DISTINCT command_id) FROM ledger"), 6);
  EXPECT_EQ(read(*db_, "SELECT attempts FROM cmdbus_queue ORDER BY seq LIMIT 1"), 1)
      << "the lost claim gave its attempt back: the run that succeeded was its first";
  EXPECT_EQ(read(*db_, "SELECT lost_claims FROM cmdbus_queue ORDER BY seq LIMIT 1"), 1);
  EXPECT_EQ(read(*db_,
                 "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY pos) AS prev FROM ledger) x "
                 "WHERE prev IS NOT NULL AND seq <> prev + 1"),
            0)
      << "the taken-over command ran first, before the later ones of its key";
}

// run_workers on PostgreSQL: a posting bus (start_workers = false) leaves rows to a bus that runs its workers.
TEST_F(DurablePostgres, RunWorkersRunsWhatAPostOnlyBusLeft) {
  cmdbus::bus poster{builder(*db_, 2, "start_workers = false\n")};
  for (int i = 1; i <= 10; ++i) {
    (void)poster.post(Deposit{"ruth", 1, i});
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM ledger"), 0);
  cmdbus::bus worker{builder(*db_, 2, "start_workers = false\n")};
  cmdbus::stop_report report;
  std::jthread runner([&](std::stop_token stop) { report = worker.run_workers({"transfers"}, stop); });
  ASSERT_TRUE(eventually([&] { return read(*db_, "SELECT count(*) FROM ledger") == 10; }));
  runner.request_stop();
  runner.join();
  EXPECT_EQ(report.completed, 10U);
}

// A caller whose command another bus (another pool, other workers: as another process) runs gets its result, or its
// error as a remote_error with the original type.
TEST_F(DurablePostgres, ExecuteGetsTheResultOrTheErrorOfACommandAnotherBusRan) {
  auto other_store = std::make_unique<pg::store>(schema_->options(8));
  cmdbus::bus poster{builder(*db_, 2, "start_workers = false\n")};
  cmdbus::bus worker{builder(*other_store, 2)};
  EXPECT_EQ(poster.execute(Deposit{"kai", 21, 1}), 42);
  EXPECT_EQ(poster.send(Deposit{"kai", 4, 2}).get(), 8);
  const auto r = poster.try_execute(Deposit{"kai", -1, 3});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(), "durable_test::overdrawn");
  EXPECT_EQ(r.error().message(), "account kai cannot go below zero");
  EXPECT_THROW((void)poster.execute(Deposit{"kai", -1, 4}), cmdbus::remote_error);
  EXPECT_EQ(row_state(r.error().id()), "failed");
  EXPECT_EQ(read(*db_, "SELECT count(*) FROM ledger"), 2);
}

TEST_F(DurablePostgres, DeadLettersAreDeadRowsThatAnotherBusListsRequeuesAndDiscards) {
  cmdbus::bus operator_bus{builder(*db_, 2, "start_workers = false\n")};
  pg::store other(schema_->options(4));
  cmdbus::bus worker{builder(other, 2)};
  const auto kim = worker.post(Deposit{"kim", -1, 1});
  const auto lou = worker.post(Deposit{"lou", -2, 1});
  ASSERT_TRUE(eventually([&] { return operator_bus.dead_letters().size() == 2; }));
  const auto letters = operator_bus.dead_letters().list();
  ASSERT_EQ(letters.size(), 2U);
  EXPECT_EQ(letters[0].id, kim);
  EXPECT_EQ(letters[0].error_type, "durable_test::overdrawn");
  EXPECT_EQ(letters[0].error, "account kim cannot go below zero");
  EXPECT_EQ(letters[0].code, cmdbus::error_code::rejected);
  EXPECT_EQ(letters[0].partition_key, "kim");
  EXPECT_NE(letters[0].failed_by.find("transfers#"), std::string::npos) << letters[0].failed_by;
  EXPECT_LE(letters[0].first_attempt, letters[0].last_attempt);

  refuse_overdrafts_ = false;
  EXPECT_TRUE(operator_bus.dead_letters().requeue(kim));
  ASSERT_TRUE(eventually([&] { return row_state(kim) == "succeeded"; })) << row_state(kim);
  std::int64_t requeues = 0, lines = 0;
  db_->with_connection([&](pg::connection& c) {
    requeues = c.query_one<std::int64_t>("SELECT requeues FROM cmdbus_queue WHERE id = $1", kim.to_string()).value();
    lines = c.query_one<std::int64_t>("SELECT count(*) FROM ledger WHERE command_id = $1", kim.to_string()).value();
  });
  EXPECT_EQ(requeues, 1);
  EXPECT_EQ(lines, 1) << "the requeued command ran once, under its id";
  EXPECT_TRUE(operator_bus.dead_letters().discard(lou));
  EXPECT_EQ(row_state(lou), "none");
  EXPECT_EQ(worker.dead_letters().size(), 0U);
  EXPECT_FALSE(worker.dead_letters().requeue(lou));
}

TEST_F(DurablePostgres, AnIdleWorkerHearsAPostOfAnotherProcessAtOnceInsteadOfAtItsNextPoll) {
  // The worker's bus looks for work once a minute; only the news of the post (LISTEN/NOTIFY) can wake it sooner.
  pg::store other(schema_->options(4));
  cmdbus::bus worker{builder(other, 1, "", 60'000)};
  cmdbus::bus poster{builder(*db_, 1, "start_workers = false\n")};
  // Once it listens (its route says so), its first look has found nothing and it sleeps.
  ASSERT_TRUE(eventually([&] { return worker.queue_stats()[0].value("listening") == 1U; }));
  const auto first = poster.post(Deposit{"nia", 1, 1});
  ASSERT_TRUE(eventually([&] { return row_state(first) == "succeeded"; })) << row_state(first);
  const auto second = poster.post(Deposit{"nia", 2, 2});
  ASSERT_TRUE(eventually([&] { return row_state(second) == "succeeded"; })) << row_state(second);
  EXPECT_EQ(poster.execute(Deposit{"nia", 4, 3}), 8) << "the outcome came back from the other bus";
}

TEST_F(DurablePostgres, WithTheInboxClaimedCommandsShareATransaction) {
  constexpr int n = 40;
  std::vector<cmdbus::command_id> ids;
  {
    cmdbus::bus poster{builder(*db_, 2, "start_workers = false\n")};
    for (int i = 0; i < n; ++i) {
      ids.push_back(poster.post(Deposit{"acct" + std::to_string(i), i == 9 ? -1 : 1, 1}));
    }
  }
  const auto commits_before = db_->committed();
  cmdbus::bus worker{builder(*db_, 2, "batch = 8\n")};
  ASSERT_TRUE(eventually([&] {
    return std::all_of(ids.begin(), ids.end(), [&](const cmdbus::command_id& id) {
      const auto st = row_state(id);
      return st == "succeeded" || st == "dead";
    });
  }));
  (void)worker.stop();
  EXPECT_LT(db_->committed() - commits_before, static_cast<std::uint64_t>(n / 2)) << "several per transaction";
  std::int64_t lines = 0, distinct = 0;
  db_->with_connection([&](pg::connection& c) {
    lines = c.query_one<std::int64_t>("SELECT count(*) FROM ledger").value();
    distinct = c.query_one<std::int64_t>("SELECT count(DISTINCT command_id) FROM ledger").value();
  });
  EXPECT_EQ(lines, n - 1) << "each succeeded command once, the overdrawn one not at all";
  EXPECT_EQ(distinct, n - 1);
  EXPECT_EQ(row_state(ids[9]), "dead");
}

}  // namespace
