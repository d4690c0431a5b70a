// cmdbus::sqlite: the store suite on an in-memory and a file database, and SQLite's own faults.
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "cmdbus/sqlite/store.hpp"
#include "store_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using store_suite::param;
using store_suite::StoreSuite;

void bind_params(cmdbus::sqlite::statement& s, const std::vector<param>& args) {
  int i = 0;
  for (const auto& a : args) {
    ++i;
    std::visit([&](const auto& v) { s.bind(i, v); }, a);
  }
}

std::optional<std::int64_t> first_int(cmdbus::sqlite::connection& c, const std::string& sql,
                                      const std::vector<param>& args) {
  auto& s = c.prepare(sql);
  bind_params(s, args);
  std::optional<std::int64_t> out;
  if (s.step()) {
    out = s.current().get<std::int64_t>(0);
  }
  s.reset();
  return out;
}

/// A temporary directory removed with the object.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cmdbus-sqlite-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() { std::filesystem::remove_all(path); }
};

class sqlite_adapter final : public store_suite::store_adapter {
 public:
  explicit sqlite_adapter(bool file) {
    cmdbus::sqlite::options o;
    if (file) {
      dir_ = std::make_unique<temp_dir>();
      o.path = (dir_->path / "suite.db").string();
      o.pool_size = 4;
    }
    concurrent_ = file;
    store_ = std::make_unique<cmdbus::sqlite::store>(o);
  }
  std::shared_ptr<cmdbus::middleware> unit_of_work() override { return store_->unit_of_work(); }
  void exec_script(const std::string& sql) override { store_->exec_script(sql); }
  void execute(const cmdbus::context& ctx, const std::string& sql, const std::vector<param>& args) override {
    auto& s = cmdbus::sqlite::connection_of(ctx).prepare(sql);
    bind_params(s, args);
    try {
      while (s.step()) {
      }
    } catch (...) {
      s.reset();
      throw;
    }
    s.reset();
  }
  std::optional<std::int64_t> query_int(const cmdbus::context& ctx, const std::string& sql,
                                        const std::vector<param>& args) override {
    return first_int(cmdbus::sqlite::connection_of(ctx), sql, args);
  }
  std::optional<std::int64_t> read_int(const std::string& sql, const std::vector<param>& args) override {
    std::optional<std::int64_t> out;
    store_->with_connection([&](cmdbus::sqlite::connection& c) { out = first_int(c, sql, args); });
    return out;
  }
  std::uint64_t committed() const override { return store_->committed(); }
  bool concurrent() const override { return concurrent_; }

 private:
  std::unique_ptr<temp_dir> dir_;  // declared first: removed after the store closes
  std::unique_ptr<cmdbus::sqlite::store> store_;
  bool concurrent_ = false;
};

INSTANTIATE_TEST_SUITE_P(
    sqlite, StoreSuite,
    ::testing::Values(
        store_suite::store_factory{"memory", [](std::string&) { return std::make_unique<sqlite_adapter>(false); }},
        store_suite::store_factory{"file", [](std::string&) { return std::make_unique<sqlite_adapter>(true); }}),
    store_suite::factory_name);

// ---- SQLite's own faults ---------------------------------------------------------------------------------------

struct Bump {
  static constexpr std::string_view command_name = "t.bump";
};
struct Lost {
  static constexpr std::string_view command_name = "t.lost";
};

TEST(Sqlite, AnUnopenablePathIsNamedAtStart) {
  cmdbus::sqlite::options o;
  o.path = "/nonexistent-cmdbus-dir/bank.db";
  try {
    cmdbus::sqlite::store s(o);
    FAIL() << "opened";
  } catch (const cmdbus::sqlite::error& e) {
    EXPECT_NE(std::string{e.what()}.find("cannot open database '/nonexistent-cmdbus-dir/bank.db'"), std::string::npos)
        << e.what();
  }
}

TEST(Sqlite, ADirectoryIsNotADatabase) {
  temp_dir dir;
  cmdbus::sqlite::options o;
  o.path = dir.path.string();
  try {
    cmdbus::sqlite::store s(o);
    FAIL() << "opened";
  } catch (const cmdbus::sqlite::error& e) {
    EXPECT_NE(std::string{e.what()}.find(dir.path.string()), std::string::npos) << e.what();
  }
}

