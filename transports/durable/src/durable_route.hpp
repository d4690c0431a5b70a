// Internal (cmdbus::durable): a running durable route. post/send/execute insert the command's row and commit; this
// process's workers (threads) claim rows in batches, run each through the worker host and record the outcome in the
// row. A caller in this process who waits (send, execute) gets the outcome through the command's completion.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cmdbus/route_kind.hpp"
#include "cmdbus/transaction_middleware.hpp"
#include "cmdbus/worker.hpp"
#include "queue.hpp"
#include "table_dead_letters.hpp"

namespace cmdbus::durable::detail {

/// The settings of a `durable` route (docs/durable.md).
struct durable_settings {
  std::uint32_t workers = 2;
  std::uint32_t poll_ms = 100;     // an idle worker looks for commands of other processes this often
  std::uint32_t lease_ms = 30000;  // a claimed command another worker may take over after this long
  std::uint32_t batch = 16;
  std::uint32_t execute_timeout_ms = 30000;
  std::uint32_t max_lost_claims = 10;  // a command whose worker was lost this often (killed while running it) ends dead
  bool inbox = true;                   // false: the route runs without the inbox (at-least-once), and says so at start
  bool start_workers = true;           // false: this process's workers start only in bus::run_workers
  std::string origin;                  // where the route's table is ("cmdbus.toml:3"), for messages
};

class durable_route final : public route {
 public:
  durable_route(std::string name, const durable_settings& settings, std::shared_ptr<queue> q, worker_host& host);
  ~durable_route() override;

  /// Checks that each command type routed here runs with the inbox after the unit of work of the route's store
  /// (config_error naming the command, the route and its file:line otherwise; `inbox = false` skips the check and
  /// logs that the route is at-least-once), then starts the workers (and the lease keeper) unless
  /// `start_workers = false`: they may find rows at once, so only once the bus is complete.
  void open() override;
  [[nodiscard]] bool shares_work_across_processes() const noexcept override { return true; }
  /// Starts the workers if they do not run yet (bus::run_workers); std::invalid_argument with `workers = 0`.
  void start_workers() override;
  /// Its table's dead rows: every process with the route sees the same dead letters.
  [[nodiscard]] route_dead_letters* dead_letters() noexcept override { return &dead_letters_; }
  command_id enqueue(cmdbus::detail::parcel& p, cmdbus::detail::partition key) override;
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::string_view kind() const noexcept override { return "durable"; }
  [[nodiscard]] std::chrono::milliseconds execute_timeout() const noexcept override {
    return std::chrono::milliseconds{settings_.execute_timeout_ms};
  }
  void stop_accepting(std::optional<clock::time_point> give_up_at) override;
  /// Refuses new commands; the workers run what is due now, then leave. Rows not run (a retry not yet due, or the
  /// deadline passed) stay in the table for the next start: nothing is abandoned. Callers in this process still
  /// waiting get stopping_error.
  route_stop stop(std::optional<clock::time_point> give_up_at) override;
  [[nodiscard]] route_stats stats() const override;
  [[nodiscard]] std::optional<command_state> status(const command_id& id) const override;
  [[nodiscard]] std::optional<command_state> wait_settled(const command_id& id, clock::time_point until) const override;
  [[nodiscard]] bool on_own_worker() const noexcept override;
  void note_retrying(const command_id& id, std::string_view error, bool requeued) noexcept override;
  void note_settled(const command_id& id, command_status status, const consistency_token& token, std::string_view error,
                    bool requeued) noexcept override;

 private:
  /// Throws config_error if a command type routed here runs without the inbox (see open()).
  void check_inbox();

  struct worker {
    std::thread thread;
    std::string name;  // in the row's failed_by / lease_owner: host, process and thread
    std::mutex held_mutex;
    std::vector<std::int64_t> held;  // rows it claimed and has not finished: their leases are renewed
  };
  struct waiter {
    std::weak_ptr<cmdbus::detail::completion_base> completion;  // weak: a caller who dropped the handle does not wait
    const message_info* info = nullptr;
  };

  /// One claimed row's run inside a batch (transaction_middleware::batch): what is settled only at the batch's COMMIT.
  struct batch_run {
    transaction_middleware::batch* batch = nullptr;
    std::unique_ptr<cmdbus::detail::envelope> env;  // kept until the COMMIT: its after-commit events need it
    std::vector<cmdbus::detail::pending_event> events;
    bool counted = false;   // ended (succeeded, failed, dead): completed once the batch commits
    bool unmarked = false;  // succeeded without the inbox's mark: its handler chain has no unit of work here
    bool to_mark = false;   // succeeded, and the inbox left its done mark to the batch
    bool again = false;     // failed transiently (a lock it could not have, say): the batch ends before it, and it
                            // runs again alone, on the same attempt
  };

