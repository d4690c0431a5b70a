// The bare dispatch path allocates nothing: counted by replacing the global operator new in this binary.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "messages.hpp"

namespace {
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

long count_allocations(const auto& f) {
  const long before = allocations.load();
  f();
  return allocations.load() - before;
}

TEST(Allocation, TheCounterSeesAllocations) {
  EXPECT_GE(count_allocations([] {
              std::vector<int> v(100);
              EXPECT_EQ(v.size(), 100U);
            }),
            1);
}

TEST(Allocation, BareExecuteSendAndPostAllocateNothing) {
  cmdbus::bus_builder b;
  b.handle<test::Add>([](const test::Add& c) { return c.a + c.b; });
  b.handle<test::Ping>([](const test::Ping&) {});
  cmdbus::bus bus{std::move(b)};
  (void)bus.execute(test::Add{0, 0});  // first use: per-thread id generator and static init
  (void)bus.post(test::Ping{});
  long sum = 0;
  EXPECT_EQ(count_allocations([&] {
              for (int i = 0; i < 10000; ++i) {
                sum += bus.execute(test::Add{i, 1});
                sum += bus.send(test::Add{i, 2}).get();
                (void)bus.post(test::Ping{});
              }
            }),
            0);
  EXPECT_EQ(sum, 2 * (10000L * 9999 / 2) + 30000);
}

struct Outer {
  static constexpr std::string_view command_name = "test.outer";
  using result_type = int;
};

TEST(Allocation, MetricsAndNestedDispatchAllocateNothing) {
  cmdbus::bus_builder b;
  b.use(cmdbus::make_metrics());
  b.handle<test::Add>([](const test::Add& c) { return c.a + c.b; });
  b.handle<Outer>([](const Outer&, cmdbus::context& ctx) { return ctx.bus().execute(test::Add{1, 2}); });
  cmdbus::bus bus{std::move(b)};
  (void)bus.execute(Outer{});
  int sum = 0;
  EXPECT_EQ(count_allocations([&] {
              for (int i = 0; i < 1000; ++i) {
                sum += bus.execute(Outer{});
              }
            }),
            0);
  EXPECT_EQ(sum, 3000);
}

}  // namespace
