// The outcome's JSON form: a result, or an error as code, original type name and message.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "cmdbus/wire/outcome.hpp"

namespace {

using cmdbus::wire::encode_outcome;
using cmdbus::wire::parse_outcome;
using cmdbus::wire::wire_outcome;

TEST(WireOutcome, AResultTravelsAsJson) {
  wire_outcome o;
  o.id = cmdbus::command_id::generate();
  o.succeeded = true;
  o.result = R"({"balance":95})";
  const std::string text = encode_outcome(o);
  EXPECT_EQ(nlohmann::json::parse(text).at("result").at("balance"), 95);
  const auto back = parse_outcome(text);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->id, o.id);
  EXPECT_TRUE(back->succeeded);
  EXPECT_EQ(back->result, o.result);
}

TEST(WireOutcome, ACommandWithoutAResultHasNone) {
  wire_outcome o;
  o.id = cmdbus::command_id::generate();
  o.succeeded = true;
  const auto back = parse_outcome(encode_outcome(o));
  ASSERT_TRUE(back) << back.error();
  EXPECT_TRUE(back->succeeded);
  EXPECT_EQ(back->result, "");
}

TEST(WireOutcome, AnErrorKeepsItsCodeTypeNameAndMessage) {
  wire_outcome o;
  o.id = cmdbus::command_id::generate();
  o.code = cmdbus::error_code::rejected;
  o.error_type = "bank::insufficient_funds";
  o.error_message = "alice has 3, needs 5";
  const auto back = parse_outcome(encode_outcome(o));
  ASSERT_TRUE(back) << back.error();
  EXPECT_FALSE(back->succeeded);
  EXPECT_EQ(back->code, cmdbus::error_code::rejected);
  EXPECT_EQ(back->error_type, "bank::insufficient_funds");
  EXPECT_EQ(back->error_message, "alice has 3, needs 5");
}

TEST(WireOutcome, AResultThatIsNotJsonIsRefusedWhenWritten) {
  wire_outcome o;
  o.id = cmdbus::command_id::generate();
  o.succeeded = true;
  o.result = "ninety-five";
  EXPECT_THROW((void)encode_outcome(o), std::invalid_argument);
}

TEST(WireOutcome, BadInputIsRefusedWithAReasonNamingTheField) {
  const std::string id = cmdbus::command_id::generate().to_string();
  const struct {
    std::string text;
    std::string reason;
  } cases[] = {
      {"nope", "a command outcome is not JSON"},
      {R"({"id":")" + id + "\"}", "field 'succeeded' is missing"},
      {R"({"id":")" + id + R"(","succeeded":"yes"})", "field 'succeeded' must be true or false"},
      {R"({"id":")" + id + R"(","succeeded":false})", "field 'error' is missing"},
      {R"({"id":")" + id + R"(","succeeded":false,"error":"boom"})", "field 'error' must be an object"},
      {R"({"id":")" + id + R"(","succeeded":false,"error":{"type":"x"}})",
       "a command outcome's error: field 'code' is missing"},
      {R"({"id":")" + id + R"(","succeeded":false,"error":{"code":"oops"}})",
       R"(field 'code' must be "rejected", "transient" or "fatal", not "oops")"},
  };
  for (const auto& c : cases) {
    const auto r = parse_outcome(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().find(c.reason), std::string::npos) << "input: " << c.text << "\nreason: " << r.error();
  }
}

}  // namespace
