#include "json_fields.hpp"

#include <fmt/format.h>

#include <limits>

namespace cmdbus::wire::detail {

tl::expected<nlohmann::json, std::string> parse_object(std::string_view text, std::string_view what) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return tl::unexpected(fmt::format("{} is not JSON: {}", what, e.what()));
  }
  if (!j.is_object()) {
    return tl::unexpected(fmt::format("{} must be a JSON object, not {}", what, j.type_name()));
  }
  return j;
}

const nlohmann::json* field_reader::value(std::string_view key, bool required) {
  const auto it = object_->find(key);
  if (it == object_->end() || (!required && it->is_null())) {
    if (required) {
      fail(key, "present");
    }
    return nullptr;
  }
  return &*it;
}

void field_reader::fail(std::string_view key, std::string_view must_be) {
  if (problem_.empty()) {
    const auto it = object_->find(key);
    problem_ = it == object_->end() ? fmt::format("{}: field '{}' is missing", what_, key)
                                    : fmt::format("{}: field '{}' must be {}, not {}", what_, key, must_be, it->dump());
  }
}

std::optional<std::string> field_reader::text(std::string_view key, bool required) {
  const auto* v = value(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_string()) {
    fail(key, "a string");
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<command_id> field_reader::id(std::string_view key, bool required) {
  const auto* v = value(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  std::optional<command_id> id;
  if (v->is_string()) {
    id = command_id::parse(v->get_ref<const std::string&>());
  }
  if (!id) {
    fail(key, "a UUID string");
  }
  return id;
}

std::optional<std::uint64_t> field_reader::whole(std::string_view key, std::uint64_t max, bool required) {
  const auto* v = value(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_number_unsigned() || v->get<std::uint64_t>() > max) {
    fail(key, fmt::format("a whole number from 0 to {}", max));
    return std::nullopt;
  }
  return v->get<std::uint64_t>();
}

std::optional<std::int64_t> field_reader::integer(std::string_view key, bool required) {
  const auto* v = value(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_number_integer() ||
      (v->is_number_unsigned() && v->get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())) {
    fail(key, "a whole number");
    return std::nullopt;
  }
  return v->get<std::int64_t>();
}

std::optional<bool> field_reader::flag(std::string_view key, bool required) {
  const auto* v = value(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_boolean()) {
    fail(key, "true or false");
    return std::nullopt;
  }
  return v->get<bool>();
}

}  // namespace cmdbus::wire::detail
