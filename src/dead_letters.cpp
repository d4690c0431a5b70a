// The in-memory dead letter store and the operator's queue over any store.
#include "cmdbus/dead_letters.hpp"

#include <algorithm>
#include <iterator>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "cmdbus/bus.hpp"

namespace cmdbus {

namespace {

class memory_store final : public dead_letter_store {
 public:
  void put(entry e) override {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(e));
  }
  [[nodiscard]] std::vector<dead_letter> list() const override {
    std::lock_guard lock(mutex_);
    std::vector<dead_letter> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
      out.push_back(e.letter);
    }
    return out;
  }
  [[nodiscard]] std::optional<dead_letter> find(const command_id& id) const override {
    std::lock_guard lock(mutex_);
    const auto it = locate(id);
    if (it == entries_.end()) {
      return std::nullopt;
    }
    return it->letter;
  }
  [[nodiscard]] std::optional<entry> take(const command_id& id) override {
    std::lock_guard lock(mutex_);
    const auto it = locate(id);
    if (it == entries_.end()) {
      return std::nullopt;
    }
    entry e = std::move(*it);
    entries_.erase(it);
    return e;
  }
  [[nodiscard]] std::size_t size() const override {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  [[nodiscard]] std::vector<entry>::const_iterator locate(const command_id& id) const {
    return std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) { return e.letter.id == id; });
  }
  [[nodiscard]] std::vector<entry>::iterator locate(const command_id& id) {
    return std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) { return e.letter.id == id; });
  }

  mutable std::mutex mutex_;
  std::vector<entry> entries_;
};

}  // namespace

std::shared_ptr<dead_letter_store> make_memory_dead_letter_store() {
  return std::make_shared<memory_store>();
}

struct dead_letter_queue::lock {
  std::mutex m;
};

dead_letter_queue::dead_letter_queue(cmdbus::bus& owner, std::shared_ptr<dead_letter_store> store)
    : bus_(&owner), store_(std::move(store)), lock_(std::make_unique<lock>()) {}

dead_letter_queue::~dead_letter_queue() = default;

std::vector<dead_letter> dead_letter_queue::list() const {
  auto out = store_->list();
  for (const auto& [route, kept] : kept_) {
    auto more = kept->list();
    out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return out;
}

std::optional<dead_letter> dead_letter_queue::inspect(const command_id& id) const {
  if (auto found = store_->find(id)) {
    return found;
  }
  for (const auto& [route, kept] : kept_) {
    if (auto found = kept->find(id)) {
      return found;
    }
  }
  return std::nullopt;
}

std::size_t dead_letter_queue::size() const {
  std::size_t n = store_->size();
  for (const auto& [route, kept] : kept_) {
    n += kept->size();
  }
  return n;
}

route_dead_letters* dead_letter_queue::kept_by(std::string_view route) const noexcept {
  for (const auto& [name, kept] : kept_) {
    if (name == route) {
      return kept;
    }
  }
  return nullptr;
}

bool dead_letter_queue::requeue(const command_id& id) {
  for (const auto& [route, kept] : kept_) {
    if (kept->requeue(id)) {
      return true;
    }
  }
  std::optional<dead_letter_store::entry> e;
  {
    std::lock_guard guard(lock_->m);
    e = store_->take(id);
  }
  if (!e) {
    return false;
  }
  if (e->envelope == nullptr) {
    const std::string text = fmt::format("cmdbus: dead letter {} holds no command to send again", id.to_string());
    std::lock_guard guard(lock_->m);
    store_->put(std::move(*e));
    throw rejected_error(text);
  }
  try {
    bus_->requeue(e->envelope);  // moved out only once the route has accepted it
  } catch (...) {
    std::lock_guard guard(lock_->m);
    store_->put(std::move(*e));  // not accepted: it stays a dead letter
    throw;
  }
  return true;
}

bool dead_letter_queue::discard(const command_id& id) {
  for (const auto& [route, kept] : kept_) {
    if (kept->discard(id)) {
      return true;
    }
  }
  std::lock_guard guard(lock_->m);
  return store_->take(id).has_value();
}

void dead_letter_queue::add(dead_letter_store::entry e, const std::function<void()>& then) {
  if (route_dead_letters* kept = kept_by(e.letter.route)) {
    kept->put(e.letter);  // the route's own keeping orders it against a requeue: no lock of ours
    then();
    return;
  }
  std::lock_guard guard(lock_->m);
  store_->put(std::move(e));
  then();
}

}  // namespace cmdbus
