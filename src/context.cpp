#include "cmdbus/context.hpp"

#include <algorithm>
#include <cstring>

namespace cmdbus {
namespace {

struct parsed_traceparent {
  trace_id trace;
  span_id parent;
};

// "00-<32 hex trace id>-<16 hex parent span>-<2 hex flags>"; anything else is ignored (a new trace starts).
std::optional<parsed_traceparent> parse_traceparent(std::string_view s) {
  if (s.size() < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || s.substr(0, 2) == "ff") {
    return std::nullopt;
  }
  auto trace = trace_id::parse(s.substr(3, 32));
  auto parent = span_id::parse(s.substr(36, 16));
  if (!trace || !parent) {
    return std::nullopt;
  }
  return parsed_traceparent{*trace, *parent};
}

}  // namespace

void context::make_id() const noexcept {
  id_ = command_id::generate();
  have_ |= have_id;
}

command_id context::correlation_id() const noexcept {
  if (options_ != nullptr && !options_->correlation_id.is_nil()) {
    return options_->correlation_id;
  }
  return parent_ != nullptr ? parent_->correlation_id() : id();
}

command_id context::causation_id() const noexcept {
  if (options_ != nullptr && !options_->causation_id.is_nil()) {
    return options_->causation_id;
  }
  return parent_ != nullptr ? parent_->id() : command_id{};
}

const trace_id& context::trace() const noexcept {
  if ((have_ & have_trace) == 0) {
    std::optional<parsed_traceparent> incoming;
    if (options_ != nullptr && !options_->traceparent.empty()) {
      incoming = parse_traceparent(options_->traceparent);
    }
    if (incoming) {
      trace_ = incoming->trace;
    } else if (parent_ != nullptr) {
      trace_ = parent_->trace();
    } else {
      trace_ = trace_id::generate();
    }
    have_ |= have_trace;
  }
  return trace_;
}

const span_id& context::span() const noexcept {
  if ((have_ & have_span) == 0) {
    span_ = span_id::generate();
    have_ |= have_span;
  }
  return span_;
}

span_id context::parent_span() const noexcept {
  if (options_ != nullptr && !options_->traceparent.empty()) {
    if (auto incoming = parse_traceparent(options_->traceparent)) {
      return incoming->parent;
    }
  }
  return parent_ != nullptr ? parent_->span() : span_id{};
}

std::string context::traceparent() const {
  return "00-" + trace().to_string() + "-" + span().to_string() + "-01";
}

std::optional<std::string_view> context::header(std::string_view name) const noexcept {
  for (auto it = own_headers_.rbegin(); it != own_headers_.rend(); ++it) {
    if (it->name == name) {
      return std::string_view{it->value};
    }
  }
  if (options_ != nullptr) {
    for (auto it = options_->headers.rbegin(); it != options_->headers.rend(); ++it) {
      if (it->name == name) {
        return std::string_view{it->value};
      }
    }
  }
  return std::nullopt;
}

void context::set_header(std::string name, std::string value) {
  for (auto& h : own_headers_) {
    if (h.name == name) {
      h.value = std::move(value);
      return;
    }
  }
  own_headers_.push_back(cmdbus::header{std::move(name), std::move(value)});
}

std::vector<cmdbus::header> context::headers() const {
  std::vector<cmdbus::header> all;
  if (options_ != nullptr) {
    all = options_->headers;
  }
  all.insert(all.end(), own_headers_.begin(), own_headers_.end());
  return all;
}

}  // namespace cmdbus
