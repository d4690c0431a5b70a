// bank.hpp — the bank's messages (commands, queries, events) and its domain exceptions.
//
// Money is in cents (std::int64_t). Account ids are strings the bank hands out ("ACC-1001"); every command that
// touches one account uses that account as its partition key, so routes with queues keep its commands in order.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <cmdbus/error.hpp>

namespace bank {

using money = std::int64_t;  // cents
using account_id = std::string;

// ---- domain exceptions --------------------------------------------------------------------------------------------
// "rejected": the command is wrong for the current state; retrying the same command cannot help.
class insufficient_funds : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};
class account_not_found : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};
// Not a rejected_error: money must never be moved into a frozen account, so reaching one is a broken invariant
// somebody has to look at. cmdbus classifies it as "fatal".
class account_frozen : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- commands -----------------------------------------------------------------------------------------------------
struct OpenAccount {
  static constexpr std::string_view command_name = "bank.open_account";
  using result_type = account_id;
  std::string owner;

  [[nodiscard]] std::string_view partition_key() const { return owner; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (owner.empty()) {
      return "owner must not be empty";
    }
    return std::nullopt;
  }
};

/// Returns the new balance.
struct Deposit {
  static constexpr std::string_view command_name = "bank.deposit";
  using result_type = money;
  account_id account;
  money amount = 0;
  std::string memo = "deposit";

  [[nodiscard]] std::string_view partition_key() const { return account; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (amount <= 0) {
      return "amount must be positive, got " + std::to_string(amount);
    }
    return std::nullopt;
  }
};

/// Returns the new balance.
struct Withdraw {
  static constexpr std::string_view command_name = "bank.withdraw";
  using result_type = money;
  account_id account;
  money amount = 0;
  std::string memo = "withdrawal";

  [[nodiscard]] std::string_view partition_key() const { return account; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (amount <= 0) {
      return "amount must be positive, got " + std::to_string(amount);
    }
    return std::nullopt;
  }
};

/// Moves money by dispatching Withdraw, then Deposit, as child commands.
struct Transfer {
  static constexpr std::string_view command_name = "bank.transfer";
  account_id from;
  account_id to;
  money amount = 0;

  [[nodiscard]] std::string_view partition_key() const { return from; }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (amount <= 0) {
      return "amount must be positive, got " + std::to_string(amount);
    }
    if (from == to) {
      return "cannot transfer from an account to itself";
    }
    return std::nullopt;
  }
};

struct FreezeAccount {
  static constexpr std::string_view command_name = "bank.freeze_account";
  account_id account;

  [[nodiscard]] std::string_view partition_key() const { return account; }
};

/// Appends one line to an account's ledger; Deposit and Withdraw dispatch it for every balance change.
struct RecordLedgerEntry {
  static constexpr std::string_view command_name = "bank.record_ledger_entry";
  account_id account;
  money delta = 0;
  std::string memo;

  [[nodiscard]] std::string_view partition_key() const { return account; }
};

/// Tells an account's owner something; dispatched by the MoneyTransferred subscriber.
struct NotifyCustomer {
  static constexpr std::string_view command_name = "bank.notify_customer";
  account_id account;
  std::string text;

  [[nodiscard]] std::string_view partition_key() const { return account; }
};

// ---- queries ------------------------------------------------------------------------------------------------------
struct GetBalance {
  static constexpr std::string_view query_name = "bank.get_balance";
  using result_type = money;
  account_id account;
};

struct account_view {
  account_id id;
  std::string owner;
  money balance = 0;
  bool frozen = false;
};
struct ListAccounts {
  static constexpr std::string_view query_name = "bank.list_accounts";
  using result_type = std::vector<account_view>;
};

// ---- events -------------------------------------------------------------------------------------------------------
struct AccountOpened {
  static constexpr std::string_view event_name = "bank.account_opened";
  account_id account;
  std::string owner;
};

struct MoneyTransferred {
  static constexpr std::string_view event_name = "bank.money_transferred";
  account_id from;
  account_id to;
  money amount = 0;
};

}  // namespace bank
