#include "common/sql.hpp"

#include <cctype>

namespace examples {

std::string_view to_string(dialect d) noexcept {
  return d == dialect::sqlite ? "sqlite" : "postgres";
}

std::string sql_for(dialect d, std::string_view sql) {
  if (d == dialect::postgres) {
    return std::string{sql};
  }
  std::string out;
  out.reserve(sql.size());
  char quote = 0;  // inside '...' or "...": copied as is
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      quote = c == quote ? 0 : quote;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])) != 0) {
      out += '?';
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace examples
