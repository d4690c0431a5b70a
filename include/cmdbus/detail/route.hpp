// Internal: what an asynchronous route (in-process workers today, transports later) offers the bus. Routes are
// compiled in src/; no thread headers here.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/detail/parcel.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus::detail {

class route {
 public:
  route() = default;
  route(const route&) = delete;
  route& operator=(const route&) = delete;
  virtual ~route() = default;

  /// Takes the command (leaving `p` empty) and returns the id it keeps (routes that track status may tag it), or
  /// throws (queue full, stopping) leaving `p` as it was. `key` decides its worker (enqueue_envelope passes the
  /// envelope's).
  virtual command_id enqueue(parcel& p, partition key) = 0;
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  /// How long execute() waits for the outcome of a command without a deadline.
  [[nodiscard]] virtual std::chrono::milliseconds execute_timeout() const noexcept = 0;

  /// enqueue() for a heap envelope: takes it (leaving `e` empty), or throws leaving `e` as it was.
  command_id enqueue_envelope(std::unique_ptr<envelope>& e) {
    const partition key{e->key_hash, e->keyed};
    parcel p(std::move(e));
    try {
      return enqueue(p, key);
    } catch (...) {
      e = p.take_envelope();
      throw;
    }
  }
};

}  // namespace cmdbus::detail
