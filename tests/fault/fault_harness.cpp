// cmdbus_fault_harness — kill -9 against a durable route (issue 9, point 8). It creates a bank database, starts
// worker processes (cmdbus_fault_worker) on it, posts transfers (some overdrawn, some failing once transiently) while
// SIGKILLing a random worker at random moments and starting a new one, waits until every command has ended, and then
// checks the books: nothing lost, nothing applied twice, balances conserved, read model == write model, every dead
// letter an overdraft with its error. It prints one line per run, for example
//   fault harness (sqlite): 50 kills, 20000 commands, lost 0, doubled 0, balances conserved
// and exits 1 (saying what is wrong) when a count is wrong.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <cmdbus/durable.hpp>

#include "fault_bank.hpp"
#include "pg_server_control.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

struct settings {
  std::string worker;  // the cmdbus_fault_worker binary
  std::string store = "sqlite";
  std::int64_t commands = 20000;
  int kills = 50;
  int processes = 2;
  std::uint32_t threads = 2;  // worker threads per process
  std::uint32_t lease_ms = 1000;
  std::uint64_t seed = 0;
  int settle_s = 300;
  int outages = 2;  // times the database is taken away under load (PostgreSQL: stopped and started)
  int outage_ms = 800;
};

/// The worker processes, each replaceable by a new one after a SIGKILL.
class workers {
 public:
  /// `store_args`: where the workers find the database (`--store sqlite --db PATH`, ...).
  workers(const settings& s, std::vector<std::string> store_args)
      : s_(s),
        store_args_(std::move(store_args)),
        log_(std::filesystem::temp_directory_path() / fmt::format("cmdbus-fault-{}-workers.log", ::getpid())) {}
  workers(const workers&) = delete;
  workers& operator=(const workers&) = delete;
  ~workers() {
    for (const pid_t p : pids_) {
      if (p > 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    }
    for (const int fd : ready_) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    std::error_code ignored;
    std::filesystem::remove(log_, ignored);
  }

  /// The last `n` lines the workers wrote (their output and log go to a file, not to the test's output).
  [[nodiscard]] std::vector<std::string> log_tail(std::size_t n) const {
    std::ifstream in(log_);
    std::deque<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      lines.push_back(std::move(line));
      if (lines.size() > n) {
        lines.pop_front();
      }
    }
    return {lines.begin(), lines.end()};
  }

