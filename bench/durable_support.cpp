#include "durable_support.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace bench_durable {

temp_dir::temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "cmdbus-bench-durable-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

pg_schema::pg_schema(benchmark::State& state) {
#if CMDBUS_DURABLE_WITH_POSTGRES
  const char* server = std::getenv("CMDBUS_TEST_PG");
  if (server == nullptr || *server == '\0') {
    state.SkipWithError("no PostgreSQL: set CMDBUS_TEST_PG (./run bench durable starts one)");
    return;
  }
  static int made = 0;
  server_ = server;
  name_ = fmt::format("cmdbus_bench_{}_{}", ::getpid(), ++made);
  cmdbus::postgres::connection admin(server_);
  admin.exec_script(fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", name_));
  conninfo_ = fmt::format("{} options='-c search_path={}'", server_, name_);
#else
  state.SkipWithError("this build has no cmdbus::postgres");
#endif
}

pg_schema::~pg_schema() {
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (!name_.empty()) {
    try {
      cmdbus::postgres::connection admin(server_);
      admin.exec_script("DROP SCHEMA " + name_ + " CASCADE");
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_durable: could not drop schema {}: {}\n", name_, e.what());
    }
  }
#endif
}

#if CMDBUS_DURABLE_WITH_POSTGRES
std::unique_ptr<cmdbus::postgres::store> pg_store(const pg_schema& schema, bool with_accounts) {
  if (schema.conninfo().empty()) {
    return nullptr;
  }
  auto s = std::make_unique<cmdbus::postgres::store>(cmdbus::postgres::options{.conninfo = schema.conninfo()});
  cmdbus::durable::migrate(*s);
  if (with_accounts) {
    s->exec_script(accounts_sql);
  }
  return s;
}
#endif

std::string durable_config(int workers) {
  return fmt::format(
      "[routes.transfers]\nkind = \"durable\"\nworkers = {}\npoll_ms = 10\nbatch = 32\n[commands]\n"
      "\"bench.transfer\" = \"transfers\"\n",
      workers);
}

}  // namespace bench_durable
