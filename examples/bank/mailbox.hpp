// bank/mailbox.hpp — where the bank's notices go: an in-memory, thread-safe list (a stand-in for e-mail).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bank/bank.hpp"

namespace bank {

struct notice {
  account_id account = 0;
  std::string text;
};

class mailbox {
 public:
  void send(account_id account, std::string text) {
    const std::lock_guard lock(mutex_);
    sent_.push_back(notice{account, std::move(text)});
  }
  [[nodiscard]] std::vector<notice> sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return sent_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<notice> sent_;
};

}  // namespace bank
