// Registration rules: one handler per type, one type per wire name.
#include <gtest/gtest.h>

#include "messages.hpp"

namespace {

struct OtherAdd {  // a second type claiming test.add's wire name
  static constexpr std::string_view command_name = "test.add";
};

TEST(Builder, SecondHandlerForOneCommandIsAnErrorNamingTheType) {
  cmdbus::bus_builder b;
  b.handle<test::Add>([](const test::Add& c) { return c.a; });
  try {
    b.handle<test::Add>([](const test::Add& c) { return c.b; });
    FAIL() << "no exception";
  } catch (const cmdbus::registration_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("a second handler for command 'test.add' (type test::Add)"), std::string::npos) << what;
    EXPECT_NE(what.find("builder_test.cpp"), std::string::npos) << "names where both were registered: " << what;
  }
}

TEST(Builder, SecondHandlerForOneQueryIsAnError) {
  cmdbus::bus_builder b;
  b.handle<test::GetTotal>([](const test::GetTotal&) { return 1L; });
  EXPECT_THROW(b.handle<test::GetTotal>([](const test::GetTotal&) { return 2L; }), cmdbus::registration_error);
}

TEST(Builder, TwoTypesUnderOneWireNameIsAnError) {
  cmdbus::bus_builder b;
  b.handle<test::Add>([](const test::Add& c) { return c.a; });
  try {
    b.handle<OtherAdd>([](const OtherAdd&) {});
    FAIL() << "no exception";
  } catch (const cmdbus::registration_error& e) {
    EXPECT_NE(std::string{e.what()}.find("test::Add and"), std::string::npos) << e.what();
  }
}

TEST(Builder, AFailedRegistrationLeavesTheFirstHandlerInPlace) {
  cmdbus::bus_builder b;
  b.handle<test::Add>([](const test::Add& c) { return c.a + c.b; });
  EXPECT_THROW(b.handle<test::Add>([](const test::Add&) { return 0; }), cmdbus::registration_error);
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.execute(test::Add{1, 2}), 3);
}

struct IntKeyed {
  static constexpr std::string_view command_name = "test.int_keyed";
  long account = 0;
  [[nodiscard]] long partition_key() const { return account; }
};

TEST(Builder, PartitionKeysMayBeTextOrIntegers) {
  const auto text = cmdbus::make_message_info<test::Withdraw>();
  const test::Withdraw w{"acc-7", 1};
  ASSERT_NE(text.partition_key, nullptr);
  EXPECT_EQ(text.partition_key(&w), "acc-7");
  const auto integer = cmdbus::make_message_info<IntKeyed>();
  const IntKeyed k{42};
  ASSERT_NE(integer.partition_key, nullptr);
  EXPECT_EQ(integer.partition_key(&k), "42");
  EXPECT_EQ(cmdbus::make_message_info<test::Ping>().partition_key, nullptr);
}

TEST(Builder, HandlerObjectsAndContextOptional) {
  struct Adder {
    int bias;
    int operator()(const test::Add& c, cmdbus::context&) const { return c.a + c.b + bias; }
  };
  cmdbus::bus_builder b;
  b.handle<test::Add>(Adder{100});
  cmdbus::bus bus{std::move(b)};
  EXPECT_EQ(bus.execute(test::Add{1, 2}), 103);
}

}  // namespace
