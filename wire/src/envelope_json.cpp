// The command envelope's JSON form (cmdbus/wire/envelope.hpp).
#include <fmt/format.h>

#include <chrono>
#include <limits>
#include <stdexcept>

#include "cmdbus/wire/envelope.hpp"
#include "json_fields.hpp"

namespace cmdbus::wire {

namespace {

using nlohmann::json;

}  // namespace

std::string encode_envelope(const wire_envelope& e) {
  json j = json::object();
  j["id"] = e.id.to_string();
  j["command"] = e.command;
  j["schema_version"] = e.schema_version;
  if (!e.correlation_id.is_nil()) {
    j["correlation_id"] = e.correlation_id.to_string();
  }
  if (!e.causation_id.is_nil()) {
    j["causation_id"] = e.causation_id.to_string();
  }
  if (!e.traceparent.empty()) {
    j["traceparent"] = e.traceparent;
  }
  if (e.partition_key) {
    j["partition_key"] = *e.partition_key;
  }
  j["attempt"] = e.attempt;
  j["created_at_us"] = micros(e.created_at);
  if (e.deadline) {
    j["deadline_us"] = micros(*e.deadline);
  }
  if (!e.headers.empty()) {
    json headers = json::array();
    for (const auto& h : e.headers) {
      headers.push_back(json::array({h.name, h.value}));
    }
    j["headers"] = std::move(headers);
  }
  json payload = json::parse(e.payload, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) {
    j["payload"] = e.payload;  // not JSON text: a codec of another format
    j["payload_is_text"] = true;
  } else {
    j["payload"] = std::move(payload);
  }
  try {
    return j.dump();
  } catch (const json::type_error& x) {  // a string that is not UTF-8
    throw std::invalid_argument(
        fmt::format("cmdbus: command '{}' {} cannot be written as JSON: {}", e.command, e.id.to_string(), x.what()));
  }
}

tl::expected<wire_envelope, std::string> parse_envelope(std::string_view text) {
  try {
    auto object = detail::parse_object(text, "a command envelope");
    if (!object) {
      return tl::unexpected(std::move(object.error()));
    }
    detail::field_reader f(*object, "a command envelope");
    wire_envelope e;
    const auto id = f.id("id", true);
    auto command = f.text("command", true);
    const auto version = f.whole("schema_version", std::numeric_limits<std::uint32_t>::max(), true);
    const auto correlation = f.id("correlation_id", false);
    const auto causation = f.id("causation_id", false);
    auto traceparent = f.text("traceparent", false);
    auto key = f.text("partition_key", false);
    const auto attempt = f.whole("attempt", std::numeric_limits<std::uint32_t>::max(), false);
    const auto created = f.integer("created_at_us", false);
    const auto deadline = f.integer("deadline_us", false);
    const auto is_text = f.flag("payload_is_text", false);
    const json* payload = f.value("payload", true);
    if (const json* headers = f.value("headers", false)) {
      bool fine = headers->is_array();
      for (std::size_t i = 0; fine && i < headers->size(); ++i) {
        const json& h = (*headers)[i];
        fine = h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string();
        if (fine) {
          e.headers.push_back({h[0].get<std::string>(), h[1].get<std::string>()});
        }
      }
      if (!fine) {
        f.fail("headers", "an array of [name, value] string pairs");
      }
    }
    if (payload != nullptr && is_text.value_or(false) && !payload->is_string()) {
      f.fail("payload", "a string (payload_is_text is true)");
    }
    if (!f.problem().empty() || !id || !command || !version) {  // a missing required field is a problem already
      return tl::unexpected(f.problem());
    }
    e.id = *id;
    e.command = std::move(*command);
    e.schema_version = static_cast<std::uint32_t>(*version);
    e.correlation_id = correlation.value_or(command_id{});
    e.causation_id = causation.value_or(command_id{});
    e.traceparent = std::move(traceparent).value_or(std::string{});
    e.partition_key = std::move(key);
    e.attempt = static_cast<std::uint32_t>(attempt.value_or(0));
    e.created_at = from_micros(created.value_or(0));
    if (deadline) {
      e.deadline = from_micros(*deadline);
    }
    e.payload = is_text.value_or(false) ? payload->get<std::string>() : payload->dump();
    return e;
  } catch (const std::exception& x) {  // out of memory, or a number nlohmann cannot represent
    return tl::unexpected(fmt::format("a command envelope could not be read: {}", x.what()));
  }
}

}  // namespace cmdbus::wire
