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

detail::context_extras& context::extras() {
  if (extras_ == nullptr) {
    extras_ = new detail::context_extras();
  }
  return *extras_;
}

void context::free_extras() noexcept {
  delete extras_;
  extras_ = nullptr;
}

void context::note_commit(const void* store, std::uint64_t version) {
  auto& c = extras().committed;
  c.store = store;
  c.version = version;
}

consistency_token context::committed() const noexcept {
  consistency_token t;
  t.command = id();
  if (extras_ != nullptr) {
    t.store = extras_->committed.store;
    t.version = extras_->committed.version;
  }
  return t;
}

void context::make_id() const noexcept {
  lazy_.id = options_ != nullptr && !options_->id.is_nil() ? options_->id : command_id::generate();
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
      lazy_.trace = incoming->trace;
    } else if (parent_ != nullptr) {
      lazy_.trace = parent_->trace();
    } else {
      lazy_.trace = trace_id::generate();
    }
    have_ |= have_trace;
  }
  return lazy_.trace;
}

const span_id& context::span() const noexcept {
  if ((have_ & have_span) == 0) {
    lazy_.span = span_id::generate();
    have_ |= have_span;
  }
  return lazy_.span;
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
  if (extras_ != nullptr) {
    for (auto it = extras_->headers.rbegin(); it != extras_->headers.rend(); ++it) {
      if (it->name == name) {
        return std::string_view{it->value};
      }
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
  auto& own = extras().headers;
  for (auto& h : own) {
    if (h.name == name) {
      h.value = std::move(value);
      return;
    }
  }
  own.push_back(cmdbus::header{std::move(name), std::move(value)});
}

std::vector<cmdbus::header> context::headers() const {
  std::vector<cmdbus::header> all;
  if (options_ != nullptr) {
    all = options_->headers;
  }
  if (extras_ != nullptr) {
    all.insert(all.end(), extras_->headers.begin(), extras_->headers.end());
  }
  return all;
}

}  // namespace cmdbus