TEST(Sqlite, ALockedDatabaseIsATransientErrorAndLeavesNoTrace) {
  temp_dir dir;
  cmdbus::sqlite::options o;
  o.path = (dir.path / "locked.db").string();
  o.busy_timeout = 50ms;
  cmdbus::sqlite::store s(o);
  s.exec_script("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);");

  cmdbus::bus_builder b;
  b.use(s.unit_of_work());
  b.handle<Bump>(
      [](const Bump&, cmdbus::context& ctx) { cmdbus::sqlite::connection_of(ctx).execute("UPDATE t SET v = v + 1"); });
  cmdbus::bus bus{std::move(b)};

  // Another process's writer: a raw connection holding the write lock.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto r = bus.try_execute(Bump{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::transient);
  EXPECT_EQ(r.error().type_name(), "cmdbus::sqlite::busy_error");
  EXPECT_NE(r.error().message().find("locked.db is locked"), std::string::npos) << r.error().message();
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  std::optional<std::int64_t> v;
  s.with_connection([&](cmdbus::sqlite::connection& c) { v = c.query_one<std::int64_t>("SELECT v FROM t"); });
  EXPECT_EQ(v, 1);
  bus.execute(Bump{});  // and the store works again once the lock is gone
  s.with_connection([&](cmdbus::sqlite::connection& c) { v = c.query_one<std::int64_t>("SELECT v FROM t"); });
  EXPECT_EQ(v, 2);
}

TEST(Sqlite, TheRetryPolicyRidesOutABriefLock) {
  temp_dir dir;
  cmdbus::sqlite::options o;
  o.path = (dir.path / "brief.db").string();
  o.busy_timeout = 20ms;
  cmdbus::sqlite::store s(o);
  s.exec_script("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);");
  // Counts attempts between the retry and the unit of work, so the lock is released only once an attempt has met it:
  // no sleeps, no dependence on how fast this machine is.
  struct attempt_counter final : cmdbus::middleware {
    std::atomic<int> started{0};
    void invoke(cmdbus::invocation&, cmdbus::next_step next) override {
      started.fetch_add(1);
      next();
    }
  };
  auto counter = std::make_shared<attempt_counter>();
  std::uint32_t attempts = 0;
  cmdbus::bus_builder b;
  cmdbus::retry_policy p;
  p.max_attempts = 1000;
  p.initial_delay = 1ms;
  p.max_delay = 5ms;
  b.use(cmdbus::make_retry(p));
  b.use(counter);
  b.use(s.unit_of_work());
  b.handle<Bump>([&](const Bump&, cmdbus::context& ctx) {
    attempts = ctx.attempt();
    cmdbus::sqlite::connection_of(ctx).execute("UPDATE t SET v = v + 1");
  });
  cmdbus::bus bus{std::move(b)};
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::atomic<bool> returned{false};
  std::thread release([other, &counter, &returned] {
    // Until the first attempt failed on the lock and the retry began (or execute gave up: then the test fails).
    while (counter->started.load() < 2 && !returned.load()) {
      std::this_thread::yield();
    }
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  });
  EXPECT_NO_THROW(bus.execute(Bump{}));
  returned = true;
  release.join();
  sqlite3_close(other);
  EXPECT_GT(attempts, 1U) << "the first attempt met the lock";
  std::optional<std::int64_t> v;
  s.with_connection([&](cmdbus::sqlite::connection& c) { v = c.query_one<std::int64_t>("SELECT v FROM t"); });
  EXPECT_EQ(v, 2) << "exactly one increment, however many attempts";
}

TEST(Sqlite, AConnectionOutsideAUnitOfWorkIsAClearError) {
  cmdbus::bus_builder b;
  b.handle<Lost>([](const Lost&, cmdbus::context& ctx) { (void)cmdbus::sqlite::connection_of(ctx); });
  cmdbus::bus bus{std::move(b)};
  try {
    bus.execute(Lost{});
    FAIL() << "no error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string{e.what()}.find("add store.unit_of_work()"), std::string::npos) << e.what();
  }
}

}  // namespace
