#include "cmdbus/sqlite/connection.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

namespace cmdbus::sqlite {

void throw_error(sqlite3* db, int rc, std::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  const std::string where = file != nullptr && *file != '\0' ? std::string{file} : std::string{":memory:"};
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw busy_error(
          fmt::format("sqlite: database {} is locked by another writer ({}) while running '{}'; the "
                      "command may be retried",
                      where, message, what));
    case SQLITE_CONSTRAINT:
      throw constraint_error(fmt::format("sqlite: {} (in '{}' on {})", message, what, where));
    default:
      throw error(fmt::format("sqlite: {} (code {}) while running '{}' on {}", message, rc, what, where), rc);
  }
}

bool row::is_null(int column) const noexcept {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}
std::int64_t row::get_int64(int column) const noexcept {
  return sqlite3_column_int64(stmt_, column);
}
double row::get_double(int column) const noexcept {
  return sqlite3_column_double(stmt_, column);
}
std::string_view row::get_text(int column) const noexcept {
  const auto* text = sqlite3_column_text(stmt_, column);
  return text == nullptr ? std::string_view{}
                         : std::string_view{reinterpret_cast<const char*>(text),
                                            static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

namespace {
void check_bind(sqlite3* db, int rc, const std::string& sql) {
  if (rc != SQLITE_OK) {
    throw_error(db, rc, sql);
  }
}
}  // namespace

void statement::bind(int index, std::int64_t v) {
  check_bind(db_, sqlite3_bind_int64(stmt_, index, v), sql_);
}
void statement::bind(int index, double v) {
  check_bind(db_, sqlite3_bind_double(stmt_, index, v), sql_);
}
void statement::bind(int index, std::string_view v) {
  check_bind(db_, sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT), sql_);
}
void statement::bind(int index, std::nullptr_t) {
  check_bind(db_, sqlite3_bind_null(stmt_, index), sql_);
}

bool statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  throw_error(db_, rc, sql_);
}

void statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

connection::connection(const std::string& path, bool full_sync, int busy_timeout_ms) : path_(path) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw error(fmt::format("sqlite: cannot open database '{}': {} (does its directory exist, and may this process "
                            "write there?)",
                            path, message),
                rc);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  try {
    // WAL needs a write: an unwritable file or directory fails here, at start, with the path in the message.
    if (path != ":memory:") {
      exec_script("PRAGMA journal_mode=WAL");
    }
    exec_script(full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec_script("PRAGMA foreign_keys=ON");
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw error(fmt::format("sqlite: cannot use database '{}': {}", path, e.what()), SQLITE_CANTOPEN);
  }
}

connection::~connection() {
  cache_.clear();  // statements first: a connection with live statements does not close
  sqlite3_close(db_);
}

statement& connection::prepare(std::string_view sql) {
  if (const auto it = cache_.find(sql); it != cache_.end()) {
    return *it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    throw_error(db_, rc, sql);
  }
  auto owned = std::make_unique<statement>(db_, stmt, std::string{sql});
  auto& ref = *owned;
  cache_.emplace(std::string{sql}, std::move(owned));
  return ref;
}

void connection::exec_script(std::string_view sql) {
  const std::string text{sql};
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    sqlite3_free(message);
    throw_error(db_, rc, sql);
  }
}

std::int64_t connection::changes() const noexcept {
  return sqlite3_changes64(db_);
}

}  // namespace cmdbus::sqlite
