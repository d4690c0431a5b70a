// Compiled by CTest, once per CASE: every case but `control` must fail to compile with cmdbus's own message.
#include <cmdbus/cmdbus.hpp>
#include <string>

struct Deposit {
  static constexpr std::string_view command_name = "bank.deposit";
  using result_type = long;
  long amount = 0;
};
struct Ping {
  static constexpr std::string_view command_name = "ping";
};
struct Keyed {  // a partition key that is neither text nor an integer
  static constexpr std::string_view command_name = "keyed";
  [[nodiscard]] double partition_key() const { return 1.5; }
};
struct Other {
  long amount = 0;
};

int main() {
  cmdbus::bus_builder b;
#if defined(CASE_control)
  b.handle<Deposit>([](const Deposit& d, cmdbus::context&) { return d.amount; });
#elif defined(CASE_wrong_argument)
  b.handle<Deposit>([](const Other& o) { return o.amount; });
#elif defined(CASE_wrong_result)
  b.handle<Deposit>([](const Deposit&) { return std::string{"not a long"}; });
#elif defined(CASE_result_for_void)
  b.handle<Ping>([](const Ping&) { return 1; });
#elif defined(CASE_bad_partition_key)
  b.handle<Keyed>([](const Keyed&) {});
#elif defined(CASE_not_a_message)
  b.handle<Other>([](const Other& o) { return o.amount; });
#endif
  cmdbus::bus bus{std::move(b)};
  return 0;
}
