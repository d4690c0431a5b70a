// Ids, correlation and causation, trace context, headers, deadlines.
#include <gtest/gtest.h>

#include <vector>

#include "messages.hpp"

namespace {

struct Level {
  static constexpr std::string_view command_name = "test.level";
  int depth = 0;
};

struct seen_ids {
  cmdbus::command_id id, correlation, causation;
  cmdbus::trace_id trace;
  cmdbus::span_id span, parent_span;
};

TEST(Context, ThreeLevelChainSharesCorrelationWithCausationLinks) {
  std::vector<seen_ids> seen;  // by depth
  cmdbus::bus_builder b;
  b.handle<Level>([&](const Level& l, cmdbus::context& ctx) {
    seen.resize(std::max<std::size_t>(seen.size(), l.depth + 1));
    seen[l.depth] = {ctx.id(), ctx.correlation_id(), ctx.causation_id(), ctx.trace(), ctx.span(), ctx.parent_span()};
    if (l.depth < 2) {
      ctx.bus().execute(Level{l.depth + 1});  // no explicit parent: the bus finds it
    }
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Level{0});
  ASSERT_EQ(seen.size(), 3U);
  const auto& root = seen[0];
  EXPECT_FALSE(root.id.is_nil());
  EXPECT_EQ(root.correlation, root.id) << "a root command correlates to itself";
  EXPECT_TRUE(root.causation.is_nil()) << "a root command has no cause";
  EXPECT_FALSE(root.parent_span.valid());
  for (std::size_t d = 1; d < 3; ++d) {
    EXPECT_EQ(seen[d].correlation, root.id) << "depth " << d;
    EXPECT_EQ(seen[d].causation, seen[d - 1].id) << "depth " << d;
    EXPECT_NE(seen[d].id, seen[d - 1].id);
    EXPECT_EQ(seen[d].trace, root.trace);
    EXPECT_EQ(seen[d].parent_span, seen[d - 1].span);
    EXPECT_NE(seen[d].span, seen[d - 1].span);
  }
  EXPECT_EQ(cmdbus::bus::current(), nullptr) << "the ambient context is restored after the root returns";
}

TEST(Context, SiblingsAreChildrenOfTheSameParentAndTheParentIsRestored) {
  std::vector<cmdbus::command_id> causes;
  cmdbus::command_id root_id;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) { causes.push_back(ctx.causation_id()); });
  b.handle<Level>([&](const Level&, cmdbus::context& ctx) {
    root_id = ctx.id();
    ctx.bus().execute(test::Ping{});
    EXPECT_EQ(cmdbus::bus::current(), &ctx);
    ctx.bus().execute(test::Ping{});
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Level{});
  ASSERT_EQ(causes.size(), 2U);
  EXPECT_EQ(causes[0], root_id);
  EXPECT_EQ(causes[1], root_id);
}

TEST(Context, CallerSuppliedCorrelationAndTraceparentAreContinued) {
  seen_ids seen;
  std::string traceparent;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) {
    seen = {ctx.id(), ctx.correlation_id(), ctx.causation_id(), ctx.trace(), ctx.span(), ctx.parent_span()};
    traceparent = ctx.traceparent();
  });
  cmdbus::bus bus{std::move(b)};
  cmdbus::dispatch_options o;
  o.correlation_id = cmdbus::command_id::generate();
  o.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  bus.execute(test::Ping{}, o);
  EXPECT_EQ(seen.correlation, o.correlation_id);
  EXPECT_EQ(seen.trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(seen.parent_span.to_string(), "00f067aa0ba902b7");
  EXPECT_EQ(traceparent.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_EQ(traceparent.substr(36, 16), seen.span.to_string());
  EXPECT_EQ(traceparent.size(), 55U);
}

TEST(Context, MalformedTraceparentStartsANewTrace) {
  cmdbus::trace_id trace;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) { trace = ctx.trace(); });
  cmdbus::bus bus{std::move(b)};
  cmdbus::dispatch_options o;
  o.traceparent = "00-zzzz-not-a-trace";
  bus.execute(test::Ping{}, o);
  EXPECT_TRUE(trace.valid());
}

TEST(Context, HeadersFromTheCallerAndFromMiddleware) {
  struct enrich final : cmdbus::middleware {
    void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
      call.ctx().set_header("tenant", "acme");
      next();
    }
  };
  std::optional<std::string> tenant, user;
  cmdbus::bus_builder b;
  b.use(std::make_shared<enrich>());
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) {
    tenant = std::string{*ctx.header("tenant")};
    user = std::string{*ctx.header("user")};
    EXPECT_FALSE(ctx.header("absent"));
    EXPECT_EQ(ctx.headers().size(), 3U);
  });
  cmdbus::bus bus{std::move(b)};
  cmdbus::dispatch_options o;
  o.headers = {{"user", "ann"}, {"tenant", "caller-tenant"}};
  bus.execute(test::Ping{}, o);
  EXPECT_EQ(tenant, "acme");
  EXPECT_EQ(user, "ann");
}

TEST(Context, ChildInheritsTheEarlierDeadline) {
  std::optional<cmdbus::clock::time_point> parent_deadline, child_deadline;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) { child_deadline = ctx.deadline(); });
  b.handle<Level>([&](const Level&, cmdbus::context& ctx) {
    parent_deadline = ctx.deadline();
    ctx.bus().execute(test::Ping{}, cmdbus::dispatch_options::within(std::chrono::hours(1)));
  });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Level{}, cmdbus::dispatch_options::within(std::chrono::minutes(1)));
  ASSERT_TRUE(parent_deadline && child_deadline);
  EXPECT_EQ(*child_deadline, *parent_deadline);
}

TEST(Context, AttemptStartsAtOne) {
  std::uint32_t attempt = 0;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) { attempt = ctx.attempt(); });
  cmdbus::bus bus{std::move(b)};
  bus.execute(test::Ping{});
  EXPECT_EQ(attempt, 1U);
}

}  // namespace
