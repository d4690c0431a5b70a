// Internal (cmdbus::durable): the durable route's table on an SQL store, the same statements for SQLite and
// PostgreSQL (both read parameters $1, $2, ... numbered in order of first use). What differs is the Dialect's:
//
//   struct Dialect {
//     using store = ...; using connection = ...; using row = ...;
//     static constexpr std::string_view begin;        // a claim's transaction: "BEGIN IMMEDIATE" (SQLite's one
//                                                     // writer) or "BEGIN ISOLATION LEVEL READ COMMITTED"
//     static constexpr std::string_view skip_locked;  // "" or " FOR UPDATE SKIP LOCKED" (PostgreSQL: competing
//                                                     // claimers pass over each other's rows instead of waiting)
//     static constexpr std::string_view seqs_in;      // "seq IN <the row numbers in $2>"
//     static constexpr std::string_view ids_in;       // "id IN <the ids in $1>"
//     static constexpr char list_open, list_close;    // around a list parameter's comma-separated items
//     static constexpr std::string_view has_column;   // 1 if cmdbus_queue has the column named $1, else 0
//     static constexpr std::string_view seq_column;   // the claim order: an integer key the database assigns
//     static constexpr std::string_view next_seq;     // "seq = <a seq after every row's>" in an UPDATE
//     static constexpr std::string_view notify;       // a statement sending news $1 to listeners; "" for none
//     static constexpr std::string_view now_us;       // the time now in microseconds since 1970, as a column default
//     static constexpr std::string_view set_default;  // "ALTER TABLE ... SET DEFAULT" for column {} and value {}, or
//     "" static std::string insert_and_announce(std::string_view insert);  // the post's INSERT, sending news too
//     static std::unique_ptr<news> listen(store&);    // a listener for that news, or null
//     static constexpr std::string_view batch_setup;  // run first in a batch's transaction ("" for nothing)
//     static bool claims_in_batch(const store&);      // may a claim run in a batch's transaction?
//   };
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmdbus/transaction_middleware.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "cmdbus/wire/outcome.hpp"
#include "queue.hpp"
#include "queue_states.hpp"

namespace cmdbus::durable::detail {

template <class Dialect>
class sql_queue final : public queue {
 public:
  using store_type = typename Dialect::store;
  using connection = typename Dialect::connection;
  using row = typename Dialect::row;

  explicit sql_queue(store_type& store)
      : store_(&store), unit_of_work_(std::dynamic_pointer_cast<transaction_middleware>(store.unit_of_work())) {}

  /// Creates the table and its indexes if missing, and adds the columns later versions added to an older table.
  static void migrate(store_type& store) {
    store.exec_script(schema());
    store.with_connection([](connection& c) {
      for (const auto& [column, type] :
           {std::pair<std::string_view, std::string_view>{"awaited", "INTEGER NOT NULL DEFAULT 0"},
            {"outcome", "TEXT"},
            {"error_code", "TEXT"},
            {"error_type", "TEXT"},
            {"requeues", "INTEGER NOT NULL DEFAULT 0"},
            {"lost_claims", "INTEGER NOT NULL DEFAULT 0"}}) {
        if (c.template query_one<std::int64_t>(Dialect::has_column, column).value_or(0) == 0) {
          c.exec_script(fmt::format("ALTER TABLE cmdbus_queue ADD COLUMN {} {}", column, type));
        }
      }
      // An older table's times had no default (SQLite cannot add one to a column: there, new tables only).
      if constexpr (!Dialect::set_default.empty()) {
        for (const std::string_view column : {"available_at", "created_at", "updated_at"}) {
          c.exec_script(fmt::format(fmt::runtime(Dialect::set_default), column, Dialect::now_us));
        }
        c.exec_script(fmt::format(fmt::runtime(Dialect::set_default), "state", "'pending'"));
      }
    });
  }

