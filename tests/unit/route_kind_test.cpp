// A route kind the core never heard of: "recording", defined only in this file. It keeps the commands routed to it
// and runs them when the test says, and has one TOML key of its own (`capacity`). Registered with the builder,
// selected by the routing file, driven through execute, send and post: the seam of cmdbus/route_kind.hpp, proven
// without an edit of the core. docs/extending.md walks through it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/route_kind.hpp"
#include "cmdbus/worker.hpp"
#include "messages.hpp"

namespace {

using namespace std::chrono_literals;

/// The running route: a list of commands, run one after the other by run_all() on the calling thread.
class recording_route final : public cmdbus::route {
 public:
  recording_route(std::string name, std::uint64_t capacity, cmdbus::worker_host& host)
      : name_(std::move(name)), capacity_(capacity), host_(&host) {}

  // ---- what the bus asks of every route ----
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::string_view kind() const noexcept override { return "recording"; }

  cmdbus::command_id enqueue(cmdbus::detail::parcel& p, cmdbus::detail::partition) override {
    std::lock_guard lock(mutex_);
    const auto& info = host_->info(p.heavy != nullptr ? p.heavy->type_index : p.ops->type_index);
    if (stopping_) {
      throw cmdbus::stopping_error("recording route '" + name_ + "' is stopping; '" + std::string(info.wire_name) +
                                   "' was not accepted");
    }
    if (held_.size() >= capacity_) {
      throw cmdbus::queue_full_error("recording route '" + name_ + "' holds " + std::to_string(capacity_) +
                                     " commands (its capacity); '" + std::string(info.wire_name) +
                                     "' was not accepted");
    }
    // A command posted without options arrives by value; this kind keeps every command in an envelope.
    auto e = p.heavy != nullptr ? p.take_envelope() : host_->unpack(p);
    cmdbus::command_state s;
    s.id = e->id;
    s.command = std::string(info.wire_name);
    s.route = name_;
    s.accepted = s.updated = cmdbus::clock::now();
    states_[e->id] = s;
    held_.push_back(std::move(e));
    return held_.back()->id;
  }

  [[nodiscard]] std::chrono::milliseconds execute_timeout() const noexcept override { return 5s; }

  void stop_accepting(std::optional<cmdbus::clock::time_point>) override {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }

  /// This kind runs nothing by itself: what it still holds at a stop is not run (abandoned through the host).
  cmdbus::route_stop stop(std::optional<cmdbus::clock::time_point> give_up_at) override {
    stop_accepting(give_up_at);
    cmdbus::route_stop out;
    std::deque<std::unique_ptr<cmdbus::detail::envelope>> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(held_);
      out.completed = completed_;
    }
    for (auto& e : left) {
      out.not_run.push_back(e->id);
      host_->abandon(std::move(e), name_);
    }
    return out;
  }

  [[nodiscard]] cmdbus::route_stats stats() const override {
    std::lock_guard lock(mutex_);
    cmdbus::route_stats s;
    s.route = name_;
    s.kind = "recording";
    s.stopping = stopping_;
    s.queued = held_.size();
    s.in_flight = held_.size();
    s.completed = completed_;
    s.extras = {{"capacity", capacity_}};
    return s;
  }

  [[nodiscard]] std::optional<cmdbus::command_state> status(const cmdbus::command_id& id) const override {
    std::lock_guard lock(mutex_);
    const auto it = states_.find(id);
    return it == states_.end() ? std::nullopt : std::optional{it->second};
  }

  [[nodiscard]] std::optional<cmdbus::command_state> wait_settled(const cmdbus::command_id& id,
                                                                  cmdbus::clock::time_point until) const override {
    std::unique_lock lock(mutex_);
    const auto it = states_.find(id);
    if (it == states_.end()) {
      return std::nullopt;
    }
    settled_.wait_until(lock, until, [&] { return it->second.settled(); });
    return it->second;
  }

  [[nodiscard]] bool on_own_worker() const noexcept override { return false; }

  void note_retrying(const cmdbus::command_id& id, std::string_view error, bool) noexcept override {
    std::lock_guard lock(mutex_);
    auto& s = states_[id];
    s.status = cmdbus::command_status::pending;
    s.error = std::string(error);
  }

