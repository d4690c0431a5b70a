// tests/fault/fault_bank.hpp — the small bank the fault harness drives: accounts (write model), balance_view (read
// model, kept by a projection in the command's transaction) and ledger (one line per applied transfer, with the
// command's id), on a durable route. Both the harness (which posts) and its worker processes (which run) build their
// bus from here, so they agree on the command, its codec and the route.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <cmdbus/cmdbus.hpp>
#include <cmdbus/durable.hpp>
#include <cmdbus/sqlite/store.hpp>
#include <cmdbus/wire/json_codec.hpp>
#if CMDBUS_DURABLE_WITH_POSTGRES
#include <cmdbus/durable/postgres.hpp>
#include <cmdbus/postgres/store.hpp>
#endif

namespace fault {

inline constexpr std::int64_t account_count = 50;
/// Large enough that no ordinary transfer (1..100) ever finds an account short: the only overdrafts are by design.
inline constexpr std::int64_t initial_balance = 1'000'000;

/// Transfer number `n` asks for more than the whole bank holds: it must end as a dead letter, applied nowhere.
[[nodiscard]] constexpr bool overdrawn_by_design(std::int64_t n) noexcept {
  return n % 50 == 7;
}
/// Transfer number `n` fails with a transient error at its first attempt: it must succeed at a later one.
[[nodiscard]] constexpr bool flaky_by_design(std::int64_t n) noexcept {
  return n % 40 == 3;
}

struct Transfer {
  static constexpr std::string_view command_name = "fault.transfer";
  std::int64_t n = 0;  ///< its number in the harness's run
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t amount = 0;

  [[nodiscard]] std::string partition_key() const { return "ACC-" + std::to_string(from); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Transfer, n, from, to, amount)

struct MoneyMoved {
  static constexpr std::string_view event_name = "fault.money_moved";
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t amount = 0;
};

class insufficient_funds : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};
class flaky_failure : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};

/// The bank's tables with every account at initial_balance (write and read model alike), and the durable table.
void create_bank(cmdbus::sqlite::store& db);

/// The route `transfers` (durable; workers start only in run_workers) and the command on it.
[[nodiscard]] std::string route_config(std::uint32_t workers_per_process, std::uint32_t lease_ms);

/// Registers on `b`: the durable kind on `db`, retry (up to 10 attempts), the unit of work, the inbox, the Transfer
/// handler and the MoneyMoved projection.
void register_bank(cmdbus::bus_builder& b, cmdbus::sqlite::store& db);

#if CMDBUS_DURABLE_WITH_POSTGRES
void create_bank(cmdbus::postgres::store& db);
void register_bank(cmdbus::bus_builder& b, cmdbus::postgres::store& db);
#endif

}  // namespace fault

CMDBUS_JSON_CODEC(fault::Transfer, 1);