  void start_all() {
    pids_.assign(static_cast<std::size_t>(s_.processes), -1);
    ready_.assign(static_cast<std::size_t>(s_.processes), -1);
    tags_.assign(static_cast<std::size_t>(s_.processes), 0);
    for (std::size_t i = 0; i < pids_.size(); ++i) {
      spawn(i);
    }
  }
  /// SIGKILLs worker `i` and starts another in its place.
  void kill_and_restart(std::size_t i) {
    ::kill(pids_[i], SIGKILL);
    ::waitpid(pids_[i], nullptr, 0);
    spawn(i);
  }
  /// Empty while every worker lives; else what became of the first that ended on its own.
  [[nodiscard]] std::string ended_on_their_own() {
    for (pid_t& p : pids_) {
      int status = 0;
      if (::waitpid(p, &status, WNOHANG) == p) {
        p = -1;
        return fmt::format("a worker process ended on its own ({})", describe(status));
      }
    }
    return {};
  }
  /// SIGTERMs every worker once it is ready for it (a process just started may not yet have set its signal
  /// handling up, and SIGTERM's default action would end it at once); the problems of those that did not exit 0.
  [[nodiscard]] std::vector<std::string> stop_all() {
    std::vector<std::string> problems;
    for (std::size_t i = 0; i < pids_.size(); ++i) {
      if (pids_[i] <= 0) {
        continue;
      }
      pollfd ready{ready_[i], POLLIN, 0};
      if (::poll(&ready, 1, 60'000) != 1) {
        problems.push_back(fmt::format("worker process {} was not ready within 60 s", pids_[i]));
      }
      ::kill(pids_[i], SIGTERM);
    }
    for (pid_t& p : pids_) {
      int status = 0;
      if (p > 0 && ::waitpid(p, &status, 0) == p && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        problems.push_back(fmt::format("worker process {} did not stop cleanly on SIGTERM ({})", p, describe(status)));
      }
      p = -1;
    }
    return problems;
  }
  [[nodiscard]] std::size_t size() const noexcept { return pids_.size(); }
  /// The live workers' process ids (-1 for one that ended).
  [[nodiscard]] const std::vector<pid_t>& pids() const noexcept { return pids_; }
  /// Per live worker, the tag it was started with (`--tag`; on PostgreSQL its connections' application_name is
  /// cmdbus_fault_worker_<tag>).
  [[nodiscard]] const std::vector<int>& tags() const noexcept { return tags_; }

 private:
  static std::string describe(int status) {
    if (WIFEXITED(status)) {
      return fmt::format("exit status {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
      return fmt::format("signal {}", WTERMSIG(status));
    }
    return "unknown status";
  }
  /// Starts worker `slot`: its output goes to the log, and it writes a byte to fd 3 (a pipe read through ready_[slot])
  /// once SIGTERM stops it cleanly.
  void spawn(std::size_t slot) {
    const std::string threads = std::to_string(s_.threads);
    const std::string lease = std::to_string(s_.lease_ms);
    const std::string tag = std::to_string(++spawned_);
    std::vector<const char*> argv{s_.worker.c_str(), "--workers", threads.c_str(), "--lease-ms", lease.c_str(),
                                  "--ready-fd",      "3",         "--tag",         tag.c_str()};
    for (const auto& a : store_args_) {
      argv.push_back(a.c_str());
    }
    argv.push_back(nullptr);
    int ready[2] = {-1, -1};
    if (::pipe2(ready, O_CLOEXEC) != 0) {
      throw std::runtime_error(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
    }
    posix_spawn_file_actions_t files;
    ::posix_spawn_file_actions_init(&files);
    ::posix_spawn_file_actions_adddup2(&files, ready[1], 3);
    ::posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = 0;
    const int rc =
        ::posix_spawn(&pid, s_.worker.c_str(), &files, nullptr, const_cast<char* const*>(argv.data()), environ);
    ::posix_spawn_file_actions_destroy(&files);
    ::close(ready[1]);
    if (rc != 0) {
      ::close(ready[0]);
      throw std::runtime_error(fmt::format("cannot start worker process {}: {}", s_.worker, std::strerror(rc)));
    }
    if (ready_[slot] >= 0) {
      ::close(ready_[slot]);
    }
    pids_[slot] = pid;
    ready_[slot] = ready[0];
    tags_[slot] = spawned_;
  }

  const settings& s_;
  std::vector<std::string> store_args_;
  std::filesystem::path log_;
  std::vector<pid_t> pids_;
  std::vector<int> ready_;  // per worker: the read end of its readiness pipe
  std::vector<int> tags_;   // per worker: its --tag
  int spawned_ = 0;
};

struct row_end {
  std::string state;
  std::int64_t attempts = 0;
  std::int64_t n = 0;
  bool has_error = false;
  std::int64_t lost_claims = 0;  // claims of workers killed while they ran it
};

/// What the books say once every command has ended; `problems` lists each broken promise.
struct verdict {
  std::int64_t lost = 0;     // posted, and not ended (or not in the table, or succeeded with no effect)
  std::int64_t doubled = 0;  // effects beyond one per succeeded command
  std::int64_t succeeded = 0, dead = 0, taken_over = 0, retried = 0;
  bool conserved = false;
  std::vector<std::string> problems;
};

/// The SQL that differs between the stores.
struct dialect {
  std::string_view name;       // "sqlite", "postgres"
  std::string_view payload_n;  // the transfer's number, from the row's envelope
};
constexpr dialect sqlite_dialect{"sqlite", "json_extract(envelope, '$.payload.n')"};
constexpr dialect postgres_dialect{"postgres", "CAST(envelope::jsonb -> 'payload' ->> 'n' AS BIGINT)"};

/// The dead letters `letters` (as bus.dead_letters() of this process lists them: the workers, other processes, buried
/// them) against the table's dead rows: the same ids, each with the overdraft's error and the worker that failed it.
std::vector<std::string> check_dead_letters(const std::vector<cmdbus::dead_letter>& letters,
                                            const std::map<std::string, row_end>& rows) {
  std::vector<std::string> problems;
  std::set<std::string> listed;
  std::int64_t wrong_error = 0, no_worker = 0;
  const std::string here = fmt::format("pid {} ", ::getpid());
  for (const auto& d : letters) {
    listed.insert(d.id.to_string());
    if (d.code != cmdbus::error_code::rejected || d.error_type.find("insufficient_funds") == std::string::npos ||
        d.error.find("holds less than") == std::string::npos || d.attempts < 1) {
      ++wrong_error;
    }
    if (d.failed_by.rfind("pid ", 0) != 0 || d.failed_by.rfind(here, 0) == 0) {
      ++no_worker;  // not failed by a worker process
    }
  }
  std::int64_t dead_rows = 0, unlisted = 0;
  for (const auto& [id, r] : rows) {
    if (r.state == "dead") {
      ++dead_rows;
      unlisted += listed.count(id) == 0 ? 1 : 0;
    }
  }
  if (unlisted != 0 || static_cast<std::int64_t>(listed.size()) != dead_rows) {
    problems.push_back(
        fmt::format("bus.dead_letters() lists {} dead letters, the table holds {} dead rows ({} unlisted)",
                    listed.size(), dead_rows, unlisted));
  }
  if (wrong_error != 0) {
    problems.push_back(
        fmt::format("{} dead letters without the overdraft's error code, type and message", wrong_error));
  }
  if (no_worker != 0) {
    problems.push_back(fmt::format("{} dead letters that do not name the worker process that failed them", no_worker));
  }
  return problems;
}

template <class Store>
verdict check_books(Store& db, const dialect& d, const std::map<std::string, std::int64_t>& posted,
                    const std::vector<cmdbus::dead_letter>& letters) {
  verdict v;
  std::map<std::string, row_end> rows;
  std::map<std::string, std::int64_t> applied;
  std::int64_t total = 0, view_mismatch = 0, ledger_mismatch = 0;
  db.with_connection([&](auto& c) {
    c.query(
        fmt::format("SELECT id, state, attempts, {}, CASE WHEN coalesce(error_message, '') <> '' THEN 1 ELSE 0 END, "
                    "lost_claims FROM cmdbus_queue WHERE route = 'transfers'",
                    d.payload_n),
        [&](const auto& r) {
          rows[r.template get<std::string>(0)] =
              row_end{r.template get<std::string>(1), r.template get<std::int64_t>(2), r.template get<std::int64_t>(3),
                      r.template get<std::int64_t>(4) != 0, r.template get<std::int64_t>(5)};
        });
    c.query("SELECT command_id, count(*) FROM ledger GROUP BY command_id",
            [&](const auto& r) { applied[r.template get<std::string>(0)] = r.template get<std::int64_t>(1); });
    total = c.template query_one<std::int64_t>("SELECT CAST(sum(balance) AS BIGINT) FROM accounts").value_or(-1);
    view_mismatch = c.template query_one<std::int64_t>(
                         "SELECT count(*) FROM accounts a LEFT JOIN balance_view v ON v.account = a.id "
                         "WHERE v.balance IS NULL OR v.balance <> a.balance")
                        .value_or(-1);
    ledger_mismatch = c.template query_one<std::int64_t>(
                           "SELECT count(*) FROM accounts a WHERE a.balance <> $1 "
                           "+ coalesce((SELECT sum(amount) FROM ledger WHERE to_account = a.id), 0) "
                           "- coalesce((SELECT sum(amount) FROM ledger WHERE from_account = a.id), 0)",
                           fault::initial_balance)
                          .value_or(-1);
  });
  std::int64_t dead_not_by_design = 0, dead_without_error = 0, overdraft_not_dead = 0, flaky_not_retried = 0;
  for (const auto& [id, n] : posted) {
    const auto it = rows.find(id);
    if (it == rows.end()) {
      ++v.lost;
      continue;
    }
    const row_end& r = it->second;
    const auto a = applied.find(id);
    const std::int64_t times = a == applied.end() ? 0 : a->second;
    if (r.state == "succeeded") {
      ++v.succeeded;
      if (times == 0) {
        ++v.lost;  // marked done without its effect
      }
      v.doubled += times > 1 ? times - 1 : 0;
      if (fault::flaky_by_design(n) && r.attempts < 2) {
        ++flaky_not_retried;
      }
      if (fault::flaky_by_design(n)) {
        ++v.retried;
      }
      if (r.lost_claims > 0) {
        ++v.taken_over;
      }
    } else if (r.state == "dead" || r.state == "failed") {
      ++v.dead;
      v.doubled += times;  // an effect of a command that did not succeed
      dead_not_by_design += fault::overdrawn_by_design(n) ? 0 : 1;
      dead_without_error += r.has_error ? 0 : 1;
    } else {
      ++v.lost;  // still pending or running: never ended
    }
    if (fault::overdrawn_by_design(n) && r.state != "dead" && r.state != "failed") {
      ++overdraft_not_dead;
    }
  }
  if (rows.size() != posted.size()) {
    v.problems.push_back(fmt::format("the table holds {} rows for {} posted commands", rows.size(), posted.size()));
  }
  v.conserved = total == fault::account_count * fault::initial_balance;
  if (!v.conserved) {
    v.problems.push_back(
        fmt::format("the balances sum to {}, not {}", total, fault::account_count * fault::initial_balance));
  }
  const auto expect_zero = [&](std::int64_t count, std::string_view what) {
    if (count != 0) {
      v.problems.push_back(fmt::format("{} {}", count, what));
    }
  };
  expect_zero(v.lost, "commands lost (not ended, or succeeded without their effect)");
  expect_zero(v.doubled, "effects applied twice (or applied for a command that did not succeed)");
  expect_zero(view_mismatch, "accounts whose read model (balance_view) differs from the write model");
  expect_zero(ledger_mismatch, "accounts whose balance is not their opening balance plus their ledger lines");
  expect_zero(dead_not_by_design, "dead letters that were not overdrafts by design");
  expect_zero(dead_without_error, "dead letters without their error");
  expect_zero(overdraft_not_dead, "overdrafts by design that did not end as dead letters");
  expect_zero(flaky_not_retried, "transfers failing transiently by design that succeeded without a retry");
  const auto letter_problems = check_dead_letters(letters, rows);
  v.problems.insert(v.problems.end(), letter_problems.begin(), letter_problems.end());
  return v;
}

/// Waits until no command of the route is pending or running (or the time is up); false with a reason if a worker
/// died on its own meanwhile.
template <class Store>
std::string wait_until_settled(Store& db, workers& w, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::int64_t open = 0;
    db.with_connection([&](auto& c) {
      open = c.template query_one<std::int64_t>(
                  "SELECT count(*) FROM cmdbus_queue WHERE route = 'transfers' AND state IN ('pending', 'running')")
                 .value_or(-1);
    });
    if (open == 0) {
      return {};
    }
    if (auto died = w.ended_on_their_own(); !died.empty()) {
      return died;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return fmt::format("{} commands still pending or running after {} s", open, limit.count());
    }
    std::this_thread::sleep_for(50ms);
  }
}

/// A way to take the database away under load and give it back (PostgreSQL: the server stopped and started).
struct outage {
  std::string what;                            // for the report
  std::string must_say;                        // what a post's error says while it lasts
  std::function<std::string(workers&)> begin;  // the problem that kept it from beginning, or empty
  std::function<void()> end;
  // Where the posting process can still write after begin(), the outage reaches it only with cut_off_poster(): first
  // a backlog is posted that the workers cannot settle meanwhile. Empty where begin() takes the database from all.
  std::function<void()> cut_off_poster;
  std::function<std::int64_t()> settled;  // how many rows have ended, read while it lasts; empty where it cannot be
};

/// What the outages showed: how many there were, the error a post got during the first, and broken promises.
struct outage_report {
  int count = 0;
  std::string refusal;
  std::vector<std::string> problems;
};

/// One outage: while the database is away a post must fail, saying why and where (and leave no row: the books
/// count the rows); then it comes back, and the workers must carry on by themselves.
void take_database_away(const outage& o, workers& w, cmdbus::bus& bus, int pause_ms,
                        const std::function<void()>& post_backlog, outage_report& r) {
  if (auto problem = o.begin(w); !problem.empty()) {
    r.problems.push_back(problem);
    return;
  }
  const std::int64_t settled_before = o.settled ? o.settled() : 0;
  if (o.cut_off_poster) {
    post_backlog();  // work the workers meet while they cannot write
    o.cut_off_poster();
  }
  ++r.count;
  const auto refused = bus.try_post(fault::Transfer{0, 1, 2, 1});  // n = 0: not a transfer the books expect
  std::this_thread::sleep_for(std::chrono::milliseconds{pause_ms});
  if (o.settled) {  // nothing can end while the database is away: if something did, the outage missed the workers
    if (const auto during = o.settled() - settled_before; during != 0) {
      r.problems.push_back(
          fmt::format("{} commands ended while {}: the outage did not reach the workers", during, o.what));
    }
  }
  o.end();
  if (refused) {
    r.problems.push_back(fmt::format("a post was accepted while {} ({})", o.what, refused->to_string()));
  } else if (refused.error().message().find(o.must_say) == std::string::npos) {
    r.problems.push_back(
        fmt::format("a post while {} failed without saying '{}': {}", o.what, o.must_say, refused.error().message()));
  } else if (r.refusal.empty()) {
    r.refusal = refused.error().message();
  }
}

/// Posts while killing workers (and, with `o`, taking the database away now and then), waits, checks the books and
/// prints the line. 0: all promises held.
template <class Store>
int drive(const settings& s, Store& db, const dialect& d, std::vector<std::string> store_args,
          const outage* o = nullptr) {
  cmdbus::bus_builder b;
  fault::register_bank(b, db);
  b.config_text(fault::route_config(s.threads, s.lease_ms), "fault.toml");
  cmdbus::bus bus{std::move(b)};  // posts only: start_workers = false

  workers w(s, std::move(store_args));
  w.start_all();
  std::mt19937_64 rng(s.seed);
  const auto pick = [&](std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
  };
  std::map<std::string, std::int64_t> posted;
  const std::int64_t chunk = std::max<std::int64_t>(1, s.commands / std::max(1, s.kills));
  std::int64_t n = 0;
  int kills = 0;
  outage_report outages;
  const int planned_outages = o != nullptr && s.kills > 0 ? s.outages : 0;
  const auto post_chunk = [&] {
    for (std::int64_t i = 0; i < chunk && n < s.commands; ++i) {
      ++n;
      fault::Transfer t{n, pick(1, fault::account_count), 0, pick(1, 100)};
      do {
        t.to = pick(1, fault::account_count);
      } while (t.to == t.from);
      if (fault::overdrawn_by_design(n)) {
        t.amount = fault::account_count * fault::initial_balance + 1;
      }
      posted.emplace(bus.post(t).to_string(), n);
    }
  };
  while (n < s.commands || kills < s.kills) {
    post_chunk();
    std::this_thread::sleep_for(std::chrono::milliseconds{pick(0, 30)});
    if (kills < s.kills) {
      w.kill_and_restart(static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(w.size()) - 1)));
      ++kills;
      if (outages.count < planned_outages && kills == (outages.count + 1) * s.kills / (planned_outages + 1)) {
        take_database_away(*o, w, bus, s.outage_ms, post_chunk, outages);
      }
    }
  }
  auto trouble = wait_until_settled(db, w, std::chrono::seconds{s.settle_s});
  auto stop_problems = w.stop_all();
  const auto letters = bus.dead_letters().list();  // read here, from the table the worker processes wrote
  (void)bus.stop();
  verdict v = check_books(db, d, posted, letters);
  if (!trouble.empty()) {
    v.problems.insert(v.problems.begin(), trouble);
  }
  v.problems.insert(v.problems.end(), stop_problems.begin(), stop_problems.end());
  v.problems.insert(v.problems.end(), outages.problems.begin(), outages.problems.end());
  if (outages.count != planned_outages) {
    v.problems.push_back(fmt::format("{} of {} outages happened", outages.count, planned_outages));
  }
  std::printf("fault harness (%s): %d kills, %lld commands, lost %lld, doubled %lld, %s\n", d.name.data(), kills,
              static_cast<long long>(posted.size()), static_cast<long long>(v.lost), static_cast<long long>(v.doubled),
              v.conserved ? "balances conserved" : "balances NOT conserved");
  std::printf(
      "  succeeded %lld, dead %lld (overdrafts by design, each with its error), retried after a transient error "
      "%lld, run again after a kill %lld; seed %llu\n",
      static_cast<long long>(v.succeeded), static_cast<long long>(v.dead), static_cast<long long>(v.retried),
      static_cast<long long>(v.taken_over), static_cast<unsigned long long>(s.seed));
  if (o != nullptr) {
    std::printf("  %d outages (%s, %d ms each); a post meanwhile got: %s\n", outages.count, o->what.c_str(),
                s.outage_ms, outages.refusal.empty() ? "(none)" : outages.refusal.c_str());
    if (o->settled) {
      std::printf("  while it lasted, no command ended (each outage began with a backlog the workers had to write)\n");
    }
  }
  for (const auto& p : v.problems) {
    std::printf("  FAILED: %s\n", p.c_str());
  }
  if (!v.problems.empty()) {
    std::printf("  the workers' last log lines:\n");
    for (const auto& line : w.log_tail(30)) {
      std::printf("    %s\n", line.c_str());
    }
  }
  return v.problems.empty() ? 0 : 1;
}

