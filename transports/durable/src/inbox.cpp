// The inbox middleware (cmdbus/durable.hpp): marks a durable command succeeded in its own transaction.
#include <fmt/format.h>

#include "claim.hpp"
#include "cmdbus/durable.hpp"
#if CMDBUS_DURABLE_WITH_POSTGRES
#include "cmdbus/durable/postgres.hpp"
#endif
#include "cmdbus/middleware.hpp"
#include "cmdbus/sqlite/connection.hpp"
#include "cmdbus/transaction_middleware.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "inbox_marker.hpp"

namespace cmdbus::durable {
namespace {

/// The same for every store: `Store::transaction_of(ctx)` gives the command's transaction, and the statements use
/// $1, $2, ... in order, which SQLite and PostgreSQL both read.
template <class Store>
class inbox_middleware final : public detail::inbox_marker {
 public:
  explicit inbox_middleware(Store& store) : detail::inbox_marker(identity(store)), store_(&store) {}

  void invoke(invocation& call, next_step next) override {
    detail::active_claim* claim = detail::current_claim;
    context& ctx = call.ctx();
    decltype(store_->transaction_of(ctx)) tx = nullptr;
    if (claim != nullptr && ctx.parent() == nullptr && claim->id == ctx.id()) {
      tx = store_->transaction_of(ctx);
    }
    if (tx == nullptr) {  // not a durable worker's command, or not in a unit of work of this store
      next();
      return;
    }
    // Alone, a row another worker took over is not run at all. In a batch the look and the done mark are left to
    // the batch (two statements per command saved): before its COMMIT one statement marks every command of it that
    // succeeded, and if one of them is no longer held by this worker, the whole batch rolls back.
    const bool in_batch = store_->ambient_transaction() != nullptr;
    if (!in_batch) {
      const auto owner = tx->template query_one<std::string>(
          "SELECT lease_owner FROM cmdbus_queue WHERE seq = $1 AND state = 'running'", claim->seq);
      if (!owner || *owner != *claim->worker) {
        throw lost(ctx, *claim);
      }
    }
    next();
    if (in_batch) {
      claim->marked = true;
      return;
    }
    // In the same transaction as the handler's effects: both commit, or neither.
    if (tx->execute("UPDATE cmdbus_queue SET state = 'succeeded', updated_at = $1, lease_owner = NULL, "
                    "lease_until = NULL WHERE seq = $2 AND lease_owner = $3",
                    wire::micros(clock::now()), claim->seq, *claim->worker) != 1) {
      throw lost(ctx, *claim);
    }
    claim->marked = true;
  }

 private:
  static const void* identity(Store& store) {
    const auto uow = store.unit_of_work();
    return dynamic_cast<const transaction_middleware&>(*uow).store();
  }

  static claim_lost_error lost(const context& ctx, detail::active_claim& claim) {
    claim.lost = true;
    return claim_lost_error(
        fmt::format("cmdbus: command '{}' {} (row {}) is no longer held by worker '{}' (its lease "
                    "expired and another worker took it over, or it was settled): this run is "
                    "rolled back, not applied a second time",
                    ctx.command_name(), claim.id.to_string(), claim.seq, *claim.worker));
  }

  Store* store_;
};

}  // namespace

std::shared_ptr<middleware> inbox(sqlite::store& store) {
  return std::make_shared<inbox_middleware<sqlite::store>>(store);
}

#if CMDBUS_DURABLE_WITH_POSTGRES
std::shared_ptr<middleware> inbox(postgres::store& store) {
  return std::make_shared<inbox_middleware<postgres::store>>(store);
}
#endif

}  // namespace cmdbus::durable
