// bench_local_route — what the `local` route (in-process worker threads) costs, against raw queue hand-offs.
//
//   bench_local_route [--benchmark_filter=...] [--benchmark_out=l.json --benchmark_out_format=json]
//
// Throughput: one producer (the benchmark thread) and one consumer thread run the same out-of-line handler (add the
// command's amount to an atomic total, count it). The baseline hands plain commands over a moodycamel queue to a
// consumer that dequeues in batches as the route's worker does; the bus posts the same commands to a `local` route
// with one worker. The last iteration of each run waits until the consumer has processed every command, so both
// sides are timed from the first hand-off to the last command handled. Times are real (wall) time: the work is
// split over two threads, and the benchmark thread's CPU time alone would not see the consumer's.
//
// Latency: `execute` on a one-worker route against a raw round trip over the same queue, each call timed on its own
// with steady_clock (p50, p99, max as counters). Idle: the CPU an idle bus with four workers burns, as process CPU
// time over 2 s.
//
// After the run the summary gives the throughput ratio Local_Post / Baseline_QueueHandoff (from this run's median
// real times), the latency percentiles and the idle CPU as a share of one core. All are informational: the exit
// code does not depend on them. Repetitions are randomly interleaved unless
// --benchmark_enable_random_interleaving=false is given.
#include <benchmark/benchmark.h>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "support/latency.hpp"
#include "support/ratio_report.hpp"

namespace {

using namespace std::chrono_literals;

struct Deposit {
  static constexpr std::string_view command_name = "bench.deposit";
  std::int64_t amount = 0;
};

/// What the handler writes: the sum of the amounts and how many commands it has handled. On a cache line of its own,
/// so that the producer's stack (where it lives) does not share a line with the consumer's writes.
struct alignas(64) ledger {
  std::atomic<std::int64_t> total{0};
  std::atomic<std::int64_t> processed{0};
};

// The handler's work, the same in every benchmark, out of line and opaque to the optimiser (as in bench_dispatch).
#if __has_cpp_attribute(gnu::noipa)
#define CMDBUS_BENCH_OPAQUE gnu::noipa
#else
#define CMDBUS_BENCH_OPAQUE gnu::noinline
#endif
[[CMDBUS_BENCH_OPAQUE]] void apply_deposit(ledger& l, const Deposit& d) {
  l.total.fetch_add(d.amount, std::memory_order_relaxed);
  l.processed.fetch_add(1, std::memory_order_release);
}

/// Called by the producer in its last iteration, inside the timed region.
void wait_until_processed(const ledger& l, std::int64_t n) {
  while (l.processed.load(std::memory_order_acquire) < n) {
    std::this_thread::yield();
  }
}

/// After the timed region: every command ran exactly once (amounts 1..n).
void check_ledger(benchmark::State& state, const ledger& l) {
  const std::int64_t n = state.iterations();
  if (l.processed.load() != n || l.total.load() != n * (n + 1) / 2) {
    state.SkipWithError("the handler did not see every command exactly once");
  }
}

std::int64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t voluntary_switches() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw;
}

/// Counter: how often the process's threads went to sleep (blocked: a parked consumer, a producer waiting for a
/// slot), per thousand commands. Taken around the timed loop.
void set_sleeps_counter(benchmark::State& state, std::int64_t switches) {
  state.counters["sleeps_per_1k"] = 1000.0 * static_cast<double>(switches) / static_cast<double>(state.iterations());
}

/// The raw consumer: dequeues in batches of 32 with a 50 ms timeout, as local_route::work does, and hands each command
/// to `on_item`, until `stop` is set and the queue is empty.
template <class OnItem>
std::thread start_consumer(moodycamel::BlockingConcurrentQueue<Deposit>& queue, std::atomic<bool>& stop,
                           OnItem on_item) {
  return std::thread([&queue, &stop, on_item]() mutable {
    constexpr std::size_t batch = 32;
    Deposit items[batch];
    for (;;) {
      const std::size_t got = queue.wait_dequeue_bulk_timed(items, batch, std::chrono::milliseconds(50));
      for (std::size_t i = 0; i < got; ++i) {
        on_item(items[i]);
      }
      if (got == 0 && stop.load(std::memory_order_acquire)) {
        return;
      }
    }
  });
}

// ---- throughput: one producer, one consumer ---------------------------------------------------------------------

