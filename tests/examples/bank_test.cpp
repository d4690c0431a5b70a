// The bank example (examples/bank) on SQLite and PostgreSQL, with every command on the sync route and on a local route
// (example_routes.hpp): rejected and failed commands leave no trace, the read model answers right after execute,
// nested payrolls undo only what failed.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "bank/bank_core.hpp"
#include "common/database.hpp"
#include "example_routes.hpp"
#include "example_store.hpp"
#include "temp_dir.hpp"

namespace {

using namespace bank;

class Bank : public ::testing::TestWithParam<examples_test::store_and_routes> {
 protected:
  void SetUp() override {
    std::string skip;
    store = std::make_unique<examples_test::example_store>(std::get<0>(GetParam()), skip);
    if (!store->db) {
      GTEST_SKIP() << skip;
    }
    db = store->db.get();
    create_schema(*db);
    cmdbus::bus_builder b;
    b.use(probe);
    register_bank(b, *db);
    register_notifications(b, mail);
    examples_test::use_routes(b, routes());
    bus = std::make_unique<cmdbus::bus>(std::move(b));
    alice = bus->execute(OpenAccount{"alice"});
    bob = bus->execute(OpenAccount{"bob"});
    bus->execute(Deposit{alice, 100'00});
    bus->execute(Deposit{bob, 50'00});
  }

  [[nodiscard]] money balance(account_id id) const { return bus->query(GetBalance{id}); }
  /// Rows in the read model, counted outside any command.
  [[nodiscard]] std::int64_t lines() const { return db->scalar("SELECT COUNT(*) FROM transfer_view").value_or(-1); }
  /// Rows changed on the (only) connection since it opened, rolled-back changes included; SQLite only (-1 else).
  [[nodiscard]] std::int64_t changes_ever() const {
    std::int64_t n = -1;
    if (auto* sqlite = db->sqlite()) {
      sqlite->with_connection([&](cmdbus::sqlite::connection& c) { n = sqlite3_total_changes64(c.native()); });
    }
    return n;
  }
  [[nodiscard]] bool on_sqlite() const { return db->sqlite() != nullptr; }
  /// The route configuration: "sync" or "local".
  [[nodiscard]] const std::string& routes() const { return std::get<1>(GetParam()); }

  struct books {
    money alice, bob;
    std::int64_t lines;
    std::size_t notices;
    bool operator==(const books&) const = default;
  };
  [[nodiscard]] books take() const { return {balance(alice), balance(bob), lines(), mail.size()}; }

  std::unique_ptr<examples_test::example_store> store;
  examples::database* db = nullptr;
  mailbox mail;
  std::shared_ptr<examples_test::thread_probe> probe = std::make_shared<examples_test::thread_probe>();
  std::unique_ptr<cmdbus::bus> bus;
  account_id alice = 0, bob = 0;

  void TearDown() override {
    const bool ran = bus != nullptr;
    bus.reset();
    store.reset();
    if (ran && !IsSkipped()) {
      probe->expect_routes(routes());  // every test checks that its commands ran where its configuration says
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Stores, Bank, examples_test::all_stores_and_routes(), examples_test::store_and_routes_name);

TEST_P(Bank, EveryCommandTakesTheConfiguredRoute) {
  examples_test::expect_every_command_on(*bus, routes(), "bank.transfer");
  probe->expect_one_command_ran_per(routes(), [&] { bus->execute(Transfer{alice, bob, 1'00}); });
  EXPECT_EQ(balance(bob), 51'00);
}

TEST_P(Bank, ATransferIsInTheReadModelTheMomentExecuteReturns) {
  const auto committed = db->committed();
  bus->execute(Transfer{alice, bob, 30'00});
  EXPECT_EQ(db->committed(), committed + 1) << "the handler and its projection committed together";
  EXPECT_EQ(balance(alice), 70'00);
  EXPECT_EQ(balance(bob), 80'00);
  const auto latest = bus->query(ListTransfers{bob, 1});
  ASSERT_EQ(latest.size(), 1U);
  EXPECT_EQ(latest[0].from, alice);
  EXPECT_EQ(latest[0].to, bob);
  EXPECT_EQ(latest[0].amount, 30'00);
}

TEST_P(Bank, ListTransfersShowsAnAccountsLinesNewestFirst) {
  bus->execute(Withdraw{alice, 5'00});
  bus->execute(Transfer{bob, alice, 7'00});
  const auto all = bus->query(ListTransfers{alice});
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].from, bob);  // the transfer in
  EXPECT_EQ(all[0].amount, 7'00);
  EXPECT_EQ(all[1].from, alice);  // the withdrawal: no payee
  EXPECT_FALSE(all[1].to.has_value());
  EXPECT_FALSE(all[2].from.has_value());  // the deposit: no payer
  EXPECT_EQ(all[2].amount, 100'00);
  EXPECT_GT(all[0].seq, all[1].seq);
  EXPECT_EQ(bus->query(ListTransfers{alice, 1}).size(), 1U);
  EXPECT_EQ(balance(alice), 102'00);
  const auto audit = bus->query(AuditBank{});
  EXPECT_TRUE(audit.mismatched.empty());
  EXPECT_EQ(audit.total_balance, audit.net_deposits);
}

TEST_P(Bank, ATransferAboveTheBalanceIsRejectedAndLeavesNoTrace) {
  const auto before = take();
  const auto changes = changes_ever();
  const auto r = bus->try_execute(Transfer{bob, alice, 50'01});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(), "bank::insufficient_funds");
  EXPECT_EQ(take(), before);
  if (on_sqlite()) {
    EXPECT_EQ(changes_ever(), changes) << "the debit's WHERE clause refused it: not even a rolled-back write";
  }
}

TEST_P(Bank, AnOverdraftWithdrawalBreaksTheCheckConstraintAndIsRejected) {
  const auto before = take();
  const auto r = bus->try_execute(Withdraw{bob, 50'01});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().type_name(),
            on_sqlite() ? "cmdbus::sqlite::constraint_error" : "cmdbus::postgres::constraint_error");
  EXPECT_NE(r.error().message().find("balance_not_negative"), std::string::npos) << r.error().message();
  EXPECT_EQ(take(), before);
  EXPECT_EQ(bus->execute(Withdraw{bob, 50'00}), 0) << "down to zero is allowed";
}

TEST_P(Bank, AHandlerThatThrowsAfterTheDebitLeavesNoTrace) {
  bus->execute(FreezeAccount{bob});
  const auto before = take();
  const auto changes = changes_ever();
  try {
    bus->execute(Transfer{alice, bob, 30'00});
    FAIL() << "the transfer into a frozen account went through";
  } catch (const account_frozen& e) {
    EXPECT_NE(std::string{e.what()}.find("ACC-2 is frozen"), std::string::npos) << e.what();
  }
  if (on_sqlite()) {
    EXPECT_EQ(changes_ever(), changes + 1) << "the debit was written before the handler threw";
  }
  EXPECT_EQ(take(), before) << "... and rolled back with everything else: no balance, line or notice changed";

  const auto r = bus->try_execute(Transfer{alice, bob, 30'00});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::fatal);
  EXPECT_EQ(r.error().type_name(), "bank::account_frozen");
}

TEST_P(Bank, RejectedCommandsNameTheirReason) {
  auto self = bus->try_execute(Transfer{alice, alice, 1'00});
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error().type_name(), "cmdbus::validation_error");
  auto nobody = bus->try_execute(Deposit{999, 1'00});
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().type_name(), "bank::account_not_found");
  auto no_payee = bus->try_execute(Transfer{alice, 999, 1'00});
  ASSERT_FALSE(no_payee);
  EXPECT_EQ(no_payee.error().type_name(), "bank::account_not_found");
  EXPECT_EQ(balance(alice), 100'00) << "the debit before the missing payee was rolled back";
  EXPECT_THROW((void)bus->query(GetBalance{999}), account_not_found);
}

TEST_P(Bank, AfterCommitNoticesAreSentOnlyForCommittedTransfers) {
  const auto notices = mail.size();
  EXPECT_EQ(notices, 2U) << "a welcome notice per account";
  bus->execute(Transfer{alice, bob, 1'00});
  (void)bus->try_execute(Transfer{alice, bob, 1'000'00});
  const auto sent = mail.sent();
  ASSERT_EQ(sent.size(), notices + 1);
  EXPECT_EQ(sent.back().account, bob);
  EXPECT_EQ(sent.back().text, "You received $1.00 from ACC-1.");
}

// On a local route the Payroll runs on a worker and executes its Transfers from inside its handler: execute inside a
// handler runs the child inline on that worker, joining the payroll's transaction as a SAVEPOINT, exactly as on the
// sync route (a worker waiting for a child queued behind itself would never finish). So these hold under both.
TEST_P(Bank, APayrollSkipsAFailedPaymentAndUndoesOnlyThatPayment) {
  const auto carol = bus->execute(OpenAccount{"carol"});
  bus->execute(FreezeAccount{carol});
  const auto lines_before = lines();
  const auto notices = mail.size();
  const auto result = bus->execute(Payroll{alice, {{bob, 10'00}, {carol, 20'00}, {bob, 5'00}}});
  EXPECT_EQ(result.paid, 2);
  ASSERT_EQ(result.skipped.size(), 1U);
  EXPECT_NE(result.skipped[0].find("ACC-3"), std::string::npos) << result.skipped[0];
  EXPECT_EQ(balance(alice), 85'00) << "carol's debit was undone by its savepoint; the other two stand";
  EXPECT_EQ(balance(bob), 65'00);
  EXPECT_EQ(balance(carol), 0);
  EXPECT_EQ(lines(), lines_before + 2);
  EXPECT_EQ(mail.size(), notices + 2) << "the undone transfer's event never reached the after-commit subscriber";
}

TEST_P(Bank, AnAllOrNothingPayrollRollsEverythingBack) {
  const auto carol = bus->execute(OpenAccount{"carol"});
  bus->execute(FreezeAccount{carol});
  const auto before = take();
  EXPECT_THROW(bus->execute(Payroll{alice, {{bob, 10'00}, {carol, 20'00}}, true}), account_frozen);
  EXPECT_EQ(take(), before);
}

TEST_P(Bank, TheTransferRunsTheStatementsItPublishes) {
  if (!on_sqlite()) {
    GTEST_SKIP() << "checks SQLite's statement text and change counter";
  }
  const auto sql = transfer_sql(examples::dialect::sqlite);
  EXPECT_EQ(sql.debit, "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1 AND frozen = 0");
  EXPECT_EQ(sql.credit, "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2 AND frozen = 0");
  EXPECT_EQ(sql.record, "INSERT INTO transfer_view (from_account, to_account, amount) VALUES (?1, ?2, ?3)");
  const auto changes = changes_ever();
  bus->execute(Transfer{alice, bob, 1'00});
  EXPECT_EQ(changes_ever(), changes + 3) << "two UPDATEs and one INSERT";
}

/// On a SQLite file with a pool of 4 connections, under each route configuration.
class BankOnAFile : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Routes, BankOnAFile, examples_test::all_routes(), examples_test::routes_name);

TEST_P(BankOnAFile, ConcurrentTransfersKeepTheTotalAndTheReadModelAgrees) {
  examples_test::temp_dir dir;
  examples::store_config cfg;
  cfg.path = (dir.path / "data" / "bank.db").string();  // data/ does not exist yet: open() creates it
  cfg.pool_size = 4;
  auto db = examples::database::open(cfg, examples::database::mode::fresh);
  create_schema(db);
  const auto probe = std::make_shared<examples_test::thread_probe>();
  cmdbus::bus_builder b;
  b.use(probe);
  cmdbus::retry_policy retry;
  retry.max_attempts = 20;
  register_bank(b, db, retry);
  examples_test::use_routes(b, GetParam());
  cmdbus::bus bus{std::move(b)};
  const auto a = bus.execute(OpenAccount{"a"});
  const auto c = bus.execute(OpenAccount{"c"});
  bus.execute(Deposit{a, 1'000});
  bus.execute(Deposit{c, 1'000});
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const bool forward = (i + t) % 2 == 0;
        if (!bus.try_execute(Transfer{forward ? a : c, forward ? c : a, 3})) {
          failed.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failed.load(), 0);
  const auto audit = bus.query(AuditBank{});
  EXPECT_EQ(audit.total_balance, 2'000);
  EXPECT_TRUE(audit.mismatched.empty());
  EXPECT_EQ(audit.lines, 2 + 4 * 50);
  // Where the commands ran: on sync, each on the thread that executed it (the 4 set-up commands on the test's thread,
  // the transfers on the 4 threads it started); on local, every one on a worker.
  if (GetParam() == "local") {
    EXPECT_EQ(probe->on_test_thread(), 0U);
    EXPECT_EQ(probe->elsewhere(), 4U + 4 * 50);
  } else {
    EXPECT_EQ(probe->on_test_thread(), 4U);
    EXPECT_EQ(probe->elsewhere(), 4U * 50);
  }
}

TEST(BankSchema, CanBeCreatedTwiceAndStartedAfresh) {
  examples::store_config cfg;
  cfg.path = ":memory:";
  auto db = examples::database::open(cfg);
  create_schema(db);
  db.exec_script("INSERT INTO accounts (owner) VALUES ('x')");
  create_schema(db);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM accounts"), 1) << "IF NOT EXISTS keeps what is there";
  create_schema(db, true);
  EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM accounts"), 0) << "fresh drops the tables first";
}

}  // namespace
