// The three call styles, queries, and how errors reach the caller.
#include <gtest/gtest.h>

#include "messages.hpp"

namespace {

using test::Add;
using test::Ping;
using test::Withdraw;

struct BusTest : ::testing::Test {
  long balance = 100;
  int pings = 0;

  std::unique_ptr<cmdbus::bus> make() {
    cmdbus::bus_builder b;
    b.handle<Add>([](const Add& c) { return c.a + c.b; });
    b.handle<Ping>([this](const Ping&, cmdbus::context&) { ++pings; });
    b.handle<Withdraw>([this](const Withdraw& w) {
      if (w.account == "corrupt") {
        throw test::ledger_corrupt("ledger for 'corrupt' does not balance");
      }
      if (w.account == "busy") {
        throw cmdbus::transient_error("ledger busy");
      }
      if (w.amount > balance) {
        throw test::insufficient_funds("balance " + std::to_string(balance) + " < " + std::to_string(w.amount));
      }
      balance -= w.amount;
      return balance;
    });
    b.handle<test::GetTotal>([this](const test::GetTotal&) { return balance; });
    return std::make_unique<cmdbus::bus>(std::move(b));
  }
};

TEST_F(BusTest, ExecuteReturnsTheHandlersResult) {
  auto bus = make();
  EXPECT_EQ(bus->execute(Add{2, 3}), 5);
  EXPECT_EQ(bus->execute(Withdraw{"a", 30}), 70);
  EXPECT_EQ(bus->query(test::GetTotal{}), 70);
}

TEST_F(BusTest, ExecuteVoidRunsTheHandler) {
  auto bus = make();
  bus->execute(Ping{});
  bus->execute(Ping{});
  EXPECT_EQ(pings, 2);
}

TEST_F(BusTest, HandlerExceptionReachesTheCallerWithItsOriginalType) {
  auto bus = make();
  try {
    bus->execute(Withdraw{"corrupt", 1});
    FAIL() << "no exception";
  } catch (const test::ledger_corrupt& e) {
    EXPECT_STREQ(e.what(), "ledger for 'corrupt' does not balance");
  }
  EXPECT_THROW(bus->execute(Withdraw{"a", 1000}), test::insufficient_funds);
  EXPECT_EQ(balance, 100) << "a failed withdrawal changed the balance";
}

TEST_F(BusTest, TryExecuteReturnsTheValueOnSuccess) {
  auto bus = make();
  auto r = bus->try_execute(Add{1, 1});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2);
  auto v = bus->try_execute(Ping{});
  EXPECT_TRUE(v.has_value());
}

TEST_F(BusTest, TryExecuteErrorCodesSayWhatToDo) {
  auto bus = make();
  const auto rejected = bus->try_execute(Withdraw{"a", 1000});
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(rejected.error().type_name(), "test::insufficient_funds");
  EXPECT_EQ(rejected.error().message(), "balance 100 < 1000");
  EXPECT_EQ(rejected.error().command_name(), "test.withdraw");
  EXPECT_FALSE(rejected.error().id().is_nil());

  const auto transient = bus->try_execute(Withdraw{"busy", 1});
  ASSERT_FALSE(transient);
  EXPECT_EQ(transient.error().code(), cmdbus::error_code::transient);

  const auto fatal = bus->try_execute(Withdraw{"corrupt", 1});
  ASSERT_FALSE(fatal);
  EXPECT_EQ(fatal.error().code(), cmdbus::error_code::fatal);
  EXPECT_THROW(fatal.error().rethrow(), test::ledger_corrupt);
  EXPECT_NE(fatal.error().describe().find("fatal: test.withdraw"), std::string::npos) << fatal.error().describe();

  const auto invalid = bus->try_execute(Withdraw{"a", -5});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(invalid.error().type_name(), "cmdbus::validation_error");
}

TEST_F(BusTest, UnknownCommandIsRejectedAndNamed) {
  auto bus = make();
  try {
    bus->execute(test::Unhandled{});
    FAIL() << "no exception";
  } catch (const cmdbus::unknown_command_error& e) {
    EXPECT_NE(std::string{e.what()}.find("'test.unhandled' (test::Unhandled)"), std::string::npos) << e.what();
  }
  const auto r = bus->try_execute(test::Unhandled{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().command_name(), "test.unhandled");
}

TEST_F(BusTest, SendReturnsACompletedHandle) {
  auto bus = make();
  auto h = bus->send(Add{20, 22});
  EXPECT_TRUE(h.ready());
  EXPECT_FALSE(h.id().is_nil());
  int seen = 0;
  h.then([&](tl::expected<int, cmdbus::error>& r) { seen = *r; });
  EXPECT_EQ(seen, 42);
  EXPECT_EQ(h.get(), 42);

  auto failed = bus->send(Withdraw{"a", 5000});
  EXPECT_TRUE(failed.ready());
  EXPECT_EQ(failed.result().error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(failed.result().error().id(), failed.id());
  EXPECT_THROW(failed.get(), test::insufficient_funds);
}

TEST_F(BusTest, PostRunsTheCommandAndReturnsItsId) {
  auto bus = make();
  const auto id = bus->post(Ping{});
  EXPECT_EQ(pings, 1);
  EXPECT_FALSE(id.is_nil());
  EXPECT_NE(bus->post(Ping{}), id);
  EXPECT_THROW(bus->post(Withdraw{"corrupt", 1}), test::ledger_corrupt);
  const auto r = bus->try_post(Withdraw{"a", 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
}

TEST_F(BusTest, DeadlineInThePastRejectsWithoutRunning) {
  auto bus = make();
  auto options = cmdbus::dispatch_options::within(-std::chrono::seconds(1));
  const auto r = bus->try_execute(Ping{}, options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type_name(), "cmdbus::deadline_exceeded_error");
  EXPECT_EQ(pings, 0);
  bus->execute(Ping{}, cmdbus::dispatch_options::within(std::chrono::seconds(10)));
  EXPECT_EQ(pings, 1);
}

TEST_F(BusTest, QueryErrorsReachTheCaller) {
  cmdbus::bus_builder b;
  b.handle<test::GetTotal>([](const test::GetTotal&) -> long { throw test::ledger_corrupt("read model missing"); });
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW((void)bus.query(test::GetTotal{}), test::ledger_corrupt);
  const auto r = bus.try_query(test::GetTotal{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().command_name(), "test.get_total");
}

}  // namespace