/// The timed loop of both throughput benchmarks: hands commands 1..n to `send` and, in the last iteration, waits
/// until the consumer has handled them all. Sets the items and sleeps counters.
template <class Send>
void run_handoffs(benchmark::State& state, const ledger& l, Send&& send) {
  const std::int64_t n = state.max_iterations;
  std::int64_t next = 0;
  const auto sleeps0 = voluntary_switches();
  for (auto _ : state) {
    send(Deposit{++next});
    if (next == n) {
      wait_until_processed(l, n);
    }
  }
  const auto sleeps1 = voluntary_switches();
  state.SetItemsProcessed(state.iterations());
  set_sleeps_counter(state, sleeps1 - sleeps0);
}

/// The raw equivalent of a one-worker local route: the same queue, enqueued the same way (no producer token), and a
/// consumer that dequeues in batches of 32 with a 50 ms timeout, as local_route::work does. No allocation, no ids,
/// no bound on the queue.
void BM_Baseline_QueueHandoff(benchmark::State& state) {
  ledger l;
  moodycamel::BlockingConcurrentQueue<Deposit> queue;
  std::atomic<bool> stop{false};
  std::thread consumer = start_consumer(queue, stop, [&](const Deposit& d) { apply_deposit(l, d); });

  run_handoffs(state, l, [&](const Deposit& d) { queue.enqueue(d); });
  stop.store(true, std::memory_order_release);
  consumer.join();
  check_ledger(state, l);
}

/// A bus whose Deposit runs on a `local` route with `workers` workers. The ledger must outlive the bus.
cmdbus::bus make_local_bus(ledger& l, int workers, int capacity) {
  cmdbus::bus_builder b;
  b.handle<Deposit>([&l](const Deposit& d) { apply_deposit(l, d); });
  std::string config = R"([routes.workers]
kind = "local"
full = "block"
block_timeout_ms = 60000
)";
  config += "workers = " + std::to_string(workers) + "\ncapacity = " + std::to_string(capacity) + "\n";
  config += R"(
[commands]
"bench.deposit" = "workers"
)";
  b.config_text(config, "bench_local_route.toml");
  return cmdbus::bus{std::move(b)};
}

void post_throughput(benchmark::State& state, int capacity) {
  ledger l;
  cmdbus::bus bus = make_local_bus(l, 1, capacity);
  run_handoffs(state, l, [&](const Deposit& d) { bus.post(d); });
  check_ledger(state, l);  // everything ran: the bus's destructor stops an idle route
}

/// A large capacity (100 000): the producer rarely waits for a slot, as with the baseline's unbounded queue, and every
/// command in flight still has a slot in the status ring (retention + capacity; beyond 262 144 in flight, statuses go
/// to the slower overflow map).
void BM_Local_Post(benchmark::State& state) {
  post_throughput(state, 100'000);
}

/// The default capacity (1024) with full = "block": when the worker falls behind, post waits for a free slot.
void BM_Local_Post_Capacity1024(benchmark::State& state) {
  post_throughput(state, 1024);
}

// ---- latency: execute's round trip ------------------------------------------------------------------------------

std::int64_t elapsed_ns(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
}

/// Runs `round_trip` for commands 1..n, timing each call on its own with steady_clock; the samples in nanoseconds.
template <class RoundTrip>
std::vector<std::int64_t> time_round_trips(benchmark::State& state, RoundTrip&& round_trip) {
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations));
  std::int64_t next = 0;
  for (auto _ : state) {
    const Deposit cmd{++next};
    const auto t0 = std::chrono::steady_clock::now();
    round_trip(cmd);
    const auto t1 = std::chrono::steady_clock::now();
    samples.push_back(elapsed_ns(t0, t1));
  }
  return samples;
}

/// The raw equivalent of execute on a one-worker route: the command goes over the same queue to a consumer that
/// dequeues in batches, runs the handler and wakes the caller, who waits on an atomic (C++20 wait/notify: a short
/// spin, then a futex). One request is outstanding at a time, so one atomic carries every answer.
void BM_Baseline_RoundTrip(benchmark::State& state) {
  ledger l;
  moodycamel::BlockingConcurrentQueue<Deposit> queue;
  std::atomic<std::int64_t> answered{0};  // the amount of the last command handled
  std::atomic<bool> stop{false};
  std::thread consumer = start_consumer(queue, stop, [&](const Deposit& d) {
    apply_deposit(l, d);
    answered.store(d.amount, std::memory_order_release);
    answered.notify_one();
  });

  auto samples = time_round_trips(state, [&](const Deposit& cmd) {
    queue.enqueue(cmd);
    for (std::int64_t seen = answered.load(std::memory_order_acquire); seen != cmd.amount;
         seen = answered.load(std::memory_order_acquire)) {
      answered.wait(seen, std::memory_order_acquire);
    }
  });
  stop.store(true, std::memory_order_release);
  consumer.join();
  check_ledger(state, l);
  bench_support::set_latency_counters(state, samples);
}

