// The bank's handlers, queries and projections, written once for every store backend (common/sql.hpp).
#include <fmt/format.h>

#include <cmdbus/bus.hpp>
#include <cmdbus/context.hpp>
#include <cmdbus/durable.hpp>
#if defined(EXAMPLES_WITH_POSTGRES)
#include <cmdbus/durable/postgres.hpp>
#endif
#include <cmdbus/retry.hpp>
#include <exception>
#include <limits>
#include <memory>
#include <utility>

#include "bank/bank_core.hpp"
#include "common/report.hpp"

namespace bank {

std::string account_label(account_id id) {
  return fmt::format("ACC-{}", id);
}

namespace {

// ---- the SQL, written once with $N parameters; sql_for() adapts it to the store in use ---------------------------

constexpr std::string_view debit_sql =
    "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 AND frozen = 0";
constexpr std::string_view credit_sql = "UPDATE accounts SET balance = balance + $1 WHERE id = $2 AND frozen = 0";
constexpr std::string_view record_transfer_sql =
    "INSERT INTO transfer_view (from_account, to_account, amount) VALUES ($1, $2, $3)";

struct statements {
  explicit statements(examples::dialect d)
      : debit(examples::sql_for(d, debit_sql)),
        credit(examples::sql_for(d, credit_sql)),
        record_transfer(examples::sql_for(d, record_transfer_sql)),
        record_deposit(
            examples::sql_for(d, "INSERT INTO transfer_view (from_account, to_account, amount) VALUES (NULL, $1, $2)")),
        record_withdrawal(
            examples::sql_for(d, "INSERT INTO transfer_view (from_account, to_account, amount) VALUES ($1, NULL, $2)")),
        open(examples::sql_for(d, "INSERT INTO accounts (owner) VALUES ($1) RETURNING id")),
        deposit(examples::sql_for(
            d, "UPDATE accounts SET balance = balance + $1 WHERE id = $2 AND frozen = 0 RETURNING balance")),
        withdraw(examples::sql_for(
            d, "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND frozen = 0 RETURNING balance")),
        state(examples::sql_for(d, "SELECT balance, frozen FROM accounts WHERE id = $1")),
        freeze(examples::sql_for(d, "UPDATE accounts SET frozen = 1 WHERE id = $1")),
        balance(examples::sql_for(d, "SELECT balance FROM account_summary WHERE account = $1")),
        list_transfers(examples::sql_for(d,
                                         "SELECT seq, from_account, to_account, amount FROM transfer_view "
                                         "WHERE from_account = $1 OR to_account = $1 ORDER BY seq DESC LIMIT $2")),
        list_accounts(
            examples::sql_for(d, "SELECT account, owner, balance, frozen FROM account_summary ORDER BY account")),
        audit_accounts(examples::sql_for(
            d,
            "SELECT s.account, s.balance, "
            "CAST((SELECT COALESCE(SUM(t.amount), 0) FROM transfer_view t WHERE t.to_account = s.account) - "
            "(SELECT COALESCE(SUM(t.amount), 0) FROM transfer_view t WHERE t.from_account = s.account) AS BIGINT) "
            "FROM account_summary s ORDER BY s.account")),
        audit_lines(examples::sql_for(d,
                                      "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN from_account IS NULL THEN amount "
                                      "WHEN to_account IS NULL THEN -amount ELSE 0 END), 0) AS BIGINT) "
                                      "FROM transfer_view")) {}