  /// The table and its indexes (docs/durable.md). The envelope is JSON text, as written. A row inserted by hand needs
  /// only id, route, command and envelope: the state starts pending, the times at now. No index holds `state`
  /// next to the key: a claim and a done mark then move an entry in every key's part of such an index, pages all
  /// over it (68 pages written for a claim of 32 rows of 32 keys, against a handful now); an older table's
  /// cmdbus_queue_key (route, partition_key, state, seq) goes.
  [[nodiscard]] static std::string schema() {
    return fmt::format(R"sql(
CREATE TABLE IF NOT EXISTS cmdbus_queue (
  seq              {0},
  id               TEXT NOT NULL UNIQUE,
  route            TEXT NOT NULL,
  command          TEXT NOT NULL,
  partition_key    TEXT,
  state            TEXT NOT NULL DEFAULT 'pending',
  attempts         INTEGER NOT NULL DEFAULT 0,
  available_at     BIGINT NOT NULL DEFAULT {1},
  lease_owner      TEXT,
  lease_until      BIGINT,
  created_at       BIGINT NOT NULL DEFAULT {1},
  updated_at       BIGINT NOT NULL DEFAULT {1},
  envelope         TEXT NOT NULL,
  error_code       TEXT,
  error_type       TEXT,
  error_message    TEXT,
  first_failure_at BIGINT,
  last_failure_at  BIGINT,
  failed_by        TEXT,
  awaited          INTEGER NOT NULL DEFAULT 0,
  outcome          TEXT,
  requeues         INTEGER NOT NULL DEFAULT 0,
  lost_claims      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cmdbus_queue_claim ON cmdbus_queue (route, state, seq);
CREATE INDEX IF NOT EXISTS cmdbus_queue_order ON cmdbus_queue (route, partition_key, seq)
  WHERE partition_key IS NOT NULL;
DROP INDEX IF EXISTS cmdbus_queue_key;
)sql",
                       Dialect::seq_column, Dialect::now_us);
  }

  void insert(const new_row& r, const context* ctx) override {
    const auto at = wire::micros(r.created_at);
    // One statement that also sends the news where the database has any (heard at its COMMIT, never after a
    // ROLLBACK): a post costs one round trip.
    static const std::string sql = Dialect::insert_and_announce(
        "INSERT INTO cmdbus_queue (id, route, command, partition_key, state, attempts, available_at, created_at, "
        "updated_at, envelope, awaited) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5, $6, $7) "
        "ON CONFLICT (id) DO NOTHING");  // an id the table holds already: that row stays as it is
    const auto put = [&](connection& c) {
      c.execute(sql, r.id.to_string(), r.route, r.command, *r.partition_key, at, r.envelope, r.awaited ? 1 : 0);
    };
    if (connection* outer = ctx != nullptr ? store_->transaction_of(*ctx) : nullptr) {
      put(*outer);  // the outbox: committed, or rolled back, with the handler that posted it
      return;
    }
    store_->with_connection(put);  // one statement, committed on return
  }

