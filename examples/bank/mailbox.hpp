// bank/mailbox.hpp — where the bank's notices go: an in-memory, thread-safe list (a stand-in for e-mail).
#pragma once

#include <string>

#include "bank/bank.hpp"
#include "common/sent_list.hpp"

namespace bank {

struct notice {
  account_id account = 0;
  std::string text;
};

/// The notices the bank "sent": thread-safe, in memory.
using mailbox = examples::sent_list<notice>;

}  // namespace bank
