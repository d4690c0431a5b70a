#include "bank/worker_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
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

int run_transfer_worker(const std::filesystem::path& config, int ready_fd) {
  const cmdbus::stop_signals signals;  // before the bus starts any thread
  if (ready_fd >= 0) {
    (void)::write(ready_fd, "r", 1);
    ::close(ready_fd);
  }
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
  int ready[2] = {-1, -1};
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    throw std::runtime_error(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t files;
  ::posix_spawn_file_actions_init(&files);
  ::posix_spawn_file_actions_adddup2(&files, ready[1], 3);  // the child's fd 3
  std::vector<const char*> argv{self.c_str(), "--transfer-worker", config_arg.c_str(), "3", nullptr};
  const int rc = ::posix_spawn(&pid_, self.c_str(), &files, nullptr, const_cast<char* const*>(argv.data()), environ);
  ::posix_spawn_file_actions_destroy(&files);
  ::close(ready[1]);
  if (rc != 0) {
    ::close(ready[0]);
    throw std::runtime_error(fmt::format("cannot start {} --transfer-worker: {}", self, std::strerror(rc)));
  }
  ready_ = ready[0];
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
  ::close(ready_);
  ready_ = -1;
}

int worker_process::stop() {
  int status = 0;
  pollfd ready{ready_, POLLIN, 0};
  (void)::poll(&ready, 1, 60'000);  // a process just started takes SIGTERM's default action until it is ready
  ::close(ready_);
  ready_ = -1;
  ::kill(pid_, SIGTERM);
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace bank
