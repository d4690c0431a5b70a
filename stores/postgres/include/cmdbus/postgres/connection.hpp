// cmdbus/postgres/connection.hpp — one libpq connection with a prepared-statement cache, as handlers use it.
//
//   auto& db = cmdbus::postgres::connection_of(ctx);            // the command's transaction
//   db.execute("UPDATE account SET balance = balance - $1 WHERE id = $2", amount, from);
//   std::optional<long> b = db.query_one<long>("SELECT balance FROM account WHERE id = $1", id);
//   db.query("SELECT id, balance FROM account", [](cmdbus::postgres::row r) { use(r.get<long>(0), r.get<long>(1)); });
//
// Each SQL text is prepared once per connection (PQprepare; PostgreSQL infers the parameter types) and then run
// with PQexecPrepared. Parameters are sent as text, by position ($1, $2, ...): integers, floating point, bool
// (as 1/0), strings, std::optional (empty: NULL), std::nullopt / nullptr (NULL). Results come back as text and
// convert on get<T>(). A failure throws the cmdbus error its SQLSTATE stands for (see errors.hpp).
//
// Contains: `row`, `connection`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cmdbus/postgres/errors.hpp"

struct pg_conn;    // libpq's PGconn
struct pg_result;  // libpq's PGresult

namespace cmdbus::postgres {

namespace detail {
struct result_deleter {
  void operator()(pg_result* r) const noexcept;
};
using result_ptr = std::unique_ptr<pg_result, result_deleter>;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

class transaction_control;
}  // namespace detail

/// One row of a result. NULL reads as 0, 0.0, false or an empty string (as in the SQLite store); ask is_null(), or
/// read into a std::optional, to tell NULL apart.
class row {
 public:
  row(const pg_result* r, int index) noexcept : result_(r), index_(index) {}
  [[nodiscard]] int columns() const noexcept;
  [[nodiscard]] bool is_null(int column) const noexcept;
  /// The value as PostgreSQL's text output ("t"/"f" for booleans); valid while the result is (during the callback).
  [[nodiscard]] std::string_view get_text(int column) const noexcept;
  /// Throws postgres::error when the text is not an integer (or is out of range).
  [[nodiscard]] std::int64_t get_int64(int column) const;
  [[nodiscard]] double get_double(int column) const;
  [[nodiscard]] bool get_bool(int column) const;
  template <class T>
  [[nodiscard]] T get(int column) const {
    if constexpr (detail::is_optional<T>::value) {
      if (is_null(column)) {
        return std::nullopt;
      }
      return get<typename T::value_type>(column);
    } else if constexpr (std::is_same_v<T, bool>) {
      return get_bool(column);
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(get_int64(column));
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(get_double(column));
    } else {
      return T{get_text(column)};
    }
  }

 private:
  const pg_result* result_;
  int index_;
};

class connection {
 public:
  /// Connects with `conninfo` (libpq "key=value ..." or a postgresql:// URI). A server that cannot be reached is a
  /// connection_lost_error naming host:port (never the password). `connect_timeout_s` applies unless the conninfo
  /// sets connect_timeout itself.
  explicit connection(const std::string& conninfo, int connect_timeout_s = 10);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Runs one statement with parameters; returns the number of rows it inserted, updated or deleted.
  template <class... A>
  std::int64_t execute(std::string_view sql, const A&... args) {
    bind_all(args...);
    return affected_rows(run(sql).get());
  }
  /// The first column of the first row, or nullopt when there is no row.
  template <class T, class... A>
  std::optional<T> query_one(std::string_view sql, const A&... args) {
    static_assert(!std::is_same_v<T, std::string_view>, "the text would outlive its result: use std::string");
    bind_all(args...);
    const auto res = run(sql);
    if (row_count(res.get()) == 0) {
      return std::nullopt;
    }
    return row{res.get(), 0}.get<T>(0);
  }
  /// Calls `on_row(row)` for every row (the whole result is fetched first, so on_row may use this connection).
  template <class F, class... A>
  void query(std::string_view sql, F&& on_row, const A&... args) {
    bind_all(args...);
    const auto res = run(sql);
    const int n = row_count(res.get());
    for (int i = 0; i < n; ++i) {
      on_row(row{res.get(), i});
    }
  }
  /// Runs one or more statements without parameters through the simple protocol (schema scripts). Outside an
  /// explicit transaction, PostgreSQL runs them all in one.
  void exec_script(std::string_view sql);