  std::vector<claimed> claim(std::string_view route, std::string_view worker, clock::time_point now,
                             const claim_limits& limits) override {
    std::vector<claimed> out;
    const auto now_us = wire::micros(now);
    const auto until_us = wire::micros(now + limits.lease);
    write([&](connection& c) {
      // A command whose worker died (its lease expired) is pending again, ahead of the later commands of its key.
      // That claim was not an attempt that failed: it gives its attempt back and counts as a lost claim instead; a
      // command that has lost max_lost claims (one that kills its worker, say) ends dead.
      static const std::string reclaim = fmt::format(
          "UPDATE cmdbus_queue SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
          "lost_claims = lost_claims + 1, lease_owner = NULL, lease_until = NULL, updated_at = $1, "
          "state = CASE WHEN {0} THEN 'dead' ELSE 'pending' END, "
          "error_code = CASE WHEN {0} THEN 'fatal' ELSE error_code END, "
          "error_type = CASE WHEN {0} THEN '{1}' ELSE error_type END, "
          "error_message = CASE WHEN {0} THEN $3 ELSE error_message END, "
          "first_failure_at = CASE WHEN {0} THEN coalesce(first_failure_at, $1) ELSE first_failure_at END, "
          "last_failure_at = CASE WHEN {0} THEN $1 ELSE last_failure_at END, "
          "failed_by = CASE WHEN {0} THEN lease_owner ELSE failed_by END "
          "WHERE seq IN (SELECT seq FROM cmdbus_queue WHERE route = $4 AND state = 'running' AND lease_until < $1{2})",
          "lost_claims + 1 >= $2", worker_lost_type, Dialect::skip_locked);
      c.execute(reclaim, now_us, static_cast<std::int64_t>(limits.max_lost),
                fmt::format("cmdbus: the worker running this command was lost (killed, or stopped without settling "
                            "it) {} times (max_lost_claims = {}): a command that keeps killing its worker ends "
                            "here; its last worker is in failed_by",
                            limits.max_lost, limits.max_lost),
                route);
      // Claimable: pending and due, and no earlier command of its key pending or running (per-key order across every
      // worker of every process; a row another claimer is taking right now still looks pending here, so its key's
      // later rows wait too). A key's live rows are always the last of its rows: one starts only after every earlier
      // one ended, ended rows stay ended, and a requeue or a post again goes to the back of the line (a new seq).
      // So the key check looks at one row, the key's previous one: a seek in cmdbus_queue_order. Scanned in seq
      // order (index cmdbus_queue_claim), so a claim stops at its batch size.
      c.query(
          fmt::format("UPDATE cmdbus_queue SET state = 'running', lease_owner = $1, lease_until = $2, "
                      "attempts = attempts + 1, updated_at = $3 "
                      "WHERE seq IN (SELECT q.seq FROM cmdbus_queue q "
                      "  WHERE q.route = $4 AND q.state = 'pending' AND q.available_at <= $3 "
                      "    AND (q.partition_key IS NULL OR coalesce((SELECT p.state FROM cmdbus_queue p "
                      "      WHERE p.route = q.route AND p.partition_key = q.partition_key AND p.seq < q.seq "
                      "      ORDER BY p.seq DESC LIMIT 1), 'ended') NOT IN ('pending', 'running')) "
                      "  ORDER BY q.seq LIMIT $5{}) "
                      "RETURNING seq, envelope, attempts, awaited",
                      Dialect::skip_locked),
          [&](const row& r) {
            out.push_back({r.template get<std::int64_t>(0), r.template get<std::string>(1),
                           r.template get<std::uint32_t>(2), r.template get<std::int64_t>(3) != 0});
          },
          worker, until_us, now_us, route, static_cast<std::int64_t>(limits.batch));
    });
    std::sort(out.begin(), out.end(), [](const claimed& a, const claimed& b) { return a.seq < b.seq; });
    return out;
  }

  void renew(const std::vector<std::int64_t>& seqs, std::string_view worker, clock::time_point until) override {
    store_->with_connection([&](connection& c) {
      // Rows a batch of this worker is settling right now are locked by it (PostgreSQL): passed over, not waited
      // for — a wait here could close a cycle with that batch, which may wait for a row this UPDATE took already.
      c.execute(fmt::format("UPDATE cmdbus_queue SET lease_until = $1 WHERE seq IN (SELECT seq FROM cmdbus_queue "
                            "WHERE {} AND state = 'running' AND lease_owner = $3{})",
                            Dialect::seqs_in, Dialect::skip_locked),
                wire::micros(until), seq_list(seqs), worker);
    });
  }

