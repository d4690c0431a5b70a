// bank/bank.hpp — the bank's messages (commands, queries, events) and its domain exceptions.
//
// Money is in cents (std::int64_t). Accounts are numbered by the database (account_label(7) == "ACC-7"); every
// command that touches one account uses its label as the partition key, so routes with queues will keep its
// commands in order.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <cmdbus/error.hpp>
#include <cmdbus/wire/json_codec.hpp>

namespace bank {

using money = std::int64_t;  // cents
using account_id = std::int64_t;

/// "ACC-7".
[[nodiscard]] std::string account_label(account_id id);

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
// Not a rejected_error: money must never move into or out of a frozen account, so reaching one is a broken
// invariant somebody has to look at. cmdbus classifies it as "fatal". A transfer finds a frozen payee only after it
// has debited the payer: the unit of work rolls the debit back.
class account_frozen : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[nodiscard]] inline std::optional<std::string> positive(money amount) {
  if (amount <= 0) {
    return "amount must be positive, got " + std::to_string(amount);
  }
  return std::nullopt;
}
}  // namespace detail

// ---- commands -----------------------------------------------------------------------------------------------------
/// Returns the new account's id.
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
  account_id account = 0;
  money amount = 0;

  [[nodiscard]] std::string partition_key() const { return account_label(account); }
  [[nodiscard]] std::optional<std::string> validate() const { return detail::positive(amount); }
};

/// Returns the new balance. An overdraft is refused by the database: the CHECK constraint balance_not_negative
/// (cmdbus::sqlite::constraint_error, a rejected_error naming the constraint).
struct Withdraw {
  static constexpr std::string_view command_name = "bank.withdraw";
  using result_type = money;
  account_id account = 0;
  money amount = 0;

  [[nodiscard]] std::string partition_key() const { return account_label(account); }
  [[nodiscard]] std::optional<std::string> validate() const { return detail::positive(amount); }
};

/// Debits `from`, credits `to`, emits MoneyTransferred (projected into transfer_view in the same transaction). An
/// overdraft is refused by the handler: insufficient_funds. A frozen payee is found after the debit: account_frozen.
struct Transfer {
  static constexpr std::string_view command_name = "bank.transfer";
  account_id from = 0;
  account_id to = 0;
  money amount = 0;

  [[nodiscard]] std::string partition_key() const { return account_label(from); }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (from == to) {
      return "cannot transfer from an account to itself";
    }
    return detail::positive(amount);
  }
};

struct FreezeAccount {
  static constexpr std::string_view command_name = "bank.freeze_account";
  account_id account = 0;

  [[nodiscard]] std::string partition_key() const { return account_label(account); }
};

struct payment {
  account_id to = 0;
  money amount = 0;
};
struct payroll_result {
  int paid = 0;
  std::vector<std::string> skipped;  ///< one line per payment that failed: its payee and the error
};
/// Pays each payment with a child Transfer command, which joins this command's transaction as a SAVEPOINT. A
/// payment that fails is skipped and only its own part is undone; with all_or_nothing the first failure fails the
/// payroll and the whole transaction rolls back.
struct Payroll {
  static constexpr std::string_view command_name = "bank.payroll";
  using result_type = payroll_result;
  account_id from = 0;
  std::vector<payment> payments;
  bool all_or_nothing = false;

  [[nodiscard]] std::string partition_key() const { return account_label(from); }
  [[nodiscard]] std::optional<std::string> validate() const {
    if (payments.empty()) {
      return "a payroll needs at least one payment";
    }
    for (const auto& p : payments) {
      if (auto problem = detail::positive(p.amount)) {
        return problem;
      }
    }
    return std::nullopt;
  }
};

// ---- queries (answered from the read model: account_summary and transfer_view) ------------------------------------
struct GetBalance {
  static constexpr std::string_view query_name = "bank.get_balance";
  using result_type = money;
  account_id account = 0;
};

/// One line of transfer_view: a transfer, or a deposit (no `from`) or withdrawal (no `to`).
struct transfer_line {
  std::int64_t seq = 0;  ///< commit order
  std::optional<account_id> from;
  std::optional<account_id> to;
  money amount = 0;
};
/// The account's lines, newest first; `limit` 0: all of them.
struct ListTransfers {
  static constexpr std::string_view query_name = "bank.list_transfers";
  using result_type = std::vector<transfer_line>;
  account_id account = 0;
  std::int64_t limit = 0;
};

struct account_view {
  account_id id = 0;
  std::string owner;
  money balance = 0;
  bool frozen = false;
};
struct ListAccounts {
  static constexpr std::string_view query_name = "bank.list_accounts";
  using result_type = std::vector<account_view>;
};

/// The books: the balances against the history in transfer_view.
struct audit_report {
  std::int64_t accounts = 0;
  money total_balance = 0;             ///< the sum of all balances
  money net_deposits = 0;              ///< deposits minus withdrawals, from transfer_view
  std::int64_t lines = 0;              ///< rows in transfer_view
  std::vector<account_id> mismatched;  ///< accounts whose balance is not the sum of their lines
  std::vector<account_id> negative;    ///< accounts below zero (the CHECK constraint makes this impossible)
};
struct AuditBank {
  static constexpr std::string_view query_name = "bank.audit";
  using result_type = audit_report;
};

// ---- events -------------------------------------------------------------------------------------------------------
struct AccountOpened {
  static constexpr std::string_view event_name = "bank.account_opened";
  account_id account = 0;
  std::string owner;
};
struct MoneyDeposited {
  static constexpr std::string_view event_name = "bank.money_deposited";
  account_id account = 0;
  money amount = 0;
};
struct MoneyWithdrawn {
  static constexpr std::string_view event_name = "bank.money_withdrawn";
  account_id account = 0;
  money amount = 0;
};
struct MoneyTransferred {
  static constexpr std::string_view event_name = "bank.money_transferred";
  account_id from = 0;
  account_id to = 0;
  money amount = 0;
};

// ---- wire format ----------------------------------------------------------------------------------------------
// A command on a durable route travels as JSON (cmdbus/wire/json_codec.hpp): the demo's section (i) moves Transfer
// there.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Transfer, from, to, amount)

}  // namespace bank

CMDBUS_JSON_CODEC(bank::Transfer, 1);
