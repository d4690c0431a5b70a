#include "route_table.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <sstream>

namespace cmdbus::detail {

std::string toml_route_table::where(std::string_view key) const {
  if (const auto* node = def_->table->get(key)) {
    return location_of(def_->at.source, node->source()).to_string();
  }
  return def_->at.to_string();
}

void toml_route_table::problem(std::string_view key, std::string_view what) {
  problems_->push_back(fmt::format("{}: [routes.{}] {}", where(key), def_->name, what));
}

void toml_route_table::wrong(std::string_view key, std::string_view expected) {
  problem(key, fmt::format("{} must be {}", key, expected));
}

std::optional<std::uint64_t> toml_route_table::integer(std::string_view key, std::uint64_t low, std::uint64_t high) {
  const auto* node = def_->table->get(key);
  if (node == nullptr) {
    return std::nullopt;
  }
  const auto* v = node->as_integer();
  if (v == nullptr || v->get() < 0 || static_cast<std::uint64_t>(v->get()) < low ||
      static_cast<std::uint64_t>(v->get()) > high) {
    wrong(key, fmt::format("a whole number from {} to {}", low, high));
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(v->get());
}

std::optional<std::string> toml_route_table::string(std::string_view key) {
  const auto* node = def_->table->get(key);
  if (node == nullptr) {
    return std::nullopt;
  }
  const auto* v = node->as_string();
  if (v == nullptr) {
    wrong(key, fmt::format("a string (it is {})", type_of(*node)));
    return std::nullopt;
  }
  return v->get();
}

std::optional<std::string> toml_route_table::choice(std::string_view key,
                                                    const std::vector<std::string_view>& allowed) {
  const auto* node = def_->table->get(key);
  if (node == nullptr) {
    return std::nullopt;
  }
  const auto* v = node->as_string();
  if (v == nullptr || std::find(allowed.begin(), allowed.end(), v->get()) == allowed.end()) {
    std::vector<std::string> quoted;
    quoted.reserve(allowed.size());
    for (const auto a : allowed) {
      quoted.push_back(fmt::format("\"{}\"", a));
    }
    wrong(key, fmt::format("{}", fmt::join(quoted, " or ")));
    return std::nullopt;
  }
  return v->get();
}

std::optional<bool> toml_route_table::boolean(std::string_view key) {
  const auto* node = def_->table->get(key);
  if (node == nullptr) {
    return std::nullopt;
  }
  const auto* v = node->as_boolean();
  if (v == nullptr) {
    wrong(key, fmt::format("true or false (it is {})", type_of(*node)));
    return std::nullopt;
  }
  return v->get();
}

std::optional<std::vector<std::pair<std::string, std::string>>> toml_route_table::text_table(std::string_view key) {
  const auto* node = def_->table->get(key);
  if (node == nullptr) {
    return std::nullopt;
  }
  const auto* t = node->as_table();
  if (t == nullptr) {
    wrong(key, fmt::format("a table ([routes.{}.{}]; it is {})", def_->name, key, type_of(*node)));
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  bool ok = true;
  for (auto&& [k, value] : *t) {
    std::string text;
    if (const auto* s = value.as_string()) {
      text = s->get();
    } else if (value.is_integer() || value.is_floating_point() || value.is_boolean()) {
      std::ostringstream printed;
      value.visit([&](const auto& v) { printed << v; });
      text = printed.str();
    } else {
      problems_->push_back(fmt::format("{}: [routes.{}.{}] {} must be a string, number or boolean (it is {})",
                                       location_of(def_->at.source, k.source()).to_string(), def_->name, key, k.str(),
                                       type_of(value)));
      ok = false;
      continue;
    }
    out.emplace_back(std::string{k.str()}, std::move(text));
  }
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

}  // namespace cmdbus::detail
