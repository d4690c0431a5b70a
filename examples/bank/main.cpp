// bank_demo — a bank on SQLite driven through cmdbus, section by section:
//   startup: the routes and the store from the configuration file (and what a typo in the routes does);
//   (a) execute, send and post, with one structured log line per command;
//   (b) rejected commands: by validation, by the database's CHECK constraint, by the handler; none leaves a trace;
//   (c) a handler that fails after the debit: its exception reaches the caller with its own type, and the unit of
//       work rolls the debit back;
//   (d) the read model right after execute (a projection in the same transaction), and an after-commit notice;
//   (e) nested commands: a payroll whose transfers join its transaction as savepoints, with their ids;
//   (f) some concurrent load; (g) per-command metrics; (h) the same Transfer moved to a `local` route (worker threads)
//       by configuration alone: its latency, and the read model's lag with and without a consistency token;
//   (i) the same Transfer on a durable route run by a worker process (this binary, --transfer-worker) that is
//       SIGKILLed mid-stream and replaced: every transfer applied exactly once;
//   and the invariants at the end.
// It checks as it goes and exits non-zero if a check fails. Each run starts from an empty database.
//
//   bank_demo [path/to/cmdbus.toml]        (default: the copy of examples/bank/cmdbus.toml in the build directory)
#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <chrono>
#include <cmdbus/cmdbus.hpp>
#include <cmdbus/logging.hpp>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bank/bank_core.hpp"
#include "bank/worker_process.hpp"
#include "common/database.hpp"
#include "common/report.hpp"
#include "common/store_config.hpp"
#include "common/trace.hpp"

#ifndef BANK_DEMO_CONFIG
#define BANK_DEMO_CONFIG "cmdbus.toml"
#endif

namespace {

using bank::account_label;
using bank::money;
using examples::format_money;

struct demo {
  cmdbus::bus& bus;
  examples::database& db;
  bank::mailbox& mail;
  examples::trace_recorder& trace;
  spdlog::logger& log;
  cmdbus::metrics_middleware& metrics;
  examples::checks& check;

  bank::account_id alice = 0, bob = 0, carol = 0, dave = 0;
  money total_after_deposits = 0;