int run_sqlite(const settings& s) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("cmdbus-fault-{}-{}", ::getpid(), s.seed);
  std::filesystem::create_directories(dir);
  struct remove_dir {
    explicit remove_dir(std::filesystem::path dir) : p(std::move(dir)) {}
    remove_dir(const remove_dir&) = delete;
    remove_dir& operator=(const remove_dir&) = delete;
    std::filesystem::path p;
    ~remove_dir() {
      std::error_code ignored;
      std::filesystem::remove_all(p, ignored);
    }
  } cleanup{dir};
  const std::string path = (dir / "bank.db").string();
  cmdbus::sqlite::store db({.path = path});
  fault::create_bank(db);
  // The outage: a full disk. No process may write a byte to any file (RLIMIT_FSIZE 0): neither this (posting) one nor
  // any worker process, whose claims, commands and commits then fail until it is over. A refused write is an error
  // (EFBIG), not the end of the process: SIGXFSZ is ignored here, before any worker starts, and so in every worker
  // (an ignored signal stays ignored across exec).
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit normal{};
  ::getrlimit(RLIMIT_FSIZE, &normal);
  const auto limit_workers = [](const workers& w, const rlimit& limit) {
    std::string problem;
    for (const pid_t p : w.pids()) {
      if (p > 0 && ::prlimit(p, RLIMIT_FSIZE, &limit, nullptr) != 0 && problem.empty()) {
        problem = fmt::format("prlimit of worker process {}: {}", p, std::strerror(errno));
      }
    }
    return problem;
  };
  const workers* limited = nullptr;
  const outage full_disk{"no process could write to disk (RLIMIT_FSIZE 0: the posting one and every worker)",
                         "disk I/O error",
                         [&](workers& w) {
                           limited = &w;
                           return limit_workers(w, rlimit{0, normal.rlim_max});
                         },
                         [&] {
                           ::setrlimit(RLIMIT_FSIZE, &normal);
                           (void)limit_workers(*limited, normal);
                         },
                         [&] {
                           const rlimit none{0, normal.rlim_max};
                           ::setrlimit(RLIMIT_FSIZE, &none);
                         },
                         [&] {
                           std::int64_t n = -1;
                           db.with_connection([&](cmdbus::sqlite::connection& c) {
                             n = c.query_one<std::int64_t>(
                                      "SELECT count(*) FROM cmdbus_queue WHERE state IN "
                                      "('succeeded', 'failed', 'dead')")
                                     .value_or(-1);
                           });
                           return n;
                         }};
  return drive(s, db, sqlite_dialect, {"--store", "sqlite", "--db", path}, &full_disk);
}

