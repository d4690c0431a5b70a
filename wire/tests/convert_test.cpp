// From a command the bus holds to its wire form and back to a command a worker runs: the same handler, with its
// context (id, correlation, causation, trace, deadline, headers, attempt) restored; and a clear reason, never a
// crash, when the bytes cannot become a command here.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/wire/convert.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "cmdbus/wire/json_codec.hpp"

namespace wire_test {

struct Transfer {
  static constexpr std::string_view command_name = "bank.transfer";
  using result_type = long;
  std::string from;
  std::string to;
  long amount = 0;
  [[nodiscard]] const std::string& partition_key() const { return from; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Transfer, from, to, amount)

/// Every field required: a payload without one does not decode.
struct Strict {
  static constexpr std::string_view command_name = "test.strict";
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Strict, n)

/// No codec: it cannot come from the wire.
struct Local {
  static constexpr std::string_view command_name = "test.local";
};

}  // namespace wire_test

CMDBUS_JSON_CODEC(wire_test::Transfer, 2);
CMDBUS_JSON_CODEC(wire_test::Strict, 1);

namespace {

using namespace std::chrono_literals;
using cmdbus::wire::from_wire;
using cmdbus::wire::wire_envelope;
using wire_test::Transfer;

struct seen {
  Transfer command;
  cmdbus::command_id id, correlation, causation;
  std::string traceparent;
  std::optional<cmdbus::clock::time_point> deadline;
  std::string tenant;
  std::uint32_t attempt = 0;
};

/// A route that carries commands out of the process (needs_encoding) and runs nothing itself: the test takes the
/// commands off "the wire" and runs them through the worker host, as a durable or Kafka worker does.
class wire_route final : public cmdbus::route {
 public:
  explicit wire_route(std::string name) : name_(std::move(name)) {}
  cmdbus::command_id enqueue(cmdbus::detail::parcel& p, cmdbus::detail::partition) override {
    (void)p;
    throw std::logic_error("this test puts commands on the wire itself");
  }
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::string_view kind() const noexcept override { return "wire"; }
  [[nodiscard]] std::chrono::milliseconds execute_timeout() const noexcept override { return 1s; }
  void stop_accepting(std::optional<cmdbus::clock::time_point>) override {}
  cmdbus::route_stop stop(std::optional<cmdbus::clock::time_point>) override { return {}; }
  [[nodiscard]] cmdbus::route_stats stats() const override { return {}; }
  [[nodiscard]] std::optional<cmdbus::command_state> status(const cmdbus::command_id&) const override {
    return std::nullopt;
  }
  [[nodiscard]] std::optional<cmdbus::command_state> wait_settled(const cmdbus::command_id&,
                                                                  cmdbus::clock::time_point) const override {
    return std::nullopt;
  }
  [[nodiscard]] bool on_own_worker() const noexcept override { return false; }
  void note_retrying(const cmdbus::command_id&, std::string_view, bool) noexcept override {}
  void note_settled(const cmdbus::command_id&, cmdbus::command_status status, const cmdbus::consistency_token&,
                    std::string_view, bool) noexcept override {
    settled = status;
  }
  std::optional<cmdbus::command_status> settled;

 private:
  std::string name_;
};

class wire_kind final : public cmdbus::route_kind {
 public:
  [[nodiscard]] std::string_view name() const noexcept override { return "wire"; }
  [[nodiscard]] std::vector<std::string_view> keys() const override { return {}; }
  [[nodiscard]] std::unique_ptr<cmdbus::route_plan> plan(cmdbus::route_table&) const override {
    struct plan final : cmdbus::route_plan {
      [[nodiscard]] bool needs_encoding() const noexcept override { return true; }
      std::unique_ptr<cmdbus::route> start(const std::string& name, cmdbus::worker_host&) override {
        return std::make_unique<wire_route>(name);
      }
    };
    return std::make_unique<plan>();
  }
};

struct fixture : ::testing::Test {
  seen last;
  cmdbus::bus bus{[this] {
    cmdbus::bus_builder b;
    b.route_kind(std::make_shared<wire_kind>());
    b.config_text(
        "[routes.away]\nkind = \"wire\"\n[commands]\n\"bank.transfer\" = \"away\"\n\"test.strict\" = "
        "\"away\"\n",
        "app.toml");
    b.handle<Transfer>([this](const Transfer& t, cmdbus::context& ctx) {
      last = {t,
              ctx.id(),
              ctx.correlation_id(),
              ctx.causation_id(),
              ctx.traceparent(),
              ctx.deadline(),
              std::string{ctx.header("tenant").value_or("")},
              ctx.attempt()};
      return t.amount * 10;
    });
    b.handle<wire_test::Strict>([](const wire_test::Strict&) {});
    b.handle<wire_test::Local>([](const wire_test::Local&) {});
    return b;
  }()};
  cmdbus::worker_host host{bus};

