// The examples' [store] table (examples/common/store_config), opening the store it names, and SQL for each store.
#include <gtest/gtest.h>

#include <cmdbus/cmdbus.hpp>
#include <fstream>
#include <string>

#include "common/database.hpp"
#include "common/sql.hpp"
#include "common/store_config.hpp"
#include "temp_dir.hpp"

namespace {

using examples::parse_store_config;
using examples::store_config_error;
using examples::store_defaults;
using examples::store_kind;

const store_defaults defaults{"bank.db", "/srv/bank"};

/// The message of the store_config_error that parsing `toml` throws, or "" when it parses.
std::string error_of(const std::string& toml) {
  try {
    (void)parse_store_config(toml, "t.toml", defaults);
  } catch (const store_config_error& e) {
    return e.what();
  }
  return "";
}

TEST(StoreConfig, WithoutAStoreTableTheDatabaseIsAFileInData) {
  const auto cfg = parse_store_config("[commands]\n\"*\" = \"sync\"\n", "t.toml", defaults);
  EXPECT_EQ(cfg.kind, store_kind::sqlite);
  EXPECT_EQ(cfg.path, "/srv/bank/data/bank.db");
  EXPECT_FALSE(cfg.full_sync);
  EXPECT_EQ(cfg.origin, "t.toml (no [store]: the defaults)");
}

TEST(StoreConfig, ReadsTheSqliteKeys) {
  const auto cfg = parse_store_config(R"(
[store]
kind = "sqlite"
path = "db/x.db"
synchronous = "FULL"
busy_timeout_ms = 250
pool_size = 2
)",
                                      "t.toml", defaults);
  EXPECT_EQ(cfg.path, "/srv/bank/db/x.db") << "relative to the base directory";
  EXPECT_TRUE(cfg.full_sync);
  EXPECT_EQ(cfg.busy_timeout.count(), 250);
  EXPECT_EQ(cfg.pool_size, 2U);
  EXPECT_EQ(cfg.origin, "t.toml:2");
  EXPECT_EQ(parse_store_config("[store]\npath = \"/tmp/a.db\"\n", "t", defaults).path, "/tmp/a.db");
  EXPECT_EQ(parse_store_config("[store]\npath = \":memory:\"\n", "t", defaults).path, ":memory:");
}

TEST(StoreConfig, ReadsThePostgresKeys) {
  const auto cfg = parse_store_config(R"(
[store]
kind = "postgres"
conninfo = "host=127.0.0.1 port=5432 dbname=bank"
isolation = "Serializable"
)",
                                      "t.toml", defaults);
  EXPECT_EQ(cfg.kind, store_kind::postgres);
  EXPECT_EQ(cfg.conninfo, "host=127.0.0.1 port=5432 dbname=bank");
  EXPECT_EQ(cfg.isolation, "serializable");
}

TEST(StoreConfig, EveryProblemIsNamedWithItsLine) {
  const auto e = error_of(R"([store]
kind = "sqlite"
paht = "x.db"
synchronous = "sometimes"
conninfo = "host=x"
busy_timeout_ms = "soon"
)");
  EXPECT_NE(e.find("t.toml:3: unknown key 'paht' in [store]"), std::string::npos) << e;
  EXPECT_NE(e.find("t.toml:4: [store] synchronous = \"sometimes\" is not one of \"normal\", \"full\""),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("t.toml:5: [store] key 'conninfo' applies to kind = \"postgres\""), std::string::npos) << e;
  EXPECT_NE(e.find("t.toml:6: [store] busy_timeout_ms must be a whole number"), std::string::npos) << e;
}

TEST(StoreConfig, RejectsAWrongKindAMissingConninfoAndBadToml) {
  EXPECT_NE(error_of("[store]\nkind = \"mysql\"\n").find("kind = \"mysql\" is not one of"), std::string::npos);
  EXPECT_NE(error_of("[store]\nkind = \"postgres\"\n").find("needs conninfo"), std::string::npos);
  EXPECT_NE(error_of("store = 3\n").find("'store' must be a table"), std::string::npos);
  EXPECT_NE(error_of("[store\n").find("t.toml:1:"), std::string::npos);
}

