// The `local` route: the same commands and handlers, moved onto in-process workers by configuration alone.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "async_support.hpp"
#include "messages.hpp"

namespace {

using namespace std::chrono_literals;

struct Keyed {
  static constexpr std::string_view command_name = "test.keyed";
  int key = 0;
  int seq = 0;
  [[nodiscard]] int partition_key() const { return key; }
};

using test::gate;
using test::local_config;

/// A builder whose Ping handler waits for `g` and then counts itself in `ran`, with routing configuration `config`.
cmdbus::bus_builder gated_pings(gate& g, std::atomic<int>& ran, const std::string& config) {
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&g, &ran](const test::Ping&) {
    g.wait();
    ++ran;
  });
  b.config_text(config, "app.toml");
  return b;
}

/// Ping and Keyed on route "one", which has a single worker: a handler there that queued a command to its own route
/// and waited for it would wait for itself.
std::string one_worker_route(int execute_timeout_ms) {
  return "[routes.one]\nkind = \"local\"\nworkers = 1\nexecute_timeout_ms = " + std::to_string(execute_timeout_ms) +
         "\n[commands]\n\"test.ping\" = \"one\"\n\"test.keyed\" = \"one\"\n";
}

TEST(LocalRoute, TheSameHandlersRunOnWorkersByConfigurationAlone) {
  std::atomic<std::thread::id> ran_on{};
  cmdbus::bus_builder b;
  b.handle<test::Add>([&](const test::Add& c) {
    ran_on = std::this_thread::get_id();
    return c.a + c.b;
  });
  b.config_text(local_config("test.add"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.routes()[0].kind, "local");
  EXPECT_EQ(bus.execute(test::Add{20, 22}), 42);
  EXPECT_NE(ran_on.load(), std::this_thread::get_id()) << "a worker ran it";
  auto h = bus.send(test::Add{1, 2});
  EXPECT_EQ(h.get(), 3);
  const auto r = bus.try_execute(test::Add{2, 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 4);
}

TEST(LocalRoute, ExecuteReraisesTheHandlersExceptionWithItsType) {
  cmdbus::bus_builder b;
  b.handle<test::Withdraw>([](const test::Withdraw& w) -> long {
    if (w.account == "x") {
      throw test::ledger_corrupt("corrupt on a worker");
    }
    throw test::insufficient_funds("too little on a worker");
  });
  b.config_text(local_config("test.withdraw"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW((void)bus.execute(test::Withdraw{"x", 1}), test::ledger_corrupt);
  const auto r = bus.try_execute(test::Withdraw{"y", 1});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(), "test::insufficient_funds");
  EXPECT_EQ(r.error().message(), "too little on a worker");
  const auto invalid = bus.try_execute(test::Withdraw{"y", -1});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().type_name(), "cmdbus::validation_error") << "the same pipeline runs on the worker";
}

TEST(LocalRoute, PostReturnsOnceQueuedAndStopRunsEverythingAccepted) {
  std::atomic<int> ran{0};
  gate g;
  cmdbus::bus bus{gated_pings(g, ran, local_config("test.ping"))};
  std::vector<cmdbus::command_id> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(bus.post(test::Ping{}));
  }
  EXPECT_EQ(ran.load(), 0) << "post returned before the handlers ran";
  EXPECT_NE(ids[0], ids[1]);
  g.open();
  EXPECT_EQ(bus.stop().completed, 20U);
  EXPECT_EQ(ran.load(), 20);
  try {
    bus.post(test::Ping{});
    FAIL() << "accepted after stop";
  } catch (const cmdbus::stopping_error& e) {
    EXPECT_NE(std::string{e.what()}.find("route 'fast' is stopping"), std::string::npos) << e.what();
  }
}

TEST(LocalRoute, CommandsWithOneKeyRunInOrderAndNeverConcurrently) {
  constexpr int keys = 16;
  constexpr int per_key = 200;
  std::mutex m;
  std::map<int, int> last_seq;
  std::map<int, int> running;
  int out_of_order = 0;
  int overlapped = 0;
  cmdbus::bus_builder b;
  b.handle<Keyed>([&](const Keyed& k) {
    {
      std::lock_guard lock(m);
      if (running[k.key]++ != 0) {
        ++overlapped;
      }
      if (k.seq != last_seq[k.key] + 1) {
        ++out_of_order;
      }
      last_seq[k.key] = k.seq;
    }
    std::this_thread::yield();
    std::lock_guard lock(m);
    --running[k.key];
  });
  b.config_text(local_config("test.keyed", "capacity = 100000\n"), "app.toml");
  cmdbus::bus bus{std::move(b)};
  for (int seq = 1; seq <= per_key; ++seq) {
    for (int key = 0; key < keys; ++key) {
      bus.post(Keyed{key, seq});
    }
  }
  bus.stop();
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(overlapped, 0);
  for (int key = 0; key < keys; ++key) {
    EXPECT_EQ(last_seq[key], per_key) << "key " << key;
  }
}

TEST(LocalRoute, AFullQueueRejectsAtOnceNamingTheRouteAndItsCapacity) {
  gate g;
  std::atomic<int> ran{0};
  cmdbus::bus bus{
      gated_pings(g, ran,
                  "[routes.tiny]\nkind = \"local\"\nworkers = 1\ncapacity = 2\nfull = \"reject\"\n[commands]\n"
                  "\"test.ping\" = \"tiny\"\n")};
  bus.post(test::Ping{});
  bus.post(test::Ping{});
  const auto r = bus.try_post(test::Ping{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::transient);
  EXPECT_EQ(r.error().type_name(), "cmdbus::queue_full_error");
  EXPECT_NE(r.error().message().find("route 'tiny' is full (2 commands queued or running, its capacity)"),
            std::string::npos)
      << r.error().message();
  g.open();
  bus.stop();
  EXPECT_EQ(ran.load(), 2) << "the two accepted ran; the refused one was never queued";
}

TEST(LocalRoute, ABlockedSenderGivesUpAfterTheBlockTimeout) {
  gate g;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&) { g.wait(); });
  b.config_text(
      "[routes.tiny]\nkind = \"local\"\nworkers = 1\ncapacity = 1\nblock_timeout_ms = 30\n[commands]\n"
      "\"test.ping\" = \"tiny\"\n",
      "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.post(test::Ping{});
  try {
    bus.post(test::Ping{});
    FAIL() << "accepted beyond capacity";
  } catch (const cmdbus::queue_full_error& e) {
    EXPECT_NE(std::string{e.what()}.find("stayed full (capacity 1) for 30 ms"), std::string::npos) << e.what();
  }
  g.open();
}

TEST(LocalRoute, ABlockedSenderGoesOnOnceAWorkerFreesAPlace) {
  gate g;
  std::atomic<int> ran{0};
  cmdbus::bus bus{
      gated_pings(g, ran,
                  "[routes.tiny]\nkind = \"local\"\nworkers = 1\ncapacity = 1\nblock_timeout_ms = 10000\n[commands]\n"
                  "\"test.ping\" = \"tiny\"\n")};
  bus.post(test::Ping{});  // holds the only place until the gate opens
  std::atomic<bool> returned{false};
  std::string refused;
  std::thread sender([&] {
    const auto r = bus.try_post(test::Ping{});  // waits for the place
    if (!r) {
      refused = r.error().message();
    }
    returned = true;
  });
  std::this_thread::sleep_for(20ms);  // a margin only: this check can pass vacuously, never fail falsely
  EXPECT_FALSE(returned.load()) << "the route is full: the sender waits";
  g.open();
  sender.join();
  EXPECT_EQ(refused, "") << "the sender got the place the worker freed";
  bus.stop();
  EXPECT_EQ(ran.load(), 2);
}

TEST(LocalRoute, ACommandSentFromAHandlerIsItsChild) {
  struct seen_ids {
    cmdbus::command_id id, correlation, causation;
  };
  std::mutex m;
  seen_ids child{};
  cmdbus::command_id parent_id, parent_correlation;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) {
    std::lock_guard lock(m);
    child = {ctx.id(), ctx.correlation_id(), ctx.causation_id()};
  });
  b.handle<Keyed>([&](const Keyed&, cmdbus::context& ctx) {
    parent_id = ctx.id();
    parent_correlation = ctx.correlation_id();
    ctx.bus().send(test::Ping{}).get();  // to the local route's worker, from the sync route's handler
  });
  b.config_text("[routes.fast]\nkind = \"local\"\n[commands]\n\"test.ping\" = \"fast\"\n", "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Keyed{1, 1});
  std::lock_guard lock(m);
  EXPECT_EQ(child.causation, parent_id);
  EXPECT_EQ(child.correlation, parent_correlation);
  EXPECT_NE(child.id, parent_id);
}