/// `bus.execute(cmd)` on a one-worker local route: envelope, queue, the worker wakes and runs the handler, the
/// caller wakes with the outcome. Each call is timed on its own with steady_clock.
void BM_Local_ExecuteLatency(benchmark::State& state) {
  ledger l;
  cmdbus::bus bus = make_local_bus(l, 1, 1024);
  auto samples = time_round_trips(state, [&](const Deposit& cmd) { bus.execute(cmd); });
  check_ledger(state, l);
  bench_support::set_latency_counters(state, samples);
}

// ---- idle: what parked workers cost ------------------------------------------------------------------------------

/// A bus with a four-worker local route and nothing to do, for 2 s: the process's CPU time (every thread's, the
/// sleeping benchmark thread's included) as a share of one core, and how often its threads went to sleep.
void BM_Local_IdleCpu(benchmark::State& state) {
  ledger l;
  cmdbus::bus bus = make_local_bus(l, 4, 1024);
  std::this_thread::sleep_for(200ms);  // let the workers start and park
  double cpu_pct = 0;
  double switches_per_s = 0;
  for (auto _ : state) {
    const auto cpu0 = process_cpu_ns();
    const auto sw0 = voluntary_switches();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(2s);
    const auto t1 = std::chrono::steady_clock::now();
    const auto sw1 = voluntary_switches();
    const auto cpu1 = process_cpu_ns();
    const auto wall_ns = static_cast<double>(elapsed_ns(t0, t1));
    cpu_pct = 100.0 * static_cast<double>(cpu1 - cpu0) / wall_ns;
    switches_per_s = static_cast<double>(sw1 - sw0) * 1e9 / wall_ns;
  }
  state.counters["cpu_pct_of_core"] = cpu_pct;
  state.counters["sleeps_per_s"] = switches_per_s;
}

// Repetitions so that one unlucky stretch on a busy machine does not decide the ratio; the ratio uses the medians.
constexpr double min_time_s = 0.3;
constexpr int repetitions = 5;

BENCHMARK(BM_Baseline_QueueHandoff)
    ->MinTime(min_time_s)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Local_Post)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Local_Post_Capacity1024)
    ->MinTime(min_time_s)
    ->Repetitions(repetitions)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
// 20 000 round trips per repetition; p50/p99 are the medians over the repetitions.
constexpr int round_trips = 20'000;
BENCHMARK(BM_Baseline_RoundTrip)->Iterations(round_trips)->Repetitions(3)->DisplayAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Local_ExecuteLatency)->Iterations(round_trips)->Repetitions(3)->DisplayAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Local_IdleCpu)->Iterations(1)->Repetitions(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  using bench_support::counter;
  using bench_support::ratio;
  return bench_support::run(
      argc, argv,
      {"BM_Baseline_QueueHandoff", "BM_Local_Post", "BM_Local_Post_Capacity1024", "BM_Baseline_RoundTrip",
       "BM_Local_ExecuteLatency"},
      {ratio{"Local_Post", "Baseline_QueueHandoff", ">= 0.5", [](double r) { return r >= 0.5; }, true},
       ratio{"Local_Post_Capacity1024", "Baseline_QueueHandoff", "informational", nullptr, true},
       ratio{"Local_ExecuteLatency", "Baseline_RoundTrip", "informational", nullptr}},
      bench_support::clock_kind::real,
      {counter{"Baseline_QueueHandoff", "sleeps_per_1k", "thread sleeps per 1000 commands", "informational", nullptr},
       counter{"Local_Post", "sleeps_per_1k", "thread sleeps per 1000 commands", "informational", nullptr},
       counter{"Local_Post_Capacity1024", "sleeps_per_1k", "thread sleeps per 1000 commands", "informational", nullptr},
       counter{"Baseline_RoundTrip", "p50_us", "us", "informational", nullptr},
       counter{"Baseline_RoundTrip", "p99_us", "us", "informational", nullptr},
       counter{"Local_ExecuteLatency", "p50_us", "us", "informational", nullptr},
       counter{"Local_ExecuteLatency", "p99_us", "us", "informational", nullptr},
       counter{"Local_IdleCpu", "cpu_pct_of_core", "% of one core", "< 1.0", [](double v) { return v < 1.0; }},
       counter{"Local_IdleCpu", "sleeps_per_s", "voluntary context switches/s", "informational", nullptr}});
}
