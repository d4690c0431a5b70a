// cmdbus/logging.hpp — one structured log line per command or query, through spdlog.
//
//   builder.use(cmdbus::make_logging());                               // spdlog's default logger, level info
//   builder.use(cmdbus::make_logging(my_logger, spdlog::level::debug));
//
//   command=bank.transfer id=0190b8e4-... correlation=0190b8e4-... causation=- duration_us=12.4 outcome=ok
//   command=bank.withdraw id=... outcome=rejected error_type=cmdbus::validation_error error="amount must be positive"
//
// Successes log at `level`; rejected commands at warn, transient and fatal failures at error. When the logger would
// drop all of these (its level above error), nothing is measured or formatted: it costs one level check.
//
// Contains: `logging_middleware`, `make_logging()`.
#pragma once

#include <memory>

#include <spdlog/common.h>
#include <spdlog/fwd.h>

#include "cmdbus/middleware.hpp"

namespace cmdbus {

class logging_middleware final : public middleware {
 public:
  /// `logger` null: spdlog's default logger at the time of each call.
  explicit logging_middleware(std::shared_ptr<spdlog::logger> logger = nullptr,
                              spdlog::level::level_enum level = spdlog::level::info);
  void invoke(invocation& call, next_step next) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  spdlog::level::level_enum level_;
};

[[nodiscard]] std::shared_ptr<logging_middleware> make_logging(std::shared_ptr<spdlog::logger> logger = nullptr,
                                                               spdlog::level::level_enum level = spdlog::level::info);

}  // namespace cmdbus