  void set_state(const command_id& id, command_status status, std::string_view error, clock::time_point now,
                 std::string_view worker) override {
    const auto at = wire::micros(now);
    row_write([&](connection& c) {
      if (error.empty()) {
        c.execute(
            "UPDATE cmdbus_queue SET state = $1, updated_at = $2, lease_owner = NULL, lease_until = NULL "
            "WHERE id = $3 AND (lease_owner = $4 OR lease_owner IS NULL)",
            to_string(status), at, id.to_string(), worker);
        return;
      }
      c.execute(
          "UPDATE cmdbus_queue SET state = $1, updated_at = $2, lease_owner = NULL, lease_until = NULL, "
          "error_message = $3, first_failure_at = coalesce(first_failure_at, $2), last_failure_at = $2, "
          "failed_by = $4 WHERE id = $5 AND (lease_owner = $4 OR lease_owner IS NULL)",
          to_string(status), at, error, worker, id.to_string());
    });
  }

  std::size_t mark_succeeded(const std::vector<std::int64_t>& seqs, std::string_view worker,
                             clock::time_point now) override {
    std::int64_t n = 0;
    row_write([&](connection& c) {
      n = c.execute(fmt::format("UPDATE cmdbus_queue SET state = 'succeeded', updated_at = $1, lease_owner = NULL, "
                                "lease_until = NULL WHERE {} AND lease_owner = $3",
                                Dialect::seqs_in),
                    wire::micros(now), seq_list(seqs), worker);
    });
    return static_cast<std::size_t>(n);
  }

  void retry_at(std::int64_t seq, clock::time_point due, std::string_view error, clock::time_point now,
                std::string_view worker) override {
    row_write([&](connection& c) {
      c.execute(
          "UPDATE cmdbus_queue SET state = 'pending', available_at = $1, lease_owner = NULL, lease_until = NULL, "
          "updated_at = $2, error_message = $3, first_failure_at = coalesce(first_failure_at, $2), "
          "last_failure_at = $2, failed_by = $4 WHERE seq = $5 AND lease_owner = $4",
          wire::micros(due), wire::micros(now), error, worker, seq);
    });
  }

  void bury(const dead_letter& letter, clock::time_point now, std::string_view worker) override {
    row_write([&](connection& c) {
      c.execute(
          "UPDATE cmdbus_queue SET state = 'dead', updated_at = $1, lease_owner = NULL, lease_until = NULL, "
          "error_code = $2, error_type = $3, error_message = $4, first_failure_at = coalesce(first_failure_at, $1), "
          "last_failure_at = $1, failed_by = $5 WHERE id = $6 AND (lease_owner = $5 OR lease_owner IS NULL)",
          wire::micros(now), to_string(letter.code), letter.error_type, letter.error, worker, letter.id.to_string());
    });
  }

  void bury_unreadable(std::int64_t seq, std::string_view reason, clock::time_point now,
                       std::string_view worker) override {
    row_write([&](connection& c) {
      c.execute(
          "UPDATE cmdbus_queue SET state = 'dead', updated_at = $1, lease_owner = NULL, lease_until = NULL, "
          "error_code = 'fatal', error_type = 'cmdbus::unreadable', error_message = $2, "
          "first_failure_at = coalesce(first_failure_at, $1), last_failure_at = $1, failed_by = $3 WHERE seq = $4",
          wire::micros(now), reason, worker, seq);
    });
  }

