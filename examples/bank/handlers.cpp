#include "handlers.hpp"

#include <fmt/format.h>

#include <cmdbus/bus.hpp>
#include <cmdbus/context.hpp>

#include "money.hpp"

namespace bank {

void handler_calls::count(std::string_view command) {
  const std::lock_guard lock(mutex_);
  const auto it = calls_.find(command);
  if (it == calls_.end()) {
    calls_.emplace(std::string{command}, 1);
  } else {
    ++it->second;
  }
}

int handler_calls::of(std::string_view command) const {
  const std::lock_guard lock(mutex_);
  const auto it = calls_.find(command);
  return it == calls_.end() ? 0 : it->second;
}

void register_handlers(cmdbus::bus_builder& b, services s) {
  b.handle<OpenAccount>([s](const OpenAccount& c, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    auto id = s.store.open(c.owner);
    ctx.emit(AccountOpened{id, c.owner});
    return id;
  });

  b.handle<Deposit>([s](const Deposit& c, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    const money balance = s.store.deposit(c.account, c.amount);
    ctx.bus().execute(RecordLedgerEntry{c.account, c.amount, c.memo});
    return balance;
  });

  b.handle<Withdraw>([s](const Withdraw& c, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    const money balance = s.store.withdraw(c.account, c.amount);
    ctx.bus().execute(RecordLedgerEntry{c.account, -c.amount, c.memo});
    return balance;
  });

  // Two child commands. The store has no transaction yet, so when the deposit fails after the withdrawal succeeded,
  // this handler puts the money back itself and then lets the original exception go on to the caller unchanged.
  b.handle<Transfer>([s](const Transfer& t, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    auto& bus = ctx.bus();
    bus.execute(Withdraw{t.from, t.amount, fmt::format("transfer to {}", t.to)});
    try {
      bus.execute(Deposit{t.to, t.amount, fmt::format("transfer from {}", t.from)});
    } catch (...) {
      bus.execute(Deposit{t.from, t.amount, fmt::format("reversal of failed transfer to {}", t.to)});
      throw;
    }
    ctx.emit(MoneyTransferred{t.from, t.to, t.amount});
  });

  b.handle<FreezeAccount>([s](const FreezeAccount& c, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    s.store.freeze(c.account);
  });

  b.handle<RecordLedgerEntry>([s](const RecordLedgerEntry& c, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    s.store.append_ledger(c.account, c.delta, c.memo);
  });

  b.handle<NotifyCustomer>([s](const NotifyCustomer& c, cmdbus::context& ctx) {
    s.calls.count(ctx.command_name());
    s.mail.send(c.account, c.text);
  });
  // A route from code: it wins over the file's "*" (but an exact entry in the file would win over it).
  b.route<NotifyCustomer>("sync");

  b.handle<GetBalance>([s](const GetBalance& q) { return s.store.balance(q.account); });
  b.handle<ListAccounts>([s](const ListAccounts&) { return s.store.list(); });

  // Subscribers run after the emitting handler succeeded, inside its command: what they dispatch is its child.
  b.subscribe<AccountOpened>([](const AccountOpened& e, cmdbus::context& ctx) {
    ctx.bus().execute(NotifyCustomer{e.account, fmt::format("Welcome, {}! Your account is {}.", e.owner, e.account)});
  });
  b.subscribe<MoneyTransferred>([](const MoneyTransferred& e, cmdbus::context& ctx) {
    ctx.bus().execute(NotifyCustomer{e.to, fmt::format("You received {} from {}.", format_money(e.amount), e.from)});
  });
}

}  // namespace bank
