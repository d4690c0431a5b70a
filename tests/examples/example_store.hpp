// Which store an example test runs on: "sqlite" (an in-memory database) or "postgres" (a schema of its own on the
// server named by $CMDBUS_TEST_PG, dropped afterwards; ./run test starts one). Same tests, same assertions. The
// fixtures combine it with a route configuration (example_routes.hpp).
#pragma once

#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "common/database.hpp"

namespace examples_test {

class example_store {
 public:
  /// Opens the store of `kind`; `skip` says why not when it cannot (no server configured).
  example_store(const std::string& kind, std::string& skip) {
    examples::store_config cfg;
    if (kind == "sqlite") {
      cfg.path = ":memory:";
    } else {
#if defined(EXAMPLES_WITH_POSTGRES)
      const char* server = std::getenv("CMDBUS_TEST_PG");
      if (server == nullptr || *server == '\0') {
        skip = "no PostgreSQL: set CMDBUS_TEST_PG (./run test starts a server)";
        return;
      }
      static std::atomic<int> counter{0};
      schema_ = "examples_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
      server_ = server;
      cmdbus::postgres::store admin({.conninfo = server_, .pool_size = 1});
      admin.exec_script("CREATE SCHEMA " + schema_);
      cfg.kind = examples::store_kind::postgres;
      // A short deadlock_timeout: concurrent transfers in opposite directions deadlock and are retried.
      cfg.conninfo = server_ + " options='-c search_path=" + schema_ + " -c deadlock_timeout=10ms'";
#else
      skip = "this build has no cmdbus::postgres";
      return;
#endif
    }
    db = std::make_unique<examples::database>(examples::database::open(cfg));
  }
  example_store(const example_store&) = delete;
  example_store& operator=(const example_store&) = delete;
  ~example_store() {
    db.reset();
#if defined(EXAMPLES_WITH_POSTGRES)
    if (!schema_.empty()) {
      try {
        cmdbus::postgres::store admin({.conninfo = server_, .pool_size = 1});
        admin.exec_script("DROP SCHEMA " + schema_ + " CASCADE");
      } catch (...) {  // NOLINT(bugprone-empty-catch): a leftover schema in a throwaway server harms nothing
      }
    }
#endif
  }

  std::unique_ptr<examples::database> db;

 private:
  std::string server_;
  std::string schema_;
};

}  // namespace examples_test