  [[nodiscard]] std::vector<dead_letter> dead(std::string_view route, const command_id* id) override {
    std::vector<dead_letter> out;
    const auto read = [&](const row& r) {
      dead_letter d;
      d.id = command_id::parse(r.get_text(0)).value_or(command_id{});
      d.command = r.template get<std::string>(1);
      d.route = r.template get<std::string>(2);
      if (!r.is_null(3)) {
        d.partition_key = r.template get<std::string>(3);
      }
      const auto parsed = wire::parse_envelope(r.get_text(4));  // an unreadable one is its own correlation
      d.correlation_id = parsed && !parsed->correlation_id.is_nil() ? parsed->correlation_id : d.id;
      d.code = wire::code_named(r.get_text(5)).value_or(error_code::fatal);  // a foreign word: fatal
      d.error_type = r.template get<std::string>(6);
      d.error = r.template get<std::string>(7);
      d.attempts = r.template get<std::uint32_t>(8);
      d.first_attempt = wire::from_micros(r.template get<std::int64_t>(9));
      d.last_attempt = wire::from_micros(r.template get<std::int64_t>(10));
      d.failed_by = r.template get<std::string>(11);
      out.push_back(std::move(d));
    };
    const std::string_view columns =
        "SELECT id, command, route, partition_key, envelope, coalesce(error_code, 'fatal'), coalesce(error_type, ''), "
        "coalesce(error_message, ''), attempts, coalesce(first_failure_at, 0), coalesce(last_failure_at, 0), "
        "coalesce(failed_by, '') FROM cmdbus_queue WHERE route = $1 AND state = 'dead'";
    store_->with_connection([&](connection& c) {
      if (id != nullptr) {
        c.query(fmt::format("{} AND id = $2", columns), read, route, id->to_string());
      } else {
        c.query(fmt::format("{} ORDER BY seq", columns), read, route);
      }
    });
    return out;
  }

  [[nodiscard]] std::size_t count_dead(std::string_view route) override {
    std::size_t n = 0;
    store_->with_connection([&](connection& c) {
      n = c.template query_one<std::uint64_t>("SELECT count(*) FROM cmdbus_queue WHERE route = $1 AND state = 'dead'",
                                              route)
              .value_or(0);
    });
    return n;
  }

  bool requeue_dead(std::string_view route, const command_id& id, clock::time_point now) override {
    bool found = false;
    store_->with_connection([&](connection& c) {
      c.query(
          fmt::format(
              "UPDATE cmdbus_queue SET {}, state = 'pending', attempts = 0, available_at = $1, "
              "updated_at = $1, lease_owner = NULL, lease_until = NULL, awaited = 0, outcome = NULL, "
              "lost_claims = 0, requeues = requeues + 1 WHERE route = $2 AND id = $3 AND state = 'dead' RETURNING seq",
              Dialect::next_seq),
          [&](const row&) { found = true; }, wire::micros(now), route, id.to_string());
    });
    return found;
  }

  bool discard_dead(std::string_view route, const command_id& id) override {
    bool found = false;
    store_->with_connection([&](connection& c) {
      c.query(
          "DELETE FROM cmdbus_queue WHERE route = $1 AND id = $2 AND state = 'dead' RETURNING seq",
          [&](const row&) { found = true; }, route, id.to_string());
    });
    return found;
  }

  void record_outcome(std::int64_t seq, std::string_view route, std::string_view outcome) override {
    row_write([&](connection& c) {
      c.execute("UPDATE cmdbus_queue SET outcome = $1 WHERE seq = $2", outcome, seq);
      announce(c, "outcome:", route);  // after the outcome's commit: a caller that hears it finds it
    });
  }

  [[nodiscard]] const void* store_identity() const noexcept override { return unit_of_work_->store(); }

  [[nodiscard]] std::unique_ptr<news> listen() override { return Dialect::listen(*store_); }

  [[nodiscard]] std::unique_ptr<transaction_middleware::batch> begin_batch() override {
    auto batch = unit_of_work_->begin_batch();
    if constexpr (!Dialect::batch_setup.empty()) {
      store_->ambient_transaction()->exec_script(Dialect::batch_setup);
    }
    return batch;
  }

  [[nodiscard]] bool claims_in_batch() const noexcept override { return Dialect::claims_in_batch(*store_); }

  [[nodiscard]] std::vector<ended_row> ended(const std::vector<command_id>& ids) override {
    std::vector<ended_row> out;
    if (ids.empty()) {
      return out;
    }
    store_->with_connection([&](connection& c) {
      c.query(
          fmt::format("SELECT id, state, outcome, coalesce(error_message, ''), updated_at FROM cmdbus_queue "
                      "WHERE {} AND state IN ('succeeded', 'failed', 'dead')",
                      Dialect::ids_in),
          [&](const row& r) {
            ended_row e;
            e.id = command_id::parse(r.get_text(0)).value_or(command_id{});
            e.state = r.template get<std::string>(1);
            if (!r.is_null(2)) {
              e.outcome = r.template get<std::string>(2);
            }
            e.error_message = r.template get<std::string>(3);
            e.updated_at = wire::from_micros(r.template get<std::int64_t>(4));
            out.push_back(std::move(e));
          },
          list_of(ids, [](const command_id& id) { return '"' + id.to_string() + '"'; }));
    });
    return out;
  }

