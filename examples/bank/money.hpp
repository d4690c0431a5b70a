// money.hpp — cents as text: 12345 -> "$123.45", -500 -> "-$5.00".
#pragma once

#include <fmt/format.h>

#include <string>

#include "bank.hpp"

namespace bank {

[[nodiscard]] inline std::string format_money(money cents) {
  const money magnitude = cents < 0 ? -cents : cents;
  return fmt::format("{}${}.{:02}", cents < 0 ? "-" : "", magnitude / 100, magnitude % 100);
}

}  // namespace bank
