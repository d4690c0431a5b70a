// common/report.hpp — how the demos print: section headings, money, the route table, errors, the metrics table,
// and the checks that decide a demo's exit code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <cmdbus/bus.hpp>
#include <cmdbus/error.hpp>
#include <cmdbus/metrics.hpp>

namespace examples {

/// Cents as text: 12345 -> "$123.45", -500 -> "-$5.00".
[[nodiscard]] std::string format_money(std::int64_t cents);

void print_section(std::string_view letter, std::string_view title);
/// command -> route (kind) from origin, for every command the bus knows.
void print_routes(const cmdbus::bus& bus);
/// A cmdbus::error field by field.
void print_error(const cmdbus::error& e);
/// count, outcomes and latency quantiles per command and query type.
void print_metrics(const cmdbus::metrics_middleware& metrics);

/// Invariants a demo checks as it goes; main() exits non-zero if any failed.
class checks {
 public:
  /// Prints "[ok] what" or "[FAILED] what" and remembers a failure.
  bool expect(bool ok, std::string_view what);
  [[nodiscard]] int failed() const noexcept { return failed_; }
  [[nodiscard]] int passed() const noexcept { return passed_; }

 private:
  int failed_ = 0;
  int passed_ = 0;
};

}  // namespace examples