  /// The connection is open and has not failed in a way that makes it unusable.
  [[nodiscard]] bool healthy() const noexcept;
  /// Inside a transaction block (BEGIN without COMMIT/ROLLBACK yet).
  [[nodiscard]] bool in_transaction() const noexcept;
  /// "host:port" of the server (a socket directory for Unix-domain sockets), for messages.
  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }
  /// How many distinct statements this connection has prepared.
  [[nodiscard]] std::size_t cached_statements() const noexcept { return cache_.size(); }
  [[nodiscard]] pg_conn* native() const noexcept { return conn_; }

  // Parameter binding, 0-based; execute/query_one/query do this for you.
  void bind_int64(std::size_t index, std::int64_t v);
  void bind_uint64(std::size_t index, std::uint64_t v);
  void bind_double(std::size_t index, double v);
  void bind_text(std::size_t index, std::string_view v);
  void bind_null(std::size_t index);
  template <class T>
  void bind(std::size_t index, const T& v) {
    if constexpr (std::is_same_v<T, std::nullopt_t> || std::is_same_v<T, std::nullptr_t>) {
      bind_null(index);
    } else if constexpr (std::is_same_v<T, bool>) {
      bind_text(index, v ? "1" : "0");  // valid input for boolean and integer columns alike
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      bind_int64(index, static_cast<std::int64_t>(v));
    } else if constexpr (std::is_integral_v<T>) {
      bind_uint64(index, static_cast<std::uint64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
      bind_double(index, static_cast<double>(v));
    } else if constexpr (detail::is_optional<T>::value) {
      if (v.has_value()) {
        bind(index, *v);
      } else {
        bind_null(index);
      }
    } else {
      bind_text(index, std::string_view{v});
    }
  }
  template <class... A>
  void bind_all(const A&... args) {
    params_ = 0;
    std::size_t i = 0;
    (bind(i++, args), ...);
  }

 private:
  friend class detail::transaction_control;
  struct transparent_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  /// Prepares `sql` (once), runs it with the bound parameters, and returns its result; failures throw.
  detail::result_ptr run(std::string_view sql);
  /// Runs `sql` through the simple protocol, after the deferred statements (in the same message); failures throw.
  /// Used for transaction control and scripts.
  detail::result_ptr exec_simple(std::string_view sql);
  /// Sends `sql` (a statement without parameters or result: SAVEPOINT, RELEASE) not now but with the next statement,
  /// in one round trip (libpq pipeline mode); its error, if any, is thrown there.
  void defer(std::string sql) { deferred_.push_back(std::move(sql)); }
  /// Takes back the last deferred statement if it is `sql` (a savepoint released or rolled back before any
  /// statement ran under it need not be sent at all); false if it is not.
  [[nodiscard]] bool take_back(std::string_view sql) noexcept;
  /// Forgets the deferred statements (a ROLLBACK makes them moot).
  void drop_deferred() noexcept { deferred_.clear(); }
  /// run()'s way when statements are deferred: they, then the prepared statement `name`, in one pipeline.
  detail::result_ptr run_after_deferred(const std::string& name, std::string_view sql, int params);
  /// Throws the cmdbus error for the failed `res` (nullptr: libpq returned no result) while running `what`.
  /// `before_sending`: the connection was found broken before `what` was sent.
  [[noreturn]] void fail(const pg_result* res, std::string_view what, bool before_sending = false);
  /// For the pool: false if the idle connection has broken (the server closed it, or sent something unasked).
  [[nodiscard]] bool probe_idle() noexcept;
  void mark_broken() noexcept { broken_ = true; }
  static std::int64_t affected_rows(const pg_result* res) noexcept;
  static int row_count(const pg_result* res) noexcept;
  std::string& param_slot(std::size_t index);

  pg_conn* conn_ = nullptr;
  std::string endpoint_;
  bool broken_ = false;
  std::uint64_t next_statement_ = 0;
  std::unordered_map<std::string, std::string, transparent_hash, std::equal_to<>> cache_;  // SQL -> statement name
  std::vector<std::string> values_;                                                        // bound parameters as text
  std::vector<char> nulls_;
  std::vector<const char*> pointers_;
  std::size_t params_ = 0;
  std::string script_;                 // reused buffer: libpq wants NUL-terminated text
  std::vector<std::string> deferred_;  // sent with the next statement (defer())
};

}  // namespace cmdbus::postgres
