// handlers.hpp — registers the bank's command and query handlers and event subscribers on a bus_builder.
//
//   Transfer ──► Withdraw ──► RecordLedgerEntry          (each a child command: same correlation id,
//            ├─► Deposit  ──► RecordLedgerEntry           causation id = the parent's id)
//            └─► MoneyTransferred ──► NotifyCustomer      (a subscriber's command is a child of the emitter)
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <cmdbus/builder.hpp>

#include "accounts.hpp"
#include "mailbox.hpp"

namespace bank {

/// How often each handler body ran, by wire name: shows that a command rejected by validation never reached it.
class handler_calls {
 public:
  void count(std::string_view command);
  [[nodiscard]] int of(std::string_view command) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, int, std::less<>> calls_;
};

struct services {
  accounts& store;
  mailbox& mail;
  handler_calls& calls;
};

/// Every handler and subscriber of the bank. `s` must outlive the bus built from `b`.
void register_handlers(cmdbus::bus_builder& b, services s);

}  // namespace bank