  void note_settled(const cmdbus::command_id& id, cmdbus::command_status status, const cmdbus::consistency_token& token,
                    std::string_view error, bool) noexcept override {
    {
      std::lock_guard lock(mutex_);
      auto& s = states_[id];
      s.status = status;
      s.token = token;
      s.error = std::string(error);
      s.updated = cmdbus::clock::now();
      ++completed_;
    }
    settled_.notify_all();
  }

  // ---- what the test drives ----
  /// Runs every command held, in order, on this thread (a retried one goes to the back). Returns how many ran.
  int run_all() {
    int ran = 0;
    for (;;) {
      std::unique_ptr<cmdbus::detail::envelope> e;
      {
        std::lock_guard lock(mutex_);
        if (held_.empty()) {
          return ran;
        }
        e = std::move(held_.front());
        held_.pop_front();
        auto& s = states_[e->id];
        s.status = cmdbus::command_status::running;
        s.attempts = ++e->attempts;
      }
      ++ran;
      const auto outcome = host_->run(*e);
      if (outcome.what == cmdbus::detail::run_outcome::kind::retry) {
        std::lock_guard lock(mutex_);
        held_.push_back(std::move(e));
      } else if (outcome.what == cmdbus::detail::run_outcome::kind::dead) {
        host_->bury(std::move(e));
      }
    }
  }
  [[nodiscard]] std::size_t held() const {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

 private:
  std::string name_;
  std::uint64_t capacity_;
  cmdbus::worker_host* host_;
  mutable std::mutex mutex_;
  mutable std::condition_variable settled_;
  std::deque<std::unique_ptr<cmdbus::detail::envelope>> held_;
  std::map<cmdbus::command_id, cmdbus::command_state> states_;
  std::uint64_t completed_ = 0;
  bool stopping_ = false;
};

/// The kind: reads `capacity`, and hands the test each route it starts.
class recording_kind final : public cmdbus::route_kind {
 public:
  [[nodiscard]] std::string_view name() const noexcept override { return "recording"; }
  [[nodiscard]] std::vector<std::string_view> keys() const override { return {"capacity"}; }
  [[nodiscard]] std::unique_ptr<cmdbus::route_plan> plan(cmdbus::route_table& table) const override {
    const auto capacity = table.integer("capacity", 1, 1000).value_or(16);
    return std::make_unique<plan_of>(capacity, started_);
  }

  /// The route started under this name (null before the bus starts).
  [[nodiscard]] recording_route* route(const std::string& name) const {
    const auto it = started_->find(name);
    return it == started_->end() ? nullptr : it->second;
  }

 private:
  using started_routes = std::map<std::string, recording_route*>;
  class plan_of final : public cmdbus::route_plan {
   public:
    plan_of(std::uint64_t capacity, std::shared_ptr<started_routes> started)
        : capacity_(capacity), started_(std::move(started)) {}
    [[nodiscard]] std::unique_ptr<cmdbus::route> start(const std::string& name, cmdbus::worker_host& host) override {
      auto r = std::make_unique<recording_route>(name, capacity_, host);
      (*started_)[name] = r.get();
      return r;
    }

   private:
    std::uint64_t capacity_;
    std::shared_ptr<started_routes> started_;
  };
  std::shared_ptr<started_routes> started_ = std::make_shared<started_routes>();
};

/// A kind whose routes would carry commands out of the process: it needs commands it can encode.
class remote_kind final : public cmdbus::route_kind {
 public:
  [[nodiscard]] std::string_view name() const noexcept override { return "remote"; }
  [[nodiscard]] std::vector<std::string_view> keys() const override { return {}; }
  [[nodiscard]] std::unique_ptr<cmdbus::route_plan> plan(cmdbus::route_table&) const override {
    class needs_bytes final : public cmdbus::route_plan {
     public:
      [[nodiscard]] bool needs_encoding() const noexcept override { return true; }
      [[nodiscard]] std::unique_ptr<cmdbus::route> start(const std::string&, cmdbus::worker_host&) override {
        throw std::logic_error("remote_kind: a route that refused its commands must never start");
      }
    };
    return std::make_unique<needs_bytes>();
  }
};

constexpr const char* tape_config = R"([routes.tape]
kind = "recording"
capacity = 3

[commands]
"test.add" = "tape"
"test.ping" = "tape"
)";

