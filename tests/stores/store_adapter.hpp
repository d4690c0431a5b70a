// The store suite runs the same tests against every store; an adapter hides the SQL API differences (placeholders,
// connection types). SQL in the suite uses `?` placeholders and portable types.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "cmdbus/cmdbus.hpp"

namespace store_suite {

using param = std::variant<std::int64_t, std::string>;

class store_adapter {
 public:
  virtual ~store_adapter() = default;
  /// A fresh, empty store for one test.
  [[nodiscard]] virtual std::shared_ptr<cmdbus::middleware> unit_of_work() = 0;
  /// Runs a script outside any command.
  virtual void exec_script(const std::string& sql) = 0;
  /// Inside a command: the command's transaction.
  virtual void execute(const cmdbus::context& ctx, const std::string& sql, const std::vector<param>& args) = 0;
  [[nodiscard]] virtual std::optional<std::int64_t> query_int(const cmdbus::context& ctx, const std::string& sql,
                                                              const std::vector<param>& args) = 0;
  /// Outside any command (what the test sees afterwards).
  [[nodiscard]] virtual std::optional<std::int64_t> read_int(const std::string& sql,
                                                             const std::vector<param>& args) = 0;
  [[nodiscard]] virtual std::uint64_t committed() const = 0;
  /// Does the store run truly concurrent writers (false for an in-memory SQLite with one connection)?
  [[nodiscard]] virtual bool concurrent() const = 0;
};

/// Each store's test file instantiates the suite with one of these:
///   INSTANTIATE_TEST_SUITE_P(sqlite, StoreSuite, ::testing::Values(store_factory{"sqlite_memory", make_fn}), name);
/// `make` may return nullptr with a reason (a server not configured): the test is then skipped, saying why.
struct store_factory {
  std::string name;
  std::function<std::unique_ptr<store_adapter>(std::string& skip_reason)> make;
};
inline void PrintTo(const store_factory& f, std::ostream* os) {
  *os << f.name;
}
inline std::string factory_name(const ::testing::TestParamInfo<store_factory>& info) {
  return info.param.name;
}

}  // namespace store_suite