  std::string debit, credit, record_transfer, record_deposit, record_withdrawal;
  std::string open, deposit, withdraw, state, freeze;
  std::string balance, list_transfers, list_accounts, audit_accounts, audit_lines;
};

// ---- why an UPDATE changed no row: only asked once it did not, so the successful path pays nothing for it ---------

enum class direction : unsigned char { out_of, into };

template <class Backend>
[[noreturn]] void refuse(typename Backend::connection& db, const statements& sql, account_id id, direction dir,
                         money amount) {
  bool found = false;
  money balance = 0;
  bool frozen = false;
  db.query(
      sql.state,
      [&](const typename Backend::row& r) {
        found = true;
        balance = r.template get<money>(0);
        frozen = r.template get<std::int64_t>(1) != 0;
      },
      id);
  if (!found) {
    throw account_not_found(fmt::format("no account {}", account_label(id)));
  }
  if (frozen) {
    throw account_frozen(fmt::format("account {} is frozen; no money may move {} it", account_label(id),
                                     dir == direction::out_of ? "out of" : "into"));
  }
  throw insufficient_funds(fmt::format("account {} holds {}, cannot pay {}", account_label(id),
                                       examples::format_money(balance), examples::format_money(amount)));
}

template <class Backend>
void register_handlers(cmdbus::bus_builder& b) {
  const auto sql = std::make_shared<const statements>(Backend::dialect);

  b.handle<OpenAccount>([sql](const OpenAccount& c, cmdbus::context& ctx) {
    const auto id = Backend::connection_of(ctx).template query_one<account_id>(sql->open, c.owner);
    ctx.emit(AccountOpened{id.value(), c.owner});
    return id.value();
  });

  b.handle<Deposit>([sql](const Deposit& c, cmdbus::context& ctx) {
    auto& db = Backend::connection_of(ctx);
    const auto balance = db.template query_one<money>(sql->deposit, c.amount, c.account);
    if (!balance) {
      refuse<Backend>(db, *sql, c.account, direction::into, c.amount);
    }
    ctx.emit(MoneyDeposited{c.account, c.amount});
    return *balance;
  });

  // No balance check here: an overdraft breaks the CHECK constraint balance_not_negative, and the store reports
  // that as a constraint_error (rejected) naming the constraint.
  b.handle<Withdraw>([sql](const Withdraw& c, cmdbus::context& ctx) {
    auto& db = Backend::connection_of(ctx);
    const auto balance = db.template query_one<money>(sql->withdraw, c.amount, c.account);
    if (!balance) {
      refuse<Backend>(db, *sql, c.account, direction::out_of, c.amount);
    }
    ctx.emit(MoneyWithdrawn{c.account, c.amount});
    return *balance;
  });

  // The hot path: two UPDATEs and, in the projection, one INSERT. The debit checks the balance in its WHERE clause,
  // so an overdraft changes nothing and is reported as the domain's insufficient_funds. The payee is checked only
  // by the credit, after the debit: a frozen payee throws there, and the unit of work rolls the debit back.
  b.handle<Transfer>([sql](const Transfer& t, cmdbus::context& ctx) {
    auto& db = Backend::connection_of(ctx);
    if (db.execute(sql->debit, t.amount, t.from) != 1) [[unlikely]] {
      refuse<Backend>(db, *sql, t.from, direction::out_of, t.amount);
    }
    if (db.execute(sql->credit, t.amount, t.to) != 1) [[unlikely]] {
      refuse<Backend>(db, *sql, t.to, direction::into, t.amount);
    }
    ctx.emit(MoneyTransferred{t.from, t.to, t.amount});
  });

  b.handle<FreezeAccount>([sql](const FreezeAccount& c, cmdbus::context& ctx) {
    if (Backend::connection_of(ctx).execute(sql->freeze, c.account) != 1) {
      throw account_not_found(fmt::format("no account {}", account_label(c.account)));
    }
  });

  // Nested commands: each Transfer joins this command's transaction under a SAVEPOINT. Catching a payment's failure
  // undoes that payment alone; letting it through (all_or_nothing) rolls the whole payroll back. Transient errors
  // always go through: the outermost command retries the whole.
  b.handle<Payroll>([](const Payroll& p, cmdbus::context& ctx) {
    payroll_result result;
    for (const auto& pay : p.payments) {
      try {
        ctx.bus().execute(Transfer{p.from, pay.to, pay.amount});
        ++result.paid;
      } catch (const cmdbus::transient_error&) {
        throw;
      } catch (const std::exception& e) {
        if (p.all_or_nothing) {
          throw;
        }
        result.skipped.push_back(
            fmt::format("{} {}: {}", account_label(pay.to), examples::format_money(pay.amount), e.what()));
      }
    }
    return result;
  });

  // ---- projections: the read model, in the command's transaction -----------------------------------------------
  b.project<MoneyTransferred>([sql](const MoneyTransferred& e, cmdbus::context& ctx) {
    Backend::connection_of(ctx).execute(sql->record_transfer, e.from, e.to, e.amount);
  });
  b.project<MoneyDeposited>([sql](const MoneyDeposited& e, cmdbus::context& ctx) {
    Backend::connection_of(ctx).execute(sql->record_deposit, e.account, e.amount);
  });
  b.project<MoneyWithdrawn>([sql](const MoneyWithdrawn& e, cmdbus::context& ctx) {
    Backend::connection_of(ctx).execute(sql->record_withdrawal, e.account, e.amount);
  });

  // ---- queries: from the read model ------------------------------------------------------------------------------
  b.handle<GetBalance>([sql](const GetBalance& q, cmdbus::context& ctx) {
    const auto balance = Backend::connection_of(ctx).template query_one<money>(sql->balance, q.account);
    if (!balance) {
      throw account_not_found(fmt::format("no account {}", account_label(q.account)));
    }
    return *balance;
  });

  b.handle<ListTransfers>([sql](const ListTransfers& q, cmdbus::context& ctx) {
    std::vector<transfer_line> lines;
    const std::int64_t limit = q.limit > 0 ? q.limit : std::numeric_limits<std::int64_t>::max();
    Backend::connection_of(ctx).query(
        sql->list_transfers,
        [&](const typename Backend::row& r) {
          transfer_line l;
          l.seq = r.template get<std::int64_t>(0);
          if (!r.is_null(1)) {
            l.from = r.template get<account_id>(1);
          }
          if (!r.is_null(2)) {
            l.to = r.template get<account_id>(2);
          }
          l.amount = r.template get<money>(3);
          lines.push_back(l);
        },
        q.account, limit);
    return lines;
  });

  b.handle<ListAccounts>([sql](const ListAccounts&, cmdbus::context& ctx) {
    std::vector<account_view> accounts;
    Backend::connection_of(ctx).query(sql->list_accounts, [&](const typename Backend::row& r) {
      accounts.push_back(account_view{r.template get<account_id>(0), r.template get<std::string>(1),
                                      r.template get<money>(2), r.template get<std::int64_t>(3) != 0});
    });
    return accounts;
  });

  b.handle<AuditBank>([sql](const AuditBank&, cmdbus::context& ctx) {
    auto& db = Backend::connection_of(ctx);
    audit_report report;
    db.query(sql->audit_accounts, [&](const typename Backend::row& r) {
      const auto id = r.template get<account_id>(0);
      const auto balance = r.template get<money>(1);
      ++report.accounts;
      report.total_balance += balance;
      if (balance != r.template get<money>(2)) {
        report.mismatched.push_back(id);
      }
      if (balance < 0) {
        report.negative.push_back(id);
      }
    });
    db.query(sql->audit_lines, [&](const typename Backend::row& r) {
      report.lines = r.template get<std::int64_t>(0);
      report.net_deposits = r.template get<money>(1);
    });
    return report;
  });
}

template <class Backend>
void register_on(cmdbus::bus_builder& b, typename Backend::store& store, const cmdbus::retry_policy& retry,
                 durability d) {
  if (d == durability::durable_routes) {
    b.route_kind(cmdbus::durable::kind(store));
  }
  b.use(cmdbus::make_retry(retry));  // outside the unit of work: each attempt gets a new transaction
  b.use(store.unit_of_work());
  if (d == durability::durable_routes) {
    b.use(cmdbus::durable::inbox(store));  // inside the unit of work: the done mark commits with the effects
  }
  register_handlers<Backend>(b);
}

}  // namespace

std::string schema_sql(examples::dialect d) {
  // The same tables for every store; only the types of generated keys differ.
  const bool pg = d == examples::dialect::postgres;
  return fmt::format(R"sql(
-- Write model.
CREATE TABLE IF NOT EXISTS accounts (
  id {0},
  owner TEXT NOT NULL,
  balance BIGINT NOT NULL DEFAULT 0,
  frozen INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT balance_not_negative CHECK (balance >= 0)
);
-- Read model, kept by projections in the command's transaction: one line per movement of money. No secondary
-- index on purpose: in SQLite each index is one more page written per transfer (about a quarter of the throughput).
CREATE TABLE IF NOT EXISTS transfer_view (
  seq {1},
  from_account BIGINT,
  to_account BIGINT,
  amount BIGINT NOT NULL
);
-- Read model of the balances: a view of the write model, which a transfer updates anyway.
{2} account_summary AS SELECT id AS account, owner, balance, frozen FROM accounts;
)sql",
                     pg ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY",
                     pg ? "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY",
                     pg ? "CREATE OR REPLACE VIEW" : "CREATE VIEW IF NOT EXISTS");
}

