#include "cmdbus/postgres/store.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "cmdbus/bus.hpp"
#include "cmdbus/transaction_middleware.hpp"
#include "cmdbus/unit_of_work.hpp"

namespace cmdbus::postgres {

std::string_view to_string(isolation_level level) noexcept {
  switch (level) {
    case isolation_level::read_committed:
      return "READ COMMITTED";
    case isolation_level::repeatable_read:
      return "REPEATABLE READ";
    case isolation_level::serializable:
      return "SERIALIZABLE";
  }
  return "READ COMMITTED";
}

// ---- transaction control --------------------------------------------------------------------------------------

namespace detail {

/// What the unit of work does to a connection besides running the handler's statements.
class transaction_control {
 public:
  static void run(connection& c, std::string_view sql) { (void)c.exec_simple(sql); }
  [[nodiscard]] static bool probe_idle(connection& c) noexcept { return c.probe_idle(); }

  static void defer(connection& c, std::string sql) { c.defer(std::move(sql)); }
  [[nodiscard]] static bool take_back(connection& c, std::string_view sql) noexcept { return c.take_back(sql); }

  static void rollback(connection& c) noexcept {
    c.drop_deferred();
    if (!c.healthy()) {
      return;  // the server has rolled back already: the transaction died with the connection
    }
    try {
      (void)c.exec_simple("ROLLBACK");
    } catch (...) {
      c.mark_broken();
    }
  }

  static void commit(connection& c) {
    if (PQtransactionStatus(c.native()) == PQTRANS_INERROR) {
      rollback(c);
      throw error(
          "the transaction was aborted by a statement that failed inside the handler, and the handler carried on: "
          "PostgreSQL rolled it back. Let the error propagate, or run the part that may fail as a nested command "
          "(it gets a savepoint)",
          "25P02");
    }
    if (!c.healthy()) {
      (void)c.exec_simple("COMMIT");  // throws connection_lost_error: the transaction died with the connection
    }
    detail::result_ptr res;
    try {
      res = c.exec_simple("COMMIT");
    } catch (const connection_lost_error& e) {
      throw commit_unknown_error(
          fmt::format("{}; the connection broke during COMMIT, so the transaction may or may not have committed; "
                      "not retried (check the data before running the command again)",
                      e.what()),
          "08007");
    }
    // COMMIT of a transaction that failed answers "ROLLBACK" rather than an error.
    if (std::string_view{PQcmdStatus(res.get())} != "COMMIT") {
      throw error("PostgreSQL rolled the transaction back at COMMIT (a statement in it had failed)", "25P02");
    }
  }
};

}  // namespace detail

// ---- the pool -------------------------------------------------------------------------------------------------

struct store::state {
  explicit state(options o)
      : opts(std::move(o)),
        connect_timeout_s(static_cast<int>((opts.acquire_timeout.count() + 999) / 1000)),
        begin_write(fmt::format("BEGIN ISOLATION LEVEL {}", to_string(opts.isolation))),
        begin_read(fmt::format("BEGIN ISOLATION LEVEL {} READ ONLY", to_string(opts.isolation))) {
    if (opts.pool_size == 0) {
      opts.pool_size = 8;
    }
  }

  /// A connection for one command: an idle one that is still open, else a new one while the pool has room, else
  /// the next one released within acquire_timeout. Throws busy_error, or connection_lost_error (cannot connect).
  std::unique_ptr<connection> acquire() {
    std::unique_lock lock(mutex);
    const auto deadline = std::chrono::steady_clock::now() + opts.acquire_timeout;
    for (;;) {
      while (!idle.empty()) {
        auto c = std::move(idle.back());  // the most recently used: its socket and server caches are warm
        idle.pop_back();
        if (detail::transaction_control::probe_idle(*c)) {
          return c;
        }
        --open;  // closed while idle (a server restart): drop it and look further
        lock.unlock();
        c.reset();
        lock.lock();
      }
      if (open < opts.pool_size) {
        ++open;
        lock.unlock();
        try {
          return std::make_unique<connection>(opts.conninfo, connect_timeout_s);
        } catch (...) {
          lock.lock();
          --open;
          freed.notify_one();
          throw;
        }
      }
      if (freed.wait_until(lock, deadline) == std::cv_status::timeout && idle.empty() && open >= opts.pool_size) {
        throw busy_error(fmt::format(
            "no PostgreSQL connection came free within {} ms: all {} pooled connections stayed in use (raise "
            "pool_size or acquire_timeout, or look for long transactions)",
            opts.acquire_timeout.count(), opts.pool_size));
      }
    }
  }

  /// Takes a connection back; one that broke, or that cannot be brought back out of a transaction, is dropped.
  void release(std::unique_ptr<connection> c) noexcept {
    if (c->healthy() && c->in_transaction()) {
      detail::transaction_control::rollback(*c);  // marks it broken if that fails
    }
    std::unique_ptr<connection> dropped;
    {
      const std::lock_guard lock(mutex);
      if (c->healthy() && !c->in_transaction()) {
        idle.push_back(std::move(c));
      } else {
        --open;
        dropped = std::move(c);
      }
    }
    freed.notify_one();
  }