#if CMDBUS_DURABLE_WITH_POSTGRES
int run_postgres(const settings& s) {
  const char* server = std::getenv("CMDBUS_TEST_PG");
  if (server == nullptr || *server == '\0') {
    std::printf("fault harness (postgres): skipped: CMDBUS_TEST_PG is not set (`./run test` starts a server)\n");
    return 77;
  }
  const std::string schema = fmt::format("cmdbus_fault_{}", ::getpid());
  cmdbus::postgres::connection(server).exec_script(
      fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", schema));
  struct drop_schema {
    drop_schema(const char* server_conninfo, std::string schema_name)
        : server(server_conninfo), name(std::move(schema_name)) {}
    const char* server;
    std::string name;
    drop_schema(const drop_schema&) = delete;
    drop_schema& operator=(const drop_schema&) = delete;
    ~drop_schema() {
      try {
        cmdbus::postgres::connection(server).exec_script("DROP SCHEMA " + name + " CASCADE");  // after any restart
      } catch (const std::exception& e) {
        std::fprintf(stderr, "cmdbus_fault_harness: could not drop schema %s: %s\n", name.c_str(), e.what());
      }
    }
  } cleanup{server, schema};
  const std::string conninfo = fmt::format("{} options='-c search_path={}'", server, schema);
  pg_test::server_control control;
  if (!control.missing().empty()) {
    std::printf(
        "fault harness (postgres): the server is not restarted under load: %s is not set (`./run test` sets "
        "it)\n",
        control.missing().c_str());
  }
  int result = 0;
  {
    cmdbus::postgres::store db({.conninfo = conninfo, .pool_size = 4});
    fault::create_bank(db);
    // The outage: the server stopped (pg_ctl stop -m fast) and started again, once every worker process has
    // connected (a worker that starts while the database is down exits with an error, as it should).
    const outage restart{"PostgreSQL was stopped",
                         "PostgreSQL at ",
                         [&](workers& w) {
                           const auto until = std::chrono::steady_clock::now() + 60s;
                           for (const int tag : w.tags()) {
                             const std::string name = fmt::format("cmdbus_fault_worker_{}", tag);
                             for (;;) {
                               std::int64_t n = 0;
                               db.with_connection([&](cmdbus::postgres::connection& c) {
                                 n = c.query_one<std::int64_t>(
                                          "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name)
                                         .value_or(0);
                               });
                               if (n > 0) {
                                 break;
                               }
                               if (std::chrono::steady_clock::now() >= until) {
                                 return fmt::format("worker process {} did not connect within 60 s", name);
                               }
                               std::this_thread::sleep_for(10ms);
                             }
                           }
                           control.stop();
                           return std::string{};
                         },
                         [&] { control.start(); },
                         nullptr,
                         nullptr};
    result = drive(s, db, postgres_dialect, {"--store", "postgres", "--conninfo", conninfo},
                   control.missing().empty() ? &restart : nullptr);
  }
  return result;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cmdbus fault harness: SIGKILL worker processes of a durable route and check the books"};
  settings s;
  s.seed = std::random_device{}();
  app.add_option("--worker", s.worker, "the cmdbus_fault_worker binary")->required()->check(CLI::ExistingFile);
  app.add_option("--store", s.store, "sqlite (a file in a temporary directory) or postgres (CMDBUS_TEST_PG)")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  app.add_option("--commands", s.commands, "transfers to post")->check(CLI::Range(1, 10'000'000));
  app.add_option("--kills", s.kills, "SIGKILLs of a random worker process")->check(CLI::Range(0, 100'000));
  app.add_option("--processes", s.processes, "worker processes at any time")->check(CLI::Range(1, 64));
  app.add_option("--threads", s.threads, "worker threads per process")->check(CLI::Range(1, 64));
  app.add_option("--lease-ms", s.lease_ms, "lease of a claimed command")->check(CLI::Range(100, 600'000));
  app.add_option("--seed", s.seed, "random seed (printed; give it again to replay a run)");
  app.add_option("--settle-s", s.settle_s, "how long to wait for the last commands")->check(CLI::Range(1, 3600));
  app.add_option("--outages", s.outages,
                 "times the database goes away under load (PostgreSQL: stopped and started; SQLite: the posting "
                 "process cannot write)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--outage-ms", s.outage_ms, "how long each outage lasts")->check(CLI::Range(0, 60'000));
  CLI11_PARSE(app, argc, argv);
  try {
    if (s.store == "postgres") {
#if CMDBUS_DURABLE_WITH_POSTGRES
      return run_postgres(s);
#else
      std::printf("fault harness (postgres): skipped: this build has no cmdbus::postgres\n");
      return 77;
#endif
    }
    return run_sqlite(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmdbus_fault_harness: %s\n", e.what());
    return 2;
  }
}