  static wire_envelope transfer_on_the_wire() {
    wire_envelope w;
    w.id = cmdbus::command_id::generate();
    w.command = "bank.transfer";
    w.schema_version = 2;
    w.correlation_id = cmdbus::command_id::generate();
    w.causation_id = cmdbus::command_id::generate();
    w.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    w.partition_key = "alice";
    w.attempt = 2;
    // The wire keeps microseconds.
    w.created_at = std::chrono::floor<std::chrono::microseconds>(cmdbus::clock::now());
    w.deadline = std::chrono::floor<std::chrono::microseconds>(cmdbus::clock::now() + 1h);
    w.headers = {{"tenant", "acme"}};
    w.payload = R"({"from":"alice","to":"bob","amount":5,"memo":"a field this version does not know"})";
    return w;
  }
};

TEST_F(fixture, ACommandFromTheWireRunsItsHandlerWithItsContextRestored) {
  const auto w = transfer_on_the_wire();
  auto e = from_wire(host, cmdbus::wire::parse_envelope(cmdbus::wire::encode_envelope(w)).value());
  ASSERT_TRUE(e) << e.error();
  ++(*e)->attempts;  // this delivery: the third attempt
  const auto outcome = host.run(**e);
  EXPECT_EQ(outcome.what, cmdbus::detail::run_outcome::kind::done);
  EXPECT_EQ(last.command.from, "alice");
  EXPECT_EQ(last.command.to, "bob");
  EXPECT_EQ(last.command.amount, 5);
  EXPECT_EQ(last.id, w.id);
  EXPECT_EQ(last.correlation, w.correlation_id);
  EXPECT_EQ(last.causation, w.causation_id);
  EXPECT_NE(last.traceparent.find("4bf92f3577b34da6a3ce929d0e0e4736"), std::string::npos) << "the trace goes on";
  EXPECT_EQ(last.deadline, w.deadline);
  EXPECT_EQ(last.tenant, "acme");
  EXPECT_EQ(last.attempt, 3U);
  EXPECT_TRUE((*e)->keyed) << "the partition key is computed again from the payload";
}

TEST_F(fixture, ACommandGoesToTheWireAndBackUnchanged) {
  const auto w = transfer_on_the_wire();
  auto e = from_wire(host, w);
  ASSERT_TRUE(e) << e.error();
  const auto again = cmdbus::wire::to_wire(**e, host.info((*e)->type_index), w.created_at);
  EXPECT_EQ(again.id, w.id);
  EXPECT_EQ(again.command, "bank.transfer");
  EXPECT_EQ(again.schema_version, 2U);
  EXPECT_EQ(again.correlation_id, w.correlation_id);
  EXPECT_EQ(again.causation_id, w.causation_id);
  EXPECT_EQ(again.traceparent, w.traceparent);
  EXPECT_EQ(again.partition_key, std::optional<std::string>{"alice"});
  EXPECT_EQ(again.attempt, 2U);
  EXPECT_EQ(again.deadline, w.deadline);
  ASSERT_EQ(again.headers.size(), 1U);
  EXPECT_EQ(again.headers[0].value, "acme");
  const auto payload = nlohmann::json::parse(again.payload);
  EXPECT_EQ(payload, nlohmann::json::parse(R"({"from":"alice","to":"bob","amount":5})"))
      << "the unknown field was dropped, the rest kept";
}

TEST_F(fixture, BytesThatCannotBecomeACommandHereGiveTheReasonNeverACrash) {
  const struct {
    std::string command;
    std::string payload;
    std::string reason;
  } cases[] = {
      {"bank.nope", "{}", "unknown command 'bank.nope': no command type of that name is registered in this process"},
      {"test.local", "{}",
       "command 'test.local' (wire_test::Local) is on the sync route in this process: a worker runs only commands "
       "that this process routes to an asynchronous route"},
      {"bank.transfer", "{\"from\":",
       "the payload of command 'bank.transfer' (schema version 2; this process writes 2) "
       "does not decode: "},
      {"bank.transfer", R"({"amount":"five"})", "the payload of command 'bank.transfer'"},
      {"test.strict", R"({"m":1})",
       "the payload of command 'test.strict' (schema version 1; this process writes 1) "
       "does not decode: "},
  };
  for (const auto& c : cases) {
    auto w = transfer_on_the_wire();
    w.command = c.command;
    w.payload = c.payload;
    w.schema_version = c.command == "test.strict" ? 1 : 2;
    const auto e = from_wire(host, w);
    ASSERT_FALSE(e) << c.command << " " << c.payload;
    EXPECT_NE(e.error().find(c.reason), std::string::npos) << "reason: " << e.error();
  }
}

TEST_F(fixture, AnOlderSchemaVersionIsReadByTheSameCodecAndTheReasonSaysWhichWasWritten) {
  auto w = transfer_on_the_wire();
  w.schema_version = 1;
  w.payload = R"({"from":"carol","amount":"not a number in version 1"})";
  const auto e = from_wire(host, w);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().find("(schema version 1; this process writes 2)"), std::string::npos) << e.error();
}

TEST_F(fixture, ATypeWithTheJsonCodecIsEncodableAndOneWithoutIsNot) {
  static_assert(cmdbus::has_codec<Transfer>);
  static_assert(!cmdbus::has_codec<wire_test::Local>);
  bool transfer_encodable = false;
  bool local_encodable = true;
  for (const auto* info : bus.messages()) {
    if (info->wire_name == "bank.transfer") {
      transfer_encodable = info->encodable();
      EXPECT_EQ(info->schema_version, 2U);
    } else if (info->wire_name == "test.local") {
      local_encodable = info->encodable();
    }
  }
  EXPECT_TRUE(transfer_encodable);
  EXPECT_FALSE(local_encodable);
}

}  // namespace
