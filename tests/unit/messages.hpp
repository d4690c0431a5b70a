// Commands, queries and events shared by the unit tests.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cmdbus/cmdbus.hpp"

namespace test {

struct Add {
  static constexpr std::string_view command_name = "test.add";
  using result_type = int;
  int a = 0;
  int b = 0;
};

struct Ping {
  static constexpr std::string_view command_name = "test.ping";
};

struct Withdraw {
  static constexpr std::string_view command_name = "test.withdraw";
  using result_type = long;
  std::string account;
  long amount = 0;
  [[nodiscard]] std::string_view partition_key() const { return account; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (amount <= 0) {
      return "amount must be positive, got " + std::to_string(amount);
    }
    return std::nullopt;
  }
};

struct Unhandled {
  static constexpr std::string_view command_name = "test.unhandled";
};

struct GetTotal {
  static constexpr std::string_view query_name = "test.get_total";
  using result_type = long;
};

struct Happened {
  static constexpr std::string_view event_name = "test.happened";
  int n = 0;
};

/// A domain error a handler throws; not a cmdbus type, so it counts as fatal.
class ledger_corrupt : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A domain rejection.
class insufficient_funds : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};

}  // namespace test
