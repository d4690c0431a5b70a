#include "sqlite_queue.hpp"

#include "cmdbus/wire/envelope.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

namespace cmdbus::durable::detail {

const std::string_view sqlite_schema = R"sql(
CREATE TABLE IF NOT EXISTS cmdbus_queue (
  seq              INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  route            TEXT NOT NULL,
  command          TEXT NOT NULL,
  partition_key    TEXT,
  state            TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  available_at     INTEGER NOT NULL,
  lease_owner      TEXT,
  lease_until      INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  envelope         TEXT NOT NULL,
  error_message    TEXT,
  first_failure_at INTEGER,
  last_failure_at  INTEGER,
  failed_by        TEXT
);
CREATE INDEX IF NOT EXISTS cmdbus_queue_claim ON cmdbus_queue (route, state, seq);
CREATE INDEX IF NOT EXISTS cmdbus_queue_key ON cmdbus_queue (route, partition_key, state, seq)
  WHERE partition_key IS NOT NULL;
)sql";

namespace {

using wire::from_micros;
using wire::micros;

/// Runs `f` in BEGIN IMMEDIATE ... COMMIT on a pooled connection (rolled back if it throws).
void write(sqlite::store& store, const std::function<void(sqlite::connection&)>& f) {
  store.with_connection([&](sqlite::connection& c) {
    c.exec_script("BEGIN IMMEDIATE");
    try {
      f(c);
      c.exec_script("COMMIT");
    } catch (...) {
      try {
        c.exec_script("ROLLBACK");
      } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
      }
      throw;
    }
  });
}

std::optional<command_status> status_named(std::string_view s) {
  for (const auto st : {command_status::pending, command_status::running, command_status::succeeded,
                        command_status::failed, command_status::dead}) {
    if (to_string(st) == s) {
      return st;
    }
  }
  return std::nullopt;
}

}  // namespace

void sqlite_queue::insert(const new_row& row, const context* ctx) {
  const auto at = micros(row.created_at);
  const auto put = [&](sqlite::connection& c) {
    c.execute(
        "INSERT INTO cmdbus_queue (id, route, command, partition_key, state, attempts, available_at, created_at, "
        "updated_at, envelope) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET route = excluded.route, state = 'pending', attempts = 0, "
        "available_at = excluded.available_at, updated_at = excluded.updated_at, envelope = excluded.envelope, "
        "lease_owner = NULL, lease_until = NULL",
        row.id.to_string(), row.route, row.command, *row.partition_key, at, at, at, row.envelope);
  };
  if (sqlite::connection* outer = ctx != nullptr ? store_->transaction_of(*ctx) : nullptr) {
    put(*outer);  // the outbox: committed, or rolled back, with the handler that posted it
    return;
  }
  write(*store_, put);
}

std::vector<claimed> sqlite_queue::claim(std::string_view route, std::string_view worker, clock::time_point now,
                                         std::chrono::milliseconds lease, std::size_t batch) {
  std::vector<claimed> out;
  const auto now_us = micros(now);
  const auto until_us = micros(now + lease);
  write(*store_, [&](sqlite::connection& c) {
    // A command whose worker died (its lease expired) is pending again, ahead of the later commands of its key.
    c.execute(
        "UPDATE cmdbus_queue SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = ?1 "
        "WHERE route = ?2 AND state = 'running' AND lease_until < ?1",
        now_us, route);
    // Claimable: pending and due, and no earlier command of its key pending or running (per-key order across every
    // worker of every process). Scanned in seq order (index cmdbus_queue_claim), so a claim stops at its batch size;
    // the key check is two seeks in cmdbus_queue_key.
    c.query(
        "UPDATE cmdbus_queue SET state = 'running', lease_owner = ?1, lease_until = ?2, attempts = attempts + 1, "
        "updated_at = ?3 "
        "WHERE seq IN (SELECT q.seq FROM cmdbus_queue q "
        "  WHERE q.route = ?4 AND q.state = 'pending' AND q.available_at <= ?3 "
        "    AND (q.partition_key IS NULL OR NOT EXISTS (SELECT 1 FROM cmdbus_queue p "
        "      WHERE p.route = q.route AND p.partition_key = q.partition_key AND p.state IN ('pending', 'running') "
        "        AND p.seq < q.seq)) "
        "  ORDER BY q.seq LIMIT ?5) "
        "RETURNING seq, envelope, attempts",
        [&](const sqlite::row& r) {
          out.push_back({r.get<std::int64_t>(0), r.get<std::string>(1), r.get<std::uint32_t>(2)});
        },
        worker, until_us, now_us, route, static_cast<std::int64_t>(batch));
  });
  std::sort(out.begin(), out.end(), [](const claimed& a, const claimed& b) { return a.seq < b.seq; });
  return out;
}

