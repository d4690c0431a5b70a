// cmdbus/postgres/listener.hpp — a connection of its own that LISTENs on one channel and waits for notifications.
//
//   cmdbus::postgres::listener l(db.settings().conninfo, "cmdbus_queue");
//   for (const std::string& payload : l.wait(std::chrono::milliseconds{500})) { ... }   // empty: nothing came
//   // elsewhere: conn.execute("SELECT pg_notify('cmdbus_queue', $1)", "hello");   // delivered at COMMIT
//
// Not pooled: a pooled connection that LISTENs would find notifications where it expects an idle socket. A broken
// connection is a connection_lost_error from wait(); notifications sent until a new listener is up are not seen, so
// a user of it still looks now and then (a bounded poll) and takes a notification as "look now".
//
// Contains: `listener`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cmdbus/postgres/connection.hpp"

namespace cmdbus::postgres {

class listener {
 public:
  /// Connects with `conninfo` and LISTENs on `channel` (letters, digits and '_'). Throws connection_lost_error.
  listener(const std::string& conninfo, std::string channel);
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener();

  /// Waits up to `timeout` (or until interrupt()) for notifications on the channel; their payloads, oldest first.
  /// Throws connection_lost_error when the connection broke.
  [[nodiscard]] std::vector<std::string> wait(std::chrono::milliseconds timeout);
  /// Makes a wait() on another thread return now (once). Thread-safe.
  void interrupt() noexcept;
  [[nodiscard]] const std::string& channel() const noexcept { return channel_; }

 private:
  connection conn_;
  std::string channel_;
  int wake_fd_ = -1;  // an eventfd: interrupt() writes, wait() polls it beside the connection's socket
};

}  // namespace cmdbus::postgres