struct recording_bus {
  std::shared_ptr<recording_kind> kind = std::make_shared<recording_kind>();
  std::atomic<int> pings{0};
  std::unique_ptr<cmdbus::bus> bus;

  explicit recording_bus(const char* config = tape_config) {
    cmdbus::bus_builder b;
    b.route_kind(kind);
    b.handle<test::Add>([](const test::Add& c) { return c.a + c.b; });
    b.handle<test::Ping>([this](const test::Ping&) { ++pings; });
    b.config_text(config, "app.toml");
    bus = std::make_unique<cmdbus::bus>(std::move(b));
  }
  [[nodiscard]] recording_route& tape() const { return *kind->route("tape"); }
};

std::string config_error_of(cmdbus::bus_builder b) {
  try {
    cmdbus::bus bus{std::move(b)};
  } catch (const cmdbus::config_error& e) {
    return e.what();
  }
  return "(no config_error)";
}

TEST(RouteKind, AKindRegisteredOnTheBuilderIsChosenByTheRoutingFile) {
  recording_bus r;
  ASSERT_NE(r.kind->route("tape"), nullptr) << "the bus started the route";
  const auto routes = r.bus->routes();
  ASSERT_EQ(routes.size(), 2U);
  for (const auto& e : routes) {
    EXPECT_EQ(e.route, "tape") << e.command;
    EXPECT_EQ(e.kind, "recording") << e.command;
    EXPECT_EQ(e.origin.rfind("app.toml:", 0), 0U) << e.origin;
  }
}

TEST(RouteKind, PostReturnsAtOnceAndTheCommandRunsWhenTheRouteRunsIt) {
  recording_bus r;
  const auto id = r.bus->post(test::Ping{});
  EXPECT_EQ(r.pings.load(), 0) << "held by the route, not run on the caller's thread";
  EXPECT_EQ(r.tape().held(), 1U);
  auto pending = r.bus->status(id);
  ASSERT_TRUE(pending.has_value()) << "the bus finds the status at the route that owns the id";
  EXPECT_EQ(pending->status, cmdbus::command_status::pending);
  EXPECT_EQ(pending->route, "tape");

  EXPECT_EQ(r.tape().run_all(), 1);
  EXPECT_EQ(r.pings.load(), 1);
  const auto done = r.bus->status(id);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(done->attempts, 1U);
}

TEST(RouteKind, SendGivesAHandleThatCompletesWhenTheRouteRunsTheCommand) {
  recording_bus r;
  auto h = r.bus->send(test::Add{2, 3});
  EXPECT_FALSE(h.ready());
  EXPECT_EQ(r.tape().run_all(), 1);
  ASSERT_TRUE(h.ready());
  EXPECT_EQ(h.get(), 5);
}

TEST(RouteKind, ExecuteWaitsForTheOutcomeFromAnotherThread) {
  recording_bus r;
  std::thread runner([&] {
    while (r.tape().held() == 0) {
      std::this_thread::sleep_for(1ms);
    }
    (void)r.tape().run_all();
  });
  EXPECT_EQ(r.bus->execute(test::Add{40, 2}), 42);
  runner.join();
}

TEST(RouteKind, StatsAreTheCommonFieldsPlusTheKindsOwn) {
  recording_bus r;
  (void)r.bus->post(test::Ping{});
  (void)r.bus->post(test::Ping{});
  const auto stats = r.bus->queue_stats();
  ASSERT_EQ(stats.size(), 1U);
  EXPECT_EQ(stats[0].route, "tape");
  EXPECT_EQ(stats[0].kind, "recording");
  EXPECT_EQ(stats[0].queued, 2U);
  EXPECT_EQ(stats[0].value("capacity"), 3U);
  EXPECT_EQ(stats[0].value("workers"), std::nullopt) << "another kind's value";
  (void)r.tape().run_all();
  EXPECT_EQ(r.bus->queue_stats()[0].completed, 2U);
}

