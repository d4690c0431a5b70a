// common/store_config.hpp — which store an example runs on, read from the `[store]` table of its TOML file.
//
// The file is the same one that holds the routes ([commands], [routes]); cmdbus's own reader accepts `[store]` and
// leaves it to the application. The keys (docs/examples.md):
//
//   [store]
//   kind = "sqlite"              # "sqlite" (default) or "postgres"
//   path = "data/bank.db"        # sqlite: a file, or ":memory:"; relative paths are relative to the program's
//                                #   directory; default data/<example>.db there. Its directory is created.
//   synchronous = "normal"       # sqlite: "normal" (default) or "full"
//   busy_timeout_ms = 5000       # sqlite: how long a command waits for a locked database
//   pool_size = 8                # connections (sqlite default: 8 for a file, 1 for ":memory:")
//
//   [store]
//   kind = "postgres"
//   conninfo = "host=127.0.0.1 port=5432 dbname=bank user=bank"     # libpq conninfo or postgresql:// URI
//   isolation = "read committed" # or "repeatable read", "serializable"
//   pool_size = 8
//
//   auto cfg = examples::read_store_config("cmdbus.toml", {"bank.db", examples::program_dir()});
//   auto db = examples::database::open(cfg);           // database.hpp
//
// Contains: `store_kind`, `store_config`, `store_defaults`, `store_config_error`, `parse_store_config()`,
// `read_store_config()`, `program_dir()`.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace examples {

enum class store_kind : unsigned char { sqlite, postgres };

[[nodiscard]] std::string_view to_string(store_kind k) noexcept;

struct store_config {
  store_kind kind = store_kind::sqlite;

  // kind = "sqlite"
  std::string path = ":memory:";  ///< resolved: an absolute file path, or ":memory:"
  bool full_sync = false;         ///< synchronous = "full"
  std::chrono::milliseconds busy_timeout{5000};

  // kind = "postgres"
  std::string conninfo;
  std::string isolation = "read committed";  ///< "read committed", "repeatable read" or "serializable"

  std::size_t pool_size = 0;    ///< 0: the store's default
  std::string origin = "code";  ///< where [store] came from: "cmdbus.toml:12", "cmdbus.toml (no [store]: defaults)"
};

/// What a file that says nothing (or a relative path) means.
struct store_defaults {
  std::string file_name = "example.db";  ///< the default database is <base_dir>/data/<file_name>
  std::filesystem::path base_dir;        ///< relative paths are resolved against it; empty: the current directory
};

/// A [store] table that cannot be used: the message names the file, line and key.
class store_config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads [store] from TOML text; `origin` names it in messages. Other top-level tables are ignored.
[[nodiscard]] store_config parse_store_config(std::string_view toml, const std::string& origin,
                                              const store_defaults& defaults);
/// Reads [store] from a file (the routing file). A file that cannot be read is an error.
[[nodiscard]] store_config read_store_config(const std::filesystem::path& file, const store_defaults& defaults);

/// The directory of the running program (/proc/self/exe), or the current directory if that cannot be told.
[[nodiscard]] std::filesystem::path program_dir();

}  // namespace examples
