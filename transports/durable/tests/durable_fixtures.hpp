// What the durable route's SQLite tests share: a database file of their own, the route's table, a routing file,
// a row's state, and a bounded wait.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <thread>

#include "cmdbus/durable.hpp"
#include "cmdbus/id.hpp"
#include "cmdbus/sqlite/store.hpp"

namespace durable_test {

using namespace std::chrono_literals;

/// A database file of its own, removed afterwards.
struct temp_db {
  std::filesystem::path dir;
  temp_db() {
    dir = std::filesystem::temp_directory_path() / ("cmdbus-durable-" + cmdbus::command_id::generate().to_string());
    std::filesystem::create_directories(dir);
  }
  ~temp_db() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  [[nodiscard]] std::string path() const { return (dir / "app.db").string(); }
};

/// A store on a database file of its own, with the durable route's table.
struct migrated_store {
  temp_db tmp;
  cmdbus::sqlite::store db{{.path = tmp.path()}};
  migrated_store() { cmdbus::durable::migrate(db); }
};

/// A durable route `transfers` for bank.deposit. Without `inbox`, it says inbox = false: the handlers of most tests
/// here keep their effects in memory, with no unit of work for the inbox to mark its rows in.
inline std::string durable_config(int workers, const std::string& extra = "", bool inbox = false) {
  return "[routes.transfers]\nkind = \"durable\"\nworkers = " + std::to_string(workers) + "\npoll_ms = 20\n" + extra +
         (inbox ? "" : "inbox = false\n") + "[commands]\n\"bank.deposit\" = \"transfers\"\n";
}

inline std::string row_state(cmdbus::sqlite::store& db, const cmdbus::command_id& id) {
  std::string state;
  db.with_connection([&](cmdbus::sqlite::connection& c) {
    state = c.query_one<std::string>("SELECT state FROM cmdbus_queue WHERE id = ?", id.to_string()).value_or("none");
  });
  return state;
}

inline bool eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace durable_test