TEST(RouteKind, AFullRouteRefusesWithItsOwnErrorAndKeepsWhatItHeld) {
  recording_bus r;
  for (int i = 0; i < 3; ++i) {
    (void)r.bus->post(test::Ping{});
  }
  try {
    (void)r.bus->post(test::Ping{});
    FAIL() << "a fourth command fit a route of capacity 3";
  } catch (const cmdbus::queue_full_error& e) {
    EXPECT_NE(std::string(e.what()).find("recording route 'tape' holds 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.tape().run_all(), 3) << "the three accepted commands are still there";
  EXPECT_EQ(r.pings.load(), 3);
}

TEST(RouteKind, StopReportsWhatTheRouteDidNotRunAndItBecomesADeadLetter) {
  recording_bus r;
  const auto kept = r.bus->post(test::Ping{});
  const auto report = r.bus->stop();
  ASSERT_EQ(report.not_run.size(), 1U);
  EXPECT_EQ(report.not_run[0], kept);
  EXPECT_THROW((void)r.bus->post(test::Ping{}), cmdbus::stopping_error);
  const auto dead = r.bus->dead_letters().list();
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].id, kept);
  EXPECT_EQ(dead[0].route, "tape");
}

TEST(RouteKind, AnUnknownKeyOfTheKindIsAnErrorAtFileAndLineWithTheNearestName) {
  cmdbus::bus_builder b;
  b.route_kind(std::make_shared<recording_kind>());
  b.handle<test::Ping>([](const test::Ping&) {});
  b.config_text("[routes.tape]\nkind = \"recording\"\ncapacty = 3\n[commands]\n\"test.ping\" = \"tape\"\n", "app.toml");
  const auto what = config_error_of(std::move(b));
  EXPECT_NE(what.find("app.toml:3"), std::string::npos) << what;
  EXPECT_NE(what.find("capacty"), std::string::npos) << what;
  EXPECT_NE(what.find("capacity"), std::string::npos) << "the nearest name: " << what;
}

TEST(RouteKind, ABadValueOfTheKindsOwnKeyIsAnErrorAtItsLine) {
  cmdbus::bus_builder b;
  b.route_kind(std::make_shared<recording_kind>());
  b.handle<test::Ping>([](const test::Ping&) {});
  b.config_text("[routes.tape]\nkind = \"recording\"\n\ncapacity = 0\n[commands]\n\"test.ping\" = \"tape\"\n",
                "app.toml");
  const auto what = config_error_of(std::move(b));
  EXPECT_NE(what.find("app.toml:4"), std::string::npos) << what;
  EXPECT_NE(what.find("capacity"), std::string::npos) << what;
}

TEST(RouteKind, WithoutTheKindRegisteredTheRouteIsAnErrorNamingTheKindsAvailable) {
  cmdbus::bus_builder b;
  b.handle<test::Ping>([](const test::Ping&) {});
  b.config_text("[routes.tape]\nkind = \"recording\"\n[commands]\n\"test.ping\" = \"tape\"\n", "app.toml");
  const auto what = config_error_of(std::move(b));
  EXPECT_NE(what.find("app.toml:1"), std::string::npos) << what;
  EXPECT_NE(what.find("kind 'recording', which this build does not provide"), std::string::npos) << what;
}

TEST(RouteKind, TwoKindsOfOneNameOnABuilderAreARegistrationError) {
  cmdbus::bus_builder b;
  b.route_kind(std::make_shared<recording_kind>());
  EXPECT_THROW(b.route_kind(std::make_shared<recording_kind>()), cmdbus::registration_error);
  EXPECT_THROW(b.route_kind(nullptr), cmdbus::registration_error);
}

TEST(RouteKind, ACommandThatCannotBeEncodedIsRefusedByARouteThatNeedsBytesNamingCommandRouteAndLine) {
  cmdbus::bus_builder b;
  b.route_kind(std::make_shared<remote_kind>());
  b.handle<test::Add>([](const test::Add& c) { return c.a + c.b; });
  b.config_text("[routes.away]\nkind = \"remote\"\n[commands]\n\"test.add\" = \"away\"\n", "app.toml");
  const auto what = config_error_of(std::move(b));
  EXPECT_NE(what.find("command 'test.add'"), std::string::npos) << what;
  EXPECT_NE(what.find("route 'away'"), std::string::npos) << what;
  EXPECT_NE(what.find("app.toml:4"), std::string::npos) << "where it was routed: " << what;
  EXPECT_NE(what.find("cannot be encoded"), std::string::npos) << what;
}

}  // namespace
