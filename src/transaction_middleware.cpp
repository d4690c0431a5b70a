#include "cmdbus/transaction_middleware.hpp"

#include <string>
#include <vector>

#include "cmdbus/bus.hpp"

namespace cmdbus {

void transaction_middleware::invoke(invocation& call, next_step next) {
  context& ctx = call.ctx();
  if (auto* outer = open_transaction(ctx)) {
    join(*outer, next);
  } else {
    run_root(ctx, call.message().kind == message_kind::query, next);
  }
}

transaction_middleware::transaction* transaction_middleware::open_transaction(const context& ctx) const noexcept {
  for (const context* c = &ctx; c != nullptr; c = c->parent()) {
    if (auto* uow = c->unit_of_work(); uow != nullptr && uow->store_identity() == store_) {
      return static_cast<transaction*>(uow);
    }
  }
  if (auto* uow = detail::ambient_unit_of_work; uow != nullptr && uow->store_identity() == store_) {
    return static_cast<transaction*>(uow);  // a worker's batch
  }
  return nullptr;
}

std::unique_ptr<transaction_middleware::batch> transaction_middleware::begin_batch() {
  return std::unique_ptr<batch>(new batch(*this, begin(false)));
}

transaction_middleware::batch::batch(transaction_middleware& owner, std::unique_ptr<transaction> tx) noexcept
    : owner_(&owner), tx_(std::move(tx)), previous_(detail::ambient_unit_of_work) {
  detail::ambient_unit_of_work = tx_.get();
}

void transaction_middleware::batch::leave() noexcept {
  detail::ambient_unit_of_work = previous_;
  done_ = true;
}

transaction_middleware::batch::~batch() {
  if (!done_) {
    leave();
    owner_->rollback(*tx_);
  }
}

void transaction_middleware::batch::commit() {
  leave();
  try {
    owner_->commit(*tx_);
  } catch (...) {
    owner_->rollback(*tx_);
    throw;
  }
  (void)owner_->committed();
}

void transaction_middleware::run_root(context& ctx, bool read_only, const next_step& next) {
  std::vector<detail::pending_event> committed_events;
  {
    const auto tx = begin(read_only);
    ctx.set_unit_of_work(tx.get());
    try {
      next();
      commit(*tx);
    } catch (...) {
      ctx.set_unit_of_work(nullptr);
      rollback(*tx);
      throw;
    }
    ctx.set_unit_of_work(nullptr);
    if (!read_only) {
      ctx.note_commit(store_, committed());
    }
    committed_events = tx->take_deferred();
  }  // the connection goes back before the subscribers run: a command they dispatch may need one
  ctx.bus().after_commit(ctx, committed_events);
}

void transaction_middleware::join(transaction& tx, const next_step& next) {
  const std::string name = "cmdbus_" + std::to_string(++tx.savepoints_);
  savepoint(tx, name);
  const auto mark = tx.mark();
  try {
    next();
  } catch (...) {
    rollback_to(tx, name);
    tx.discard_after(mark);
    throw;
  }
  release(tx, name);
}

}  // namespace cmdbus
