// cmdbus::postgres: the store suite on a real PostgreSQL server, and PostgreSQL's own behaviour (see
// postgres_support.hpp for the server the tests need; the faults are in postgres_fault_test.cpp).
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "postgres_support.hpp"
#include "store_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using pg_test::Postgres;
using pg_test::server;
using pg_test::test_schema;
using store_suite::param;
using store_suite::StoreSuite;
namespace pg = cmdbus::postgres;

// ---- the store suite -------------------------------------------------------------------------------------------

/// The suite writes `?` placeholders; PostgreSQL numbers them: $1, $2, ...
std::string numbered(const std::string& sql) {
  std::string out;
  int n = 0;
  for (const char c : sql) {
    if (c == '?') {
      out += fmt::format("${}", ++n);
    } else {
      out += c;
    }
  }
  return out;
}

/// Calls f(args...) with the suite's runtime parameters as typed arguments.
template <class F>
decltype(auto) with_args(const std::vector<param>& args, F&& f) {
  const auto get = [&](std::size_t i) { return args[i]; };
  switch (args.size()) {
    case 0:
      return f();
    case 1:
      return std::visit(f, get(0));
    case 2:
      return std::visit(f, get(0), get(1));
    case 3:
      return std::visit(f, get(0), get(1), get(2));
    default:
      throw std::invalid_argument("the postgres adapter takes at most 3 parameters");
  }
}

std::optional<std::int64_t> first_int(pg::connection& c, const std::string& sql, const std::vector<param>& args) {
  const auto text = numbered(sql);
  return with_args(args, [&](const auto&... a) { return c.query_one<std::int64_t>(text, a...); });
}

class postgres_adapter final : public store_suite::store_adapter {
 public:
  postgres_adapter() : store_(std::make_unique<pg::store>(schema_.options())) {}
  std::shared_ptr<cmdbus::middleware> unit_of_work() override { return store_->unit_of_work(); }
  void exec_script(const std::string& sql) override { store_->exec_script(sql); }
  void execute(const cmdbus::context& ctx, const std::string& sql, const std::vector<param>& args) override {
    const auto text = numbered(sql);
    auto& c = pg::connection_of(ctx);
    with_args(args, [&](const auto&... a) { (void)c.execute(text, a...); });
  }
  std::optional<std::int64_t> query_int(const cmdbus::context& ctx, const std::string& sql,
                                        const std::vector<param>& args) override {
    return first_int(pg::connection_of(ctx), sql, args);
  }
  std::optional<std::int64_t> read_int(const std::string& sql, const std::vector<param>& args) override {
    std::optional<std::int64_t> out;
    store_->with_connection([&](pg::connection& c) { out = first_int(c, sql, args); });
    return out;
  }
  std::uint64_t committed() const override { return store_->committed(); }
  bool concurrent() const override { return true; }

 private:
  test_schema schema_;  // declared first: dropped after the store has closed its connections
  std::unique_ptr<pg::store> store_;
};

INSTANTIATE_TEST_SUITE_P(postgres, StoreSuite,
                         ::testing::Values(store_suite::store_factory{
                             "server",
                             [](std::string& skip_reason) -> std::unique_ptr<store_suite::store_adapter> {
                               if (server() == nullptr) {
                                 skip_reason = pg_test::no_server;
                                 return nullptr;
                               }
                               return std::make_unique<postgres_adapter>();
                             }}),
                         store_suite::factory_name);

// ---- PostgreSQL's own behaviour --------------------------------------------------------------------------------

struct Bump {
  static constexpr std::string_view command_name = "pg.bump";
  std::int64_t id = 1;
};
struct Insert {
  static constexpr std::string_view command_name = "pg.insert";
  std::string key;
};
struct Outer {
  static constexpr std::string_view command_name = "pg.outer";
};
struct Show {
  static constexpr std::string_view query_name = "pg.show";
  using result_type = std::string;
  std::string setting;
};
struct Sneaky {
  static constexpr std::string_view query_name = "pg.sneaky";
  using result_type = std::int64_t;
};

