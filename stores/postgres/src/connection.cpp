#include "cmdbus/postgres/connection.hpp"

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

namespace cmdbus::postgres {

namespace detail {
void result_deleter::operator()(pg_result* r) const noexcept {
  PQclear(r);
}
}  // namespace detail

namespace {

/// Puts a message on one line: whitespace runs become one space, a line break before a capital ends a sentence
/// ("refused\n\tIs the server running" -> "refused; Is the server running"), and the ends are trimmed.
std::string one_line(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  bool space = false;
  bool line_break = false;
  for (const char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      line_break = line_break || (space && c == '\n');
    } else {
      if (space) {
        // A new line that starts a sentence (libpq also wraps one sentence over lines, as in "abnormally\n\tbefore").
        if (line_break && c >= 'A' && c <= 'Z' &&
            std::string_view{".:;?!"}.find(out.back()) == std::string_view::npos) {
          out += ';';
        }
        out += ' ';
        space = false;
        line_break = false;
      }
      out += c;
    }
  }
  return out;
}

/// The statement for a message: on one line, and cut when long.
std::string quote_statement(std::string_view sql) {
  constexpr std::size_t max = 240;
  std::string s = one_line(sql);
  if (s.size() > max) {
    s.resize(max);
    s += "...";
  }
  return "\"" + s + "\"";
}

std::string field(const pg_result* res, int code) {
  if (res == nullptr) {
    return {};
  }
  const char* v = PQresultErrorField(res, code);
  return v != nullptr ? one_line(v) : std::string{};
}

bool lost_state(const std::string& sqlstate) {
  // Class 08 is "connection exception", except 08P01 (protocol violation): the server answers that one to, e.g., a
  // wrong number of parameters, and keeps the connection. 57P01..57P03: the server is shutting down or starting.
  return (sqlstate.starts_with("08") && sqlstate != "08P01") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

void notice_to_log(void* arg, const char* message) {
  spdlog::debug("cmdbus::postgres {}: {}", *static_cast<const std::string*>(arg), one_line(message));
}

}  // namespace

// ---- row ------------------------------------------------------------------------------------------------------

int row::columns() const noexcept {
  return PQnfields(result_);
}

bool row::is_null(int column) const noexcept {
  return PQgetisnull(result_, index_, column) != 0;
}

std::string_view row::get_text(int column) const noexcept {
  const char* v = PQgetvalue(result_, index_, column);
  return v != nullptr ? std::string_view{v, static_cast<std::size_t>(PQgetlength(result_, index_, column))}
                      : std::string_view{};
}

std::int64_t row::get_int64(int column) const {
  if (is_null(column)) {
    return 0;
  }
  const auto text = get_text(column);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    const char* name = PQfname(result_, column);
    throw error(fmt::format("column {} ({}) holds '{}', which is not a 64-bit integer", column,
                            name != nullptr ? name : "?", text),
                "");
  }
  return v;
}

double row::get_double(int column) const {
  if (is_null(column)) {
    return 0.0;
  }
  const auto text = get_text(column);
  // from_chars is locale-independent and also reads PostgreSQL's Infinity, -Infinity and NaN.
  double v = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    const char* name = PQfname(result_, column);
    throw error(
        fmt::format("column {} ({}) holds '{}', which is not a number", column, name != nullptr ? name : "?", text),
        "");
  }
  return v;
}

bool row::get_bool(int column) const {
  if (is_null(column)) {
    return false;
  }
  const auto text = get_text(column);
  if (text == "t" || text == "true") {
    return true;
  }
  if (text == "f" || text == "false") {
    return false;
  }
  return get_int64(column) != 0;
}

// ---- connection -----------------------------------------------------------------------------------------------

connection::connection(const std::string& conninfo, int connect_timeout_s) {
  // Parameters are processed in order and later ones win, so the conninfo (expanded from "dbname") overrides these
  // defaults when it sets them.
  const std::string timeout = std::to_string(std::max(connect_timeout_s, 2));
  const char* const keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* const values[] = {timeout.c_str(), "cmdbus", conninfo.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr) {
    throw connection_lost_error("cannot connect to PostgreSQL: libpq could not allocate a connection");
  }
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  endpoint_ = fmt::format("{}:{}", host != nullptr && *host != '\0' ? host : "localhost",
                          port != nullptr && *port != '\0' ? port : "5432");
  if (PQstatus(conn_) != CONNECTION_OK) {
    const char* db = PQdb(conn_);
    const char* user = PQuser(conn_);
    std::string what =
        fmt::format("cannot connect to PostgreSQL at {} (database \"{}\", user \"{}\"): {}", endpoint_,
                    db != nullptr ? db : "", user != nullptr ? user : "", one_line(PQerrorMessage(conn_)));
    PQfinish(conn_);  // after the message: db and user point into the connection
    conn_ = nullptr;
    throw connection_lost_error(what);
  }
  PQsetNoticeProcessor(conn_, &notice_to_log, &endpoint_);
}

