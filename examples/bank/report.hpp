// report.hpp — how the demo prints: section headings, the route table, errors, accounts, the metrics table, and
// the invariant checks that decide the exit code.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <cmdbus/bus.hpp>
#include <cmdbus/error.hpp>
#include <cmdbus/metrics.hpp>

#include "bank.hpp"

namespace bank {

void print_section(std::string_view letter, std::string_view title);
/// command -> route (kind) from origin, for every command the bus knows.
void print_routes(const cmdbus::bus& bus);
/// A cmdbus::error field by field.
void print_error(const cmdbus::error& e);
void print_accounts(const std::vector<account_view>& accounts);
/// count, outcomes and latency quantiles per command and query type.
void print_metrics(const cmdbus::metrics_middleware& metrics);

/// Invariants the demo checks as it goes; main() exits non-zero if any failed.
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

}  // namespace bank
