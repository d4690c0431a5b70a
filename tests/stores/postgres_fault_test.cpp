// cmdbus::postgres under contention and faults: serialization failures retried, deadlocks, and the server going
// away in the middle of a run. The fault test (PostgresFault.*) stops and restarts the test server with pg_ctl, using
// CMDBUS_TEST_PG_CTL, CMDBUS_TEST_PG_DATA, CMDBUS_TEST_PG_PORT, CMDBUS_TEST_PG_SOCKDIR (and CMDBUS_TEST_PG_LOG), which
// `./run test` sets; ctest runs it alone (RUN_SERIAL), since every other PostgreSQL test shares that server.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cmdbus/cmdbus.hpp"
#include "pg_server_control.hpp"
#include "postgres_support.hpp"

namespace {

using namespace std::chrono_literals;
using pg_test::Postgres;
namespace pg = cmdbus::postgres;

struct Bump {
  static constexpr std::string_view command_name = "pg.bump";
  std::int64_t id = 1;
};
struct Cross {
  static constexpr std::string_view command_name = "pg.cross";
  std::string first;
  std::string second;
};

// ---- concurrency (also run under TSan) -------------------------------------------------------------------------

using PostgresConcurrency = Postgres;

TEST_F(PostgresConcurrency, SerializationFailuresAreRetriedUntilEveryIncrementCounts) {
  pg::store s(schema_->options(4, pg::isolation_level::serializable));
  s.exec_script("CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO counter VALUES (1, 0)");
  cmdbus::retry_policy policy;
  policy.max_attempts = 100;
  policy.initial_delay = 1ms;
  policy.max_delay = 10ms;
  policy.jitter = 0.5;
  std::atomic<std::uint32_t> most_attempts{1};
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(policy));
  b.use(s.unit_of_work());
  b.handle<Bump>([&](const Bump& c, cmdbus::context& ctx) {
    auto seen = most_attempts.load();
    while (ctx.attempt() > seen && !most_attempts.compare_exchange_weak(seen, ctx.attempt())) {
    }
    auto& sql = pg::connection_of(ctx);
    // Read, then write what was read plus one: lost updates unless the isolation level refuses the loser.
    const auto n = sql.query_one<std::int64_t>("SELECT n FROM counter WHERE id = $1", c.id).value();
    std::this_thread::sleep_for(1ms);  // widen the window so that the two threads do collide
    sql.execute("UPDATE counter SET n = $1 WHERE id = $2", n + 1, c.id);
  });
  cmdbus::bus bus{std::move(b)};

  constexpr int threads = 2;
  constexpr int per_thread = 25;
  std::latch start(threads);
  std::atomic<int> failures{0};
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        if (auto r = bus.try_execute(Bump{}); !r) {
          failures.fetch_add(1);
          errors[static_cast<std::size_t>(t)] = r.error().describe();
        }
      }
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0) << errors[0] << " / " << errors[1];
  EXPECT_EQ(read(s, "SELECT n FROM counter WHERE id = 1"), threads * per_thread);
  EXPECT_GT(most_attempts.load(), 1U) << "at least one serialization failure was retried";
}

TEST_F(PostgresConcurrency, ADeadlockIsATransientErrorAndTheOtherCommandCommits) {
  pg::store s(schema_->options(2));
  s.exec_script(
      "CREATE TABLE acct (id TEXT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO acct VALUES ('a', 0), ('b', 0)");
  std::latch both_hold_a_lock(2);
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Cross>([&](const Cross& c, cmdbus::context& ctx) {
    auto& sql = pg::connection_of(ctx);
    sql.execute("UPDATE acct SET v = v + 1 WHERE id = $1", c.first);
    both_hold_a_lock.arrive_and_wait();  // each now waits for the row the other holds
    sql.execute("UPDATE acct SET v = v + 1 WHERE id = $1", c.second);
  });
  cmdbus::bus bus{std::move(b)};
  tl::expected<void, cmdbus::error> ab;
  tl::expected<void, cmdbus::error> ba;
  std::thread t1([&] { ab = bus.try_execute(Cross{"a", "b"}); });
  std::thread t2([&] { ba = bus.try_execute(Cross{"b", "a"}); });
  t1.join();
  t2.join();
  ASSERT_NE(ab.has_value(), ba.has_value()) << "exactly one of the two is chosen as the deadlock victim";
  const auto& failed = ab ? ba.error() : ab.error();
  EXPECT_EQ(failed.code(), cmdbus::error_code::transient);
  EXPECT_EQ(failed.type_name(), "cmdbus::postgres::deadlock_error");
  EXPECT_NE(failed.message().find("PostgreSQL deadlock (40P01)"), std::string::npos) << failed.message();
  EXPECT_EQ(read(s, "SELECT SUM(v) FROM acct"), 2) << "the winner's two updates; nothing of the victim's";
  EXPECT_EQ(s.committed(), 1U);
}

// ---- faults: the server goes away (run alone: it stops the shared test server) ---------------------------------

using pg_test::server_control;

struct Stop {
  static constexpr std::string_view command_name = "pg.stop";
};

using PostgresFault = Postgres;

TEST_F(PostgresFault, AStoppedServerIsATransientErrorNamingItAndTheStoreRecoversOnceItIsBack) {
  server_control server;
  if (!server.missing().empty()) {
    GTEST_SKIP() << server.missing() << " is not set: this test needs to stop and start the server (./run test sets "
                 << "it)";
  }
  pg::store s(schema_->options(2));
  s.exec_script("CREATE TABLE t (v BIGINT NOT NULL); INSERT INTO t VALUES (0)");
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Bump>([](const Bump&, cmdbus::context& ctx) { pg::connection_of(ctx).execute("UPDATE t SET v = v + 1"); });
  b.handle<Stop>([&](const Stop&, cmdbus::context& ctx) {
    auto& sql = pg::connection_of(ctx);
    sql.execute("UPDATE t SET v = v + 100");
    server.stop();  // in the middle of the command, with its transaction open
    sql.execute("UPDATE t SET v = v + 100");
  });
  cmdbus::bus bus{std::move(b)};
  const std::string endpoint = fmt::format("127.0.0.1:{}", std::getenv("CMDBUS_TEST_PG_PORT"));

  // Two connections, both idle in the pool when the server goes.
  s.with_connection([&](pg::connection&) { bus.execute(Bump{}); });

  auto r = bus.try_execute(Stop{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::transient) << r.error().describe();
  EXPECT_EQ(r.error().type_name(), "cmdbus::postgres::connection_lost_error");
  EXPECT_NE(r.error().message().find("lost the connection to PostgreSQL at " + endpoint +
                                     " while running \"UPDATE t SET v = v + 100\""),
            std::string::npos)
      << r.error().message();

  // While it is down: the idle connection is found closed, and a new one cannot be opened.
  r = bus.try_execute(Bump{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::transient) << r.error().describe();
  EXPECT_EQ(r.error().type_name(), "cmdbus::postgres::connection_lost_error");
  EXPECT_NE(r.error().message().find("cannot connect to PostgreSQL at " + endpoint), std::string::npos)
      << r.error().message();

  server.start();
  bus.execute(Bump{});  // the same store, no retry middleware: the pool reconnects by itself
  bus.execute(Bump{});
  EXPECT_EQ(read(s, "SELECT v FROM t"), 3) << "three bumps; nothing of the command the server died under";
}

}  // namespace
