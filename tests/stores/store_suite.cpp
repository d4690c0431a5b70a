// The store suite: unit-of-work semantics every store must have, run against each store (see store_adapter.hpp).
#include <atomic>
#include <thread>

#include "store_fixture.hpp"

namespace store_suite {
namespace {

TEST_P(StoreSuite, ACommittedCommandAndItsProjectionAreVisibleAtOnce) {
  cmdbus::bus bus{bank()};
  const auto before = store->committed();
  bus.execute(Transfer{"alice", "bob", 30});
  EXPECT_EQ(bus.query(GetBalance{"alice"}), 70);
  EXPECT_EQ(bus.query(GetBalance{"bob"}), 80);
  EXPECT_EQ(ledger_rows(), 1) << "the projection ran in the same transaction";
  EXPECT_EQ(store->committed(), before + 1) << "one commit; the queries committed nothing";
}

TEST_P(StoreSuite, AHandlerThatThrowsAfterTheDebitLeavesNoTrace) {
  cmdbus::bus bus{bank()};
  EXPECT_THROW(bus.execute(Transfer{"alice", "bob", 30, true}), std::runtime_error);
  EXPECT_EQ(balance("alice"), 100);
  EXPECT_EQ(balance("bob"), 50);
  EXPECT_EQ(ledger_rows(), 0);
}

TEST_P(StoreSuite, AProjectionThatThrowsRollsTheWholeCommandBack) {
  auto b = bank();
  b.project<Transferred>([](const Transferred&) { throw std::runtime_error("read model broken"); });
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW(bus.execute(Transfer{"alice", "bob", 30}), std::runtime_error);
  EXPECT_EQ(balance("alice"), 100);
  EXPECT_EQ(balance("bob"), 50);
  EXPECT_EQ(ledger_rows(), 0) << "the first projection's insert was rolled back too";
}

TEST_P(StoreSuite, AfterCommitSubscribersRunOnlyAfterACommit) {
  std::vector<std::int64_t> seen_balances;
  auto b = bank();
  b.subscribe<Transferred>([&](const Transferred& e) { seen_balances.push_back(balance(e.from)); });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Transfer{"alice", "bob", 10});
  EXPECT_THROW(bus.execute(Transfer{"alice", "bob", 20, true}), std::runtime_error);
  EXPECT_EQ(seen_balances, std::vector<std::int64_t>{90}) << "after commit: sees the committed state; never the "
                                                             "rolled-back transfer";
}

TEST_P(StoreSuite, AConstraintViolationIsRejectedNamingTheConstraintAndLeavesNoTrace) {
  cmdbus::bus bus{bank()};
  const auto r = bus.try_execute(Transfer{"alice", "bob", 500});  // balance would go negative: CHECK fails
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected) << r.error().describe();
  EXPECT_NE(r.error().message().find("balance_not_negative"), std::string::npos) << r.error().message();
  EXPECT_EQ(balance("alice"), 100);
  EXPECT_EQ(ledger_rows(), 0);
}

TEST_P(StoreSuite, ANestedFailureCaughtByTheOuterHandlerUndoesOnlyTheInnerPart) {
  std::vector<std::int64_t> after_commit;
  auto b = bank();
  b.handle<Batch>([this](const Batch& batch, cmdbus::context& ctx) {
    store->execute(ctx, "INSERT INTO ledger (from_id, to_id, amount) VALUES ('batch', 'batch', 0)", {});
    for (const auto& t : batch.transfers) {
      try {
        ctx.bus().execute(t);
      } catch (const std::exception&) {
        // skip the failed transfer; the others stand
      }
    }
  });
  b.subscribe<Transferred>([&](const Transferred& e) { after_commit.push_back(e.amount); });
  cmdbus::bus bus{std::move(b)};
  bus.execute(Batch{{Transfer{"alice", "bob", 10}, Transfer{"alice", "bob", 20, true}, Transfer{"bob", "alice", 5}}});
  EXPECT_EQ(balance("alice"), 95);
  EXPECT_EQ(balance("bob"), 55);
  EXPECT_EQ(ledger_rows(), 3) << "the batch row and two transfers; the failed one's projection was undone";
  EXPECT_EQ(after_commit, (std::vector<std::int64_t>{10, 5})) << "the rolled-back transfer's event is dropped";
}

TEST_P(StoreSuite, ANestedFailureNotCaughtRollsEverythingBack) {
  auto b = bank();
  b.handle<Batch>([](const Batch& batch, cmdbus::context& ctx) {
    for (const auto& t : batch.transfers) {
      ctx.bus().execute(t);
    }
  });
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW(bus.execute(Batch{{Transfer{"alice", "bob", 10}, Transfer{"bob", "alice", 20, true}}}),
               std::runtime_error);
  EXPECT_EQ(balance("alice"), 100);
  EXPECT_EQ(balance("bob"), 50);
  EXPECT_EQ(ledger_rows(), 0);
}

TEST_P(StoreSuite, ConcurrentTransfersKeepTheTotal) {
  if (!store->concurrent()) {
    GTEST_SKIP() << "this store configuration serialises commands on one connection";
  }
  cmdbus::bus bus{bank(true)};
  constexpr int threads = 4;
  constexpr int per_thread = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const bool forward = (i + t) % 2 == 0;
        if (!bus.try_execute(Transfer{forward ? "alice" : "bob", forward ? "bob" : "alice", 1})) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(balance("alice") + balance("bob"), 150);
  EXPECT_EQ(ledger_rows(), threads * per_thread);
}

}  // namespace
}  // namespace store_suite
