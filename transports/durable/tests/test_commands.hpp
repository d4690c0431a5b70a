// The commands the durable route's tests send (SQLite and PostgreSQL alike).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/wire/json_codec.hpp"

namespace durable_test {

struct Deposit {
  static constexpr std::string_view command_name = "bank.deposit";
  using result_type = long;
  std::string account;
  long amount = 0;
  int seq = 0;
  [[nodiscard]] const std::string& partition_key() const { return account; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Deposit, account, amount, seq)

struct overdrawn : cmdbus::rejected_error {
  using cmdbus::rejected_error::rejected_error;
};

/// A sync command whose handler posts a deposit from inside its unit of work, then fails if told to.
struct OpenAccount {
  static constexpr std::string_view command_name = "bank.open";
  std::string account;
  bool fail_after_posting = false;
};

/// Its result type has no codec: it runs on a durable route, but its result cannot travel back to another process.
struct Tally {
  static constexpr std::string_view command_name = "bank.tally";
  using result_type = std::vector<int>;
  std::string account;
  [[nodiscard]] const std::string& partition_key() const { return account; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Tally, account)

/// No codec: a durable route refuses it at start.
struct Unencodable {
  static constexpr std::string_view command_name = "test.unencodable";
};

}  // namespace durable_test

CMDBUS_JSON_CODEC(durable_test::Deposit, 1);
CMDBUS_JSON_CODEC(durable_test::Tally, 1);
// Deposit's result: with a codec, it comes back to a caller in another process.
CMDBUS_JSON_CODEC(long, 1);
