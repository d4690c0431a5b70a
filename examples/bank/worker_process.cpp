#include "bank/worker_process.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <vector>

#include <cmdbus/stop_signals.hpp>

#include "bank/bank_core.hpp"
#include "common/database.hpp"
#include "common/store_config.hpp"

extern char** environ;

namespace bank {

int run_transfer_worker(const std::filesystem::path& config) {
  const cmdbus::stop_signals signals;  // before the bus starts any thread
  try {
    const auto store = examples::read_store_config(config, {"bank.db", examples::program_dir()});
    auto db = examples::database::open(store, examples::database::mode::keep);
    cmdbus::bus_builder b;
    register_bank(b, db, {}, durability::durable_routes);
    b.config_text(std::string{durable_routing}, "bank durable routing");
    cmdbus::bus bus{std::move(b)};
    (void)bus.run_workers({"transfers"}, signals.token());
  } catch (const std::exception& e) {
    fmt::print(stderr, "bank_demo --transfer-worker: {}\n", e.what());
    return 1;
  }
  return 0;
}

worker_process::worker_process(const std::filesystem::path& config) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string config_arg = config.string();
  std::vector<const char*> argv{self.c_str(), "--transfer-worker", config_arg.c_str(), nullptr};
  const int rc = ::posix_spawn(&pid_, self.c_str(), nullptr, nullptr, const_cast<char* const*>(argv.data()), environ);
  if (rc != 0) {
    throw std::runtime_error(fmt::format("cannot start {} --transfer-worker: {}", self, std::strerror(rc)));
  }
}

worker_process::~worker_process() {
  if (pid_ > 0) {
    (void)stop();
  }
}

void worker_process::kill_hard() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int worker_process::stop() {
  int status = 0;
  ::kill(pid_, SIGTERM);
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace bank
