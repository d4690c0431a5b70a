// The pipeline: order, enrichment, short-circuit, validation, metrics, logging.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <vector>

#include "cmdbus/logging.hpp"
#include "messages.hpp"

namespace {

struct recorder final : cmdbus::middleware {
  recorder(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(&log) {}
  void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
    log_->push_back(name_ + ">" + std::string{call.message().wire_name});
    next();
    log_->push_back("<" + name_);
  }
  std::string name_;
  std::vector<std::string>* log_;
};

TEST(Middleware, GlobalInUseOrderThenPerTypeInsideThem) {
  std::vector<std::string> log;
  cmdbus::bus_builder b;
  b.handle<test::Ping>([&](const test::Ping&) { log.push_back("handler"); });
  b.handle<test::Add>([&](const test::Add& c) { return c.a; });
  b.use(std::make_shared<recorder>("outer", log));
  b.use<test::Ping>(std::make_shared<recorder>("ping-only", log));
  b.use(std::make_shared<recorder>("inner", log));
  cmdbus::bus bus{std::move(b)};
  bus.execute(test::Ping{});
  EXPECT_EQ(log, (std::vector<std::string>{"outer>test.ping", "inner>test.ping", "ping-only>test.ping", "handler",
                                           "<ping-only", "<inner", "<outer"}));
  log.clear();
  bus.execute(test::Add{1, 2});
  EXPECT_EQ(log, (std::vector<std::string>{"outer>test.add", "inner>test.add", "<inner", "<outer"}));
}

TEST(Middleware, ObservesResultAndError) {
  struct observer final : cmdbus::middleware {
    void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
      EXPECT_EQ(call.result<int>(), nullptr) << "no result before the handler ran";
      try {
        next();
      } catch (const std::exception& e) {
        errors.emplace_back(e.what());
        throw;
      }
      if (const int* r = call.result<int>()) {
        results.push_back(*r);
      }
      EXPECT_EQ(call.result<long>(), nullptr) << "wrong result type gives nullptr";
    }
    std::vector<int> results;
    std::vector<std::string> errors;
  };
  auto obs = std::make_shared<observer>();
  cmdbus::bus_builder b;
  b.use(obs);
  b.handle<test::Add>([](const test::Add& c) {
    if (c.a < 0) {
      throw test::ledger_corrupt("negative");
    }
    return c.a + c.b;
  });
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.execute(test::Add{2, 3}), 5);
  EXPECT_THROW(bus.execute(test::Add{-1, 0}), test::ledger_corrupt);
  EXPECT_EQ(obs->results, std::vector<int>{5});
  EXPECT_EQ(obs->errors, std::vector<std::string>{"negative"});
}

TEST(Middleware, ShortCircuitWithAResultSkipsTheHandler) {
  struct cache final : cmdbus::middleware {
    void invoke(cmdbus::invocation& call, cmdbus::next_step next) override {
      if (const auto* add = call.payload_as<test::Add>(); add != nullptr && add->a == 7) {
        call.set_result(777);
        return;
      }
      next();
    }
  };
  int runs = 0;
  cmdbus::bus_builder b;
  b.use(std::make_shared<cache>());
  b.handle<test::Add>([&](const test::Add& c) {
    ++runs;
    return c.a + c.b;
  });
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.execute(test::Add{7, 0}), 777);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(bus.execute(test::Add{1, 0}), 1);
  EXPECT_EQ(runs, 1);
}

TEST(Middleware, ShortCircuitWithoutAResultIsAClearError) {
  struct swallow final : cmdbus::middleware {
    void invoke(cmdbus::invocation&, cmdbus::next_step) override {}
  };
  cmdbus::bus_builder b;
  b.use(std::make_shared<swallow>());
  b.handle<test::Add>([](const test::Add& c) { return c.a; });
  cmdbus::bus bus{std::move(b)};
  try {
    (void)bus.execute(test::Add{1, 1});
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string{e.what()}.find("without calling next() or set_result()"), std::string::npos);
  }
}

TEST(Middleware, ValidationRejectsAndTheHandlerDoesNotRun) {
  int runs = 0;
  cmdbus::bus_builder b;
  b.handle<test::Withdraw>([&](const test::Withdraw& w) {
    ++runs;
    return w.amount;
  });
  cmdbus::bus bus{std::move(b)};  // no middleware added: validation is built in for types with validate()
  try {
    (void)bus.execute(test::Withdraw{"a", -3});
    FAIL() << "no exception";
  } catch (const cmdbus::validation_error& e) {
    EXPECT_STREQ(e.what(), "test.withdraw rejected: amount must be positive, got -3");
  }
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(bus.execute(test::Withdraw{"a", 3}), 3);
  EXPECT_EQ(runs, 1);
}

struct Strict {
  static constexpr std::string_view command_name = "test.strict";
  void validate() const { throw std::invalid_argument("no, never"); }
};

