// bank_demo — an in-memory bank driven through cmdbus, section by section:
//   routes at startup (and what a typo in the routing file does), (a) the three call styles with a structured log
//   line per command, (b) rejected commands, (c) a failing handler whose exception reaches the caller with its own
//   type, (d) a nested chain of commands with their ids, a short concurrent load, and (e) per-command metrics.
// It checks the bank's invariants as it goes and exits non-zero if one fails.
//
//   bank_demo [path/to/cmdbus.toml]        (default: the copy of examples/bank/cmdbus.toml in the build directory)
#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cmdbus/cmdbus.hpp>
#include <cmdbus/logging.hpp>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "accounts.hpp"
#include "bank.hpp"
#include "handlers.hpp"
#include "mailbox.hpp"
#include "money.hpp"
#include "report.hpp"
#include "trace.hpp"

#ifndef BANK_DEMO_CONFIG
#define BANK_DEMO_CONFIG "cmdbus.toml"
#endif

namespace {

using bank::format_money;
using bank::money;

struct demo {
  cmdbus::bus& bus;
  bank::accounts& store;
  bank::mailbox& mail;
  bank::handler_calls& calls;
  bank::trace_recorder& trace;
  spdlog::logger& log;
  cmdbus::metrics_middleware& metrics;
  bank::checks& check;

  bank::account_id alice, bob, carol, dave;
  money total_after_deposits = 0;

  [[nodiscard]] money total() const {
    money sum = 0;
    for (const auto& a : bus.query(bank::ListAccounts{})) {
      sum += a.balance;
    }
    return sum;
  }
};

// Log lines go to stdout like the rest of the demo, indented under the step that caused them.
std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = std::make_shared<spdlog::logger>("bank", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  logger->set_pattern("      log %l: %v");
  logger->set_level(spdlog::level::off);
  return logger;
}

// Runs `f` with the demo's logger at info, so that each command it dispatches logs one line; quiet otherwise.
template <class F>
auto logged(demo& d, F&& f) {
  struct restore {
    spdlog::logger& log;
    ~restore() { log.set_level(spdlog::level::off); }
  } quiet_again{d.log};
  d.log.set_level(spdlog::level::info);
  return f();
}

// A second builder with the same handlers and a routing file with typos: the bus refuses to start and says where.
void show_startup_check(const bank::services& services) {
  cmdbus::bus_builder b;
  bank::register_handlers(b, services);
  b.config_text(R"([commands]
"*" = "sync"
"bank.transfr" = "ledger"
"bank.deposit" = { rout = "sync" }

[routes.ledger]
kind = "sync"
)",
                "typo.toml");
  try {
    const cmdbus::bus refused{std::move(b)};
    fmt::print("  unexpected: the bus started\n");
  } catch (const cmdbus::config_error& e) {
    fmt::print("  a routing file with typos (typo.toml) stops the bus before it starts:\n");
    std::string text = e.what();
    for (std::size_t pos = 0; (pos = text.find('\n', pos)) != std::string::npos; pos += 3) {
      text.replace(pos, 1, "\n  ");
    }
    fmt::print("  {}\n", text);
  }
}

