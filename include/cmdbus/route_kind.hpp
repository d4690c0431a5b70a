// cmdbus/route_kind.hpp — how a route kind joins a bus: the one interface every asynchronous route implements.
//
//   class recording_kind final : public cmdbus::route_kind {              // a kind of its own (docs/extending.md)
//    public:
//     std::string_view name() const noexcept override { return "recording"; }
//     std::vector<std::string_view> keys() const override { return {"hold"}; }
//     std::unique_ptr<cmdbus::route_plan> plan(cmdbus::route_table& t) const override { ... t.integer("hold", 0, 9) ...
//     }
//   };
//   b.route_kind(std::make_shared<recording_kind>());   // then [routes.x] kind = "recording" in the routing file
//
// The core knows one kind, `sync` (the handler runs on the caller's thread). Every other kind comes from outside it:
// `local` (in-process workers) from the cmdbus::local target, which registers itself when linked (cmdbus::cmdbus
// links it); later kinds from their own targets. A kind is consulted in three steps:
//   1. parsing: for each [routes.NAME] with `kind = "<its name>"`, the core checks the table's keys against keys()
//      (an unknown key is an error at file:line with the nearest name) and hands the table to plan(), which reads
//      its own keys through `route_table` and reports bad values there;
//   2. checking: for each command type routed to the route, route_plan::check() may refuse it (and the core refuses
//      a type without encode/decode on a plan whose needs_encoding() is true), each a startup error naming the
//      command, the route and the file:line;
//   3. running: route_plan::start() makes the running `route`, given the bus's `worker_host` (cmdbus/worker.hpp).
// All problems of all routes are collected and reported together; the bus does not start with any.
//
// Contains: `route_table`, `route_kind`, `route_plan`, `route`, `route_stats`, `route_stop`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmdbus/command_status.hpp"
#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/detail/parcel.hpp"
#include "cmdbus/id.hpp"
#include "cmdbus/message_info.hpp"

namespace cmdbus {

class worker_host;
class route_dead_letters;

/// One [routes.NAME] table of the routing file, as its kind reads it. A value of the wrong type or out of range is a
/// problem at its file:line (collected with every other problem of the configuration) and reads as nullopt.
class route_table {
 public:
  route_table(const route_table&) = delete;
  route_table& operator=(const route_table&) = delete;
  virtual ~route_table() = default;

  [[nodiscard]] virtual const std::string& route_name() const noexcept = 0;
  /// Where the route is defined: "cmdbus.toml:12".
  [[nodiscard]] virtual std::string location() const = 0;
  /// A whole number in [low, high].
  [[nodiscard]] virtual std::optional<std::uint64_t> integer(std::string_view key, std::uint64_t low,
                                                             std::uint64_t high) = 0;
  [[nodiscard]] virtual std::optional<std::string> string(std::string_view key) = 0;
  /// A string that must be one of `allowed`.
  [[nodiscard]] virtual std::optional<std::string> choice(std::string_view key,
                                                          const std::vector<std::string_view>& allowed) = 0;
  [[nodiscard]] virtual std::optional<bool> boolean(std::string_view key) = 0;
  /// A sub-table ([routes.NAME.KEY]) as key/value text, in file order: strings as written, numbers and booleans as
  /// TOML prints them (for settings passed through verbatim, such as a client library's properties).
  [[nodiscard]] virtual std::optional<std::vector<std::pair<std::string, std::string>>> text_table(
      std::string_view key) = 0;
  /// A problem of the kind's own making about `key` (at the key's line; the route's if the key is absent).
  virtual void problem(std::string_view key, std::string_view what) = 0;

 protected:
  route_table() = default;
};

/// Counters and gauges of one route, read at one moment (each value on its own).
struct route_stats {
  std::string route;
  std::string kind;
  bool stopping = false;            ///< stop() was called: it accepts nothing and drains
  std::uint64_t queued = 0;         ///< accepted, not yet picked up by a worker
  std::uint64_t in_flight = 0;      ///< accepted (or being accepted right now) and not finished
  std::uint64_t waiting_retry = 0;  ///< waiting for a retry, or held behind one of their partition key
  std::uint64_t completed = 0;      ///< run to an end since the start: succeeded, failed or dead
  std::uint64_t failed = 0;         ///< of those, ended with an error a waiting caller received
  std::uint64_t dead = 0;           ///< of those, ended as dead letters (those not run at a stop are in its report)
  /// The kind's own values ("workers", "capacity", "retries" on a local route).
  std::vector<std::pair<std::string, std::uint64_t>> extras;