  options opts;
  int connect_timeout_s;
  std::string begin_write;
  std::string begin_read;
  std::mutex mutex;
  std::condition_variable freed;
  std::vector<std::unique_ptr<connection>> idle;  // guarded by mutex
  std::size_t open = 0;                           // idle + in use + being opened; guarded by mutex
  std::atomic<std::uint64_t> committed{0};
};

namespace {

/// A pooled connection for the length of a scope.
class lease {
 public:
  explicit lease(store::state& st) : st_(&st), conn_(st.acquire()) {}
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;
  ~lease() { give_back(); }
  void give_back() noexcept {
    if (conn_ != nullptr) {
      st_->release(std::move(conn_));
    }
  }
  connection& operator*() const noexcept { return *conn_; }

 private:
  store::state* st_;
  std::unique_ptr<connection> conn_;
};

// ---- the unit of work -----------------------------------------------------------------------------------------

/// One command's transaction on a pooled connection.
class pooled_transaction final : public transaction_middleware::transaction {
 public:
  explicit pooled_transaction(store::state& st) : transaction_middleware::transaction(&st), lease_(st) {}
  [[nodiscard]] connection& conn() const noexcept { return *lease_; }

 private:
  lease lease_;
};

class unit_of_work_middleware final : public transaction_middleware {
 public:
  explicit unit_of_work_middleware(std::shared_ptr<store::state> st)
      : transaction_middleware(st.get()), st_(std::move(st)) {}

 private:
  using control = detail::transaction_control;

  std::unique_ptr<transaction_type> begin(bool read_only) override {
    auto tx = std::make_unique<pooled_transaction>(*st_);
    control::run(tx->conn(), read_only ? st_->begin_read : st_->begin_write);
    return tx;
  }
  void commit(transaction_type& tx) override { control::commit(conn(tx)); }
  void rollback(transaction_type& tx) noexcept override { control::rollback(conn(tx)); }
  // A savepoint and its release do not cost a round trip each: they travel with the next statement (a nested
  // command's first, or the COMMIT), and a savepoint under which nothing ran is never sent.
  void savepoint(transaction_type& tx, const std::string& name) override {
    control::defer(conn(tx), "SAVEPOINT " + name);
  }
  void release(transaction_type& tx, const std::string& name) override {
    if (!control::take_back(conn(tx), "SAVEPOINT " + name)) {
      control::defer(conn(tx), "RELEASE SAVEPOINT " + name);
    }
  }
  void rollback_to(transaction_type& tx, const std::string& name) noexcept override {
    connection& c = conn(tx);
    if (control::take_back(c, "SAVEPOINT " + name) || !c.healthy()) {
      return;
    }
    try {
      control::run(c, "ROLLBACK TO SAVEPOINT " + name + "; RELEASE SAVEPOINT " + name);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the original error is what the caller must see
      // The outer transaction is unusable now; it fails on its own next statement or at COMMIT.
    }
  }
  std::uint64_t committed() noexcept override { return st_->committed.fetch_add(1, std::memory_order_acq_rel) + 1; }
  [[nodiscard]] std::uint64_t version() const noexcept override {
    return st_->committed.load(std::memory_order_acquire);
  }

  static connection& conn(transaction_type& tx) noexcept { return static_cast<pooled_transaction&>(tx).conn(); }

  std::shared_ptr<store::state> st_;
};

}  // namespace

// ---- store ----------------------------------------------------------------------------------------------------

store::store(options o) : state_(std::make_shared<state>(std::move(o))) {
  try {
    state_->release(state_->acquire());  // connect now, so that a wrong conninfo fails here, not at the first command
  } catch (const connection_lost_error& e) {
    throw error(e.what(), "08001");
  }
}

store::~store() = default;

std::shared_ptr<middleware> store::unit_of_work() {
  return std::make_shared<unit_of_work_middleware>(state_);
}

void store::exec_script(std::string_view sql) {
  lease l(*state_);
  (*l).exec_script(sql);
}

void store::with_connection(const std::function<void(connection&)>& f) {
  lease l(*state_);
  f(*l);
}

connection* store::transaction_of(const context& ctx) const noexcept {
  for (const context* c = &ctx; c != nullptr; c = c->parent()) {
    if (const auto* tx = dynamic_cast<const pooled_transaction*>(c->unit_of_work());
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
  return state_->opts;
}

connection& connection_of(const context& ctx) {
  // The nearest PostgreSQL unit of work up the chain of parents (another store's may sit in between).
  for (const context* c = &ctx; c != nullptr; c = c->parent()) {
    if (const auto* tx = dynamic_cast<const pooled_transaction*>(c->unit_of_work())) {
      return tx->conn();
    }
  }
  if (const auto* tx = dynamic_cast<const pooled_transaction*>(cmdbus::detail::ambient_unit_of_work)) {
    return tx->conn();  // a worker's batch of several commands
  }
  throw std::logic_error(
      fmt::format("postgres: '{}' asked for its PostgreSQL connection, but it runs in no PostgreSQL unit of work; add "
                  "store.unit_of_work() to the bus with bus_builder::use()",
                  ctx.command_name()));
}

}  // namespace cmdbus::postgres
