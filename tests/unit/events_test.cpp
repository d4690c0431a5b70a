// Events: subscribers run after the handler succeeds, in registration order; failures reach the caller.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "messages.hpp"

namespace {

struct Emit {
  static constexpr std::string_view command_name = "test.emit";
  int count = 1;
  bool fail_after_emit = false;
};

cmdbus::bus_builder emitting() {
  cmdbus::bus_builder b;
  b.handle<Emit>([](const Emit& e, cmdbus::context& ctx) {
    for (int i = 0; i < e.count; ++i) {
      ctx.emit(test::Happened{i});
    }
    if (e.fail_after_emit) {
      throw test::ledger_corrupt("failed after emitting");
    }
  });
  return b;
}

TEST(Events, SubscribersRunInRegistrationOrderAfterTheHandler) {
  std::vector<std::string> log;
  auto b = emitting();
  b.subscribe<test::Happened>([&](const test::Happened& h) { log.push_back("first " + std::to_string(h.n)); });
  b.subscribe<test::Happened>([&](const test::Happened& h, cmdbus::context& ctx) {
    log.push_back(std::string{ctx.command_name()} + " " + std::to_string(h.n));
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Emit{2});
  EXPECT_EQ(log, (std::vector<std::string>{"first 0", "test.emit 0", "first 1", "test.emit 1"}));
}

TEST(Events, AFailedHandlersEventsAreDropped) {
  int delivered = 0;
  auto b = emitting();
  b.subscribe<test::Happened>([&](const test::Happened&) { ++delivered; });
  b.project<test::Happened>([&](const test::Happened&) { ++delivered; });
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW(bus.execute(Emit{3, true}), test::ledger_corrupt);
  EXPECT_EQ(delivered, 0);
}

TEST(Events, AProjectionFailureFailsTheCommandAndStopsLaterProjections) {
  std::vector<int> later;
  int after_commit = 0;
  auto b = emitting();
  b.project<test::Happened>([](const test::Happened& h) {
    if (h.n == 1) {
      throw test::ledger_corrupt("projection broke on event 1");
    }
  });
  b.project<test::Happened>([&](const test::Happened& h) { later.push_back(h.n); });
  b.subscribe<test::Happened>([&](const test::Happened&) { ++after_commit; });
  cmdbus::bus bus{std::move(b)};
  const auto r = bus.try_execute(Emit{3});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type_name(), "test::ledger_corrupt");
  EXPECT_EQ(r.error().message(), "projection broke on event 1");
  EXPECT_EQ(later, std::vector<int>{0}) << "event 0 fully projected; nothing after the failure";
  EXPECT_EQ(after_commit, 0) << "a failed command's events never reach after-commit subscribers";
}

TEST(Events, ProjectionsRunBeforeAfterCommitSubscribers) {
  std::vector<std::string> log;
  auto b = emitting();
  b.subscribe<test::Happened>([&](const test::Happened& h) { log.push_back("after " + std::to_string(h.n)); });
  b.project<test::Happened>([&](const test::Happened& h) { log.push_back("project " + std::to_string(h.n)); });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Emit{2});
  EXPECT_EQ(log, (std::vector<std::string>{"project 0", "project 1", "after 0", "after 1"}));
}

TEST(Events, AnAfterCommitFailureIsCountedAndTheCommandStillSucceeds) {
  std::vector<int> delivered;
  auto b = emitting();
  b.subscribe<test::Happened>([](const test::Happened& h) {
    if (h.n == 0) {
      throw test::ledger_corrupt("mailer down");
    }
  });
  b.subscribe<test::Happened>([&](const test::Happened& h) { delivered.push_back(h.n); });
  cmdbus::bus bus{std::move(b)};
  EXPECT_TRUE(bus.try_execute(Emit{2}).has_value());
  EXPECT_EQ(delivered, (std::vector<int>{0, 1})) << "one subscriber's failure does not stop the others";
  EXPECT_EQ(bus.after_commit_failures(), 1U);
}

TEST(Events, CommandsFromSubscribersAreChildrenOfTheEmittingCommand) {
  cmdbus::command_id emitter, cause;
  auto b = emitting();
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) { cause = ctx.causation_id(); });
  b.subscribe<test::Happened>([&](const test::Happened&, cmdbus::context& ctx) {
    emitter = ctx.id();
    ctx.bus().execute(test::Ping{});
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Emit{1});
  EXPECT_FALSE(emitter.is_nil());
  EXPECT_EQ(cause, emitter);
}

TEST(Events, EventsWithoutSubscribersAreFine) {
  cmdbus::bus bus{emitting()};
  EXPECT_NO_THROW(bus.execute(Emit{2}));
}

}  // namespace
