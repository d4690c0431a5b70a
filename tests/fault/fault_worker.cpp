// cmdbus_fault_worker — one worker process of the fault harness: runs the workers of route `transfers` on the
// harness's database (SQLite file or PostgreSQL) until SIGTERM (or SIGINT), then stops them and exits 0. The harness
// SIGKILLs it at random.
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "cmdbus/stop_signals.hpp"
#include "fault_bank.hpp"

namespace {

/// Runs the route's workers on `db` until SIGTERM or SIGINT.
template <class Store>
void work(Store& db, std::uint32_t workers, std::uint32_t lease_ms, const cmdbus::stop_signals& signals) {
  cmdbus::bus_builder b;
  fault::register_bank(b, db);
  b.config_text(fault::route_config(workers, lease_ms), "fault.toml");
  cmdbus::bus bus{std::move(b)};
  (void)bus.run_workers({"transfers"}, signals.token());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cmdbus fault harness: one worker process"};
  std::string store = "sqlite";
  std::string path;
  std::string conninfo;
  std::uint32_t workers = 2;
  std::uint32_t lease_ms = 1000;
  app.add_option("--store", store, "sqlite or postgres")->check(CLI::IsMember({"sqlite", "postgres"}));
  app.add_option("--db", path, "the SQLite database file");
  app.add_option("--conninfo", conninfo, "the PostgreSQL conninfo");
  app.add_option("--workers", workers, "worker threads")->check(CLI::Range(1, 64));
  app.add_option("--lease-ms", lease_ms, "lease of a claimed command")->check(CLI::Range(100, 600000));
  int tag = 0;
  app.add_option("--tag", tag,
                 "a number for this process: on PostgreSQL its connections' application_name is "
                 "cmdbus_fault_worker_<tag>");
  int ready_fd = -1;
  app.add_option("--ready-fd", ready_fd, "a pipe to write one byte to once SIGTERM stops this process cleanly");
  CLI11_PARSE(app, argc, argv);

  const cmdbus::stop_signals signals;  // before the bus starts any thread
  if (ready_fd >= 0) {
    (void)::write(ready_fd, "r", 1);
    ::close(ready_fd);
  }
  try {
    if (store == "postgres") {
#if CMDBUS_DURABLE_WITH_POSTGRES
      cmdbus::postgres::store db({.conninfo = fmt::format("{} application_name=cmdbus_fault_worker_{}", conninfo, tag),
                                  .pool_size = workers + 2});
      work(db, workers, lease_ms, signals);
#else
      throw std::runtime_error("this build has no cmdbus::postgres");
#endif
    } else {
      cmdbus::sqlite::store db({.path = path});
      work(db, workers, lease_ms, signals);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmdbus_fault_worker: %s\n", e.what());
    return 1;
  }
  return 0;
}
