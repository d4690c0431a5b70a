#include "common/report.hpp"

#include <fmt/format.h>

#include <chrono>

namespace examples {
namespace {

std::string format_latency(std::chrono::nanoseconds d) {
  const auto ns = static_cast<double>(d.count());
  if (ns < 1'000) {
    return fmt::format("{:.0f} ns", ns);
  }
  if (ns < 1'000'000) {
    return fmt::format("{:.1f} us", ns / 1e3);
  }
  return fmt::format("{:.1f} ms", ns / 1e6);
}

}  // namespace

std::string format_money(std::int64_t cents) {
  const std::int64_t magnitude = cents < 0 ? -cents : cents;
  return fmt::format("{}${}.{:02}", cents < 0 ? "-" : "", magnitude / 100, magnitude % 100);
}

void print_section(std::string_view letter, std::string_view title) {
  const auto heading = letter.empty() ? std::string{title} : fmt::format("({}) {}", letter, title);
  fmt::print("\n== {} {}\n", heading, std::string(heading.size() < 110 ? 110 - heading.size() : 0, '='));
}

void print_routes(const cmdbus::bus& bus) {
  for (const auto& r : bus.routes()) {
    fmt::print("  {:<26} -> {:<8} (kind {}; from {})\n", r.command, r.route, r.kind, r.origin);
  }
}

void print_error(const cmdbus::error& e) {
  fmt::print("    code:      {}\n", cmdbus::to_string(e.code()));
  fmt::print("    message:   {}\n", e.message());
  fmt::print("    type:      {}\n", e.type_name());
  fmt::print("    command:   {}\n", e.command_name());
  fmt::print("    id:        {}\n", e.id().to_string());
}

void print_metrics(const cmdbus::metrics_middleware& metrics) {
  fmt::print("  {:<26} {:<7} {:>7} {:>7} {:>8} {:>9} {:>6} {:>10} {:>10} {:>10}\n", "type", "kind", "count", "ok",
             "rejected", "transient", "fatal", "p50", "p99", "mean");
  for (const auto& m : metrics.snapshot()) {
    fmt::print("  {:<26} {:<7} {:>7} {:>7} {:>8} {:>9} {:>6} {:>10} {:>10} {:>10}\n", m.name,
               m.kind == cmdbus::message_kind::query ? "query" : "command", m.count, m.succeeded, m.rejected,
               m.transient, m.fatal, format_latency(m.latency.quantile(0.50)), format_latency(m.latency.quantile(0.99)),
               format_latency(m.mean_latency()));
  }
  fmt::print("  (p50/p99 are the upper bounds of power-of-two histogram buckets: at most twice the true value)\n");
}

bool checks::expect(bool ok, std::string_view what) {
  fmt::print("  [{}] {}\n", ok ? "ok" : "FAILED", what);
  (ok ? passed_ : failed_) += 1;
  return ok;
}

}  // namespace examples
