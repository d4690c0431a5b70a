// The retry policy: transient errors only, bounded attempts, backoff with jitter, the attempt count at the caller.
#include <gtest/gtest.h>

#include "messages.hpp"

namespace {

using namespace std::chrono_literals;

cmdbus::retry_policy fast(std::uint32_t attempts) {
  cmdbus::retry_policy p;
  p.max_attempts = attempts;
  p.initial_delay = 1ms;
  p.max_delay = 2ms;
  return p;
}

TEST(Retry, TransientErrorsAreRetriedUntilSuccess) {
  int calls = 0;
  std::vector<std::uint32_t> attempts;
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(fast(5)));
  b.handle<test::Add>([&](const test::Add& c, cmdbus::context& ctx) {
    attempts.push_back(ctx.attempt());
    if (++calls < 3) {
      throw cmdbus::transient_error("database busy");
    }
    return c.a + c.b;
  });
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.execute(test::Add{2, 2}), 4);
  EXPECT_EQ(attempts, (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST(Retry, TheCallerGetsTheLastErrorWithTheAttemptCount) {
  int calls = 0;
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(fast(4)));
  b.handle<test::Ping>([&](const test::Ping&) {
    ++calls;
    throw cmdbus::transient_error("broker unreachable");
  });
  cmdbus::bus bus{std::move(b)};
  const auto r = bus.try_execute(test::Ping{});
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(r.error().attempts(), 4U);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::transient);
  EXPECT_NE(r.error().describe().find("after 4 attempts"), std::string::npos) << r.error().describe();
}

TEST(Retry, RejectedAndFatalErrorsAreNotRetried) {
  int calls = 0;
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(fast(5)));
  b.handle<test::Withdraw>([&](const test::Withdraw& w) -> long {
    ++calls;
    if (w.account == "poor") {
      throw test::insufficient_funds("no");
    }
    throw test::ledger_corrupt("bug");
  });
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW((void)bus.execute(test::Withdraw{"poor", 1}), test::insufficient_funds);
  EXPECT_EQ(calls, 1);
  EXPECT_THROW((void)bus.execute(test::Withdraw{"x", 1}), test::ledger_corrupt);
  EXPECT_EQ(calls, 2);
}

TEST(Retry, EventsOfAFailedAttemptAreNotDelivered) {
  int calls = 0;
  std::vector<int> seen;
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(fast(3)));
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) {
    ctx.emit(test::Happened{++calls});
    if (calls == 1) {
      throw cmdbus::transient_error("busy");
    }
  });
  b.project<test::Happened>([&](const test::Happened& h) { seen.push_back(h.n); });
  cmdbus::bus bus{std::move(b)};
  bus.execute(test::Ping{});
  EXPECT_EQ(seen, std::vector<int>{2});
}

TEST(Retry, NoRetryStartsAfterTheDeadline) {
  int calls = 0;
  auto policy = fast(10);
  policy.initial_delay = 50ms;
  policy.max_delay = 50ms;
  cmdbus::bus_builder b;
  b.use(cmdbus::make_retry(policy));
  b.handle<test::Ping>([&](const test::Ping&) {
    ++calls;
    throw cmdbus::transient_error("busy");
  });
  cmdbus::bus bus{std::move(b)};
  const auto r = bus.try_execute(test::Ping{}, cmdbus::dispatch_options::within(10ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 1) << "the first retry would start after the deadline";
}

TEST(Retry, DelaysGrowExponentiallyWithinTheJitterAndTheCap) {
  cmdbus::retry_policy p;
  p.initial_delay = 10ms;
  p.multiplier = 2.0;
  p.max_delay = 50ms;
  p.jitter = 0.2;
  EXPECT_EQ(p.delay_before(2, 0.5), 10ms);
  EXPECT_EQ(p.delay_before(3, 0.5), 20ms);
  EXPECT_EQ(p.delay_before(5, 0.5), 50ms) << "capped";
  EXPECT_EQ(p.delay_before(2, 0.0), 8ms);
  EXPECT_GE(p.delay_before(2, 0.999), 11ms);
  EXPECT_LE(p.delay_before(2, 0.999), 12ms);
}

}  // namespace