#if defined(EXAMPLES_WITH_POSTGRES)
TEST(StoreConfig, AnUnreachablePostgresIsAClearErrorNamingTheServer) {
  const auto cfg = parse_store_config(
      "[store]\nkind = \"postgres\"\nconninfo = \"host=cmdbus-no-such-host connect_timeout=2\"\n", "t.toml", defaults);
  try {
    (void)examples::database::open(cfg);
    FAIL() << "opened";
  } catch (const cmdbus::postgres::error& e) {
    EXPECT_NE(std::string{e.what()}.find("cmdbus-no-such-host:5432"), std::string::npos) << e.what();
  }
}
#else
TEST(StoreConfig, PostgresIsAClearErrorInABuildWithoutIt) {
  const auto cfg = parse_store_config("[store]\nkind = \"postgres\"\nconninfo = \"host=x\"\n", "t.toml", defaults);
  try {
    (void)examples::database::open(cfg);
    FAIL() << "opened";
  } catch (const store_config_error& e) {
    EXPECT_NE(std::string{e.what()}.find("this build has no postgres store"), std::string::npos) << e.what();
  }
}
#endif

struct Ping {
  static constexpr std::string_view command_name = "t.ping";
};

TEST(StoreConfig, CmdbusAcceptsTheStoreTableInTheRoutingFile) {
  cmdbus::bus_builder b;
  b.handle<Ping>([](const Ping&) {});
  b.config_text("[commands]\n\"*\" = \"sync\"\n[store]\nkind = \"sqlite\"\npath = \"data/x.db\"\n", "both.toml");
  EXPECT_NO_THROW(cmdbus::bus{std::move(b)});
}

TEST(StoreConfig, OpenCreatesTheDirectoryAndFreshStartsAnew) {
  examples_test::temp_dir dir;
  const auto file = dir.path / "cmdbus.toml";
  std::ofstream(file) << "[store]\npath = \"data/t.db\"\n";
  const auto cfg = examples::read_store_config(file, {"t.db", dir.path});
  EXPECT_EQ(cfg.path, (dir.path / "data" / "t.db").string());
  {
    auto db = examples::database::open(cfg);
    db.exec_script("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);");
    EXPECT_NE(db.description().find("(WAL, synchronous=NORMAL)"), std::string::npos) << db.description();
  }
  {
    auto db = examples::database::open(cfg);
    EXPECT_EQ(db.scalar("SELECT v FROM t"), 1) << "keep: the data is still there";
  }
  auto db = examples::database::open(cfg, examples::database::mode::fresh);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM sqlite_master"), 0) << "fresh: an empty database";
}

TEST(StoreConfig, AnUnreadableFileIsNamed) {
  try {
    (void)examples::read_store_config("/nonexistent/cmdbus.toml", defaults);
    FAIL() << "read";
  } catch (const store_config_error& e) {
    EXPECT_NE(std::string{e.what()}.find("/nonexistent/cmdbus.toml: cannot read"), std::string::npos) << e.what();
  }
}

TEST(Sql, NumberedParametersBecomeSqlitesAndLiteralsStayAsTheyAre) {
  using examples::dialect;
  EXPECT_EQ(examples::sql_for(dialect::sqlite, "UPDATE t SET a = $1 WHERE b = $2 AND c >= $1"),
            "UPDATE t SET a = ?1 WHERE b = ?2 AND c >= ?1");
  EXPECT_EQ(examples::sql_for(dialect::sqlite, "SELECT '$1', \"$2\", $10, $x"), "SELECT '$1', \"$2\", ?10, $x");
  EXPECT_EQ(examples::sql_for(dialect::postgres, "SELECT $1"), "SELECT $1");
}

}  // namespace
