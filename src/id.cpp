// UUIDv7 and random-byte generation: one generator per thread, seeded from the OS once, no locks.
#include "cmdbus/id.hpp"

#include <sys/random.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <ctime>

namespace cmdbus {
namespace detail {
namespace {

// xoshiro256** (Blackman & Vigna): fast, good quality, tiny state; not for secrets, which ids are not.
struct thread_generator {
  std::uint64_t s[4]{};
  std::uint64_t last_ms = 0;
  std::uint16_t counter = 0;  // the 12-bit rand_a field: monotonic within one millisecond (RFC 9562 method 1)

  thread_generator() noexcept {
    std::size_t got = 0;
    auto* p = reinterpret_cast<unsigned char*>(s);
    while (got < sizeof s) {
      const auto r = getrandom(p + got, sizeof s - got, 0);
      if (r <= 0) {
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    if (got < sizeof s) {  // no entropy source: fall back to the clock and the address of this thread's state
      const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
      s[0] = t ^ 0x9e3779b97f4a7c15ULL;
      s[1] = reinterpret_cast<std::uintptr_t>(this);
      s[2] = t * 0xbf58476d1ce4e5b9ULL;
      s[3] = 0x94d049bb133111ebULL;
    }
  }

  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

thread_generator& generator() noexcept {
  thread_local thread_generator g;
  return g;
}

std::uint64_t unix_ms_now() noexcept {
  // The coarse clock is a plain memory read (no rdtsc); its few-ms granularity is covered by the counter below.
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000U + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000U;
}

constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

void random_bytes(unsigned char* out, std::size_t n) noexcept {
  auto& g = generator();
  while (n > 0) {
    const std::uint64_t r = g.next();
    const std::size_t k = n < sizeof r ? n : sizeof r;
    std::memcpy(out, &r, k);
    out += k;
    n -= k;
  }
}

void to_hex(const unsigned char* bytes, std::size_t n, char* out) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = hex_digits[bytes[i] >> 4];
    out[2 * i + 1] = hex_digits[bytes[i] & 0xf];
  }
}

bool from_hex(std::string_view text, unsigned char* out, std::size_t n) noexcept {
  if (text.size() != 2 * n) {
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<unsigned char>((hi << 4) | lo);
  }
  return true;
}

}  // namespace detail

command_id command_id::generate() noexcept {
  auto& g = detail::generator();
  std::uint64_t ms = detail::unix_ms_now();
  if (ms > g.last_ms) {
    g.last_ms = ms;
    g.counter = static_cast<std::uint16_t>(g.next() & 0x1ff);  // random start, leaving room to count up
  } else {
    ms = g.last_ms;  // the clock went back or stood still: keep this thread's ids ordered
    if (++g.counter > 0xfff) {
      g.counter = 0;
      ms = ++g.last_ms;  // counter exhausted: borrow the next millisecond (RFC 9562 6.2)
    }
  }
  // Bytes 0-5: the milliseconds, big-endian; 6-7: version 7 and the counter; 8-15: random, the first byte carrying the
  // RFC 9562 variant in its top two bits. Built as two 64-bit words rather than byte by byte.
  std::uint64_t hi = (ms << 16) | 0x7000U | (g.counter & 0x0fffU);
  if constexpr (std::endian::native == std::endian::little) {
    hi = __builtin_bswap64(hi);
  }
  const std::uint64_t lo = g.next();
  command_id id;
  std::memcpy(id.bytes_.data(), &hi, sizeof hi);
  std::memcpy(id.bytes_.data() + 8, &lo, sizeof lo);
  id.bytes_[8] = static_cast<unsigned char>(0x80U | (id.bytes_[8] & 0x3fU));
  return id;
}

std::optional<command_id> command_id::parse(std::string_view text) noexcept {
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') {
    return std::nullopt;
  }
  command_id id;
  std::size_t at = 0;
  for (const std::size_t len : {8U, 4U, 4U, 4U, 12U}) {
    const std::size_t pos = at == 0 ? 0 : (at == 4 ? 9 : at == 6 ? 14 : at == 8 ? 19 : 24);
    if (!detail::from_hex(text.substr(pos, len), id.bytes_.data() + at, len / 2)) {
      return std::nullopt;
    }
    at += len / 2;
  }
  return id;
}

std::uint64_t command_id::unix_ms() const noexcept {
  std::uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) {
    ms = (ms << 8) | bytes_[static_cast<std::size_t>(i)];
  }
  return ms;
}

std::string command_id::to_string() const {
  std::string s(36, '-');
  detail::to_hex(bytes_.data(), 4, s.data());
  detail::to_hex(bytes_.data() + 4, 2, s.data() + 9);
  detail::to_hex(bytes_.data() + 6, 2, s.data() + 14);
  detail::to_hex(bytes_.data() + 8, 2, s.data() + 19);
  detail::to_hex(bytes_.data() + 10, 6, s.data() + 24);
  return s;
}

}  // namespace cmdbus