TEST_F(Postgres, ParametersAndResultsRoundTripAsText) {
  pg::store s(schema_->options());
  s.exec_script(
      "CREATE TABLE v (i BIGINT, d DOUBLE PRECISION, t TEXT, b BOOLEAN, n INTEGER, u NUMERIC);"
      "CREATE TABLE k (id INTEGER PRIMARY KEY)");
  s.with_connection([](pg::connection& c) {
    const std::optional<int> none;
    const std::optional<std::string> some = "ok";
    EXPECT_EQ(c.execute("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6)", std::int64_t{-9007199254740993}, 0.1,
                        "it's \"quoted\"", true, none, std::uint64_t{18446744073709551615ULL}),
              1);
    EXPECT_EQ(
        c.execute("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6)", 7, -2.5e300, some, false, nullptr, std::nullopt), 1);
    int rows = 0;
    c.query("SELECT i, d, t, b, n, u FROM v ORDER BY i", [&](pg::row r) {
      ++rows;
      EXPECT_EQ(r.columns(), 6);
      if (rows == 1) {
        EXPECT_EQ(r.get<std::int64_t>(0), -9007199254740993);
        EXPECT_EQ(r.get<double>(1), 0.1) << "doubles go and come back exactly";
        EXPECT_EQ(r.get<std::string>(2), "it's \"quoted\"");
        EXPECT_TRUE(r.get<bool>(3));
        EXPECT_TRUE(r.is_null(4));
        EXPECT_EQ(r.get<std::optional<int>>(4), std::nullopt);
        EXPECT_EQ(r.get<int>(4), 0) << "NULL reads as 0, as in the SQLite store";
        EXPECT_EQ(r.get_text(5), "18446744073709551615");
      } else {
        EXPECT_EQ(r.get<int>(0), 7);
        EXPECT_EQ(r.get<double>(1), -2.5e300);
        EXPECT_EQ(r.get<std::optional<std::string>>(2), "ok");
        EXPECT_FALSE(r.get<bool>(3));
        EXPECT_TRUE(r.is_null(5));
      }
    });
    EXPECT_EQ(rows, 2);
    EXPECT_EQ(c.query_one<std::int64_t>("SELECT i FROM v WHERE t = $1", "nothing"), std::nullopt);
    EXPECT_EQ(c.execute("UPDATE v SET n = $1", 3), 2) << "execute returns the rows changed";
    EXPECT_EQ(c.query_one<double>("SELECT 'Infinity'::float8"), std::numeric_limits<double>::infinity());

    const auto prepared = c.cached_statements();
    for (int i = 0; i < 3; ++i) {
      c.execute("INSERT INTO k VALUES ($1)", i);
    }
    EXPECT_EQ(c.cached_statements(), prepared + 1) << "one statement, prepared once, run three times";
    try {
      (void)c.query_one<std::int64_t>("SELECT t FROM v WHERE i = 7");
      ADD_FAILURE() << "read text as an integer";
    } catch (const pg::error& e) {
      EXPECT_NE(std::string{e.what()}.find("'ok', which is not a 64-bit integer"), std::string::npos) << e.what();
    }
  });
}

TEST_F(Postgres, ErrorsNameTheirSqlstateAndStatementAndTheConnectionStaysUsable) {
  pg::store s(schema_->options(1));
  s.with_connection([](pg::connection& c) {
    try {
      c.execute("SELECT * FROM no_such_table WHERE x = $1", 1);
      ADD_FAILURE() << "no error";
    } catch (const pg::error& e) {
      EXPECT_EQ(e.sqlstate(), "42P01");
      EXPECT_NE(std::string{e.what()}.find("PostgreSQL error 42P01 in \"SELECT * FROM no_such_table WHERE x = $1\": "
                                           "relation \"no_such_table\" does not exist"),
                std::string::npos)
          << e.what();
    }
    try {
      c.execute("SELECT $1::int + $2::int", 1);  // one parameter short
      ADD_FAILURE() << "no error";
    } catch (const pg::error& e) {
      EXPECT_EQ(e.sqlstate(), "08P01") << "a protocol error from the server, not a lost connection: " << e.what();
    }
    EXPECT_TRUE(c.healthy());
    EXPECT_EQ(c.query_one<int>("SELECT 1 + $1::int", 1), 2);
  });
}

