// common/sent_list.hpp — messages "sent" by the examples' after-commit subscribers (stand-ins for e-mail): an
// in-memory, thread-safe list that the demos print and the tests check.
#pragma once

#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

namespace examples {

template <class Message>
class sent_list {
 public:
  /// Records Message{args...}.
  template <class... Args>
  void send(Args&&... args) {
    const std::lock_guard lock(mutex_);
    sent_.push_back(Message{std::forward<Args>(args)...});
  }
  [[nodiscard]] std::vector<Message> sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return sent_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Message> sent_;
};

}  // namespace examples
