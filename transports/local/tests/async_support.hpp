// Helpers for the tests of asynchronous routes: a gate that holds handlers back, a latch-like flag to wait for, and
// the TOML text of a `local` route.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace test {

/// A gate a handler waits on until the test opens it.
class gate {
 public:
  void wait() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(m_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// A `local` route "fast" with 4 workers, and `command` routed to it.
inline std::string local_config(std::string_view command, const std::string& extra = "") {
  return "[routes.fast]\nkind = \"local\"\nworkers = 4\n" + extra + "[commands]\n\"" + std::string{command} +
         "\" = \"fast\"\n";
}

/// Polls `done` until it holds or 10 s have passed; returns whether it held.
inline bool eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace test
