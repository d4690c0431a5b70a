#include "accounts.hpp"

#include <fmt/format.h>

#include <numeric>
#include <utility>

namespace bank {

account_id accounts::open(const std::string& owner) {
  const std::lock_guard lock(mutex_);
  auto id = fmt::format("ACC-{}", next_number_++);
  accounts_.emplace(id, account{owner, 0, false, {}});
  return id;
}

money accounts::deposit(const account_id& id, money amount) {
  const std::lock_guard lock(mutex_);
  auto& a = find(id);
  if (a.frozen) {
    throw account_frozen(fmt::format("account {} is frozen; no money may move into it", id));
  }
  a.balance += amount;
  return a.balance;
}

money accounts::withdraw(const account_id& id, money amount) {
  const std::lock_guard lock(mutex_);
  auto& a = find(id);
  if (a.frozen) {
    throw account_frozen(fmt::format("account {} is frozen; no money may move out of it", id));
  }
  if (a.balance < amount) {
    throw insufficient_funds(fmt::format("account {} holds {} cents, cannot withdraw {} cents", id, a.balance, amount));
  }
  a.balance -= amount;
  return a.balance;
}

void accounts::freeze(const account_id& id) {
  const std::lock_guard lock(mutex_);
  find(id).frozen = true;
}

void accounts::append_ledger(const account_id& id, money delta, std::string memo) {
  const std::lock_guard lock(mutex_);
  find(id).ledger.push_back(ledger_line{delta, std::move(memo)});
}

money accounts::balance(const account_id& id) const {
  const std::lock_guard lock(mutex_);
  return find(id).balance;
}

std::vector<account_view> accounts::list() const {
  const std::lock_guard lock(mutex_);
  std::vector<account_view> out;
  out.reserve(accounts_.size());
  for (const auto& [id, a] : accounts_) {
    out.push_back(account_view{id, a.owner, a.balance, a.frozen});
  }
  return out;
}

money accounts::ledger_total(const account_id& id) const {
  const std::lock_guard lock(mutex_);
  const auto& ledger = find(id).ledger;
  return std::accumulate(ledger.begin(), ledger.end(), money{0},
                         [](money sum, const ledger_line& l) { return sum + l.delta; });
}

std::size_t accounts::ledger_size(const account_id& id) const {
  const std::lock_guard lock(mutex_);
  return find(id).ledger.size();
}

accounts::account& accounts::find(const account_id& id) {
  const auto it = accounts_.find(id);
  if (it == accounts_.end()) {
    throw account_not_found(fmt::format("no account {}", id));
  }
  return it->second;
}

const accounts::account& accounts::find(const account_id& id) const {
  const auto it = accounts_.find(id);
  if (it == accounts_.end()) {
    throw account_not_found(fmt::format("no account {}", id));
  }
  return it->second;
}

}  // namespace bank
