#include "common/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <utility>

#include <cmdbus/context.hpp>
#include <cmdbus/error.hpp>

namespace examples {

void trace_recorder::start() {
  const std::lock_guard lock(mutex_);
  entries_.clear();
  on_ = true;
}

std::vector<trace_entry> trace_recorder::stop() {
  on_ = false;
  const std::lock_guard lock(mutex_);
  return std::move(entries_);
}

void trace_recorder::invoke(cmdbus::invocation& call, cmdbus::next_step next) {
  if (!on_.load(std::memory_order_relaxed)) {
    next();
    return;
  }
  const auto& ctx = call.ctx();
  trace_entry e;
  for (const auto* p = ctx.parent(); p != nullptr; p = p->parent()) {
    ++e.depth;
  }
  e.command = std::string{ctx.command_name()};
  e.id = ctx.id();
  e.correlation = ctx.correlation_id();
  e.causation = ctx.causation_id();
  std::size_t slot = 0;
  {
    const std::lock_guard lock(mutex_);
    slot = entries_.size();
    entries_.push_back(std::move(e));
  }
  auto finish = [&](std::string outcome, std::string error_type) {
    const std::lock_guard lock(mutex_);
    if (slot < entries_.size()) {  // stop() may have taken the entries meanwhile
      entries_[slot].outcome = std::move(outcome);
      entries_[slot].error_type = std::move(error_type);
    }
  };
  try {
    next();
  } catch (...) {
    const cmdbus::error err(std::current_exception(), ctx.command_name(), ctx.id());
    finish(std::string{cmdbus::to_string(err.code())}, err.type_name());
    throw;
  }
  finish("ok", "");
}

namespace {

std::string id_or_dash(const cmdbus::command_id& id) {
  return id.is_nil() ? std::string{"-"} : id.to_string();
}

}  // namespace

void print_trace(const std::vector<trace_entry>& entries) {
  for (const auto& e : entries) {
    const auto indent = std::string(2 * e.depth, ' ');
    const auto outcome = e.error_type.empty() ? e.outcome : fmt::format("{} ({})", e.outcome, e.error_type);
    fmt::print("  {}{:<{}} id={}  correlation={}  causation={}  {}\n", indent, e.command, 28 - 2 * e.depth,
               e.id.to_string(), e.correlation.to_string(), id_or_dash(e.causation), outcome);
  }
}

std::vector<std::string> trace_problems(const std::vector<trace_entry>& entries) {
  std::vector<std::string> problems;
  std::vector<const trace_entry*> path;  // the current entry's ancestors, root first
  for (const auto& e : entries) {
    path.resize(std::min(path.size(), e.depth));
    if (path.size() != e.depth) {
      problems.push_back(fmt::format("{} {} is at depth {} without a parent", e.command, e.id.to_string(), e.depth));
      continue;
    }
    if (path.empty()) {
      if (e.correlation != e.id) {
        problems.push_back(fmt::format("root {} has correlation {}, not its own id", e.command, e.id.to_string()));
      }
      if (!e.causation.is_nil()) {
        problems.push_back(fmt::format("root {} has a causation id", e.command));
      }
    } else {
      if (e.correlation != path.front()->correlation) {
        problems.push_back(fmt::format("{} {} does not share its root's correlation id", e.command, e.id.to_string()));
      }
      if (e.causation != path.back()->id) {
        problems.push_back(fmt::format("{} {} has causation {}, but its parent {} is {}", e.command, e.id.to_string(),
                                       id_or_dash(e.causation), path.back()->command, path.back()->id.to_string()));
      }
    }
    path.push_back(&e);
  }
  return problems;
}

}  // namespace examples
