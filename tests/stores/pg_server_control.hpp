// Stops and starts the PostgreSQL server `./run test` started, for the tests that take it away under load. It reads
// CMDBUS_TEST_PG_CTL, CMDBUS_TEST_PG_DATA, CMDBUS_TEST_PG_PORT, CMDBUS_TEST_PG_SOCKDIR (and CMDBUS_TEST_PG_LOG), and
// runs pg_ctl as the user that owns the cluster. A test using it must run alone (ctest RUN_SERIAL): every other
// PostgreSQL test shares that server.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace pg_test {

class server_control {
 public:
  server_control() {
    for (const auto* name :
         {"CMDBUS_TEST_PG_CTL", "CMDBUS_TEST_PG_DATA", "CMDBUS_TEST_PG_PORT", "CMDBUS_TEST_PG_SOCKDIR"}) {
      const char* v = std::getenv(name);
      if (v == nullptr || *v == '\0') {
        missing_ = name;
        return;
      }
    }
    const char* log = std::getenv("CMDBUS_TEST_PG_LOG");
    const std::string as_owner = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    const std::string base = fmt::format("{}'{}' -D '{}' -w", as_owner, std::getenv("CMDBUS_TEST_PG_CTL"),
                                         std::getenv("CMDBUS_TEST_PG_DATA"));
    stop_ = base + " -m fast stop >/dev/null";
    start_ = fmt::format("{} -l '{}' -o \"-p {} -k '{}' -c listen_addresses=127.0.0.1\" start >/dev/null", base,
                         log != nullptr && *log != '\0' ? log : "/dev/null", std::getenv("CMDBUS_TEST_PG_PORT"),
                         std::getenv("CMDBUS_TEST_PG_SOCKDIR"));
  }
  server_control(const server_control&) = delete;
  server_control& operator=(const server_control&) = delete;
  /// Starts the server again if it was left stopped.
  ~server_control() {
    if (stopped_) {
      (void)std::system(start_.c_str());
    }
  }

  /// Empty, or the environment variable that is missing (then stop() and start() must not be called).
  [[nodiscard]] const std::string& missing() const noexcept { return missing_; }
  /// `pg_ctl stop -m fast`: open connections are cut, running transactions abort. Throws if pg_ctl fails.
  void stop() {
    run(stop_);
    stopped_ = true;
  }
  /// `pg_ctl start -w`: returns once the server accepts connections. Throws if pg_ctl fails.
  void start() {
    run(start_);
    stopped_ = false;
  }

 private:
  static void run(const std::string& command) {
    if (const int rc = std::system(command.c_str()); rc != 0) {
      throw std::runtime_error(fmt::format("'{}' failed (status {})", command, rc));
    }
  }

  std::string missing_;
  std::string stop_;
  std::string start_;
  bool stopped_ = false;
};

}  // namespace pg_test
