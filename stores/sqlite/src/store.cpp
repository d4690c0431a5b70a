#include "cmdbus/sqlite/store.hpp"

#include <fmt/format.h>

#include <atomic>
#include <string>

#include "cmdbus/bus.hpp"
#include "cmdbus/unit_of_work.hpp"
#include "pool.hpp"

namespace cmdbus::sqlite {

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

/// One command's transaction (and the savepoints of the commands that joined it).
class transaction final : public cmdbus::unit_of_work {
 public:
  transaction(const store::state& owner, detail::pool::lease lease) noexcept
      : owner_(&owner), lease_(std::move(lease)) {}
  [[nodiscard]] const void* store_identity() const noexcept override { return owner_; }
  [[nodiscard]] connection& conn() const noexcept { return lease_.get(); }
  std::uint32_t next_savepoint() noexcept { return ++savepoints_; }

 private:
  const store::state* owner_;
  detail::pool::lease lease_;
  std::uint32_t savepoints_ = 0;
};

void rollback_quietly(connection& c, std::string_view sql) noexcept {
  try {
    c.exec_script(sql);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the original error is what the caller must see
  }
}

class unit_of_work_middleware final : public middleware {
 public:
  explicit unit_of_work_middleware(std::shared_ptr<store::state> s) : state_(std::move(s)) {}

  void invoke(invocation& call, next_step next) override {
    context& ctx = call.ctx();
    if (auto* outer = ctx.unit_of_work(); outer != nullptr && outer->store_identity() == state_.get()) {
      join(static_cast<transaction&>(*outer), next);
    } else {
      run_root(ctx, call.message().kind == message_kind::query, next);
    }
  }

 private:
  // A nested command: a savepoint inside the outer transaction, undone alone if the outer handler catches.
  static void join(transaction& tx, const next_step& next) {
    const auto name = fmt::format("cmdbus_{}", tx.next_savepoint());
    auto& c = tx.conn();
    c.exec_script("SAVEPOINT " + name);
    const auto mark = tx.mark();
    try {
      next();
    } catch (...) {
      rollback_quietly(c, "ROLLBACK TO " + name);
      rollback_quietly(c, "RELEASE " + name);
      tx.discard_after(mark);
      throw;
    }
    c.exec_script("RELEASE " + name);
  }

  void run_root(context& ctx, bool read_only, const next_step& next) {
    std::vector<cmdbus::detail::pending_event> committed_events;
    {
      transaction tx(*state_, state_->pool.acquire());
      auto& c = tx.conn();
      // IMMEDIATE takes the write lock now, so a busy database fails here (transient) instead of half-way through.
      c.prepare(read_only ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE").step();
      ctx.set_unit_of_work(&tx);
      try {
        next();
        c.prepare("COMMIT").step();
      } catch (...) {
        ctx.set_unit_of_work(nullptr);
        rollback_quietly(c, "ROLLBACK");
        throw;
      }
      ctx.set_unit_of_work(nullptr);
      if (!read_only) {
        state_->committed.fetch_add(1, std::memory_order_release);
      }
      committed_events = tx.take_deferred();
    }  // the connection goes back to the pool before after-commit subscribers run
    ctx.bus().after_commit(ctx, std::move(committed_events));
  }

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

std::uint64_t store::committed() const noexcept {
  return state_->committed.load(std::memory_order_acquire);
}

const options& store::settings() const noexcept {
  return state_->settings;
}

connection& connection_of(const context& ctx) {
  if (auto* tx = dynamic_cast<transaction*>(ctx.unit_of_work())) {
    return tx->conn();
  }
  throw std::logic_error(
      fmt::format("sqlite: '{}' asked for its SQLite connection, but it runs in no SQLite unit "
                  "of work; add store.unit_of_work() to the bus with bus_builder::use()",
                  ctx.command_name()));
}

}  // namespace cmdbus::sqlite
