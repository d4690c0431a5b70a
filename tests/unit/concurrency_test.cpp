// Many threads dispatching at once, with nested commands, through shared middleware (run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "messages.hpp"

namespace {

struct Parent {
  static constexpr std::string_view command_name = "test.parent";
  using result_type = long;
  long n = 0;
};
struct Child {
  static constexpr std::string_view command_name = "test.child";
  using result_type = long;
  long n = 0;
};

TEST(Concurrency, EightThreadsDispatchNestedCommandsWithoutLocks) {
  constexpr int threads = 8;
  constexpr long per_thread = 100000;
  std::atomic<long> children{0};
  std::atomic<long> broken_links{0};
  auto metrics = cmdbus::make_metrics();

  cmdbus::bus_builder b;
  b.use(metrics);
  b.handle<Child>([&](const Child& c, cmdbus::context& ctx) {
    children.fetch_add(1, std::memory_order_relaxed);
    if (ctx.parent() == nullptr || ctx.causation_id() != ctx.parent()->id() ||
        ctx.correlation_id() != ctx.parent()->correlation_id()) {
      broken_links.fetch_add(1, std::memory_order_relaxed);
    }
    return c.n * 2;
  });
  b.handle<Parent>([](const Parent& p, cmdbus::context& ctx) { return ctx.bus().execute(Child{p.n}) + 1; });
  cmdbus::bus bus{std::move(b)};

  std::vector<long> sums(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&bus, &sums, t] {
      long sum = 0;
      for (long i = 0; i < per_thread; ++i) {
        sum += bus.execute(Parent{i});
      }
      sums[static_cast<std::size_t>(t)] = sum;
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  // sum over i of (2i + 1) = per_thread^2
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(sums[static_cast<std::size_t>(t)], per_thread * per_thread) << "thread " << t;
  }
  EXPECT_EQ(children.load(), threads * per_thread);
  EXPECT_EQ(broken_links.load(), 0);
  EXPECT_EQ(metrics->of("test.parent")->succeeded, static_cast<std::uint64_t>(threads * per_thread));
  EXPECT_EQ(metrics->of("test.child")->succeeded, static_cast<std::uint64_t>(threads * per_thread));
}

TEST(Concurrency, IdsFromManyThreadsNeverCollide) {
  constexpr int threads = 4;
  constexpr int per_thread = 20000;
  std::vector<std::vector<cmdbus::command_id>> ids(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&ids, t] {
      auto& mine = ids[static_cast<std::size_t>(t)];
      mine.reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) {
        mine.push_back(cmdbus::command_id::generate());
      }
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  std::vector<cmdbus::command_id> all;
  for (const auto& v : ids) {
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

}  // namespace