TEST(Middleware, ValidateThatThrowsIsARejection) {
  bool ran = false;
  cmdbus::bus_builder b;
  b.handle<Strict>([&](const Strict&) { ran = true; });
  cmdbus::bus bus{std::move(b)};
  const auto r = bus.try_execute(Strict{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), cmdbus::error_code::rejected);
  EXPECT_EQ(r.error().message(), "test.strict rejected: no, never");
  EXPECT_FALSE(ran);
}

TEST(Middleware, MetricsCountOutcomesAndLatencyPerType) {
  auto metrics = cmdbus::make_metrics();
  cmdbus::bus_builder b;
  b.use(metrics);
  b.handle<test::Withdraw>([](const test::Withdraw& w) -> long {
    if (w.account == "x") {
      throw test::ledger_corrupt("x");
    }
    if (w.account == "t") {
      throw cmdbus::transient_error("t");
    }
    return w.amount;
  });
  b.handle<test::Ping>([](const test::Ping&) {});
  cmdbus::bus bus{std::move(b)};
  for (int i = 0; i < 5; ++i) {
    (void)bus.execute(test::Withdraw{"a", 1});
  }
  (void)bus.try_execute(test::Withdraw{"a", -1});
  (void)bus.try_execute(test::Withdraw{"x", 1});
  (void)bus.try_execute(test::Withdraw{"t", 1});
  const auto m = metrics->of("test.withdraw");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->count, 8U);
  EXPECT_EQ(m->succeeded, 5U);
  EXPECT_EQ(m->rejected, 1U);
  EXPECT_EQ(m->fatal, 1U);
  EXPECT_EQ(m->transient, 1U);
  EXPECT_EQ(m->failures(), 3U);
  EXPECT_EQ(m->latency.total(), 8U);
  EXPECT_GE(m->latency.quantile(0.99), m->latency.quantile(0.5));
  EXPECT_EQ(metrics->of("test.ping")->count, 0U);
  EXPECT_FALSE(metrics->of("test.nope"));
  EXPECT_EQ(metrics->snapshot().size(), 2U);
}

TEST(Middleware, HistogramQuantilesBoundTheTrueValue) {
  cmdbus::latency_histogram h;
  for (std::uint64_t ns : {100U, 200U, 300U, 5000U}) {
    h.counts[cmdbus::latency_histogram::bucket_of(ns)]++;
  }
  EXPECT_EQ(h.quantile(0.5).count(), 256);  // 200 ns lies in [128, 256)
  EXPECT_EQ(h.quantile(1.0).count(), 8192);
}

TEST(Middleware, LoggingWritesOneStructuredLinePerCommand) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_pattern("%l %v");
  cmdbus::bus_builder b;
  b.use(cmdbus::make_logging(logger));
  b.handle<test::Withdraw>([](const test::Withdraw& w) { return w.amount; });
  cmdbus::bus bus{std::move(b)};
  const auto id = bus.post(test::Withdraw{"a", 4});
  (void)bus.try_execute(test::Withdraw{"a", -4});
  const auto text = out.str();
  EXPECT_NE(text.find("info command=test.withdraw id=" + id.to_string() + " correlation=" + id.to_string() +
                      " causation=- duration_us="),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("outcome=ok"), std::string::npos) << text;
  EXPECT_NE(text.find("warning command=test.withdraw"), std::string::npos) << text;
  EXPECT_NE(text.find("outcome=rejected error_type=cmdbus::validation_error error=\"test.withdraw rejected: amount "
                      "must be positive, got -4\""),
            std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(Middleware, LoggingBelowItsLevelWritesNothing) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("quiet", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_level(spdlog::level::err);
  cmdbus::bus_builder b;
  b.use(cmdbus::make_logging(logger));
  b.handle<test::Ping>([](const test::Ping&) {});
  cmdbus::bus bus{std::move(b)};
  bus.execute(test::Ping{});
  EXPECT_TRUE(out.str().empty()) << out.str();
}

}  // namespace

namespace {

TEST(Middleware, MetricsSeeDeadlineRejections) {
  auto metrics = cmdbus::make_metrics();
  bool ran = false;
  cmdbus::bus_builder b;
  b.use(metrics);
  b.handle<test::Ping>([&](const test::Ping&) { ran = true; });
  cmdbus::bus bus{std::move(b)};
  EXPECT_THROW(bus.execute(test::Ping{}, cmdbus::dispatch_options::within(-std::chrono::milliseconds(1))),
               cmdbus::deadline_exceeded_error);
  EXPECT_FALSE(ran);
  EXPECT_EQ(metrics->of("test.ping")->rejected, 1U);
}

TEST(Middleware, LoggingAtWarnStillLogsFailures) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("warn", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_level(spdlog::level::warn);
  cmdbus::bus_builder b;
  b.use(cmdbus::make_logging(logger));
  b.handle<test::Withdraw>([](const test::Withdraw& w) { return w.amount; });
  cmdbus::bus bus{std::move(b)};
  (void)bus.execute(test::Withdraw{"a", 1});
  EXPECT_TRUE(out.str().empty()) << "success lines are below warn";
  (void)bus.try_execute(test::Withdraw{"a", -1});
  EXPECT_NE(out.str().find("outcome=rejected"), std::string::npos) << out.str();
}

}  // namespace