TEST_F(Postgres, CommandsRunAtTheConfiguredIsolationAndQueriesReadOnly) {
  pg::store s(schema_->options(2, pg::isolation_level::serializable));
  s.exec_script("CREATE TABLE t (v BIGINT)");
  std::string seen;
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Bump>([&](const Bump&, cmdbus::context& ctx) {
    seen = pg::connection_of(ctx).query_one<std::string>("SHOW transaction_isolation").value_or("");
  });
  b.handle<Show>([](const Show& q, cmdbus::context& ctx) {
    return pg::connection_of(ctx).query_one<std::string>("SELECT current_setting($1)", q.setting).value_or("");
  });
  b.handle<Sneaky>(
      [](const Sneaky&, cmdbus::context& ctx) { return pg::connection_of(ctx).execute("INSERT INTO t VALUES (1)"); });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Bump{});
  EXPECT_EQ(seen, "serializable");
  EXPECT_EQ(bus.query(Show{"transaction_read_only"}), "on");
  EXPECT_EQ(bus.query(Show{"transaction_isolation"}), "serializable");
  const auto r = bus.try_query(Sneaky{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::fatal);
  EXPECT_NE(r.error().message().find("25006"), std::string::npos) << r.error().message();
  EXPECT_EQ(read(s, "SELECT COUNT(*) FROM t"), 0);
  EXPECT_EQ(s.committed(), 1U) << "the command's commit; queries commit nothing";
}