connection::~connection() {
  if (conn_ != nullptr) {
    PQfinish(conn_);
  }
}

bool connection::healthy() const noexcept {
  return !broken_ && conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

bool connection::in_transaction() const noexcept {
  return PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

bool connection::probe_idle() noexcept {
  if (!healthy()) {
    return false;
  }
  // An idle connection has nothing to read. Readable means the server closed it (EOF) or sent an unasked message
  // (a FATAL "terminating connection" on shutdown): either way it is no longer worth using.
  pollfd p{PQsocket(conn_), POLLIN, 0};
  const int n = ::poll(&p, 1, 0);
  if (n != 0) {
    broken_ = true;
    return false;
  }
  return true;
}

std::string& connection::param_slot(std::size_t index) {
  if (index >= values_.size()) {
    values_.resize(index + 1);
    nulls_.resize(index + 1);
  }
  params_ = std::max(params_, index + 1);
  nulls_[index] = 0;
  return values_[index];
}

void connection::bind_int64(std::size_t index, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  param_slot(index).assign(buf, r.ptr);
}

void connection::bind_uint64(std::size_t index, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  param_slot(index).assign(buf, r.ptr);
}

void connection::bind_double(std::size_t index, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back as the same double
  param_slot(index).assign(buf, r.ptr);
}

void connection::bind_text(std::size_t index, std::string_view v) {
  param_slot(index).assign(v);
}

void connection::bind_null(std::size_t index) {
  param_slot(index).clear();
  nulls_[index] = 1;
}

detail::result_ptr connection::run(std::string_view sql) {
  const std::size_t n = params_;
  params_ = 0;
  if (!healthy()) {
    fail(nullptr, sql, true);
  }
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    std::string name = "cmdbus_" + std::to_string(++next_statement_);
    std::string text{sql};
    detail::result_ptr prepared{PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr)};
    if (prepared == nullptr || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      fail(prepared.get(), sql);
    }
    it = cache_.emplace(std::move(text), std::move(name)).first;
  }
  pointers_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    pointers_[i] = nulls_[i] != 0 ? nullptr : values_[i].c_str();
  }
  detail::result_ptr res = deferred_.empty()
                               ? detail::result_ptr{PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(n),
                                                                   pointers_.data(), nullptr, nullptr, 0)}
                               : run_after_deferred(it->second, sql, static_cast<int>(n));
  const auto status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
    const std::string sqlstate = field(res.get(), PG_DIAG_SQLSTATE);
    // 26000: the statement is gone (DEALLOCATE ALL in a script); 0A000: "cached plan must not change result type"
    // after the schema changed. Forget it, so that the next use prepares it again.
    if (sqlstate == "26000" || sqlstate == "0A000") {
      cache_.erase(it);
    }
    fail(res.get(), sql);
  }
  return res;
}

bool connection::take_back(std::string_view sql) noexcept {
  if (deferred_.empty() || deferred_.back() != sql) {
    return false;
  }
  deferred_.pop_back();
  return true;
}

