// Support for the PostgreSQL store's tests: the server under test, a schema per test, the fixture.
//
// The server comes from CMDBUS_TEST_PG, a libpq conninfo in key=value form ("host=127.0.0.1 port=5433
// user=postgres dbname=postgres"); `./run test` starts a throwaway server and sets it. Without it, the tests that
// need a server skip, saying so. Each test works in a schema of its own (dropped afterwards), so tests may run in
// parallel.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cmdbus/postgres/store.hpp"

namespace pg_test {

namespace pg = cmdbus::postgres;

/// The conninfo of the server under test, or nullptr.
inline const char* server() {
  const char* s = std::getenv("CMDBUS_TEST_PG");
  return s != nullptr && *s != '\0' ? s : nullptr;
}

inline constexpr const char* no_server =
    "CMDBUS_TEST_PG is not set, so there is no PostgreSQL server to test against: `./run test` starts one, or set "
    "it to a libpq conninfo such as \"host=127.0.0.1 port=5432 user=postgres dbname=postgres\"";

/// A schema of its own for one test, dropped with the object; connections made with conninfo() work in it.
class test_schema {
 public:
  test_schema() {
    std::random_device rd;
    name_ = fmt::format("cmdbus_test_{}_{:08x}", ::getpid(), rd());
    pg::connection admin(server());
    admin.exec_script("CREATE SCHEMA " + name_);
  }
  test_schema(const test_schema&) = delete;
  test_schema& operator=(const test_schema&) = delete;
  ~test_schema() {
    try {
      pg::connection admin(server());
      admin.exec_script("DROP SCHEMA " + name_ + " CASCADE");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not drop schema " << name_ << ": " << e.what();
    }
  }
  /// The server's conninfo, working in this schema, with `settings` ("-c name=value ..."). Deadlocks are found
  /// after 10 ms instead of 1 s: transfers in opposite directions deadlock often, and each costs the victim that
  /// long (a superuser setting; the test server runs as one).
  [[nodiscard]] std::string conninfo(std::string_view settings = "") const {
    return fmt::format("{} options='-c search_path={} -c deadlock_timeout=10ms {}'", server(), name_, settings);
  }
  [[nodiscard]] pg::options options(std::size_t pool_size = 4,
                                    pg::isolation_level isolation = pg::isolation_level::read_committed,
                                    std::string_view settings = "") const {
    return pg::options{.conninfo = conninfo(settings), .pool_size = pool_size, .isolation = isolation};
  }

 private:
  std::string name_;
};

/// A test that needs the server (skipped without it) and works in a schema of its own.
class Postgres : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server() == nullptr) {
      GTEST_SKIP() << no_server;
    }
    schema_ = std::make_unique<test_schema>();
  }
  void TearDown() override { schema_.reset(); }

  /// The first value `sql` returns, read outside any command.
  template <class T = std::int64_t>
  std::optional<T> read(pg::store& s, const std::string& sql) {
    std::optional<T> out;
    s.with_connection([&](pg::connection& c) { out = c.query_one<T>(sql); });
    return out;
  }

  std::unique_ptr<test_schema> schema_;
};

}  // namespace pg_test