TEST(LocalRoute, ExecuteInsideAHandlerRunsTheChildInlineWhateverItsRoute) {
  std::atomic<std::thread::id> parent_thread{}, child_thread{};
  std::atomic<bool> child_saw_parent{false};
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&, cmdbus::context& ctx) {
    child_thread = std::this_thread::get_id();
    child_saw_parent = ctx.parent() != nullptr;
  });
  b.handle<Keyed>([&](const Keyed&, cmdbus::context& ctx) {
    parent_thread = std::this_thread::get_id();
    ctx.bus().execute(test::Ping{});
    const auto r = ctx.bus().try_execute(test::Ping{});
    EXPECT_TRUE(r);
  });
  // Both on one worker: were the child queued, the parent would wait for a worker that is itself.
  b.config_text(one_worker_route(2000), "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Keyed{1, 1});
  EXPECT_NE(parent_thread.load(), std::this_thread::get_id()) << "the parent ran on the worker";
  EXPECT_EQ(child_thread.load(), parent_thread.load()) << "the child ran inline, on the parent's thread";
  EXPECT_TRUE(child_saw_parent.load()) << "as the parent's child (it joins the parent's unit of work)";
}

// A blocking wait on a worker for a command queued behind itself could never end: it fails at once instead.
TEST(LocalRoute, AWorkerWaitingOnACommandQueuedBehindItselfGetsAnErrorNotAHang) {
  std::atomic<int> pings{0};
  std::atomic<bool> looked_ready{true};
  std::string message;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&) { ++pings; });
  b.handle<Keyed>([&](const Keyed&, cmdbus::context& ctx) {
    auto h = ctx.bus().send(test::Ping{});
    looked_ready = h.wait_for(0ms);  // a look, not a wait: allowed, and the child cannot have run yet
    try {
      h.get();
    } catch (const cmdbus::self_wait_error& e) {
      message = e.what();
      throw;
    }
  });
  b.config_text(one_worker_route(20000), "app.toml");
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW(bus.execute(Keyed{1, 1}), cmdbus::self_wait_error) << "the parent fails with the error, at once";
  EXPECT_FALSE(looked_ready.load());
  EXPECT_NE(message.find("'test.ping'"), std::string::npos) << message;
  EXPECT_NE(message.find("route 'one'"), std::string::npos) << message;
  EXPECT_TRUE(test::eventually([&] { return pings.load() == 1; })) << "the child still runs, after its parent";
  const auto r = bus.try_execute(Keyed{1, 2});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::fatal) << "a bug in the calling code, not worth a retry";
}