  /// The named extra value, or nullopt.
  [[nodiscard]] std::optional<std::uint64_t> value(std::string_view name) const noexcept {
    for (const auto& [key, v] : extras) {
      if (key == name) {
        return v;
      }
    }
    return std::nullopt;
  }
};

/// A route's part of what bus::stop() did.
struct route_stop {
  std::uint64_t completed = 0;      ///< commands finished since the start
  std::vector<command_id> not_run;  ///< accepted but not run before the stop's deadline
};

/// A running route: the bus hands it commands and asks it about them. Thread-safe: every thread may enqueue, ask for
/// status and stats at once.
class route {
 public:
  route() = default;
  route(const route&) = delete;
  route& operator=(const route&) = delete;
  /// Stops (as stop() without a deadline) if that has not happened.
  virtual ~route() = default;

  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  [[nodiscard]] virtual std::string_view kind() const noexcept = 0;
  /// Called once the bus is complete (every command type points at its route), before any command is sent: a route
  /// whose workers may find work at once (rows an earlier process left in a durable table) starts them here rather
  /// than in route_plan::start(), where the worker host could not yet decode them.
  virtual void open() {}
  /// Whether bus::run_workers may run this route's workers in this process: true for a route whose commands live
  /// outside the process (a durable table), so that any process can take a share of the work. A route whose queue
  /// is this process's memory (local) already runs its workers wherever the bus is built.
  [[nodiscard]] virtual bool shares_work_across_processes() const noexcept { return false; }
  /// Starts this process's workers of the route if they are not running yet (bus::run_workers); called only when
  /// shares_work_across_processes().
  virtual void start_workers() {}
  /// The dead letters this route keeps itself (in its table, for every process), or null: then its commands that die
  /// go to the bus's dead_letter_store. Asked once, after start; the object lives as long as the route.
  [[nodiscard]] virtual route_dead_letters* dead_letters() noexcept { return nullptr; }

  /// Takes the command (leaving `p` empty) and returns the id it keeps (a route may tag it), or throws
  /// (queue_full_error, stopping_error, ...) leaving `p` as it was. `key` is the command's partition: commands of one
  /// key must run one at a time, in order.
  virtual command_id enqueue(detail::parcel& p, detail::partition key) = 0;
  /// How long execute() waits for an outcome from this route when the command has no deadline.
  [[nodiscard]] virtual std::chrono::milliseconds execute_timeout() const noexcept = 0;

  /// The first half of a stop: accept nothing more, note the deadline (the earliest given applies), go on draining.
  /// The bus tells every route before it waits for any.
  virtual void stop_accepting(std::optional<clock::time_point> give_up_at) = 0;
  /// Runs what was accepted (from `give_up_at` on, commands not yet started are not run: abandoned through the worker
  /// host, their ids in the result) and waits for its workers. Later calls return at once.
  virtual route_stop stop(std::optional<clock::time_point> give_up_at) = 0;

  [[nodiscard]] virtual route_stats stats() const = 0;
  /// The status of a command this route accepted; nullopt for an id it does not know (another route's, or forgotten).
  [[nodiscard]] virtual std::optional<command_state> status(const command_id& id) const = 0;
  /// Waits until the command has settled or `until`; nullopt if unknown. `settled()` false on the result: timed out.
  [[nodiscard]] virtual std::optional<command_state> wait_settled(const command_id& id,
                                                                  clock::time_point until) const = 0;
  /// True on a thread that runs this route's commands (where waiting for this route could wait for itself).
  [[nodiscard]] virtual bool on_own_worker() const noexcept = 0;

  // What the bus tells the route about a command's outcome as it learns it (on the thread that ran the command), for
  // status(). `requeued`: the command is a dead letter sent again.
  /// Failed transiently; it will run again (`error`: the failure).
  virtual void note_retrying(const command_id& id, std::string_view error, bool requeued) noexcept = 0;
  /// Settled: succeeded (with what it committed), failed or dead.
  virtual void note_settled(const command_id& id, command_status status, const consistency_token& token,
                            std::string_view error, bool requeued) noexcept = 0;

  /// enqueue() for a heap envelope: takes it (leaving `e` empty), or throws leaving `e` as it was.
  command_id enqueue_envelope(std::unique_ptr<detail::envelope>& e) {
    const detail::partition key{e->key_hash, e->keyed};
    detail::parcel p(std::move(e));
    try {
      return enqueue(p, key);
    } catch (...) {
      e = p.take_envelope();
      throw;
    }
  }
};

/// One configured route of a kind, before the bus starts.
class route_plan {
 public:
  route_plan() = default;
  route_plan(const route_plan&) = delete;
  route_plan& operator=(const route_plan&) = delete;
  virtual ~route_plan() = default;

  /// Whether this route's commands must be encodable (message_info::encode/decode): they leave the process.
  [[nodiscard]] virtual bool needs_encoding() const noexcept { return false; }
  /// A command type routed here: empty if the route can carry it, else why not (one sentence, no location).
  [[nodiscard]] virtual std::string check(const message_info& command) const {
    (void)command;
    return {};
  }
  /// The running route, named `name`, its workers started. `host` outlives it.
  [[nodiscard]] virtual std::unique_ptr<route> start(const std::string& name, worker_host& host) = 0;
};

/// A kind of route, registered with bus_builder::route_kind() (or by its target when linked, as `local` is).
class route_kind {
 public:
  route_kind() = default;
  route_kind(const route_kind&) = delete;
  route_kind& operator=(const route_kind&) = delete;
  virtual ~route_kind() = default;

  /// The value of `kind = "..."` that selects it.
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  /// The keys its [routes.NAME] tables may hold besides `kind`.
  [[nodiscard]] virtual std::vector<std::string_view> keys() const = 0;
  /// Whether its routes run handlers in this process (then each command routed there needs a handler here).
  [[nodiscard]] virtual bool runs_handlers_here() const noexcept { return true; }
  /// Reads a route's settings (problems go to `table`); null only if there were problems.
  [[nodiscard]] virtual std::unique_ptr<route_plan> plan(route_table& table) const = 0;
};

/// Adds `kind` to the kinds every bus_builder made from now on starts with (a target registering itself when linked).
/// A kind of the same name registered on a builder takes precedence.
void register_default_route_kind(std::shared_ptr<route_kind> kind);

}  // namespace cmdbus