std::string drop_sql() {
  return "DROP VIEW IF EXISTS account_summary; DROP TABLE IF EXISTS transfer_view; DROP TABLE IF EXISTS accounts;";
}

void create_schema(examples::database& db, bool fresh) {
  examples::apply_schema(db, drop_sql(), schema_sql(db.dialect()), fresh);
}

void create_schema(cmdbus::sqlite::store& store, bool fresh) {
  examples::apply_schema(store, drop_sql(), schema_sql(examples::dialect::sqlite), fresh);
}

void register_bank(cmdbus::bus_builder& b, examples::database& db, const cmdbus::retry_policy& retry, durability d) {
  db.visit([&]<class Backend>(Backend, typename Backend::store& store) { register_on<Backend>(b, store, retry, d); });
}

void register_bank(cmdbus::bus_builder& b, cmdbus::sqlite::store& store, const cmdbus::retry_policy& retry,
                   durability d) {
  register_on<examples::sqlite_backend>(b, store, retry, d);
}

void create_durable_table(examples::database& db) {
  db.visit([](auto, auto& store) { cmdbus::durable::migrate(store); });
}

void register_notifications(cmdbus::bus_builder& b, mailbox& mail) {
  b.subscribe<AccountOpened>([&mail](const AccountOpened& e) {
    mail.send(e.account, fmt::format("Welcome, {}! Your account is {}.", e.owner, account_label(e.account)));
  });
  b.subscribe<MoneyTransferred>([&mail](const MoneyTransferred& e) {
    mail.send(e.to, fmt::format("You received {} from {}.", examples::format_money(e.amount), account_label(e.from)));
  });
}

transfer_statements transfer_sql(examples::dialect d) {
  return {examples::sql_for(d, debit_sql), examples::sql_for(d, credit_sql), examples::sql_for(d, record_transfer_sql)};
}

}  // namespace bank
