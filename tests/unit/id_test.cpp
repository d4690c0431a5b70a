// UUIDv7 command ids and W3C trace ids.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "cmdbus/id.hpp"

namespace {

TEST(Id, IsAVersion7UuidWithTheRfcVariant) {
  const auto id = cmdbus::command_id::generate();
  const auto text = id.to_string();
  ASSERT_EQ(text.size(), 36U);
  EXPECT_EQ(text[14], '7') << text;
  EXPECT_NE(std::string{"89ab"}.find(text[19]), std::string::npos) << text;
  EXPECT_FALSE(id.is_nil());
}

TEST(Id, CarriesTheCurrentUnixMilliseconds) {
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const auto ms = static_cast<std::int64_t>(cmdbus::command_id::generate().unix_ms());
  EXPECT_LT(std::abs(ms - now), 1000);
}

TEST(Id, IdsFromOneThreadAreUniqueAndSortInCreationOrder) {
  std::set<cmdbus::command_id> seen;
  cmdbus::command_id previous = cmdbus::command_id::generate();
  for (int i = 0; i < 100000; ++i) {
    const auto id = cmdbus::command_id::generate();
    EXPECT_LT(previous, id);
    previous = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100000U);
}

TEST(Id, ParsesWhatItPrints) {
  const auto id = cmdbus::command_id::generate();
  const auto back = cmdbus::command_id::parse(id.to_string());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
  EXPECT_FALSE(cmdbus::command_id::parse("not-a-uuid"));
  EXPECT_FALSE(cmdbus::command_id::parse("0190b8e4-6c1a-7d3e-9f2a-1b2c3d4e5f6g"));
  EXPECT_FALSE(cmdbus::command_id::parse("0190b8e46c1a-7d3e-9f2a-1b2c3d4e5f600"));
}

TEST(Id, TraceIdsAreValidHexAndParse) {
  const auto t = cmdbus::trace_id::generate();
  EXPECT_TRUE(t.valid());
  EXPECT_EQ(t.to_string().size(), 32U);
  EXPECT_EQ(cmdbus::trace_id::parse(t.to_string()), t);
  EXPECT_FALSE(cmdbus::trace_id::parse("00000000000000000000000000000000")) << "all-zero is invalid";
  EXPECT_FALSE(cmdbus::span_id::parse("abc"));
}

}  // namespace