  void work(worker& w);
  /// Runs the claimed rows: those nobody waits for in one batch when the route batches, the others one by one.
  /// `claim`, when not null, holds the rows' claim: the first batch's commands join it (or it commits alone).
  /// False if the claim in `claim` could not commit (nothing ran).
  bool run_rows(worker& w, std::vector<claimed>& rows, std::unique_ptr<transaction_middleware::batch> claim);
  /// What a batch did: `settled` of its rows (the first ones) ended or were rescheduled with its COMMIT; `broke`:
  /// the next one failed transiently in it (it runs alone, then a new batch takes the rest). Neither: it could not
  /// begin or commit, and nothing of it happened.
  struct batch_result {
    std::size_t settled = 0;
    bool broke = false;
    bool lost = false;  // the batch held its rows' claim and could not commit: no row of it is this worker's
  };
  /// Runs `rows` in one transaction of the store, each command under a savepoint of its own, up to the first that
  /// fails transiently: in `claim` (the transaction that claimed them, committed even when no command settles in
  /// it), or else in a new one.
  batch_result run_batch(worker& w, const std::vector<claimed*>& rows,
                         std::unique_ptr<transaction_middleware::batch> claim = nullptr);
  /// Renews the leases of every row this process's workers hold, every third of lease_ms, until the workers leave.
  void keep_leases();
  /// Decodes and runs one claimed row and writes its outcome: on its own, or as part of `in_batch`.
  void run_claimed(worker& w, claimed& row, batch_run* in_batch = nullptr);
  /// The completion of `id`, if a caller in this process still waits for it; this worker completes it now (it leaves
  /// the waiters: the outcome poller no longer looks for it).
  std::shared_ptr<cmdbus::detail::completion_base> take_waiter(const command_id& id);
  /// Puts a taken completion back (its command waits for a retry in the table, perhaps for another process).
  void return_waiter(const command_id& id, const std::shared_ptr<cmdbus::detail::completion_base>& completion,
                     const message_info& info);
  /// For this process's callers whose commands another process runs: reads the ended rows of the waiting ids, with
  /// a growing pause (2 ms to 50 ms; back to 2 ms at each new waiter), and completes them from the recorded outcome.
  void poll_outcomes();
  /// Where the database sends news (PostgreSQL): wakes this process's idle workers when another process posts to the
  /// route, and the outcome reader when an outcome is recorded; reconnects every second while it cannot listen.
  void listen_for_news();
  /// Completes `c` from the ended row `r`; false when the row's outcome is not there yet (try again later).
  bool complete_from_row(cmdbus::detail::completion_base& c, const message_info& info, const ended_row& r);
  /// Records the outcome of `env`'s run for a caller in another process (a wire outcome in the row).
  void record_remote_outcome(const claimed& row, const cmdbus::detail::envelope& env, bool succeeded,
                             const std::string& result);
  [[nodiscard]] bool past_deadline() const noexcept;

  worker_host* host_;
  std::shared_ptr<queue> queue_;
  std::string name_;
  durable_settings settings_;
  table_dead_letters dead_letters_;
  std::atomic<bool> stopping_{false};
  std::atomic<clock::rep> give_up_at_{clock::duration::max().count()};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::uint64_t posted_ = 0;     // under wake_mutex_: bumped by each post of this process
  bool joined_workers_ = false;  // under wake_mutex_: the workers have left (the lease keeper leaves too)
  std::condition_variable keeper_wake_;
  std::mutex waiters_mutex_;
  std::unordered_map<command_id, waiter> waiters_;  // callers of this process whose commands have not run here
  std::condition_variable waiters_wake_;            // under waiters_mutex_: a new waiter, or the route stops
  std::uint64_t waiters_added_ = 0;                 // under waiters_mutex_
  bool poller_leaves_ = false;                      // under waiters_mutex_
  std::uint64_t outcomes_heard_ = 0;                // under waiters_mutex_: news of recorded outcomes
  std::thread poller_;
  std::mutex news_mutex_;
  std::condition_variable news_wake_;
  news* news_ = nullptr;              // under news_mutex_: the connected listener, interrupted at stop
  bool news_leaves_ = false;          // under news_mutex_
  std::atomic<bool> hearing_{false};  // a listener is connected: the outcome reader can pause longer
  std::thread listener_;
  std::mutex stop_mutex_;
  bool joined_ = false;
  bool started_ = false;  // under stop_mutex_: the worker threads were started
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<bool> warned_no_inbox_{false};
  // Several claimed commands per transaction: on once a command ran with the inbox's mark in its own transaction
  // (the route's commands use the store's unit of work and the inbox), and `batch` > 1; off again if a batched
  // command ran without the mark.
  std::atomic<bool> batching_{false};
  std::vector<std::unique_ptr<worker>> workers_;
  std::thread keeper_;
};

}  // namespace cmdbus::durable::detail
