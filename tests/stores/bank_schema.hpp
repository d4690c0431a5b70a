// The tiny bank the store suite runs on: portable SQL for SQLite and PostgreSQL.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cmdbus/cmdbus.hpp"

namespace store_suite {

inline const std::string bank_schema = R"sql(
CREATE TABLE account (
  id TEXT PRIMARY KEY,
  balance BIGINT NOT NULL,
  CONSTRAINT balance_not_negative CHECK (balance >= 0)
);
CREATE TABLE ledger (
  from_id TEXT NOT NULL,
  to_id TEXT NOT NULL,
  amount BIGINT NOT NULL
);
)sql";

struct Transfer {
  static constexpr std::string_view command_name = "suite.transfer";
  std::string from;
  std::string to;
  std::int64_t amount = 0;
  bool fail_after_debit = false;
};

struct Batch {
  static constexpr std::string_view command_name = "suite.batch";
  std::vector<Transfer> transfers;
};

struct Transferred {
  static constexpr std::string_view event_name = "suite.transferred";
  std::string from;
  std::string to;
  std::int64_t amount = 0;
};

struct GetBalance {
  static constexpr std::string_view query_name = "suite.get_balance";
  using result_type = std::int64_t;
  std::string id;
};

}  // namespace store_suite
