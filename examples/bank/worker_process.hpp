// bank/worker_process.hpp — the bank demo's worker process for its durable route (section i): this same binary,
// started as `bank_demo --transfer-worker CONFIG`, runs the workers of route `transfers` on the configured store until
// SIGTERM; the demo SIGKILLs it mid-stream and starts another.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace bank {

/// The routing text of the demo's durable route: bank.transfer on it, workers only in processes that call
/// run_workers, and a short lease so that the rows of a killed worker come back within a second.
inline constexpr std::string_view durable_routing = R"([routes.transfers]
kind = "durable"
workers = 2
start_workers = false
lease_ms = 1000
poll_ms = 20

[commands]
"bank.transfer" = "transfers"
)";

/// The --transfer-worker mode: opens the store `config` names (as it is: not afresh), builds the bank's bus with
/// durable_routing and runs the route's workers until SIGTERM or SIGINT. Writes a byte to `ready_fd` (unless -1) once
/// SIGTERM stops it cleanly. The process's exit code.
int run_transfer_worker(const std::filesystem::path& config, int ready_fd);

/// A running worker process (this binary with --transfer-worker), stopped with SIGTERM when destroyed.
class worker_process {
 public:
  explicit worker_process(const std::filesystem::path& config);
  worker_process(const worker_process&) = delete;
  worker_process& operator=(const worker_process&) = delete;
  ~worker_process();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// SIGKILL, and wait until it is gone: whatever it was running is left in the table, its lease running out.
  void kill_hard();
  /// SIGTERM once it is ready for it, and wait: its workers finish what they run and leave. Its exit status (0: a
  /// clean stop).
  int stop();

 private:
  pid_t pid_ = -1;
  int ready_ = -1;  // the read end of the pipe it writes a byte to when SIGTERM would stop it cleanly
};

}  // namespace bank