  [[nodiscard]] money total() const { return bus.query(bank::AuditBank{}).total_balance; }
  [[nodiscard]] money balance(bank::account_id id) const { return bus.query(bank::GetBalance{id}); }
};

/// Everything a command could leave behind: every balance, the read model's lines, the notices sent.
struct books {
  std::vector<std::pair<bank::account_id, money>> balances;
  std::int64_t lines = 0;
  std::size_t notices = 0;
  bool operator==(const books&) const = default;
};

books take_books(const demo& d) {
  books b;
  for (const auto& a : d.bus.query(bank::ListAccounts{})) {
    b.balances.emplace_back(a.id, a.balance);
  }
  b.lines = d.bus.query(bank::AuditBank{}).lines;
  b.notices = d.mail.size();
  return b;
}

void print_accounts(const std::vector<bank::account_view>& accounts) {
  for (const auto& a : accounts) {
    fmt::print("  {:<7} {:<8} {:>12}{}\n", account_label(a.id), a.owner, format_money(a.balance),
               a.frozen ? "  (frozen)" : "");
  }
}

std::string describe_line(const bank::transfer_line& l) {
  if (!l.from) {
    return fmt::format("#{} deposit    {:>10} into {}", l.seq, format_money(l.amount), account_label(*l.to));
  }
  if (!l.to) {
    return fmt::format("#{} withdrawal {:>10} from {}", l.seq, format_money(l.amount), account_label(*l.from));
  }
  return fmt::format("#{} transfer   {:>10} {} -> {}", l.seq, format_money(l.amount), account_label(*l.from),
                     account_label(*l.to));
}

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
void show_startup_check(examples::database& db) {
  cmdbus::bus_builder b;
  bank::register_bank(b, db);
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
  examples::print_section("a", "execute, send, post, with one structured log line per command");
  d.alice = d.bus.execute(bank::OpenAccount{"alice"});
  d.bob = d.bus.execute(bank::OpenAccount{"bob"});
  d.carol = d.bus.execute(bank::OpenAccount{"carol"});
  d.dave = d.bus.execute(bank::OpenAccount{"dave"});
  fmt::print("  execute(OpenAccount) x4       -> {}, {}, {}, {}  (after commit, each got a welcome notice: {} sent)\n",
             account_label(d.alice), account_label(d.bob), account_label(d.carol), account_label(d.dave),
             d.mail.size());

  fmt::print("  execute(Deposit alice $500.00), logged at info:\n");
  const money alice_balance = logged(d, [&] { return d.bus.execute(bank::Deposit{d.alice, 500'00}); });
  fmt::print("    -> new balance {}\n", format_money(alice_balance));

  cmdbus::handle<money> h = d.bus.send(bank::Deposit{d.bob, 300'00});
  fmt::print("  send(Deposit bob $300.00)     -> handle id={} ready={}\n", h.id().to_string(), h.ready());
  fmt::print("    .get()                      -> new balance {}\n", format_money(h.get()));

  d.bus.send(bank::Withdraw{d.bob, 20'00}).then([](cmdbus::handle<money>::value_type& r) {
    if (r) {
      fmt::print("  send(Withdraw bob $20.00).then(...) -> continuation ran: new balance {}\n", format_money(*r));
    } else {
      fmt::print("  send(Withdraw bob $20.00).then(...) -> continuation ran: {}\n", r.error().describe());
    }
  });

  const cmdbus::command_id posted = d.bus.post(bank::Deposit{d.carol, 200'00});
  fmt::print("  post(Deposit carol $200.00)   -> command id {}\n", posted.to_string());
  fmt::print("    sync route: committed when post returns; query(GetBalance carol) -> {}\n",
             format_money(d.balance(d.carol)));
  d.bus.execute(bank::Deposit{d.dave, 50'00});

  print_accounts(d.bus.query(bank::ListAccounts{}));
  d.total_after_deposits = d.total();
  fmt::print("  total money in the bank: {}  (from here on only transfers: the total must not change)\n",
             format_money(d.total_after_deposits));
}

void section_rejected(demo& d) {
  examples::print_section("b", "rejected commands leave no trace; try_execute returns the error as a value");
  {
    fmt::print("  try_execute(Withdraw alice -$5.00): validate() refuses it before the handler (logged at warn)\n");
    const auto before = take_books(d);
    auto r = logged(d, [&] { return d.bus.try_execute(bank::Withdraw{d.alice, -5'00}); });
    if (!r) {
      examples::print_error(r.error());
    }
    d.check.expect(!r && r.error().code() == cmdbus::error_code::rejected &&
                       r.error().type_name() == "cmdbus::validation_error" && take_books(d) == before,
                   "a command failing validation is rejected (validation_error) and changes nothing");
  }
  {
    fmt::print(
        "  try_execute(Withdraw bob $10,000.00): the handler does not check the balance; the database's CHECK\n"
        "  constraint refuses the UPDATE\n");
    const auto before = take_books(d);
    auto r = logged(d, [&] { return d.bus.try_execute(bank::Withdraw{d.bob, 10'000'00}); });
    if (!r) {
      examples::print_error(r.error());
    }
    d.check.expect(!r && r.error().code() == cmdbus::error_code::rejected &&
                       r.error().message().find("balance_not_negative") != std::string::npos,
                   "an overdraft broke the CHECK constraint: rejected, naming balance_not_negative");
    d.check.expect(take_books(d) == before, "... and left no trace (balances, read model, notices unchanged)");
  }
  {
    fmt::print("  try_execute(Transfer carol -> alice $5,000.00): above carol's balance; the handler refuses it\n");
    const auto before = take_books(d);
    const auto carol_lines = d.bus.query(bank::ListTransfers{d.carol}).size();
    auto r = d.bus.try_execute(bank::Transfer{d.carol, d.alice, 5'000'00});
    if (!r) {
      examples::print_error(r.error());
    }
    fmt::print("    carol {} and alice {} afterwards; carol's transfer_view lines: {} before, {} after\n",
               format_money(d.balance(d.carol)), format_money(d.balance(d.alice)), carol_lines,
               d.bus.query(bank::ListTransfers{d.carol}).size());
    d.check.expect(
        !r && r.error().code() == cmdbus::error_code::rejected && r.error().type_name() == "bank::insufficient_funds",
        "a transfer above the balance is rejected with bank::insufficient_funds");
    d.check.expect(take_books(d) == before, "... and left no trace (balances, read model, notices unchanged)");
  }
  {
    fmt::print("  try_execute(Deposit ACC-9999 $1.00): no such account\n");
    auto r = d.bus.try_execute(bank::Deposit{9999, 1'00});
    if (!r) {
      fmt::print("    {}\n", r.error().describe());
    }
    d.check.expect(!r && r.error().type_name() == "bank::account_not_found", "an unknown account is rejected");
  }
}

void section_failing_handler(demo& d) {
  examples::print_section("c", "a handler that fails after the debit: the original exception, and a rollback");
  d.bus.execute(bank::FreezeAccount{d.dave});
  fmt::print(
      "  execute(FreezeAccount {}) done. Transfer debits the payer first and finds a frozen payee only when it\n"
      "  credits it: it throws bank::account_frozen (a std::runtime_error, so cmdbus classifies it as fatal)\n",
      account_label(d.dave));
  const auto before = take_books(d);

  fmt::print("  execute(Transfer alice -> dave $25.00) inside try/catch (const bank::account_frozen&):\n");
  d.trace.start();
  bool caught = false;
  try {
    d.bus.execute(bank::Transfer{d.alice, d.dave, 25'00});
  } catch (const bank::account_frozen& e) {
    caught = true;
    fmt::print("    caught bank::account_frozen: {}\n", e.what());
  }
  examples::print_trace(d.trace.stop());
  d.check.expect(caught, "the caller catches the handler's exception by its own type");
  fmt::print("    alice {} (the debit was rolled back), dave {}; transfer_view lines {}; notices {}\n",
             format_money(d.balance(d.alice)), format_money(d.balance(d.dave)), take_books(d).lines, d.mail.size());
  d.check.expect(take_books(d) == before,
                 "the debit, the read model and the notice of the failed transfer left no trace");

  fmt::print("  try_execute of the same transfer:\n");
  auto r = d.bus.try_execute(bank::Transfer{d.alice, d.dave, 25'00});
  if (!r) {
    examples::print_error(r.error());
    fmt::print("    describe(): {}\n", r.error().describe());
    try {
      r.error().rethrow();
    } catch (const bank::account_frozen& e) {
      fmt::print("    rethrow() gives back bank::account_frozen: {}\n", e.what());
    }
  }
  d.check.expect(!r && r.error().code() == cmdbus::error_code::fatal && r.error().type_name() == "bank::account_frozen",
                 "try_execute reports code fatal and type bank::account_frozen");
  d.check.expect(take_books(d) == before && d.total() == d.total_after_deposits,
                 "the failed transfers moved no money (every balance and the total unchanged)");
}

void section_read_model(demo& d) {
  examples::print_section("d", "the read model right after execute: a projection in the same transaction");
  const auto committed = d.db.committed();
  const auto notices = d.mail.size();
  d.bus.execute(bank::Transfer{d.bob, d.carol, 12'34});
  fmt::print("  execute(Transfer bob -> carol $12.34) returned; at once:\n");
  const auto lines = d.bus.query(bank::ListTransfers{d.carol, 3});
  fmt::print("    query(ListTransfers carol, 3), newest first (transfer_view, written by the projection):\n");
  for (const auto& l : lines) {
    fmt::print("      {}\n", describe_line(l));
  }
  fmt::print("    query(GetBalance carol) -> {}   (account_summary)\n", format_money(d.balance(d.carol)));
  fmt::print("    transactions committed by the store: {} -> {} (the transfer and its projection: one commit)\n",
             committed, d.db.committed());
  const bool seen =
      !lines.empty() && lines.front().from == d.bob && lines.front().to == d.carol && lines.front().amount == 12'34;
  d.check.expect(seen && d.balance(d.carol) == 212'34, "the read model shows the transfer the moment execute returns");
  d.check.expect(d.db.committed() == committed + 1, "one transaction for the command and its projection");
  const auto mail = d.mail.sent();
  if (mail.size() > notices) {
    fmt::print("  after commit, the subscriber sent: to {}: \"{}\"\n", account_label(mail.back().account),
               mail.back().text);
  }
  d.check.expect(mail.size() == notices + 1, "the after-commit subscriber ran once, after the commit");
}

void section_nested(demo& d) {
  examples::print_section("e", "nested commands: Payroll -> Transfer x3, each joining the payroll's transaction");
  const auto before = take_books(d);
  fmt::print(
      "  execute(Payroll alice -> bob $10.00, carol $20.00, dave $30.00); dave is frozen: his transfer fails after\n"
      "  its debit, the payroll catches it, and only that transfer's SAVEPOINT is rolled back\n");
  d.trace.start();
  const auto result = d.bus.execute(bank::Payroll{d.alice, {{d.bob, 10'00}, {d.carol, 20'00}, {d.dave, 30'00}}});
  const auto tree = d.trace.stop();
  examples::print_trace(tree);
  fmt::print("  paid {}, skipped {}:\n", result.paid, result.skipped.size());
  for (const auto& s : result.skipped) {
    fmt::print("    {}\n", s);
  }
  const auto problems = examples::trace_problems(tree);
  for (const auto& p : problems) {
    fmt::print("    problem: {}\n", p);
  }
  fmt::print("  {} commands; correlation id shared by all: {}\n", tree.size(),
             tree.empty() ? "-" : tree.front().correlation.to_string());
  d.check.expect(problems.empty() && tree.size() == 4 &&
                     std::all_of(tree.begin() + 1, tree.end(), [](const auto& e) { return e.depth == 1; }),
                 "one correlation id for the whole chain; each child's causation id is the payroll's id");
  const auto after = take_books(d);
  fmt::print("  alice {}, bob {}, carol {}, dave {}; {} new read-model lines; {} new notices\n",
             format_money(d.balance(d.alice)), format_money(d.balance(d.bob)), format_money(d.balance(d.carol)),
             format_money(d.balance(d.dave)), after.lines - before.lines, after.notices - before.notices);
  d.check.expect(result.paid == 2 && result.skipped.size() == 1 && after.lines == before.lines + 2 &&
                     after.notices == before.notices + 2 && d.total() == d.total_after_deposits,
                 "two payments stand; the failed one left no trace (no money, no line, no notice)");

  fmt::print("  execute(Payroll ... all_or_nothing): the same failure, not caught, rolls the whole payroll back\n");
  bool failed = false;
  try {
    d.bus.execute(bank::Payroll{d.alice, {{d.bob, 10'00}, {d.dave, 30'00}}, true});
  } catch (const bank::account_frozen& e) {
    failed = true;
    fmt::print("    caught bank::account_frozen: {}\n", e.what());
  }
  d.check.expect(failed && take_books(d) == after, "an uncaught nested failure leaves no trace of any payment");
}

void section_load(demo& d) {
  examples::print_section("f", "some load: 4 threads, 1,000 random transfers each, between alice, bob and carol");
  const std::vector<bank::account_id> ids{d.alice, d.bob, d.carol};
  const auto before = d.metrics.of(bank::Transfer::command_name);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&d, &ids, t] {
      std::mt19937 rng(1234 + t);
      std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
      std::uniform_int_distribution<money> amount(1'00, 60'00);
      for (int i = 0; i < 1'000; ++i) {
        const auto from = pick(rng);
        const auto to = (from + 1 + pick(rng) % (ids.size() - 1)) % ids.size();
        (void)d.bus.try_execute(bank::Transfer{ids[from], ids[to], amount(rng)});
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto after = d.metrics.of(bank::Transfer::command_name);
  if (before && after) {
    fmt::print("  bank.transfer: {} committed, {} rejected (overdrafts), {} failed otherwise, in {:.2f} s\n",
               after->succeeded - before->succeeded, after->rejected - before->rejected,
               (after->transient + after->fatal) - (before->transient + before->fatal), seconds);
  }
  print_accounts(d.bus.query(bank::ListAccounts{}));
}

/// p50 and p99 of `samples` (microseconds), sorted in place.
std::pair<double, double> percentiles(std::vector<double>& samples) {
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    return samples[static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1))];
  };
  return {at(0.50), at(0.99)};
}

template <class F>
std::vector<double> time_each(int n, F&& f) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f(i);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  return us;
}

void section_local_route(demo& d) {
  examples::print_section("h", "the same Transfer on a local route (worker threads), chosen by configuration alone");
  const std::string routes =
      "[routes.transfers]\nkind = \"local\"\nworkers = 2\ncapacity = 10000\n\n[commands]\n\"bank.transfer\" = "
      "\"transfers\"\n";
  fmt::print("  a second bus over the same database: the same registrations, and this routing text:\n");
  for (std::size_t pos = 0, end = 0; pos < routes.size(); pos = end + 1) {
    end = routes.find('\n', pos);
    fmt::print("    | {}\n", routes.substr(pos, end - pos));
  }
  cmdbus::bus_builder b;
  bank::register_bank(b, d.db);
  b.config_text(routes, "section h");
  cmdbus::bus local{std::move(b)};
  for (const auto& r : local.routes()) {
    if (r.command == bank::Transfer::command_name) {
      fmt::print("  {} -> {} (kind {})\n", r.command, r.route, r.kind);
      d.check.expect(r.kind == "local", "bank.transfer runs on the local route in the second bus");
    }
  }

  constexpr int rounds = 300;
  auto sync_us = time_each(rounds, [&](int i) {
    d.bus.execute(bank::Transfer{i % 2 == 0 ? d.alice : d.bob, i % 2 == 0 ? d.bob : d.alice, 1'00});
  });
  auto local_us = time_each(rounds, [&](int i) {
    local.execute(bank::Transfer{i % 2 == 0 ? d.alice : d.bob, i % 2 == 0 ? d.bob : d.alice, 1'00});
  });
  const auto [sync_p50, sync_p99] = percentiles(sync_us);
  const auto [local_p50, local_p99] = percentiles(local_us);
  fmt::print("  execute(Transfer) x{} each: sync p50 {:.0f} us, p99 {:.0f} us; local p50 {:.0f} us, p99 {:.0f} us\n",
             rounds, sync_p50, sync_p99, local_p50, local_p99);
  fmt::print("    (execute on a local route waits for the worker: the same work plus a hand-off each way)\n");

  // Post a transfer with an amount of its own (1 cent to 6 dollars), then read carol's newest read-model line at once.
  local.execute(bank::Deposit{d.alice, 2'000'00});  // enough for the transfers below (about $18)
  d.total_after_deposits += 2'000'00;
  const auto newest_is = [&](const std::vector<bank::transfer_line>& lines, money amount) {
    return !lines.empty() && lines.front().amount == amount && lines.front().to == d.carol;
  };
  int stale_without = 0;
  for (int i = 0; i < rounds; ++i) {
    const money amount = 1 + i;
    const auto id = local.post(bank::Transfer{d.alice, d.carol, amount});
    if (!newest_is(local.query(bank::ListTransfers{d.carol, 1}), amount)) {
      ++stale_without;
    }
    (void)local.query(bank::ListTransfers{d.carol, 1}, cmdbus::at_least(id));  // settle before the next round
  }
  int stale_with = 0;
  auto wait_us = time_each(rounds, [&](int i) {
    const money amount = rounds + 1 + i;
    const auto id = local.post(bank::Transfer{d.alice, d.carol, amount});
    if (!newest_is(local.query(bank::ListTransfers{d.carol, 1}, cmdbus::at_least(id)), amount)) {
      ++stale_with;
    }
  });
  const auto [wait_p50, wait_p99] = percentiles(wait_us);
  fmt::print("  post(Transfer) then query(ListTransfers carol) at once, {} times each:\n", rounds);
  fmt::print("    without a token: {} of {} reads did not show the transfer yet (the worker had not committed)\n",
             stale_without, rounds);
  fmt::print("    with cmdbus::at_least(id): {} of {} stale; post + query took p50 {:.0f} us, p99 {:.0f} us\n",
             stale_with, rounds, wait_p50, wait_p99);
  d.check.expect(stale_with == 0, "with a consistency token every read shows the posted transfer");

  const auto report = local.stop();
  fmt::print("  stop(): {} commands completed on the local route, {} not run, {} dead letters\n", report.completed,
             report.not_run.size(), local.dead_letters().size());
  d.check.expect(report.not_run.empty() && local.dead_letters().size() == 0,
                 "the local route ran every transfer it accepted; none failed unseen");
}

void section_durable_route(demo& d, const std::filesystem::path& config) {
  examples::print_section("i",
                          "the same Transfer on a durable route: a worker process, killed with SIGKILL mid-stream");
  fmt::print("  a third bus over the same database, this routing text, and the inbox after the unit of work:\n");
  const std::string routes{bank::durable_routing};
  for (std::size_t pos = 0, end = 0; pos < routes.size(); pos = end + 1) {
    end = routes.find('\n', pos);
    fmt::print("    | {}\n", routes.substr(pos, end - pos));
  }
  bank::create_durable_table(d.db);
  cmdbus::bus_builder b;
  bank::register_bank(b, d.db, {}, bank::durability::durable_routes);
  b.config_text(routes, "section i");
  cmdbus::bus poster{std::move(b)};  // start_workers = false: this process only posts

  // Transfers of one cent around a ring of accounts that are not frozen.
  std::vector<bank::account_id> ring;
  for (const auto& a : d.bus.query(bank::ListAccounts{})) {
    if (!a.frozen && a.balance >= 10'00) {
      ring.push_back(a.id);
    }
  }
  const auto before = d.bus.query(bank::AuditBank{});
  auto worker = std::make_unique<bank::worker_process>(config);
  fmt::print("  started worker process {} (bank_demo --transfer-worker): it runs the route's two workers\n",
             worker->pid());
  constexpr int count = 3000;
  constexpr int kill_after = 1000;
  std::vector<cmdbus::command_id> ids;
  ids.reserve(count);
  for (int i = 0; i < count; ++i) {
    const auto from = ring[static_cast<std::size_t>(i) % ring.size()];
    const auto to = ring[static_cast<std::size_t>(i + 1) % ring.size()];
    ids.push_back(poster.post(bank::Transfer{from, to, 1}));
    if (i + 1 == kill_after) {
      const auto stats = poster.queue_stats()[0];
      const auto old_pid = worker->pid();
      worker->kill_hard();
      fmt::print(
          "  posted {}; SIGKILL to worker {}: {} rows claimed outside a batch, {} waiting (a batch it had not "
          "committed, claim included, rolls back whole: its rows are simply pending again)\n",
          kill_after, old_pid, stats.value("running").value_or(0), stats.queued);
      worker = std::make_unique<bank::worker_process>(config);
      fmt::print("  started worker process {}; posting goes on\n", worker->pid());
    }
  }
  fmt::print("  posted {} transfers; waiting until the table has run them all\n", count);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{120};
  while (poster.queue_stats()[0].in_flight != 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  int succeeded = 0;
  int again = 0;
  for (const auto& id : ids) {
    const auto st = poster.status(id);
    succeeded += st && st->status == cmdbus::command_status::succeeded ? 1 : 0;
    again += st && st->attempts > 1 ? 1 : 0;
  }
  const auto after = d.bus.query(bank::AuditBank{});
  const int exit_status = worker->stop();
  fmt::print("  {} of {} succeeded; {} took a second attempt (rows the killed worker held under a committed claim)\n",
             succeeded, count, again);
  fmt::print("  read-model lines: {} before, {} after ({} new); total money {} before, {} after\n", before.lines,
             after.lines, after.lines - before.lines, format_money(before.total_balance),
             format_money(after.total_balance));
  d.check.expect(succeeded == count, "every transfer posted to the durable route succeeded, the kill notwithstanding");
  d.check.expect(after.lines - before.lines == count,
                 "each was applied exactly once: one read-model line per transfer, none twice (the inbox)");
  d.check.expect(after.total_balance == before.total_balance && after.mismatched.empty(),
                 "no money appeared or vanished, and the read model agrees with the write model");
  d.check.expect(exit_status == 0, "the second worker process stopped cleanly on SIGTERM");
}

void section_invariants(demo& d) {
  examples::print_section("", "invariants");
  const auto audit = d.bus.query(bank::AuditBank{});
  fmt::print("  total money: {} after the deposits, {} now; {} read-model lines, net deposits {}\n",
             format_money(d.total_after_deposits), format_money(audit.total_balance), audit.lines,
             format_money(audit.net_deposits));
  d.check.expect(audit.total_balance == d.total_after_deposits,
                 "the sum of the balances is unchanged: transfers, failed or not, never change it");
  d.check.expect(audit.mismatched.empty() && audit.net_deposits == audit.total_balance,
                 "the read model agrees with the write model: every balance is the sum of its transfer_view lines");
  d.check.expect(audit.negative.empty(), "no balance is negative");
  d.check.expect(d.bus.after_commit_failures() == 0, "no after-commit subscriber failed");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string_view{argv[1]} == "--transfer-worker") {
    return bank::run_transfer_worker(
        argv[2], argc > 3 ? std::atoi(argv[3]) : -1);  // section (i) starts this binary as its durable route's worker
  }
  const std::filesystem::path config = argc > 1 ? argv[1] : BANK_DEMO_CONFIG;

  examples::print_section("", "startup: the store and the routes");
  std::unique_ptr<examples::database> db;
  try {
    const auto store = examples::read_store_config(config, {"bank.db", examples::program_dir()});
    db = std::make_unique<examples::database>(examples::database::open(store, examples::database::mode::fresh));
    bank::create_schema(*db);
    fmt::print("  store: {}\n    from {}; started afresh\n", db->description(), store.origin);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bank_demo: {}\n", e.what());
    return 2;
  }

  bank::mailbox mail;
  auto metrics = cmdbus::make_metrics();
  auto trace = std::make_shared<examples::trace_recorder>();
  auto logger = make_logger();

  cmdbus::bus_builder b;
  b.use(cmdbus::make_logging(logger));  // outermost: its duration covers the middleware inside it
  b.use(metrics);
  b.use(trace);
  bank::register_bank(b, *db);  // then retry and the unit of work; the bus adds validation innermost
  bank::register_notifications(b, mail);
  // A route from code: it wins over the file's "*" (but an exact entry in the file would win over it).
  b.route<bank::Payroll>("sync");
  b.config_file(config);

  std::unique_ptr<cmdbus::bus> bus;
  try {
    bus = std::make_unique<cmdbus::bus>(std::move(b));
  } catch (const cmdbus::config_error& e) {
    fmt::print(stderr, "bank_demo: {}\n", e.what());
    return 2;
  }
  fmt::print("  routing file: {}\n", config.string());
  examples::print_routes(*bus);
  show_startup_check(*db);

  examples::checks check;
  demo d{*bus, *db, mail, *trace, *logger, *metrics, check};
  try {
    section_call_styles(d);
    section_rejected(d);
    section_failing_handler(d);
    section_read_model(d);
    section_nested(d);
    section_load(d);
    examples::print_section("g", "metrics per command and query type (cmdbus::make_metrics)");
    examples::print_metrics(*metrics);
    section_local_route(d);
    section_durable_route(d, config);
    section_invariants(d);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bank_demo: unexpected exception: {}\n", e.what());
    return 1;
  }
  fmt::print("\n{} checks passed, {} failed\n", check.passed(), check.failed());
  return check.failed() == 0 ? 0 : 1;
}
