// mailbox.hpp — where NotifyCustomer "sends" its messages: an in-memory, thread-safe list.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bank.hpp"

namespace bank {

struct notice {
  account_id account;
  std::string text;
};

class mailbox {
 public:
  void send(account_id account, std::string text) {
    const std::lock_guard lock(mutex_);
    sent_.push_back(notice{std::move(account), std::move(text)});
  }
  [[nodiscard]] std::vector<notice> sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<notice> sent_;
};

}  // namespace bank
