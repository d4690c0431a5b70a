// The store suite's fixture: a tiny bank on the store under test. Tests in store_suite.cpp; each store's test file
// instantiates them (INSTANTIATE_TEST_SUITE_P(<store>, StoreSuite, ...)).
#pragma once

#include <chrono>

#include "bank_schema.hpp"
#include "store_adapter.hpp"

namespace store_suite {

class StoreSuite : public ::testing::TestWithParam<store_factory> {
 protected:
  void SetUp() override {
    std::string reason;
    store = GetParam().make(reason);
    if (!store) {
      GTEST_SKIP() << reason;
    }
    store->exec_script(bank_schema);
    store->exec_script("INSERT INTO account (id, balance) VALUES ('alice', 100), ('bob', 50)");
  }

  [[nodiscard]] std::int64_t balance(const std::string& id) const {
    return store->read_int("SELECT balance FROM account WHERE id = ?", {id}).value_or(-1);
  }
  [[nodiscard]] std::int64_t ledger_rows() const {
    return store->read_int("SELECT COUNT(*) FROM ledger", {}).value_or(-1);
  }

  /// A bus whose Transfer debits, emits Transferred (projected into the ledger), then credits.
  cmdbus::bus_builder bank(bool with_retry = false) {
    cmdbus::bus_builder b;
    if (with_retry) {
      cmdbus::retry_policy p;
      p.max_attempts = 50;
      p.initial_delay = std::chrono::milliseconds(1);
      p.max_delay = std::chrono::milliseconds(5);
      b.use(cmdbus::make_retry(p));
    }
    b.use(store->unit_of_work());
    b.handle<Transfer>([this](const Transfer& t, cmdbus::context& ctx) {
      store->execute(ctx, "UPDATE account SET balance = balance - ? WHERE id = ?", {t.amount, t.from});
      ctx.emit(Transferred{t.from, t.to, t.amount});
      if (t.fail_after_debit) {
        throw std::runtime_error("crashed after the debit");
      }
      store->execute(ctx, "UPDATE account SET balance = balance + ? WHERE id = ?", {t.amount, t.to});
    });
    b.project<Transferred>([this](const Transferred& e, cmdbus::context& ctx) {
      store->execute(ctx, "INSERT INTO ledger (from_id, to_id, amount) VALUES (?, ?, ?)", {e.from, e.to, e.amount});
    });
    b.handle<GetBalance>([this](const GetBalance& q, cmdbus::context& ctx) {
      return store->query_int(ctx, "SELECT balance FROM account WHERE id = ?", {q.id}).value_or(-1);
    });
    return b;
  }

  std::unique_ptr<store_adapter> store;
};

}  // namespace store_suite