  [[nodiscard]] std::optional<command_state> status(const command_id& id) override {
    std::optional<command_state> out;
    store_->with_connection([&](connection& c) {
      c.query(
          "SELECT command, route, state, attempts, coalesce(error_message, ''), created_at, updated_at "
          "FROM cmdbus_queue WHERE id = $1",
          [&](const row& r) {
            out = state_of(id, r.template get<std::string>(0), r.template get<std::string>(1), r.get_text(2),
                           r.template get<std::uint32_t>(3), r.template get<std::string>(4),
                           r.template get<std::int64_t>(5), r.template get<std::int64_t>(6));
          },
          id.to_string());
    });
    return out;
  }

  [[nodiscard]] counts count(std::string_view route, clock::time_point now) override {
    counts n;
    store_->with_connection([&](connection& c) {
      c.query(
          "SELECT state, CASE WHEN available_at > $1 THEN 1 ELSE 0 END, count(*) FROM cmdbus_queue "
          "WHERE route = $2 GROUP BY 1, 2",
          [&](const row& r) {
            add_count(n, r.get_text(0), r.template get<std::int64_t>(1) != 0, r.template get<std::uint64_t>(2));
          },
          wire::micros(now), route);
    });
    return n;
  }

 private:
  /// `items` as a list parameter: Dialect::list_open, each item as `text` makes it, commas, list_close.
  template <class T, class F>
  static std::string list_of(const std::vector<T>& items, F&& text) {
    std::string list(1, Dialect::list_open);
    for (const auto& item : items) {
      list += text(item);
      list += ',';
    }
    if (items.empty()) {
      list += Dialect::list_close;
    } else {
      list.back() = Dialect::list_close;
    }
    return list;
  }
  /// Row numbers as a list parameter (Dialect::seqs_in).
  static std::string seq_list(const std::vector<std::int64_t>& seqs) {
    return list_of(seqs, [](std::int64_t seq) { return std::to_string(seq); });
  }

  /// Sends `what` + `route` to the listeners of the table, if the database has any (at the transaction's COMMIT).
  static void announce(connection& c, std::string_view what, std::string_view route) {
    if constexpr (!Dialect::notify.empty()) {
      std::string text(what);
      text += route;
      c.execute(Dialect::notify, text);
    }
  }

  /// A worker's write to a row it runs: inside a batch of this store (transaction_middleware::batch) through the
  /// batch's connection, committed with it (on SQLite another connection would wait for the batch's write lock);
  /// otherwise on a pooled connection, committed on return.
  template <class F>
  void row_write(F&& f) {
    if (connection* batch = store_->ambient_transaction()) {
      f(*batch);
      return;
    }
    store_->with_connection(f);
  }

  /// Runs `f` in the thread's batch of this store (committed with it), or else in Dialect::begin ... COMMIT on a
  /// pooled connection, rolled back if it throws.
  template <class F>
  void write(F&& f) {
    if (connection* batch = store_->ambient_transaction()) {
      f(*batch);
      return;
    }
    store_->with_connection([&](connection& c) {
      c.exec_script(Dialect::begin);
      try {
        f(c);
        c.exec_script("COMMIT");
      } catch (...) {
        try {
          c.exec_script("ROLLBACK");
        } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report; a broken connection
        }                // leaves the pool
        throw;
      }
    });
  }

  store_type* store_;
  std::shared_ptr<transaction_middleware> unit_of_work_;  // the store's, for batches
};

}  // namespace cmdbus::durable::detail
