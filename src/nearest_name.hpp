// Internal: "did you mean ...?" for names in configuration files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cmdbus::detail {

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo; else empty.
[[nodiscard]] std::string nearest_name(std::string_view word, const std::vector<std::string_view>& candidates);

/// " (did you mean 'x'?)" or "".
[[nodiscard]] std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace cmdbus::detail
