#include "cmdbus/metrics.hpp"

#include <fmt/format.h>

#include <atomic>
#include <bit>
#include <cmath>

#include "cmdbus/detail/cycle_clock.hpp"

namespace cmdbus {

struct metrics_middleware::table {
  struct counters {
    const message_info* info = nullptr;
    std::atomic<std::uint64_t> succeeded{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> transient{0};
    std::atomic<std::uint64_t> fatal{0};
    std::atomic<std::uint64_t> ns{0};
    std::array<std::atomic<std::uint64_t>, latency_histogram::bucket_count> buckets{};
  };
  std::unique_ptr<counters[]> by_index;  // indexed by message_info::index
  std::size_t size = 0;
  std::vector<const message_info*> order;  // commands and queries, registration order
  double ns_per_tick = 1.0;                // set once at start
};

std::uint64_t latency_histogram::total() const noexcept {
  std::uint64_t n = 0;
  for (auto c : counts) {
    n += c;
  }
  return n;
}

std::size_t latency_histogram::bucket_of(std::uint64_t ns) noexcept {
  const auto b = static_cast<std::size_t>(std::bit_width(ns));
  return b < bucket_count ? b : bucket_count - 1;
}

std::chrono::nanoseconds latency_histogram::quantile(double q) const noexcept {
  const auto n = total();
  if (n == 0) {
    return std::chrono::nanoseconds{0};
  }
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < bucket_count; ++b) {
    seen += counts[b];
    if (seen >= rank && counts[b] != 0) {
      return std::chrono::nanoseconds{b == 0 ? 1 : (std::int64_t{1} << b)};
    }
  }
  return std::chrono::nanoseconds{std::int64_t{1} << (bucket_count - 1)};
}

metrics_middleware::metrics_middleware() : table_(std::make_unique<table>()) {}
metrics_middleware::~metrics_middleware() = default;

void metrics_middleware::on_start(std::span<const message_info* const> messages) {
  if (table_->by_index) {
    throw registration_error("cmdbus: one metrics_middleware was given to two buses; make one per bus");
  }
  std::uint32_t max_index = 0;
  for (const auto* m : messages) {
    max_index = std::max(max_index, m->index);
  }
  table_->ns_per_tick = detail::cycle_clock::ns_per_tick();
  table_->size = messages.empty() ? 0 : max_index + 1;
  table_->by_index = std::make_unique<table::counters[]>(table_->size);
  for (const auto* m : messages) {
    if (m->kind != message_kind::event) {
      table_->by_index[m->index].info = m;
      table_->order.push_back(m);
    }
  }
}

void metrics_middleware::invoke(invocation& call, next_step next) {
  auto& c = table_->by_index[call.message().index];
  const auto start = detail::cycle_clock::now();
  auto record = [&](std::atomic<std::uint64_t>& outcome) {
    const auto ns =
        static_cast<std::uint64_t>(static_cast<double>(detail::cycle_clock::now() - start) * table_->ns_per_tick);
    outcome.fetch_add(1, std::memory_order_relaxed);
    c.ns.fetch_add(ns, std::memory_order_relaxed);
    c.buckets[latency_histogram::bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
  };
  try {
    next();
  } catch (const rejected_error&) {
    record(c.rejected);
    throw;
  } catch (const transient_error&) {
    record(c.transient);
    throw;
  } catch (...) {
    record(c.fatal);
    throw;
  }
  record(c.succeeded);
}

std::vector<command_metrics> metrics_middleware::snapshot() const {
  std::vector<command_metrics> out;
  out.reserve(table_->order.size());
  for (const auto* info : table_->order) {
    out.push_back(read(*info));
  }
  return out;
}

std::optional<command_metrics> metrics_middleware::of(std::string_view wire_name) const {
  for (const auto* info : table_->order) {
    if (info->wire_name == wire_name) {
      return read(*info);
    }
  }
  return std::nullopt;
}

command_metrics metrics_middleware::read(const message_info& info) const {
  const auto& c = table_->by_index[info.index];
  command_metrics m;
  m.name = std::string{info.wire_name};
  m.kind = info.kind;
  m.succeeded = c.succeeded.load(std::memory_order_relaxed);
  m.rejected = c.rejected.load(std::memory_order_relaxed);
  m.transient = c.transient.load(std::memory_order_relaxed);
  m.fatal = c.fatal.load(std::memory_order_relaxed);
  m.count = m.succeeded + m.rejected + m.transient + m.fatal;
  m.total_latency = std::chrono::nanoseconds{static_cast<std::int64_t>(c.ns.load(std::memory_order_relaxed))};
  for (std::size_t b = 0; b < latency_histogram::bucket_count; ++b) {
    m.latency.counts[b] = c.buckets[b].load(std::memory_order_relaxed);
  }
  return m;
}

std::shared_ptr<metrics_middleware> make_metrics() {
  return std::make_shared<metrics_middleware>();
}

}  // namespace cmdbus
