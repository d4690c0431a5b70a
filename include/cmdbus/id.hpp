// cmdbus/id.hpp — command ids (UUIDv7: time-ordered, 74 random bits) and W3C trace ids.
//
//   cmdbus::command_id id = cmdbus::command_id::generate();   // thread-local generator, no lock, no allocation
//   std::string text = id.to_string();                         // "0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f60"
//   auto back = cmdbus::command_id::parse(text);               // std::optional<command_id>
//
// Contains: `command_id`, `trace_id`, `span_id`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace cmdbus {

namespace detail {
/// Fills `out` with random bytes from this thread's generator (seeded once per thread from the OS).
void random_bytes(unsigned char* out, std::size_t n) noexcept;

/// Lower-case hex of `n` bytes into `out` (2n chars).
void to_hex(const unsigned char* bytes, std::size_t n, char* out) noexcept;
/// Parses exactly 2n lower- or upper-case hex chars; false on any other character.
[[nodiscard]] bool from_hex(std::string_view text, unsigned char* out, std::size_t n) noexcept;
}  // namespace detail

/// A 128-bit UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits with a per-thread counter, so ids made by
/// one thread sort in creation order. The all-zero value is "nil" (no id).
class command_id {
 public:
  constexpr command_id() noexcept = default;

  [[nodiscard]] static command_id generate() noexcept;
  /// The id with exactly these 16 bytes (as read from a wire format); not checked for version or variant.
  [[nodiscard]] static constexpr command_id from_bytes(const std::array<unsigned char, 16>& bytes) noexcept {
    command_id id;
    id.bytes_ = bytes;
    return id;
  }
  [[nodiscard]] static std::optional<command_id> parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr bool is_nil() const noexcept {
    for (auto b : bytes_) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  }
  /// Milliseconds since the Unix epoch encoded in the id.
  [[nodiscard]] std::uint64_t unix_ms() const noexcept;
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] constexpr const std::array<unsigned char, 16>& bytes() const noexcept { return bytes_; }

  friend constexpr bool operator==(const command_id&, const command_id&) noexcept = default;
  friend constexpr auto operator<=>(const command_id&, const command_id&) noexcept = default;

 private:
  std::array<unsigned char, 16> bytes_{};
};

/// W3C trace-context trace id (16 bytes) and span id (8 bytes). All-zero is invalid per the spec.
template <std::size_t N>
class basic_trace_bytes {
 public:
  constexpr basic_trace_bytes() noexcept = default;
  [[nodiscard]] static basic_trace_bytes generate() noexcept {
    basic_trace_bytes t;
    do {
      detail::random_bytes(t.bytes_.data(), N);
    } while (!t.valid());
    return t;
  }
  [[nodiscard]] static std::optional<basic_trace_bytes> parse(std::string_view hex) noexcept {
    basic_trace_bytes t;
    if (!detail::from_hex(hex, t.bytes_.data(), N) || !t.valid()) {
      return std::nullopt;
    }
    return t;
  }
  [[nodiscard]] constexpr bool valid() const noexcept {
    for (auto b : bytes_) {
      if (b != 0) {
        return true;
      }
    }
    return false;
  }
  [[nodiscard]] std::string to_string() const {
    std::string s(2 * N, '0');
    detail::to_hex(bytes_.data(), N, s.data());
    return s;
  }
  [[nodiscard]] constexpr const std::array<unsigned char, N>& bytes() const noexcept { return bytes_; }
  friend constexpr bool operator==(const basic_trace_bytes&, const basic_trace_bytes&) noexcept = default;

 private:
  std::array<unsigned char, N> bytes_{};
};

using trace_id = basic_trace_bytes<16>;
using span_id = basic_trace_bytes<8>;

}  // namespace cmdbus

/// Hashes a command id for unordered containers: its two 8-byte halves mixed (a UUIDv7's random bits are in both).
template <>
struct std::hash<cmdbus::command_id> {
  std::size_t operator()(const cmdbus::command_id& id) const noexcept {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, id.bytes().data(), sizeof hi);
    std::memcpy(&lo, id.bytes().data() + sizeof hi, sizeof lo);
    return static_cast<std::size_t>(hi ^ (lo * 0x9e3779b97f4a7c15ULL));
  }
};
