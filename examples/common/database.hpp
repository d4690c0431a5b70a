// common/database.hpp — the store a store_config chose, opened: what the examples' setup code holds on to.
//
//   auto db = examples::database::open(cfg, examples::database::mode::fresh);   // fresh: start from an empty file
//   db.exec_script(examples::sql_for(db.dialect(), schema));
//   b.use(cmdbus::make_retry());
//   b.use(db.unit_of_work());
//   db.visit([&]<class Backend>(Backend, typename Backend::store& store) { register_handlers<Backend>(b); });
//
// Adding a store is one alternative in the variant, one `backend_for` line and one branch in open() (database.cpp).
//
// Contains: `database`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <cmdbus/middleware.hpp>
#include <cmdbus/sqlite/store.hpp>

#include "common/sql.hpp"
#include "common/store_config.hpp"

namespace examples {

namespace detail {
template <class Store>
struct backend_for;
template <>
struct backend_for<cmdbus::sqlite::store> {
  using type = sqlite_backend;
};
#if defined(EXAMPLES_WITH_POSTGRES)
template <>
struct backend_for<cmdbus::postgres::store> {
  using type = postgres_backend;
};
#endif
}  // namespace detail

class database {
 public:
  enum class mode : unsigned char {
    keep,   ///< use what is there
    fresh,  ///< SQLite: delete the database file (and its -wal, -shm) first; a repeatable demo run
  };

  /// Opens the configured store. An SQLite file's directory is created if missing. Throws store_config_error for a
  /// store this build does not have, and the store's own error when it cannot be opened (naming the path).
  [[nodiscard]] static database open(const store_config& config, mode m = mode::keep);
  /// An existing SQLite store (tests, benchmarks).
  explicit database(std::unique_ptr<cmdbus::sqlite::store> store);
#if defined(EXAMPLES_WITH_POSTGRES)
  /// An existing PostgreSQL store; `description` names it (without a password).
  database(std::unique_ptr<cmdbus::postgres::store> store, std::string description);
#endif

  [[nodiscard]] examples::dialect dialect() const noexcept;
  /// "sqlite /abs/data/bank.db (WAL, synchronous=NORMAL)"; never a password.
  [[nodiscard]] const std::string& description() const noexcept {
    return description_;
  }

  /// The store's unit-of-work middleware; `use()` it after cmdbus::make_retry().
  [[nodiscard]] std::shared_ptr<cmdbus::middleware> unit_of_work();
  /// Runs a script outside any command, in its own transaction. Written for this store's dialect.
  void exec_script(std::string_view sql);
  /// The first column of the first row of `sql` ($N parameters, none bound here), outside any command.
  [[nodiscard]] std::optional<std::int64_t> scalar(std::string_view sql);
  /// Transactions committed so far (a read-model version).
  [[nodiscard]] std::uint64_t committed() const noexcept;

  /// Calls `f(Backend{}, store)` with the backend struct and the store object of the store in use.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(
        [&](auto& s) -> decltype(auto) {
          using store_type = std::remove_cvref_t<decltype(*s)>;
          return f(typename detail::backend_for<store_type>::type{}, *s);
        },
        store_);
  }

  /// The SQLite store, or null when another store is in use.
  [[nodiscard]] cmdbus::sqlite::store* sqlite() noexcept;

 private:
#if defined(EXAMPLES_WITH_POSTGRES)
  std::variant<std::unique_ptr<cmdbus::sqlite::store>, std::unique_ptr<cmdbus::postgres::store>> store_;
#else
  std::variant<std::unique_ptr<cmdbus::sqlite::store>> store_;
#endif
  std::string description_;
#if defined(EXAMPLES_WITH_POSTGRES)
  [[nodiscard]] static database open_postgres(const store_config& config);
#endif
};

/// Creates an example's tables on `target` (an examples::database, or a store with exec_script), dropping them
/// first with `drop` when `fresh`.
template <class Target>
void apply_schema(Target& target, std::string_view drop, std::string_view schema, bool fresh) {
  if (fresh) {
    target.exec_script(drop);
  }
  target.exec_script(schema);
}

}  // namespace examples
