// The smallest program a cmdbus user writes; packaging tests check that it builds against cmdbus and prints
// "consumer ok 42". With cmdbus::sqlite installed, the answer comes from SQLite inside a unit of work; linked with
// cmdbus::cmdbus, the command runs on a worker of a `local` route chosen by configuration.
#include <cmdbus/cmdbus.hpp>

#include <iostream>
#include <string_view>
#include <utility>

#if defined(CONSUMER_WITH_SQLITE)
#include <cmdbus/sqlite/store.hpp>
#endif

struct Ping {
  static constexpr std::string_view command_name = "demo.ping";
  using result_type = int;
  int n;
};

int main() {
  cmdbus::bus_builder b;
#if defined(CONSUMER_WITH_SQLITE)
  cmdbus::sqlite::store store({});
  b.use(store.unit_of_work());
  b.handle<Ping>([](const Ping& p, cmdbus::context& ctx) {
    return static_cast<int>(*cmdbus::sqlite::connection_of(ctx).query_one<long>("SELECT ? + 1", p.n));
  });
#else
  b.handle<Ping>([](const Ping& p) { return p.n + 1; });
#endif
#if defined(CONSUMER_WITH_LOCAL)
  b.config_text("[routes.workers]\nkind = \"local\"\nworkers = 1\n[commands]\n\"demo.ping\" = \"workers\"\n",
                "consumer.toml");
#endif
  cmdbus::bus bus{std::move(b)};
#if defined(CONSUMER_WITH_LOCAL)
  if (bus.routes().empty() || bus.routes()[0].kind != "local") {
    std::cout << "consumer: demo.ping is not on a local route\n";
    return 1;
  }
#endif
  std::cout << "consumer ok " << bus.execute(Ping{41}) << "\n";
  return 0;
}
