// The smallest program a cmdbus user writes; packaging tests check that it builds against cmdbus and prints
// "consumer ok 42".
#include <cmdbus/cmdbus.hpp>

#include <iostream>
#include <string_view>
#include <utility>

struct Ping {
  static constexpr std::string_view command_name = "demo.ping";
  using result_type = int;
  int n;
};

int main() {
  cmdbus::bus_builder b;
  b.handle<Ping>([](const Ping& p) { return p.n + 1; });
  cmdbus::bus bus{std::move(b)};
  std::cout << "consumer ok " << bus.execute(Ping{41}) << "\n";
  return 0;
}
