// The routing file: checked against the registrations when the bus starts; every problem named with file:line.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "messages.hpp"

namespace {

cmdbus::bus_builder registered() {
  cmdbus::bus_builder b;
  b.handle<test::Add>([](const test::Add& c) { return c.a + c.b; });
  b.handle<test::Ping>([](const test::Ping&) {});
  b.handle<test::GetTotal>([](const test::GetTotal&) { return 0L; });
  return b;
}

/// The config_error message of starting a bus, or "" if it started.
std::string start_error(cmdbus::bus_builder b) {
  try {
    cmdbus::bus bus{std::move(b)};
    return "";
  } catch (const cmdbus::config_error& e) {
    return e.what();
  }
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

TEST(Routes, NoConfigMeansEverythingIsSync) {
  ::unsetenv("CMDBUS_CONFIG");
  cmdbus::bus bus{registered()};
  ASSERT_EQ(bus.routes().size(), 2U);  // commands only
  for (const auto& r : bus.routes()) {
    EXPECT_EQ(r.route, "sync");
    EXPECT_EQ(r.origin, "default");
  }
}

TEST(Routes, FileEntriesAndDefaultAreApplied) {
  auto b = registered();
  b.config_text("[commands]\n\"*\" = \"sync\"\n\"test.add\" = { route = \"sync\" }\n", "routes.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.routes()[0].command, "test.add");
  EXPECT_EQ(bus.routes()[0].origin, "routes.toml:3");
  EXPECT_EQ(bus.routes()[1].origin, "routes.toml:2 (\"*\")");
  EXPECT_EQ(bus.execute(test::Add{1, 2}), 3);
}

TEST(Routes, UnknownRouteIsReportedWithFileAndLine) {
  auto b = registered();
  b.config_text("[commands]\n\"test.add\" = \"snyc\"\n", "app.toml");
  const auto what = start_error(std::move(b));
  EXPECT_CONTAINS(what, "app.toml:2: [commands] entry 'test.add' names unknown route 'snyc' (did you mean 'sync'?)");
  EXPECT_CONTAINS(what, "known routes: sync");
}

TEST(Routes, UnknownCommandNameIsReportedWithFileLineAndNearestName) {
  auto b = registered();
  b.config_text("# routes\n[commands]\n\"test.ping\" = \"sync\"\n\"test.ad\" = \"sync\"\n", "app.toml");
  const auto what = start_error(std::move(b));
  EXPECT_CONTAINS(what, "app.toml:4: [commands] names unknown command 'test.ad' (did you mean 'test.add'?)");
}

TEST(Routes, EveryProblemIsListedNotJustTheFirst) {
  auto b = registered();
  b.config_text("[commands]\n\"nope.one\" = \"sync\"\n\"test.add\" = \"fast\"\n[comands]\n", "app.toml");
  const auto what = start_error(std::move(b));
  EXPECT_CONTAINS(what, "3 problems");
  EXPECT_CONTAINS(what, "app.toml:2:");
  EXPECT_CONTAINS(what, "app.toml:3:");
  EXPECT_CONTAINS(what, "app.toml:4: unknown key 'comands' in the top level (did you mean 'commands'?)");
}

TEST(Routes, AQueryTakesNoRoute) {
  auto b = registered();
  b.config_text("[commands]\n\"test.get_total\" = \"sync\"\n", "app.toml");
  EXPECT_CONTAINS(start_error(std::move(b)), "app.toml:2: 'test.get_total' is a query");
}

TEST(Routes, RouteKindsThisBuildLacksAreNamed) {
  auto b = registered();
  b.config_text("[routes.fast]\nkind = \"kafka\"\n[commands]\n\"test.add\" = \"fast\"\n", "app.toml");
  const auto what = start_error(std::move(b));
  EXPECT_CONTAINS(what, "app.toml:1: route 'fast' has kind 'kafka', which this build does not provide");
}

TEST(Routes, NamedSyncRoutesCanBeDefined) {
  auto b = registered();
  b.config_text("[routes.inline]\nkind = \"sync\"\n[commands]\n\"test.add\" = \"inline\"\n", "app.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.routes()[0].route, "inline");
  EXPECT_EQ(bus.routes()[0].kind, "sync");
}

TEST(Routes, SyntaxErrorsNameFileLineAndColumn) {
  auto b = registered();
  b.config_text("[commands]\n\"test.add\" = sync\n", "app.toml");
  EXPECT_CONTAINS(start_error(std::move(b)), "app.toml:2:");
}

TEST(Routes, DeclaredCommandWithoutHandlerOnSyncIsAStartupError) {
  auto b = registered();
  b.declare<test::Unhandled>();
  const auto what = start_error(std::move(b));
  EXPECT_CONTAINS(what, "routes_test.cpp:");
  EXPECT_CONTAINS(what, "command 'test.unhandled' (test::Unhandled) is declared but has no handler");
  EXPECT_CONTAINS(what, "bus_builder::handle<test::Unhandled>()");
}

TEST(Routes, CodeRoutesAreCheckedAndTheFileWins) {
  auto b = registered();
  b.route<test::Ping>("nowhere");
  EXPECT_CONTAINS(start_error(std::move(b)), "route<test::Ping>() names unknown route 'nowhere'");

  auto c = registered();
  c.route<test::Ping>("nowhere");
  c.config_text("[commands]\n\"test.ping\" = \"sync\"\n", "app.toml");
  cmdbus::bus bus{std::move(c)};  // the file's exact entry takes precedence over code
  EXPECT_EQ(bus.routes()[1].origin, "app.toml:2");
}

TEST(Routes, ConfigPathComesFromTheEnvironment) {
  const auto path = std::filesystem::temp_directory_path() / "cmdbus-routes-test.toml";
  {
    std::ofstream out(path);
    out << "[commands]\n\"test.pnig\" = \"sync\"\n";
  }
  ::setenv("CMDBUS_CONFIG", path.c_str(), 1);
  const auto what = start_error(registered());
  ::unsetenv("CMDBUS_CONFIG");
  std::filesystem::remove(path);
  EXPECT_CONTAINS(what, path.string() + ":2: [commands] names unknown command 'test.pnig' (did you mean 'test.ping'?)");
}

TEST(Routes, MissingConfigFileIsNamed) {
  auto b = registered();
  b.config_file("/nonexistent/dir/cmdbus.toml");
  EXPECT_CONTAINS(start_error(std::move(b)), "/nonexistent/dir/cmdbus.toml: cannot read");
}

}  // namespace

namespace {

TEST(Routes, UnquotedDottedWireNameGetsAHint) {
  auto b = registered();
  b.config_text("[commands]\ntest.add = \"sync\"\n", "app.toml");
  const auto what = start_error(std::move(b));
  EXPECT_NE(what.find("a wire name with dots must be quoted: \"test.x\" = \"sync\""), std::string::npos) << what;
}

TEST(Routes, TheLastOfConfigFileAndConfigTextWins) {
  auto b = registered();
  b.config_text("[commands]\n\"test.nope\" = \"sync\"\n", "bad.toml");
  b.config_file("/nonexistent/cmdbus.toml");
  b.config_text("[commands]\n\"test.add\" = \"sync\"\n", "good.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.routes()[0].origin, "good.toml:2");
}

}  // namespace
