#include "cmdbus/validation.hpp"

#include <fmt/format.h>

namespace cmdbus {

void validation_middleware::invoke(invocation& call, next_step next) {
  const auto& info = call.message();
  if (info.validate != nullptr) {
    std::optional<std::string> problem;
    try {
      problem = info.validate(call.payload());
    } catch (const rejected_error&) {
      throw;
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (problem) {
      throw validation_error(fmt::format("{} rejected: {}", info.wire_name, *problem));
    }
  }
  next();
}

}  // namespace cmdbus
