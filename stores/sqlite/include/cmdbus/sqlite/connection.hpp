// cmdbus/sqlite/connection.hpp — one SQLite connection with a prepared-statement cache, as handlers use it.
//
//   auto& db = cmdbus::sqlite::connection_of(ctx);            // the command's transaction
//   db.execute("UPDATE account SET balance = balance - ? WHERE id = ?", amount, from);
//   std::optional<long> b = db.query_one<long>("SELECT balance FROM account WHERE id = ?", id);
//   db.query("SELECT id, balance FROM account", [](cmdbus::sqlite::row r) { use(r.get<long>(0), r.get<long>(1)); });
//
// Statements are prepared once per connection and reused; parameters bind by position (integers, doubles,
// strings, std::nullopt / nullptr for NULL).
//
// Contains: `row`, `statement`, `connection`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "cmdbus/sqlite/errors.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace cmdbus::sqlite {

class statement;

/// The current row of a running statement.
class row {
 public:
  explicit row(sqlite3_stmt* s) noexcept : stmt_(s) {}
  [[nodiscard]] bool is_null(int column) const noexcept;
  [[nodiscard]] std::int64_t get_int64(int column) const noexcept;
  [[nodiscard]] double get_double(int column) const noexcept;
  [[nodiscard]] std::string_view get_text(int column) const noexcept;  ///< valid until the next step
  template <class T>
  [[nodiscard]] T get(int column) const {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(get_int64(column));
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(get_double(column));
    } else {
      return T{get_text(column)};
    }
  }

 private:
  sqlite3_stmt* stmt_;
};

class statement {
 public:
  statement(sqlite3* db, sqlite3_stmt* s, std::string sql) noexcept : db_(db), stmt_(s), sql_(std::move(sql)) {}
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  void bind(int index, std::int64_t v);
  void bind(int index, double v);
  void bind(int index, std::string_view v);
  void bind(int index, std::nullptr_t);
  template <class T>
  void bind(int index, const T& v) {
    if constexpr (std::is_same_v<T, std::nullopt_t>) {
      bind(index, nullptr);
    } else if constexpr (std::is_integral_v<T>) {
      bind(index, static_cast<std::int64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
      bind(index, static_cast<double>(v));
    } else if constexpr (requires { v.has_value(); }) {
      if (v.has_value()) {
        bind(index, *v);
      } else {
        bind(index, nullptr);
      }
    } else {
      bind(index, std::string_view{v});
    }
  }
  template <class... A>
  void bind_all(const A&... args) {
    int i = 0;
    (bind(++i, args), ...);
  }
  /// Runs to the next row: true when there is one, false when done. Failures throw (busy, constraint, error).
  bool step();
  /// Ready to run again; bindings are cleared.
  void reset() noexcept;
  [[nodiscard]] row current() const noexcept { return row{stmt_}; }
  [[nodiscard]] const std::string& sql() const noexcept { return sql_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string sql_;
};

class connection {
 public:
  /// Opens `path` (created if missing): WAL journal, the given `synchronous` setting and busy timeout.
  connection(const std::string& path, bool full_sync, int busy_timeout_ms);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// The cached prepared statement for `sql`, reset and ready to bind.
  statement& prepare(std::string_view sql);
  /// Runs one or more statements with no parameters (schema scripts).
  void exec_script(std::string_view sql);
  /// Runs one statement with parameters; returns the number of rows it changed.
  template <class... A>
  std::int64_t execute(std::string_view sql, const A&... args) {
    auto& s = prepare(sql);
    s.bind_all(args...);
    while (s.step()) {
    }
    s.reset();
    return changes();
  }
  /// The first column of the first row, or nullopt when there is no row.
  template <class T, class... A>
  std::optional<T> query_one(std::string_view sql, const A&... args) {
    auto& s = prepare(sql);
    s.bind_all(args...);
    std::optional<T> out;
    if (s.step()) {
      out = s.current().get<T>(0);
    }
    s.reset();
    return out;
  }
  /// Calls `on_row(row)` for every row.
  template <class F, class... A>
  void query(std::string_view sql, F&& on_row, const A&... args) {
    auto& s = prepare(sql);
    s.bind_all(args...);
    try {
      while (s.step()) {
        on_row(s.current());
      }
    } catch (...) {
      s.reset();
      throw;
    }
    s.reset();
  }
  [[nodiscard]] std::int64_t changes() const noexcept;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] sqlite3* native() const noexcept { return db_; }

 private:
  struct transparent_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_ = nullptr;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<statement>, transparent_hash, std::equal_to<>> cache_;
};

/// Throws the cmdbus error for SQLite result `rc` on `db` while running `what` (a statement or an action).
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view what);

}  // namespace cmdbus::sqlite
