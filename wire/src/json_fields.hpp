// Internal (cmdbus::wire): reading the fields of one JSON object, keeping the first problem as a sentence that names
// the field. A missing optional field is no problem; a present field of the wrong type is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "cmdbus/id.hpp"

namespace cmdbus::wire::detail {

/// The JSON object in `text` (`what` names it in the error: "a command envelope"), or why it is not one.
[[nodiscard]] tl::expected<nlohmann::json, std::string> parse_object(std::string_view text, std::string_view what);

class field_reader {
 public:
  field_reader(const nlohmann::json& object, std::string_view what) : object_(&object), what_(what) {}

  /// The field's value, any JSON type; null if absent (a problem if `required`).
  const nlohmann::json* value(std::string_view key, bool required);
  std::optional<std::string> text(std::string_view key, bool required);
  std::optional<command_id> id(std::string_view key, bool required);
  std::optional<std::uint64_t> whole(std::string_view key, std::uint64_t max, bool required);
  std::optional<std::int64_t> integer(std::string_view key, bool required);
  std::optional<bool> flag(std::string_view key, bool required);

  /// Records a problem of the caller's own about `key` (the first one is kept).
  void fail(std::string_view key, std::string_view must_be);
  /// Empty while every field read so far was fine.
  [[nodiscard]] const std::string& problem() const noexcept { return problem_; }

 private:
  const nlohmann::json* object_;
  std::string what_;
  std::string problem_;
};

}  // namespace cmdbus::wire::detail
