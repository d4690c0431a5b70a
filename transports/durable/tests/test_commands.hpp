// The commands the durable route's tests send (SQLite and PostgreSQL alike).
#pragma once

#include <string>
#include <string_view>

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

/// No codec: a durable route refuses it at start.
struct Unencodable {
  static constexpr std::string_view command_name = "test.unencodable";
};

}  // namespace durable_test

CMDBUS_JSON_CODEC(durable_test::Deposit, 1);