void section_call_styles(demo& d) {
  bank::print_section("a", "execute, send, post  (f) with one structured log line per command");
  d.alice = d.bus.execute(bank::OpenAccount{"alice"});
  d.bob = d.bus.execute(bank::OpenAccount{"bob"});
  d.carol = d.bus.execute(bank::OpenAccount{"carol"});
  d.dave = d.bus.execute(bank::OpenAccount{"dave"});
  fmt::print("  execute(OpenAccount)        -> {}, {}, {}, {}  (each also got a welcome notice: {} sent)\n", d.alice,
             d.bob, d.carol, d.dave, d.mail.sent().size());

  fmt::print("  execute(Deposit alice $500.00), logged at info: the ledger entry (a child) finishes first\n");
  const money alice_balance = logged(d, [&] { return d.bus.execute(bank::Deposit{d.alice, 500'00}); });
  fmt::print("    -> new balance {}\n", format_money(alice_balance));

  cmdbus::handle<money> h = d.bus.send(bank::Deposit{d.bob, 300'00});
  fmt::print("  send(Deposit bob $300.00)   -> handle id={} ready={}\n", h.id().to_string(), h.ready());
  fmt::print("    .get()                    -> new balance {}\n", format_money(h.get()));

  d.bus.send(bank::Withdraw{d.bob, 20'00}).then([](cmdbus::handle<money>::value_type& r) {
    if (r) {
      fmt::print("  send(Withdraw bob $20.00).then(...) -> continuation ran: new balance {}\n", format_money(*r));
    } else {
      fmt::print("  send(Withdraw bob $20.00).then(...) -> continuation ran: {}\n", r.error().describe());
    }
  });

  const cmdbus::command_id posted = d.bus.post(bank::Deposit{d.carol, 200'00});
  fmt::print("  post(Deposit carol $200.00) -> command id {}\n", posted.to_string());
  fmt::print("    sync route: done when post returns; query(GetBalance carol) -> {}\n",
             format_money(d.bus.query(bank::GetBalance{d.carol})));
  d.bus.execute(bank::Deposit{d.dave, 50'00});

  bank::print_accounts(d.bus.query(bank::ListAccounts{}));
  d.total_after_deposits = d.total();
  fmt::print("  total money in the bank: {}  (from here on only transfers: the total must not change)\n",
             format_money(d.total_after_deposits));
}

void section_rejected(demo& d) {
  bank::print_section("b", "rejected commands: try_execute returns the error as a value");
  const money total_before = d.total();

  {
    fmt::print("  try_execute(Withdraw alice -$5.00): validate() refuses it (logged: a rejection logs at warn)\n");
    const int ran_before = d.calls.of(bank::Withdraw::command_name);
    auto r = logged(d, [&] { return d.bus.try_execute(bank::Withdraw{d.alice, -5'00}); });
    if (!r) {
      bank::print_error(r.error());
    }
    const int ran = d.calls.of(bank::Withdraw::command_name) - ran_before;
    fmt::print("    the Withdraw handler ran {} times for it\n", ran);
    d.check.expect(!r && r.error().code() == cmdbus::error_code::rejected && ran == 0,
                   "a command failing validation is rejected without running its handler");
  }
  {
    fmt::print("  try_execute(Withdraw bob $10,000.00): an overdraft; the handler throws bank::insufficient_funds\n");
    const money before = d.bus.query(bank::GetBalance{d.bob});
    auto r = logged(d, [&] { return d.bus.try_execute(bank::Withdraw{d.bob, 10'000'00}); });
    if (!r) {
      bank::print_error(r.error());
    }
    const money after = d.bus.query(bank::GetBalance{d.bob});
    fmt::print("    bob's balance: {} before, {} after\n", format_money(before), format_money(after));
    d.check.expect(!r && r.error().code() == cmdbus::error_code::rejected && before == after,
                   "an overdraft is rejected and changes nothing");
  }
  {
    fmt::print(
        "  try_execute(Transfer carol -> alice $5,000.00): the overdraft of the child Withdraw reaches the\n"
        "  caller of Transfer with its own type\n");
    auto r = d.bus.try_execute(bank::Transfer{d.carol, d.alice, 5'000'00});
    if (!r) {
      bank::print_error(r.error());
    }
    d.check.expect(!r && r.error().type_name() == "bank::insufficient_funds" &&
                       r.error().command_name() == bank::Transfer::command_name,
                   "a child's rejection fails the parent command with the child's exception type");
  }
  {
    fmt::print("  try_execute(Deposit ACC-9999 $1.00): no such account\n");
    auto r = d.bus.try_execute(bank::Deposit{"ACC-9999", 1'00});
    if (!r) {
      fmt::print("    {}\n", r.error().describe());
    }
    d.check.expect(!r && r.error().type_name() == "bank::account_not_found", "an unknown account is rejected");
  }
  d.check.expect(d.total() == total_before, "rejected commands leave the total unchanged");
}

void section_failing_handler(demo& d) {
  bank::print_section("c", "a failing handler: its exception reaches the caller with its original type");
  d.bus.execute(bank::FreezeAccount{d.dave});
  fmt::print(
      "  execute(FreezeAccount {}) done; transfers into it now fail with bank::account_frozen, which\n"
      "  derives from std::runtime_error (not from a cmdbus error type), so cmdbus classifies it as fatal\n",
      d.dave);
  const money alice_before = d.bus.query(bank::GetBalance{d.alice});

  fmt::print("  execute(Transfer alice -> dave $25.00) inside try/catch (const bank::account_frozen&):\n");
  d.trace.start();
  bool caught = false;
  try {
    d.bus.execute(bank::Transfer{d.alice, d.dave, 25'00});
  } catch (const bank::account_frozen& e) {
    caught = true;
    fmt::print("    caught bank::account_frozen: {}\n", e.what());
  }
  const auto tree = d.trace.stop();
  d.check.expect(caught, "the caller catches the handler's exception by its own type");

  fmt::print("  the calls it made (Withdraw succeeded, Deposit failed, so Transfer put the money back itself):\n");
  bank::print_trace(tree);

  fmt::print("  try_execute of the same transfer:\n");
  auto r = d.bus.try_execute(bank::Transfer{d.alice, d.dave, 25'00});
  if (!r) {
    bank::print_error(r.error());
    fmt::print("    describe(): {}\n", r.error().describe());
    try {
      r.error().rethrow();
    } catch (const bank::account_frozen& e) {
      fmt::print("    rethrow() gives back bank::account_frozen: {}\n", e.what());
    }
  }
  d.check.expect(!r && r.error().code() == cmdbus::error_code::fatal && r.error().type_name() == "bank::account_frozen",
                 "try_execute reports code fatal and type bank::account_frozen");

  fmt::print("  try_execute(Deposit dave $1.00) directly (logged: a fatal failure logs at error):\n");
  auto direct = logged(d, [&] { return d.bus.try_execute(bank::Deposit{d.dave, 1'00}); });
  d.check.expect(!direct && direct.error().type_name() == "bank::account_frozen",
                 "a direct deposit into a frozen account fails the same way");
  d.check.expect(d.bus.query(bank::GetBalance{d.alice}) == alice_before && d.total() == d.total_after_deposits,
                 "the failed transfers moved no money (alice's balance and the total are unchanged)");
}

void section_nested_chain(demo& d) {
  bank::print_section("d", "a nested chain: Transfer -> Withdraw/Deposit -> RecordLedgerEntry, and a subscriber");
  fmt::print("  execute(Transfer alice -> bob $125.00); the handlers' own commands are its children\n");
  d.trace.start();
  d.bus.execute(bank::Transfer{d.alice, d.bob, 125'00});
  const auto tree = d.trace.stop();
  bank::print_trace(tree);

  const auto problems = bank::trace_problems(tree);
  for (const auto& p : problems) {
    fmt::print("    problem: {}\n", p);
  }
  std::size_t depth = 0;
  for (const auto& e : tree) {
    depth = std::max(depth, e.depth + 1);
  }
  fmt::print("  {} commands, {} levels; correlation id shared by all: {}\n", tree.size(), depth,
             tree.empty() ? "-" : tree.front().correlation.to_string());
  d.check.expect(problems.empty() && depth == 3 && tree.size() == 6,
                 "one correlation id for the whole chain; each causation id is the parent's id");

  const auto mail = d.mail.sent();
  if (!mail.empty()) {
    fmt::print("  the last notice sent: to {}: \"{}\"\n", mail.back().account, mail.back().text);
  }
}

void section_load(demo& d) {
  bank::print_section("", "some load: 4 threads, 2,000 random transfers each, between alice, bob and carol");
  const std::vector<bank::account_id> ids{d.alice, d.bob, d.carol};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&d, &ids, t] {
      std::mt19937 rng(1234 + t);
      std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
      std::uniform_int_distribution<money> amount(1'00, 40'00);
      for (int i = 0; i < 2'000; ++i) {
        const auto from = pick(rng);
        const auto to = (from + 1 + pick(rng) % (ids.size() - 1)) % ids.size();
        (void)d.bus.try_execute(bank::Transfer{ids[from], ids[to], amount(rng)});
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const auto transfers = d.metrics.of(bank::Transfer::command_name);
  if (transfers) {
    fmt::print("  bank.transfer so far: {} succeeded, {} rejected (overdrafts)\n", transfers->succeeded,
               transfers->rejected);
  }
  bank::print_accounts(d.bus.query(bank::ListAccounts{}));
}

void section_metrics(demo& d) {
  bank::print_section("e", "metrics per command and query type (cmdbus::make_metrics)");
  bank::print_metrics(d.metrics);
}

void section_invariants(demo& d) {
  bank::print_section("", "invariants");
  const money total = d.total();
  fmt::print("  total money: {} after the deposits, {} now\n", format_money(d.total_after_deposits),
             format_money(total));
  d.check.expect(total == d.total_after_deposits, "transfers (failed or not) never change the total");
  bool ledgers_match = true;
  for (const auto& a : d.bus.query(bank::ListAccounts{})) {
    const money ledger = d.store.ledger_total(a.id);
    fmt::print("  {:<9} balance {:>10}  ledger {:>10} ({} entries)\n", a.id, format_money(a.balance),
               format_money(ledger), d.store.ledger_size(a.id));
    ledgers_match = ledgers_match && ledger == a.balance;
  }
  d.check.expect(ledgers_match, "every balance equals the sum of its ledger entries");
  bool no_negative = true;
  for (const auto& a : d.bus.query(bank::ListAccounts{})) {
    no_negative = no_negative && a.balance >= 0;
  }
  d.check.expect(no_negative, "no balance is negative");
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path config = argc > 1 ? argv[1] : BANK_DEMO_CONFIG;

  bank::accounts store;
  bank::mailbox mail;
  bank::handler_calls calls;
  const bank::services services{store, mail, calls};
  auto metrics = cmdbus::make_metrics();
  auto trace = std::make_shared<bank::trace_recorder>();
  auto logger = make_logger();

  cmdbus::bus_builder b;
  bank::register_handlers(b, services);
  b.use(cmdbus::make_logging(logger));  // outermost: its duration covers the middleware inside it
  b.use(metrics);
  b.use(trace);  // innermost of these; the bus adds validation inside it for the types that have validate()
  b.config_file(config);

  bank::print_section("", "startup: routes");
  std::unique_ptr<cmdbus::bus> bus;
  try {
    bus = std::make_unique<cmdbus::bus>(std::move(b));
  } catch (const cmdbus::config_error& e) {
    fmt::print(stderr, "bank_demo: {}\n", e.what());
    return 2;
  }
  fmt::print("  routing file: {}\n", config.string());
  bank::print_routes(*bus);
  show_startup_check(services);

  bank::checks check;
  demo d{*bus, store, mail, calls, *trace, *logger, *metrics, check, {}, {}, {}, {}, 0};
  try {
    section_call_styles(d);
    section_rejected(d);
    section_failing_handler(d);
    section_nested_chain(d);
    section_load(d);
    section_metrics(d);
    section_invariants(d);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bank_demo: unexpected exception: {}\n", e.what());
    return 1;
  }
  fmt::print("\n{} checks passed, {} failed\n", check.passed(), check.failed());
  return check.failed() == 0 ? 0 : 1;
}
