// accounts.hpp — the bank's in-memory write model: balances, the frozen flag and each account's ledger.
//
// Every member takes the one mutex, so handlers running on several threads at once stay consistent per call. Note
// what it cannot do: a Transfer changes two accounts in two calls, and nothing rolls the first back if the second
// fails. That is the job of a unit of work (a database transaction around the handler), which cmdbus adds later;
// until then the Transfer handler puts the money back itself.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bank.hpp"

namespace bank {

struct ledger_line {
  money delta = 0;
  std::string memo;
};

class accounts {
 public:
  /// A new account with balance 0; returns its id ("ACC-1001", "ACC-1002", ...).
  account_id open(const std::string& owner);
  /// Returns the new balance. Throws account_not_found, or account_frozen.
  money deposit(const account_id& id, money amount);
  /// Returns the new balance. Throws account_not_found, account_frozen, or insufficient_funds (nothing changes).
  money withdraw(const account_id& id, money amount);
  /// Throws account_not_found.
  void freeze(const account_id& id);
  /// Throws account_not_found.
  void append_ledger(const account_id& id, money delta, std::string memo);

  /// Throws account_not_found.
  [[nodiscard]] money balance(const account_id& id) const;
  [[nodiscard]] std::vector<account_view> list() const;
  /// The sum of the account's ledger lines; equals its balance when every change was recorded.
  [[nodiscard]] money ledger_total(const account_id& id) const;
  [[nodiscard]] std::size_t ledger_size(const account_id& id) const;

 private:
  struct account {
    std::string owner;
    money balance = 0;
    bool frozen = false;
    std::vector<ledger_line> ledger;
  };
  account& find(const account_id& id);
  [[nodiscard]] const account& find(const account_id& id) const;

  mutable std::mutex mutex_;
  std::map<account_id, account> accounts_;
  int next_number_ = 1001;
};

}  // namespace bank
