// The outcome's JSON form (cmdbus/wire/outcome.hpp).
#include <fmt/format.h>

#include <stdexcept>

#include "cmdbus/wire/outcome.hpp"
#include "json_fields.hpp"

namespace cmdbus::wire {

namespace {

using nlohmann::json;

}  // namespace

std::optional<error_code> code_named(std::string_view name) noexcept {
  for (const auto c : {error_code::rejected, error_code::transient, error_code::fatal}) {
    if (to_string(c) == name) {
      return c;
    }
  }
  return std::nullopt;
}

std::string encode_outcome(const wire_outcome& o) {
  json j = json::object();
  j["id"] = o.id.to_string();
  j["succeeded"] = o.succeeded;
  if (o.succeeded && !o.result.empty()) {
    json result = json::parse(o.result, nullptr, /*allow_exceptions=*/false);
    if (result.is_discarded()) {
      throw std::invalid_argument(
          fmt::format("cmdbus: the result of command {} is not JSON text: {}", o.id.to_string(), o.result));
    }
    j["result"] = std::move(result);
  }
  if (!o.succeeded) {
    j["error"] = json{{"code", to_string(o.code)}, {"type", o.error_type}, {"message", o.error_message}};
  }
  try {
    return j.dump();
  } catch (const json::type_error& x) {  // a string that is not UTF-8
    throw std::invalid_argument(
        fmt::format("cmdbus: the outcome of command {} cannot be written as JSON: {}", o.id.to_string(), x.what()));
  }
}

tl::expected<wire_outcome, std::string> parse_outcome(std::string_view text) {
  try {
    auto object = detail::parse_object(text, "a command outcome");
    if (!object) {
      return tl::unexpected(std::move(object.error()));
    }
    detail::field_reader f(*object, "a command outcome");
    wire_outcome o;
    const auto id = f.id("id", true);
    const auto succeeded = f.flag("succeeded", true);
    if (succeeded.value_or(false)) {
      if (const json* result = f.value("result", false)) {
        o.result = result->dump();
      }
    } else if (succeeded) {
      if (const json* error = f.value("error", true); error != nullptr && !error->is_object()) {
        f.fail("error", "an object with code, type and message");
      } else if (error != nullptr) {
        detail::field_reader e(*error, "a command outcome's error");
        const auto code = e.text("code", true);
        auto type = e.text("type", false);
        auto message = e.text("message", false);
        const auto named = code ? code_named(*code) : std::nullopt;
        if (code && !named) {
          e.fail("code", "\"rejected\", \"transient\" or \"fatal\"");
        }
        if (!e.problem().empty() || !named) {  // a missing code is a problem already
          return tl::unexpected(e.problem());
        }
        o.code = *named;
        o.error_type = std::move(type).value_or(std::string{});
        o.error_message = std::move(message).value_or(std::string{});
      }
    }
    if (!f.problem().empty() || !id || !succeeded) {  // a missing required field is a problem already
      return tl::unexpected(f.problem());
    }
    o.id = *id;
    o.succeeded = *succeeded;
    return o;
  } catch (const std::exception& x) {  // out of memory
    return tl::unexpected(fmt::format("a command outcome could not be read: {}", x.what()));
  }
}

}  // namespace cmdbus::wire