TEST(LocalRoute, AWorkerWaitingOnACommandWhoseKeyMapsToItselfGetsAnError) {
  std::atomic<int> children{0};
  std::atomic<bool> refused{false};
  cmdbus::bus_builder b;
  b.handle<Keyed>([&](const Keyed& k, cmdbus::context& ctx) {
    if (k.seq == 2) {
      ++children;
      return;
    }
    try {
      ctx.bus().send(Keyed{k.key, 2}).get();  // the same key: the same worker, which is this one
    } catch (const cmdbus::self_wait_error&) {
      refused = true;
    }
  });
  b.config_text(local_config("test.keyed"), "app.toml");  // four workers
  cmdbus::bus bus{std::move(b)};
  bus.execute(Keyed{7, 1});
  EXPECT_TRUE(refused.load());
  EXPECT_TRUE(test::eventually([&] { return children.load() == 1; }));
}

TEST(LocalRoute, AWorkerMayWaitOnAnotherWorkerOfItsRouteOrOnAnotherRoute) {
  std::atomic<int> pings{0};
  std::atomic<int> adds{0};
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&) { ++pings; });
  b.handle<test::Add>([&](const test::Add& c) {
    ++adds;
    return c.a + c.b;
  });
  b.handle<Keyed>([&](const Keyed&, cmdbus::context& ctx) {
    for (int i = 0; i < 20; ++i) {
      ctx.bus().send(test::Ping{}).get();                       // no key, two workers: it goes to the other one
      EXPECT_EQ(ctx.bus().send(test::Add{i, 1}).get(), i + 1);  // another route's worker
    }
  });
  b.config_text(
      "[routes.two]\nkind = \"local\"\nworkers = 2\n[routes.other]\nkind = \"local\"\nworkers = 1\n"
      "[commands]\n\"test.ping\" = \"two\"\n\"test.keyed\" = \"two\"\n\"test.add\" = \"other\"\n",
      "app.toml");
  cmdbus::bus bus{std::move(b)};
  bus.execute(Keyed{1, 1});
  EXPECT_EQ(pings.load(), 20);
  EXPECT_EQ(adds.load(), 20);
}

