#include "common/store_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <toml++/toml.h>

namespace examples {
namespace {

constexpr std::array common_keys{std::string_view{"kind"}, std::string_view{"pool_size"}};
constexpr std::array sqlite_keys{std::string_view{"path"}, std::string_view{"synchronous"},
                                 std::string_view{"busy_timeout_ms"}};
constexpr std::array postgres_keys{std::string_view{"conninfo"}, std::string_view{"isolation"}};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& keys, std::string_view k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return out;
}

/// Collects every problem of one [store] table, each with file:line, and reads the values that are right.
class reader {
 public:
  reader(const toml::table& store, std::string origin) : store_(store), origin_(std::move(origin)) {}

  [[nodiscard]] std::string at(const toml::node& n) const {
    return fmt::format("{}:{}", origin_, n.source().begin.line);
  }
  void problem(const toml::node& n, const std::string& what) {
    problems_.push_back(fmt::format("{}: {}", at(n), what));
  }

  std::optional<std::string> string(std::string_view key) {
    const auto* n = store_.get(key);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (const auto* s = n->as_string()) {
      if (s->get().empty()) {
        problem(*n, fmt::format("[store] {} must not be empty", key));
        return std::nullopt;
      }
      return s->get();
    }
    problem(*n, fmt::format("[store] {} must be a string", key));
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min) {
    const auto* n = store_.get(key);
    if (n == nullptr) {
      return std::nullopt;
    }
    if (const auto* i = n->as_integer(); i != nullptr && i->get() >= min) {
      return i->get();
    }
    problem(*n, fmt::format("[store] {} must be a whole number of at least {}", key, min));
    return std::nullopt;
  }

  /// `key`'s value, lower-cased, if it is one of `allowed`.
  template <std::size_t N>
  std::optional<std::string> choice(std::string_view key, const std::array<std::string_view, N>& allowed) {
    const auto v = string(key);
    if (!v) {
      return std::nullopt;
    }
    const auto l = lower(*v);
    if (contains(allowed, l)) {
      return l;
    }
    std::string list;
    for (const auto a : allowed) {
      list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", a);
    }
    problem(*store_.get(key), fmt::format("[store] {} = \"{}\" is not one of {}", key, *v, list));
    return std::nullopt;
  }

  void check_keys(store_kind kind) {
    for (auto&& [key, value] : store_) {
      const auto k = key.str();
      if (contains(common_keys, k) || (kind == store_kind::sqlite && contains(sqlite_keys, k)) ||
          (kind == store_kind::postgres && contains(postgres_keys, k))) {
        continue;
      }
      if (contains(sqlite_keys, k) || contains(postgres_keys, k)) {
        problem(value, fmt::format("[store] key '{}' applies to kind = \"{}\", not to kind = \"{}\"", k,
                                   contains(sqlite_keys, k) ? "sqlite" : "postgres", to_string(kind)));
      } else {
        problem(value, fmt::format("unknown key '{}' in [store] (keys: kind, pool_size; for sqlite: path, "
                                   "synchronous, busy_timeout_ms; for postgres: conninfo, isolation)",
                                   k));
      }
    }
  }

  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  const toml::table& store_;
  std::string origin_;
  std::vector<std::string> problems_;
};

std::string resolve(const std::string& path, const std::filesystem::path& base_dir) {
  if (path == ":memory:") {
    return path;
  }
  std::filesystem::path p{path};
  if (p.is_relative()) {
    std::error_code ec;
    const auto base = base_dir.empty() ? std::filesystem::current_path(ec) : base_dir;
    p = base / p;
  }
  return p.lexically_normal().string();
}

[[noreturn]] void fail(const std::string& origin, const std::vector<std::string>& problems) {
  std::string text = fmt::format("{}: the [store] table cannot be used:", origin);
  for (const auto& p : problems) {
    text += "\n  " + p;
  }
  throw store_config_error(text);
}

}  // namespace

std::string_view to_string(store_kind k) noexcept {
  return k == store_kind::sqlite ? "sqlite" : "postgres";
}

store_config parse_store_config(std::string_view toml_text, const std::string& origin, const store_defaults& defaults) {
  store_config out;
  out.path = resolve((std::filesystem::path{"data"} / defaults.file_name).string(), defaults.base_dir);
  toml::table doc;
  try {
    doc = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    throw store_config_error(fmt::format("{}:{}:{}: not valid TOML: {}", origin, e.source().begin.line,
                                         e.source().begin.column, e.description()));
  }
  const auto* node = doc.get("store");
  if (node == nullptr) {
    out.origin = fmt::format("{} (no [store]: the defaults)", origin);
    return out;
  }
  const auto* table = node->as_table();
  if (table == nullptr) {
    fail(origin, {fmt::format("{}:{}: 'store' must be a table ([store])", origin, node->source().begin.line)});
  }
  out.origin = fmt::format("{}:{}", origin, node->source().begin.line);

  reader r(*table, origin);
  if (const auto kind = r.choice("kind", std::array{std::string_view{"sqlite"}, std::string_view{"postgres"}})) {
    out.kind = *kind == "sqlite" ? store_kind::sqlite : store_kind::postgres;
  }
  r.check_keys(out.kind);
  if (const auto n = r.integer("pool_size", 0)) {
    out.pool_size = static_cast<std::size_t>(*n);
  }
  if (out.kind == store_kind::sqlite) {
    if (const auto p = r.string("path")) {
      out.path = resolve(*p, defaults.base_dir);
    }
    if (const auto s = r.choice("synchronous", std::array{std::string_view{"normal"}, std::string_view{"full"}})) {
      out.full_sync = *s == "full";
    }
    if (const auto ms = r.integer("busy_timeout_ms", 0)) {
      out.busy_timeout = std::chrono::milliseconds{*ms};
    }
  } else {
    out.path.clear();
    if (const auto c = r.string("conninfo")) {
      out.conninfo = *c;
    } else if (table->get("conninfo") == nullptr) {
      r.problem(*node, "[store] kind = \"postgres\" needs conninfo = \"host=... port=... dbname=... user=...\"");
    }
    if (const auto i =
            r.choice("isolation", std::array{std::string_view{"read committed"}, std::string_view{"repeatable read"},
                                             std::string_view{"serializable"}})) {
      out.isolation = *i;
    }
  }
  if (!r.problems().empty()) {
    fail(origin, r.problems());
  }
  return out;
}

store_config read_store_config(const std::filesystem::path& file, const store_defaults& defaults) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw store_config_error(fmt::format(
        "{}: cannot read the configuration file (does it exist, and may this process read it?)", file.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_store_config(text.str(), file.string(), defaults);
}

std::filesystem::path program_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.has_parent_path()) {
    return exe.parent_path();
  }
  return std::filesystem::current_path(ec);
}

}  // namespace examples
