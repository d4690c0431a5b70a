#include "cmdbus/logging.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "cmdbus/error.hpp"

namespace cmdbus {
namespace {

std::string id_or_dash(const command_id& id) {
  return id.is_nil() ? std::string{"-"} : id.to_string();
}

std::string quoted(std::string_view s) {
  std::string out{"\""};
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
    }
    out += ch == '\n' ? ' ' : ch;
  }
  out += '"';
  return out;
}

}  // namespace

logging_middleware::logging_middleware(std::shared_ptr<spdlog::logger> logger, spdlog::level::level_enum level)
    : logger_(std::move(logger)), level_(level) {}

void logging_middleware::invoke(invocation& call, next_step next) {
  spdlog::logger* log = logger_ ? logger_.get() : spdlog::default_logger_raw();
  // Lines go out at level_ (success), warn (rejected) or error (transient, fatal): skip the work only when even an
  // error line would be dropped.
  if (log == nullptr || !log->should_log(std::max(level_, spdlog::level::err))) {
    next();
    return;
  }
  const auto& ctx = call.ctx();
  const auto start = std::chrono::steady_clock::now();
  auto line = [&](std::string_view outcome) {
    const auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    return fmt::format("{}={} id={} correlation={} causation={} duration_us={:.1f} outcome={}",
                       ctx.message().kind == message_kind::query ? "query" : "command", ctx.command_name(),
                       ctx.id().to_string(), ctx.correlation_id().to_string(), id_or_dash(ctx.causation_id()), us,
                       outcome);
  };
  try {
    next();
  } catch (...) {
    const error e(std::current_exception(), ctx.command_name(), ctx.id(), ctx.attempt());
    const auto lvl = e.code() == error_code::rejected ? spdlog::level::warn : spdlog::level::err;
    if (log->should_log(lvl)) {
      log->log(lvl, "{} error_type={} error={}", line(to_string(e.code())), e.type_name(), quoted(e.message()));
    }
    throw;
  }
  if (log->should_log(level_)) {
    log->log(level_, "{}", line("ok"));
  }
}

std::shared_ptr<logging_middleware> make_logging(std::shared_ptr<spdlog::logger> logger,
                                                 spdlog::level::level_enum level) {
  return std::make_shared<logging_middleware>(std::move(logger), level);
}

}  // namespace cmdbus
