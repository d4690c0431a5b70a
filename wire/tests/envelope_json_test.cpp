// The command envelope's JSON form: every field kept, empty ones left out, unknown ones ignored, bad input named.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "cmdbus/wire/envelope.hpp"

namespace {

using cmdbus::wire::encode_envelope;
using cmdbus::wire::parse_envelope;
using cmdbus::wire::wire_envelope;
using namespace std::chrono_literals;

wire_envelope full_envelope() {
  wire_envelope e;
  e.id = cmdbus::command_id::generate();
  e.command = "bank.transfer";
  e.schema_version = 3;
  e.correlation_id = cmdbus::command_id::generate();
  e.causation_id = cmdbus::command_id::generate();
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.partition_key = "alice";
  e.attempt = 2;
  e.created_at = cmdbus::clock::time_point{1796565600123456us};
  e.deadline = cmdbus::clock::time_point{1796565630000000us};
  e.headers = {{"tenant", "a"}, {"tenant", "b"}, {"x-empty", ""}};
  e.payload = R"({"amount":5,"from":"alice","to":"bob"})";
  return e;
}

TEST(WireEnvelope, EncodingAndParsingKeepEveryField) {
  const auto e = full_envelope();
  const auto back = parse_envelope(encode_envelope(e));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->command, "bank.transfer");
  EXPECT_EQ(back->schema_version, 3U);
  EXPECT_EQ(back->correlation_id, e.correlation_id);
  EXPECT_EQ(back->causation_id, e.causation_id);
  EXPECT_EQ(back->traceparent, e.traceparent);
  EXPECT_EQ(back->partition_key, std::optional<std::string>{"alice"});
  EXPECT_EQ(back->attempt, 2U);
  EXPECT_EQ(back->created_at, e.created_at);
  EXPECT_EQ(back->deadline, e.deadline);
  ASSERT_EQ(back->headers.size(), 3U) << "a repeated header is kept twice, in order";
  EXPECT_EQ(back->headers[1].name, "tenant");
  EXPECT_EQ(back->headers[1].value, "b");
  EXPECT_EQ(back->headers[2].value, "");
  EXPECT_EQ(back->payload, e.payload);
}

TEST(WireEnvelope, ThePayloadIsPlainJsonThatAnyClientReads) {
  const auto j = nlohmann::json::parse(encode_envelope(full_envelope()));
  EXPECT_EQ(j.at("payload").at("amount"), 5);
  EXPECT_EQ(j.at("command"), "bank.transfer");
  EXPECT_EQ(j.at("partition_key"), "alice");
  EXPECT_FALSE(j.contains("payload_is_text"));
}

TEST(WireEnvelope, EmptyFieldsAreLeftOutAndReadBackEmpty) {
  wire_envelope e;
  e.id = cmdbus::command_id::generate();
  e.command = "test.ping";
  e.schema_version = 1;
  e.payload = "{}";
  const std::string text = encode_envelope(e);
  const auto j = nlohmann::json::parse(text);
  for (const char* absent :
       {"correlation_id", "causation_id", "traceparent", "partition_key", "deadline_us", "headers"}) {
    EXPECT_FALSE(j.contains(absent)) << absent << " in " << text;
  }
  const auto back = parse_envelope(text);
  ASSERT_TRUE(back) << back.error();
  EXPECT_TRUE(back->correlation_id.is_nil());
  EXPECT_TRUE(back->causation_id.is_nil());
  EXPECT_FALSE(back->partition_key);
  EXPECT_FALSE(back->deadline);
  EXPECT_TRUE(back->headers.empty());
  EXPECT_EQ(back->payload, "{}");
}

TEST(WireEnvelope, FieldsAReaderDoesNotKnowAreIgnored) {
  auto j = nlohmann::json::parse(encode_envelope(full_envelope()));
  j["written_by"] = "cmdbus 9.0";
  j["routing"] = {{"region", "eu"}, {"hops", {1, 2}}};
  const auto back = parse_envelope(j.dump());
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->command, "bank.transfer");
}

TEST(WireEnvelope, APayloadThatIsNotJsonTravelsAsText) {
  auto e = full_envelope();
  e.payload = "from=alice;to=bob;amount=5";
  const std::string text = encode_envelope(e);
  EXPECT_TRUE(nlohmann::json::parse(text).at("payload_is_text").get<bool>());
  const auto back = parse_envelope(text);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->payload, e.payload);
}

TEST(WireEnvelope, BadInputIsRefusedWithAReasonNamingTheField) {
  const std::string id = cmdbus::command_id::generate().to_string();
  const auto with = [&](const std::string& fields) {
    return R"({"id":")" + id + R"(","command":"bank.transfer","schema_version":1,"payload":{})" + fields + "}";
  };
  const struct {
    std::string text;
    std::string reason;
  } cases[] = {
      {"", "a command envelope is not JSON"},
      {"{\"id\":", "a command envelope is not JSON"},
      {"[1,2]", "a command envelope must be a JSON object, not array"},
      {R"({"command":"bank.transfer","schema_version":1,"payload":{}})", "field 'id' is missing"},
      {R"({"id":"xyz","command":"bank.transfer","schema_version":1,"payload":{}})",
       "field 'id' must be a UUID string, not \"xyz\""},
      {R"({"id":")" + id + R"(","schema_version":1,"payload":{}})", "field 'command' is missing"},
      {R"({"id":")" + id + R"(","command":7,"schema_version":1,"payload":{}})", "field 'command' must be a string"},
      {R"({"id":")" + id + R"(","command":"bank.transfer","schema_version":"1","payload":{}})",
       "field 'schema_version' must be a whole number from 0 to 4294967295"},
      {R"({"id":")" + id + R"(","command":"bank.transfer","schema_version":1})", "field 'payload' is missing"},
      {with(R"(,"attempt":-1)"), "field 'attempt' must be a whole number from 0 to 4294967295, not -1"},
      {with(R"(,"attempt":4294967296)"), "field 'attempt'"},
      {with(R"(,"correlation_id":"")"), "field 'correlation_id' must be a UUID string"},
      {with(R"(,"deadline_us":"soon")"), "field 'deadline_us' must be a whole number"},
      {with(R"(,"headers":{"tenant":"a"})"), "field 'headers' must be an array of [name, value] string pairs"},
      {with(R"(,"headers":[["tenant"]])"), "field 'headers' must be an array of [name, value] string pairs"},
      {with(R"(,"payload_is_text":true)"), "field 'payload' must be a string (payload_is_text is true)"},
  };
  for (const auto& c : cases) {
    const auto r = parse_envelope(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().find(c.reason), std::string::npos) << "input: " << c.text << "\nreason: " << r.error();
  }
}

TEST(WireEnvelope, AStringThatIsNotUtf8CannotBeWrittenAndTheErrorNamesTheCommand) {
  auto e = full_envelope();
  e.headers = {{"bad", std::string{"\xff\xfe"}}};
  try {
    (void)encode_envelope(e);
    FAIL() << "encoded invalid UTF-8";
  } catch (const std::invalid_argument& x) {
    EXPECT_NE(std::string{x.what()}.find("'bank.transfer' " + e.id.to_string()), std::string::npos) << x.what();
  }
}

}  // namespace