TEST_F(Postgres, AUniqueViolationIsRejectedNamingTheConstraint) {
  pg::store s(schema_->options());
  s.exec_script("CREATE TABLE item (key TEXT CONSTRAINT item_key_unique UNIQUE, note TEXT NOT NULL DEFAULT '')");
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Insert>([](const Insert& i, cmdbus::context& ctx) {
    pg::connection_of(ctx).execute("INSERT INTO item (key) VALUES ($1 || '-side')", i.key);
    pg::connection_of(ctx).execute("INSERT INTO item (key) VALUES ($1)", i.key);
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Insert{"a"});
  const auto r = bus.try_execute(Insert{"a"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(), "cmdbus::postgres::constraint_error");
  EXPECT_NE(r.error().message().find("unique constraint \"item_key_unique\" violated (23505) by \"INSERT INTO item"),
            std::string::npos)
      << r.error().message();
  try {
    r.error().rethrow();
  } catch (const pg::constraint_error& e) {
    EXPECT_EQ(e.constraint(), "item_key_unique");
    EXPECT_EQ(e.sqlstate(), "23505");
  }
  EXPECT_EQ(read(s, "SELECT COUNT(*) FROM item"), 2) << "the second command's first insert was rolled back";

  // NOT NULL has no constraint name: the table and column stand in.
  s.with_connection([](pg::connection& c) {
    try {
      c.execute("INSERT INTO item (key, note) VALUES ('n', $1)", std::nullopt);
      ADD_FAILURE() << "no error";
    } catch (const pg::constraint_error& e) {
      EXPECT_EQ(e.constraint(), "item.note") << e.what();
    }
  });
}

TEST_F(Postgres, AnSqlErrorCaughtAroundANestedCommandLeavesTheOuterTransactionUsable) {
  pg::store s(schema_->options());
  s.exec_script("CREATE TABLE item (key TEXT PRIMARY KEY)");
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Insert>([](const Insert& i, cmdbus::context& ctx) {
    pg::connection_of(ctx).execute("INSERT INTO item VALUES ($1)", i.key);
  });
  b.handle<Outer>([](const Outer&, cmdbus::context& ctx) {
    auto& sql = pg::connection_of(ctx);
    sql.execute("INSERT INTO item VALUES ('outer')");
    EXPECT_THROW(ctx.bus().execute(Insert{"outer"}), pg::constraint_error);  // fails inside its savepoint
    sql.execute("INSERT INTO item VALUES ('after')");  // in PostgreSQL only a savepoint makes this possible
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Outer{});
  std::vector<std::string> keys;
  s.with_connection([&](pg::connection& c) {
    c.query("SELECT key FROM item ORDER BY key", [&](pg::row r) { keys.push_back(r.get<std::string>(0)); });
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"after", "outer"}));
}

TEST_F(Postgres, ANestedCommandJoinsItsStoresTransactionPastAnotherUnitOfWork) {
  // A second transaction of the same store would wait for the outer one's row lock, which waits for it: a hang
  // without the lock timeout, a busy_error with it.
  pg::store s(schema_->options(4, pg::isolation_level::read_committed, "-c lock_timeout=2s"));
  s.exec_script("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES (1, 0)");
  class other_store_uow final : public cmdbus::unit_of_work {
    [[nodiscard]] const void* store_identity() const noexcept override { return this; }
  };
  class other_store final : public cmdbus::middleware {
    void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
      other_store_uow tx;
      call.ctx().set_unit_of_work(&tx);
      try {
        next();
      } catch (...) {
        call.ctx().set_unit_of_work(nullptr);
        throw;
      }
      call.ctx().set_unit_of_work(nullptr);
    }
  };
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.use<Insert>(std::make_shared<other_store>());  // Insert runs in another store's unit of work
  b.handle<Outer>([](const Outer&, cmdbus::context& ctx) {
    pg::connection_of(ctx).execute("UPDATE t SET v = v + 1 WHERE id = 1");
    ctx.bus().execute(Insert{"x"});
  });
  b.handle<Insert>([](const Insert&, cmdbus::context& ctx) { ctx.bus().execute(Bump{1}); });
  b.handle<Bump>([](const Bump& c, cmdbus::context& ctx) {
    pg::connection_of(ctx).execute("UPDATE t SET v = v + 1 WHERE id = $1", c.id);
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Outer{});
  EXPECT_EQ(read(s, "SELECT v FROM t"), 2);
  EXPECT_EQ(s.committed(), 1U) << "one transaction for the three commands";
}

TEST_F(Postgres, AHandlerThatSwallowsAnSqlErrorDoesNotCommit) {
  pg::store s(schema_->options());
  s.exec_script("CREATE TABLE item (key TEXT PRIMARY KEY); INSERT INTO item VALUES ('taken')");
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Insert>([](const Insert& i, cmdbus::context& ctx) {
    auto& sql = pg::connection_of(ctx);
    sql.execute("INSERT INTO item VALUES ($1)", i.key);
    try {
      sql.execute("INSERT INTO item VALUES ('taken')");
    } catch (const pg::constraint_error&) {  // and carries on, as if nothing had happened
    }
  });
  cmdbus::bus bus{std::move(b)};
  const auto r = bus.try_execute(Insert{"new"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::fatal);
  EXPECT_NE(r.error().message().find("the handler carried on"), std::string::npos) << r.error().message();
  EXPECT_EQ(read(s, "SELECT COUNT(*) FROM item"), 1);
  EXPECT_EQ(s.committed(), 0U);
}

TEST_F(Postgres, ABusyPoolIsATransientErrorNamingThePoolSize) {
  auto o = schema_->options(1);
  o.acquire_timeout = 100ms;
  pg::store s(o);
  s.exec_script("CREATE TABLE t (id BIGINT, v BIGINT)");
  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Bump>([](const Bump&, cmdbus::context& ctx) { pg::connection_of(ctx).execute("UPDATE t SET v = v + 1"); });
  cmdbus::bus bus{std::move(b)};
  s.with_connection([&](pg::connection&) {  // holds the only connection
    const auto r = bus.try_execute(Bump{});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), cmdbus::error_code::transient);
    EXPECT_EQ(r.error().type_name(), "cmdbus::postgres::busy_error");
    EXPECT_NE(r.error().message().find("all 1 pooled connections stayed in use"), std::string::npos)
        << r.error().message();
  });
  bus.execute(Bump{});  // free again
}

TEST(PostgresStart, AnUnreachableServerIsNamedWithoutThePassword) {
  // Port 1 on the loopback interface: nothing listens there, so the connection is refused at once.
  pg::options o{.conninfo = "host=127.0.0.1 port=1 user=bank password=s3cret-pw dbname=bank connect_timeout=2"};
  try {
    pg::store s(o);
    FAIL() << "connected";
  } catch (const pg::error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to PostgreSQL at 127.0.0.1:1 (database \"bank\", user \"bank\")"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
  }
}

TEST(PostgresStart, AConnectionOutsideAUnitOfWorkIsAClearError) {
  cmdbus::bus_builder b;
  b.handle<Bump>([](const Bump&, cmdbus::context& ctx) { (void)pg::connection_of(ctx); });
  cmdbus::bus bus{std::move(b)};
  try {
    bus.execute(Bump{});
    FAIL() << "no error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string{e.what()}.find("'pg.bump' asked for its PostgreSQL connection"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string{e.what()}.find("add store.unit_of_work()"), std::string::npos) << e.what();
  }
}

}  // namespace
