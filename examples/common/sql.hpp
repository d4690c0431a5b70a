// common/sql.hpp — the little the examples need to run the same SQL on more than one store.
//
// Each example writes its SQL once, with PostgreSQL's numbered parameters ($1, $2, ...), and converts it once, at
// registration, for the store in use (`sql_for`): SQLite takes the same numbers as ?1, ?2, ... A *backend* struct
// names a store's types and how a handler reaches the command's connection; handlers are templates over it:
//
//   template <class Backend>
//   void register_handlers(cmdbus::bus_builder& b, std::string debit_sql) {
//     b.handle<Debit>([debit_sql](const Debit& d, cmdbus::context& ctx) {
//       Backend::connection_of(ctx).execute(debit_sql, d.amount, d.account);
//     });
//   }
//
// Every backend's connection has the same shape: execute(sql, args...) -> rows changed, query_one<T>(sql, args...)
// -> std::optional<T>, query(sql, on_row, args...), and row::get<T>(column) / row::is_null(column).
//
// Contains: `dialect`, `sql_for()`, `sqlite_backend`.
#pragma once

#include <string>
#include <string_view>

#include <cmdbus/context.hpp>
#include <cmdbus/sqlite/store.hpp>
#if defined(EXAMPLES_WITH_POSTGRES)
#include <cmdbus/postgres/store.hpp>
#endif

namespace examples {

enum class dialect : unsigned char { sqlite, postgres };

[[nodiscard]] std::string_view to_string(dialect d) noexcept;

/// `sql` (written with $1, $2, ... parameters) as the store of dialect `d` takes it. For SQLite every `$N` outside a
/// quoted literal becomes `?N`, which SQLite binds by the same number; for PostgreSQL the text is unchanged.
[[nodiscard]] std::string sql_for(dialect d, std::string_view sql);

/// The embedded default store.
struct sqlite_backend {
  static constexpr examples::dialect dialect = examples::dialect::sqlite;
  using store = cmdbus::sqlite::store;
  using connection = cmdbus::sqlite::connection;
  using row = cmdbus::sqlite::row;
  /// The connection of the command's unit of work.
  [[nodiscard]] static connection& connection_of(const cmdbus::context& ctx) {
    return cmdbus::sqlite::connection_of(ctx);
  }
};

#if defined(EXAMPLES_WITH_POSTGRES)
/// PostgreSQL, for deployments where several processes share one database.
struct postgres_backend {
  static constexpr examples::dialect dialect = examples::dialect::postgres;
  using store = cmdbus::postgres::store;
  using connection = cmdbus::postgres::connection;
  using row = cmdbus::postgres::row;
  [[nodiscard]] static connection& connection_of(const cmdbus::context& ctx) {
    return cmdbus::postgres::connection_of(ctx);
  }
};
#endif

}  // namespace examples
