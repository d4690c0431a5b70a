// Which route an example test's commands take: "sync" (the caller's thread, inside its call) or "local" (in-process
// workers). Moving a command between the two is a change of configuration text only: the tests build the same bus,
// run the same commands and assert the same final state under both (issue 4, "Same code, either route").
//
// The fixtures' parameter is (store, routes); a test's name shows both: Stores/Bank.Transfer/sqlite_local.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cmdbus/cmdbus.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>

namespace examples_test {

/// Every command on the built-in sync route, said explicitly: $CMDBUS_CONFIG cannot change what the test runs.
inline constexpr const char* sync_routes = R"toml([commands]
"*" = "sync"
)toml";

/// Every command on one local route of 4 workers.
inline constexpr const char* local_routes = R"toml([routes.workers]
kind = "local"
workers = 4
capacity = 10000

[commands]
"*" = "workers"
)toml";

/// Route configuration `name` ("sync" or "local"), given to `b` as configuration text: the only thing the two
/// variants of a test do differently.
inline void use_routes(cmdbus::bus_builder& b, const std::string& name) {
  b.config_text(name == "local" ? local_routes : sync_routes, name + "_routes.toml");
}

/// The route every command must report in bus.routes() under configuration `name`, and that route's kind.
inline std::string route_of(const std::string& name) {
  return name == "local" ? "workers" : "sync";
}
inline std::string kind_of(const std::string& name) {
  return name == "local" ? "local" : "sync";
}

/// (store, routes): "sqlite"/"postgres" (example_store.hpp) by "sync"/"local".
using store_and_routes = std::tuple<std::string, std::string>;

inline auto all_stores_and_routes() {
  return ::testing::Combine(::testing::Values(std::string{"sqlite"}, std::string{"postgres"}),
                            ::testing::Values(std::string{"sync"}, std::string{"local"}));
}
inline auto all_routes() {
  return ::testing::Values(std::string{"sync"}, std::string{"local"});
}

/// "sqlite_local".
inline std::string store_and_routes_name(const ::testing::TestParamInfo<store_and_routes>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}
inline std::string routes_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

/// Checks that `bus.routes()` puts every command on the route configuration `name` says, from that configuration,
/// and that it lists `command`.
inline void expect_every_command_on(const cmdbus::bus& bus, const std::string& name, std::string_view command) {
  const auto& entries = bus.routes();
  ASSERT_FALSE(entries.empty());
  bool listed = false;
  for (const auto& r : entries) {
    EXPECT_EQ(r.route, route_of(name)) << r.command;
    EXPECT_EQ(r.kind, kind_of(name)) << r.command;
    EXPECT_NE(r.origin.find(name + "_routes.toml"), std::string::npos) << r.command << ": " << r.origin;
    listed = listed || r.command == command;
  }
  EXPECT_TRUE(listed) << command << " is listed";
}

/// Outermost middleware that counts the commands whose pipeline ran on the thread that built it (the test's) and
/// those that ran elsewhere (a worker). Queries always run on the caller's thread and are not counted.
class thread_probe final : public cmdbus::middleware {
 public:
  void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
    // First attempts only: on a worker each retry passes the whole pipeline again (docs/async.md).
    if (call.message().kind == cmdbus::message_kind::command && call.ctx().attempt() == 1) {
      (std::this_thread::get_id() == test_thread_ ? on_test_thread_ : elsewhere_).fetch_add(1);
    }
    next();
  }
  [[nodiscard]] std::uint64_t on_test_thread() const { return on_test_thread_.load(); }
  [[nodiscard]] std::uint64_t elsewhere() const { return elsewhere_.load(); }

  /// Runs `f` (one command) and checks that it ran where configuration `name` says: on a worker for "local", on the
  /// test's thread for "sync".
  template <class F>
  void expect_one_command_ran_per(const std::string& name, F&& f) {
    const auto here = on_test_thread();
    const auto elsewhere_before = elsewhere();
    f();
    const bool local = name == "local";
    EXPECT_EQ(elsewhere(), elsewhere_before + (local ? 1U : 0U)) << (local ? "a worker ran it" : "no worker ran it");
    EXPECT_EQ(on_test_thread(), here + (local ? 0U : 1U)) << (local ? "not the test's thread" : "the test's thread");
  }

  /// Checks that every command so far ran where configuration `name` says: on the test's thread for "sync", on
  /// another for "local". So a parametrization that silently ran sync twice would fail every local test.
  void expect_routes(const std::string& name) const {
    EXPECT_GT(on_test_thread() + elsewhere(), 0U) << "no command went through the probe";
    if (name == "local") {
      EXPECT_EQ(on_test_thread(), 0U) << "commands ran on the test's thread although every command is routed to "
                                         "the local route's workers";
    } else {
      EXPECT_EQ(elsewhere(), 0U) << "commands ran off the test's thread although every command is sync";
    }
  }

 private:
  const std::thread::id test_thread_ = std::this_thread::get_id();
  std::atomic<std::uint64_t> on_test_thread_{0};
  std::atomic<std::uint64_t> elsewhere_{0};
};

}  // namespace examples_test