TEST(LocalRoute, ACommandWhoseDeadlinePassedInTheQueueDoesNotRun) {
  gate g;
  std::atomic<int> ran{0};
  cmdbus::bus bus{
      gated_pings(g, ran, "[routes.one]\nkind = \"local\"\nworkers = 1\n[commands]\n\"test.ping\" = \"one\"\n")};
  bus.post(test::Ping{});  // occupies the only worker
  auto late = bus.send(test::Ping{}, cmdbus::dispatch_options::within(20ms));
  std::this_thread::sleep_for(40ms);
  g.open();
  late.wait();
  EXPECT_THROW(late.get(), cmdbus::deadline_exceeded_error);
  bus.stop();
  EXPECT_EQ(ran.load(), 1);
}

TEST(LocalRoute, ExecuteStopsWaitingAfterTheRoutesTimeout) {
  gate g;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&) { g.wait(); });
  b.config_text("[routes.slow]\nkind = \"local\"\nexecute_timeout_ms = 20\n[commands]\n\"test.ping\" = \"slow\"\n",
                "app.toml");
  cmdbus::bus bus{std::move(b)};
  const auto r = bus.try_execute(test::Ping{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type_name(), "cmdbus::execute_timeout_error");
  EXPECT_NE(r.error().message().find("on route 'slow': no outcome after 20 ms"), std::string::npos)
      << r.error().message();
  g.open();
}

TEST(LocalRoute, BadRouteSettingsAreNamedWithFileAndLine) {
  cmdbus::bus_builder b;
  b.handle<test::Ping>([](const test::Ping&) {});
  b.config_text("[routes.fast]\nkind = \"local\"\nworkers = 0\nfull = \"drop\"\nqueue = 5\n", "app.toml");
  try {
    cmdbus::bus bus{std::move(b)};
    FAIL() << "started";
  } catch (const cmdbus::config_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("app.toml:3: [routes.fast] workers must be a whole number from 1 to 256"), std::string::npos)
        << what;
    EXPECT_NE(what.find("app.toml:4: [routes.fast] full must be \"block\" or \"reject\""), std::string::npos) << what;
    EXPECT_NE(what.find("app.toml:5: unknown key 'queue' in [routes.fast]"), std::string::npos) << what;
  }
}

}  // namespace