void sqlite_queue::renew(const std::vector<std::int64_t>& seqs, std::string_view worker, clock::time_point until) {
  std::string list = "[";
  for (const auto seq : seqs) {
    list += std::to_string(seq);
    list += ',';
  }
  list.back() = ']';
  write(*store_, [&](sqlite::connection& c) {
    c.execute(
        "UPDATE cmdbus_queue SET lease_until = ? WHERE seq IN (SELECT value FROM json_each(?)) "
        "AND state = 'running' AND lease_owner = ?",
        micros(until), list, worker);
  });
}

void sqlite_queue::set_state(const command_id& id, command_status status, std::string_view error, clock::time_point now,
                             std::string_view worker) {
  const auto at = micros(now);
  const bool failure = !error.empty();
  write(*store_, [&](sqlite::connection& c) {
    c.execute(
        "UPDATE cmdbus_queue SET state = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL, "
        "error_message = CASE WHEN ? THEN ? ELSE error_message END, "
        "first_failure_at = CASE WHEN ? THEN coalesce(first_failure_at, ?) ELSE first_failure_at END, "
        "last_failure_at = CASE WHEN ? THEN ? ELSE last_failure_at END, "
        "failed_by = CASE WHEN ? THEN ? ELSE failed_by END "
        "WHERE id = ? AND (lease_owner = ? OR lease_owner IS NULL)",
        to_string(status), at, failure, error, failure, at, failure, at, failure, worker, id.to_string(), worker);
  });
}

void sqlite_queue::retry_at(std::int64_t seq, clock::time_point due, std::string_view error, std::string_view worker) {
  write(*store_, [&](sqlite::connection& c) {
    c.execute(
        "UPDATE cmdbus_queue SET state = 'pending', available_at = ?, lease_owner = NULL, lease_until = NULL, "
        "error_message = ? WHERE seq = ? AND lease_owner = ?",
        micros(due), error, seq, worker);
  });
}

void sqlite_queue::bury_unreadable(std::int64_t seq, std::string_view reason, clock::time_point now,
                                   std::string_view worker) {
  const auto at = micros(now);
  write(*store_, [&](sqlite::connection& c) {
    c.execute(
        "UPDATE cmdbus_queue SET state = 'dead', updated_at = ?, lease_owner = NULL, lease_until = NULL, "
        "error_message = ?, first_failure_at = coalesce(first_failure_at, ?), last_failure_at = ?, failed_by = ? "
        "WHERE seq = ?",
        at, reason, at, at, worker, seq);
  });
}

std::optional<command_state> sqlite_queue::status(const command_id& id) {
  std::optional<command_state> out;
  store_->with_connection([&](sqlite::connection& c) {
    c.query(
        "SELECT command, route, state, attempts, coalesce(error_message, ''), created_at, updated_at "
        "FROM cmdbus_queue WHERE id = ?",
        [&](const sqlite::row& r) {
          command_state s;
          s.id = id;
          s.command = r.get<std::string>(0);
          s.route = r.get<std::string>(1);
          s.status = status_named(r.get_text(2)).value_or(command_status::pending);
          s.attempts = r.get<std::uint32_t>(3);
          s.error = r.get<std::string>(4);
          s.token = consistency_token{id};
          s.accepted = from_micros(r.get<std::int64_t>(5));
          s.updated = from_micros(r.get<std::int64_t>(6));
          out = std::move(s);
        },
        id.to_string());
  });
  return out;
}

counts sqlite_queue::count(std::string_view route, clock::time_point now) {
  counts n;
  store_->with_connection([&](sqlite::connection& c) {
    c.query(
        "SELECT state, available_at > ?, count(*) FROM cmdbus_queue WHERE route = ? GROUP BY 1, 2",
        [&](const sqlite::row& r) {
          const auto st = status_named(r.get_text(0));
          const auto k = r.get<std::uint64_t>(2);
          if (st == command_status::pending) {
            (r.get<std::int64_t>(1) != 0 ? n.waiting_retry : n.pending) += k;
          } else if (st == command_status::running) {
            n.running += k;
          } else if (st == command_status::succeeded) {
            n.succeeded += k;
          } else if (st == command_status::failed) {
            n.failed += k;
          } else if (st == command_status::dead) {
            n.dead += k;
          }
        },
        micros(now), route);
  });
  return n;
}

}  // namespace cmdbus::durable::detail
