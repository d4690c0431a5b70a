#include "common/database.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>
#include <utility>

namespace examples {
namespace {

std::unique_ptr<cmdbus::sqlite::store> open_sqlite(const store_config& config, database::mode m) {
  if (config.path != ":memory:") {
    const std::filesystem::path file{config.path};
    std::error_code ec;
    if (file.has_parent_path()) {
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec) {
        throw store_config_error(fmt::format("{}: cannot create the directory {} for the database {}: {}",
                                             config.origin, file.parent_path().string(), config.path, ec.message()));
      }
    }
    if (m == database::mode::fresh) {
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        std::filesystem::remove(config.path + suffix, ec);
        if (ec) {
          throw store_config_error(fmt::format("{}: cannot delete {}{} to start afresh: {}", config.origin, config.path,
                                               suffix, ec.message()));
        }
      }
    }
  }
  cmdbus::sqlite::options o;
  o.path = config.path;
  o.full_sync = config.full_sync;
  o.busy_timeout = config.busy_timeout;
  o.pool_size = config.pool_size;
  return std::make_unique<cmdbus::sqlite::store>(std::move(o));
}

std::string describe(const cmdbus::sqlite::store& s) {
  const auto& o = s.settings();
  if (o.path == ":memory:") {
    return "sqlite :memory:";
  }
  return fmt::format("sqlite {} (WAL, synchronous={})", o.path, o.full_sync ? "FULL" : "NORMAL");
}

#if defined(EXAMPLES_WITH_POSTGRES)
cmdbus::postgres::isolation_level isolation_of(const store_config& config) {
  if (config.isolation == "serializable") {
    return cmdbus::postgres::isolation_level::serializable;
  }
  if (config.isolation == "repeatable read") {
    return cmdbus::postgres::isolation_level::repeatable_read;
  }
  return cmdbus::postgres::isolation_level::read_committed;
}
#endif

}  // namespace

#if defined(EXAMPLES_WITH_POSTGRES)
database database::open_postgres(const store_config& config) {
  cmdbus::postgres::options o;
  o.conninfo = config.conninfo;
  o.isolation = isolation_of(config);
  if (config.pool_size != 0) {
    o.pool_size = config.pool_size;
  }
  auto store = std::make_unique<cmdbus::postgres::store>(std::move(o));
  return database{std::move(store), fmt::format("postgres ({}, isolation {})", config.origin, config.isolation)};
}

database::database(std::unique_ptr<cmdbus::postgres::store> store, std::string description)
    : store_(std::move(store)), description_(std::move(description)) {}
#endif

database database::open(const store_config& config, mode m) {
  switch (config.kind) {
    case store_kind::sqlite:
      return database{open_sqlite(config, m)};
    case store_kind::postgres:
#if defined(EXAMPLES_WITH_POSTGRES)
      return open_postgres(config);
#else
      break;
#endif
  }
  throw store_config_error(fmt::format(
      "{}: [store] kind = \"{}\": this build has no {} store (cmdbus::postgres was not built: configure with "
      "-DCMDBUS_WITH_POSTGRES=ON, with libpq-dev installed); use kind = \"sqlite\"",
      config.origin, to_string(config.kind), to_string(config.kind)));
}

database::database(std::unique_ptr<cmdbus::sqlite::store> store)
    : store_(std::move(store)), description_(describe(*std::get<0>(store_))) {}

dialect database::dialect() const noexcept {
  return std::visit(
      [](const auto& s) {
        using store_type = std::remove_cvref_t<decltype(*s)>;
        return detail::backend_for<store_type>::type::dialect;
      },
      store_);
}

std::shared_ptr<cmdbus::middleware> database::unit_of_work() {
  return visit([](auto, auto& s) { return s.unit_of_work(); });
}

void database::exec_script(std::string_view sql) {
  visit([&](auto, auto& s) { s.exec_script(sql); });
}

std::optional<std::int64_t> database::scalar(std::string_view sql) {
  return visit([&]<class Backend>(Backend, typename Backend::store& s) {
    std::optional<std::int64_t> out;
    const auto text = sql_for(Backend::dialect, sql);
    s.with_connection([&](typename Backend::connection& c) { out = c.template query_one<std::int64_t>(text); });
    return out;
  });
}

std::uint64_t database::committed() const noexcept {
  return std::visit([](const auto& s) { return s->committed(); }, store_);
}

cmdbus::sqlite::store* database::sqlite() noexcept {
  auto* s = std::get_if<std::unique_ptr<cmdbus::sqlite::store>>(&store_);
  return s != nullptr ? s->get() : nullptr;
}

}  // namespace examples
