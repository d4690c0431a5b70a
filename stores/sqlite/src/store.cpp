#include "cmdbus/sqlite/store.hpp"

#include <fmt/format.h>

#include <atomic>
#include <string>

#include "cmdbus/bus.hpp"
#include "cmdbus/transaction_middleware.hpp"
#include "cmdbus/unit_of_work.hpp"
#include "pool.hpp"

namespace cmdbus::sqlite {

using cmdbus::transaction_middleware;

struct store::state {
  options settings;
  detail::pool pool;
  std::atomic<std::uint64_t> committed{0};

  explicit state(options o)
      : settings(std::move(o)),
        pool(settings.path, settings.full_sync, settings.busy_timeout,
             settings.pool_size != 0 ? settings.pool_size : (settings.path == ":memory:" ? 1 : 8)) {}
};

namespace {

void rollback_quietly(connection& c, std::string_view sql) noexcept {
  try {
    c.exec_script(sql);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the original error is what the caller must see
  }
}

/// One command's transaction on a pooled connection.
class pooled_transaction final : public transaction_middleware::transaction {
 public:
  pooled_transaction(const void* store, detail::pool::lease lease) noexcept
      : transaction_middleware::transaction(store), lease_(std::move(lease)) {}
  [[nodiscard]] connection& conn() const noexcept { return lease_.get(); }

 private:
  detail::pool::lease lease_;
};

class unit_of_work_middleware final : public transaction_middleware {
 public:
  explicit unit_of_work_middleware(std::shared_ptr<store::state> s)
      : transaction_middleware(s.get()), state_(std::move(s)) {}

 private:
  std::unique_ptr<transaction_type> begin(bool read_only) override {
    auto tx = std::make_unique<pooled_transaction>(state_.get(), state_->pool.acquire());
    // IMMEDIATE takes the write lock now, so a busy database fails here (transient) instead of half-way through.
    tx->conn().prepare(read_only ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE").step();
    return tx;
  }
  void commit(transaction_type& tx) override { conn(tx).prepare("COMMIT").step(); }
  void rollback(transaction_type& tx) noexcept override { rollback_quietly(conn(tx), "ROLLBACK"); }
  void savepoint(transaction_type& tx, const std::string& name) override { conn(tx).exec_script("SAVEPOINT " + name); }
  void release(transaction_type& tx, const std::string& name) override { conn(tx).exec_script("RELEASE " + name); }
  void rollback_to(transaction_type& tx, const std::string& name) noexcept override {
    rollback_quietly(conn(tx), "ROLLBACK TO " + name + "; RELEASE " + name);
  }
  std::uint64_t committed() noexcept override { return state_->committed.fetch_add(1, std::memory_order_acq_rel) + 1; }
  [[nodiscard]] std::uint64_t version() const noexcept override {
    return state_->committed.load(std::memory_order_acquire);
  }

  static connection& conn(transaction_type& tx) noexcept { return static_cast<pooled_transaction&>(tx).conn(); }

  std::shared_ptr<store::state> state_;
};

}  // namespace

store::store(options o) : state_(std::make_shared<state>(std::move(o))) {}
store::~store() = default;

std::shared_ptr<middleware> store::unit_of_work() {
  return std::make_shared<unit_of_work_middleware>(state_);
}

void store::exec_script(std::string_view sql) {
  auto lease = state_->pool.acquire();
  auto& c = lease.get();
  c.exec_script("BEGIN IMMEDIATE");
  try {
    c.exec_script(sql);
    c.exec_script("COMMIT");
  } catch (...) {
    rollback_quietly(c, "ROLLBACK");
    throw;
  }
}

void store::with_connection(const std::function<void(connection&)>& f) {
  auto lease = state_->pool.acquire();
  f(lease.get());
}

connection* store::transaction_of(const context& ctx) const noexcept {
  for (const context* c = &ctx; c != nullptr; c = c->parent()) {
    if (auto* tx = dynamic_cast<pooled_transaction*>(c->unit_of_work());
        tx != nullptr && tx->store_identity() == state_.get()) {
      return &tx->conn();
    }
  }
  return ambient_transaction();
}

connection* store::ambient_transaction() const noexcept {
  if (const auto* tx = dynamic_cast<const pooled_transaction*>(cmdbus::detail::ambient_unit_of_work);
      tx != nullptr && tx->store_identity() == state_.get()) {
    return &tx->conn();
  }
  return nullptr;
}

std::uint64_t store::committed() const noexcept {
  return state_->committed.load(std::memory_order_acquire);
}

const options& store::settings() const noexcept {
  return state_->settings;
}

connection& connection_of(const context& ctx) {
  // The nearest SQLite transaction up the chain (a command of another store's unit of work may sit in between).
  for (const context* c = &ctx; c != nullptr; c = c->parent()) {
    if (auto* tx = dynamic_cast<pooled_transaction*>(c->unit_of_work())) {
      return tx->conn();
    }
  }
  if (const auto* tx = dynamic_cast<const pooled_transaction*>(cmdbus::detail::ambient_unit_of_work)) {
    return tx->conn();  // a worker's batch of several commands
  }
  throw std::logic_error(
      fmt::format("sqlite: '{}' asked for its SQLite connection, but it runs in no SQLite unit "
                  "of work; add store.unit_of_work() to the bus with bus_builder::use()",
                  ctx.command_name()));
}

}  // namespace cmdbus::sqlite