detail::result_ptr connection::run_after_deferred(const std::string& name, std::string_view sql, int params) {
  const std::vector<std::string> before = std::move(deferred_);
  deferred_.clear();
  bool sent = PQenterPipelineMode(conn_) == 1;
  for (const auto& d : before) {
    sent = sent && PQsendQueryParams(conn_, d.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQsendQueryPrepared(conn_, name.c_str(), params, pointers_.data(), nullptr, nullptr, 0) == 1;
  sent = sent && PQpipelineSync(conn_) == 1;
  if (!sent) {
    broken_ = true;  // half a pipeline may be on its way: this connection is not used again
    fail(nullptr, sql);
  }
  // Each statement's result, then a NULL; after the last one, the sync point. A failed statement aborts the rest.
  detail::result_ptr failed;
  std::string_view failed_sql;
  detail::result_ptr last;
  for (std::size_t i = 0; i <= before.size(); ++i) {
    detail::result_ptr r{PQgetResult(conn_)};
    if (r == nullptr) {
      broken_ = true;
      fail(nullptr, sql);
    }
    while (PGresult* more = PQgetResult(conn_)) {
      PQclear(more);
    }
    if (i == before.size()) {
      last = std::move(r);
    } else if (failed == nullptr && PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      failed = std::move(r);
      failed_sql = before[i];
    }
  }
  const detail::result_ptr sync{PQgetResult(conn_)};
  if (sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(conn_) != 1) {
    broken_ = true;
    fail(nullptr, sql);
  }
  if (failed != nullptr) {
    fail(failed.get(), failed_sql);
  }
  return last;
}

detail::result_ptr connection::exec_simple(std::string_view sql) {
  if (!healthy()) {
    deferred_.clear();
    fail(nullptr, sql, true);
  }
  script_.clear();
  for (const auto& d : deferred_) {  // one simple-protocol message may hold several statements
    script_.append(d).append("; ");
  }
  deferred_.clear();
  script_.append(sql);
  detail::result_ptr res{PQexec(conn_, script_.c_str())};
  const auto status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
    fail(res.get(), sql);
  }
  return res;
}

void connection::exec_script(std::string_view sql) {
  (void)exec_simple(sql);
}

std::int64_t connection::affected_rows(const pg_result* res) noexcept {
  const char* s = PQcmdTuples(const_cast<pg_result*>(res));  // libpq's signature lacks const; it only reads
  std::int64_t n = 0;
  if (s != nullptr) {
    std::from_chars(s, s + std::char_traits<char>::length(s), n);
  }
  return n;
}

int connection::row_count(const pg_result* res) noexcept {
  return PQntuples(res);
}

void connection::fail(const pg_result* res, std::string_view what, bool before_sending) {
  const std::string sqlstate = field(res, PG_DIAG_SQLSTATE);
  std::string message = field(res, PG_DIAG_MESSAGE_PRIMARY);
  if (message.empty()) {
    message = conn_ != nullptr ? one_line(PQerrorMessage(conn_)) : std::string{};
  }
  if (message.empty()) {
    message = "no connection to the server";
  }
  const std::string statement = quote_statement(what);

  if (message.ends_with('.')) {
    message.pop_back();  // more follows
  }
  if (before_sending || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || sqlstate.empty() ||
      lost_state(sqlstate)) {
    broken_ = true;
    throw connection_lost_error(
        fmt::format("lost the connection to PostgreSQL at {} {} {}: {}{}; the pool connects again for the next command",
                    endpoint_, before_sending ? "before running" : "while running", statement, message,
                    sqlstate.empty() ? "" : " (" + sqlstate + ")"));
  }

  std::string extra;
  if (const auto detail = field(res, PG_DIAG_MESSAGE_DETAIL); !detail.empty()) {
    extra += " (" + detail + ")";
  }
  if (const auto hint = field(res, PG_DIAG_MESSAGE_HINT); !hint.empty()) {
    extra += " hint: " + hint;
  }

  if (sqlstate == "40001") {
    throw serialization_error(
        fmt::format("PostgreSQL serialization failure (40001) in {}: {}{}", statement, message, extra));
  }
  if (sqlstate == "40P01") {
    throw deadlock_error(fmt::format("PostgreSQL deadlock (40P01) in {}: {}{}", statement, message, extra));
  }
  if (sqlstate == "55P03") {
    throw busy_error(fmt::format("PostgreSQL lock not available (55P03) in {}: {}{}", statement, message, extra));
  }
  if (sqlstate.starts_with("23")) {
    std::string constraint = field(res, PG_DIAG_CONSTRAINT_NAME);
    if (constraint.empty()) {  // NOT NULL names a column, not a constraint
      const auto table = field(res, PG_DIAG_TABLE_NAME);
      const auto column = field(res, PG_DIAG_COLUMN_NAME);
      constraint = table.empty() ? column : table + "." + column;
    }
    const std::string_view kind = sqlstate == "23505"   ? "unique "
                                  : sqlstate == "23514" ? "check "
                                  : sqlstate == "23503" ? "foreign key "
                                  : sqlstate == "23502" ? "not-null "
                                  : sqlstate == "23P01" ? "exclusion "
                                                        : "";
    throw constraint_error(fmt::format("{}constraint \"{}\" violated ({}) by {}: {}{}", kind, constraint, sqlstate,
                                       statement, message, extra),
                           sqlstate, constraint);
  }
  throw error(fmt::format("PostgreSQL error {} in {}: {}{}", sqlstate, statement, message, extra), sqlstate);
}

}  // namespace cmdbus::postgres
