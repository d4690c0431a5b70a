// The status table behind bus::status() (src/status_table.hpp), on its own: the ring, and the overflow map that keeps
// every command known when more are in flight than the ring has slots.
#include "status_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cmdbus/message_info.hpp"

namespace {

struct Job {
  static constexpr std::string_view command_name = "test.job";
};

const cmdbus::message_info& job_info() {
  static const cmdbus::message_info info = cmdbus::make_message_info<Job>();
  return info;
}

const std::string route = "work";

TEST(StatusTable, ACommandGoesFromPendingToSettledUnderTheIdItWasGiven) {
  cmdbus::detail::status_table table(16, 16);
  const auto given = cmdbus::command_id::generate();
  const auto id = table.accept(given, job_info(), route, false);
  EXPECT_NE(id, given) << "the id carries its slot";
  EXPECT_EQ(std::vector<unsigned char>(id.bytes().begin(), id.bytes().begin() + 12),
            std::vector<unsigned char>(given.bytes().begin(), given.bytes().begin() + 12))
      << "only the last four (random) bytes change: time order and version stay";
  EXPECT_FALSE(table.find(given)) << "the untagged id is not the command's";
  ASSERT_TRUE(table.find(id));
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(id)->command, "test.job");
  EXPECT_EQ(table.find(id)->route, "work");
  table.running(id, 1);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::running);
  table.retrying(id, "briefly down");
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(id)->error, "briefly down");
  table.running(id, 2);
  table.settle(id, cmdbus::command_status::succeeded, cmdbus::consistency_token{id, &route, 7}, {});
  const auto st = table.find(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(st->attempts, 2U);
  EXPECT_EQ(st->token.version, 7U);
  EXPECT_TRUE(st->settled());
}

TEST(StatusTable, MoreCommandsInFlightThanSlotsAreAllKnownAndBoundedOnceSettled) {
  cmdbus::detail::status_table table(0, 0);  // the smallest ring: 1024 slots
  std::vector<cmdbus::command_id> ids;
  for (int i = 0; i < 3000; ++i) {  // none settles: from the 1025th on, they go to the overflow map
    ids.push_back(table.accept(cmdbus::command_id::generate(), job_info(), route, false));
  }
  for (const auto& id : ids) {
    const auto st = table.find(id);
    ASSERT_TRUE(st) << "a pending command is never forgotten";
    EXPECT_EQ(st->status, cmdbus::command_status::pending);
  }
  for (const auto& id : ids) {
    table.running(id, 1);
    table.settle(id, cmdbus::command_status::failed, cmdbus::consistency_token{id}, "no");
  }
  EXPECT_EQ(table.find(ids.back())->status, cmdbus::command_status::failed);
  EXPECT_EQ(table.find(ids.back())->error, "no");
  std::size_t known = 0;
  for (const auto& id : ids) {
    known += table.find(id) ? 1U : 0U;
  }
  EXPECT_LE(known, 2U * 1024U) << "settled outcomes are bounded, in the ring and in the overflow map";
  EXPECT_GE(known, 1024U);
}

TEST(StatusTable, ARequeuedCommandKeepsItsIdAndIsTrackedAgain) {
  cmdbus::detail::status_table table(0, 0);
  const auto id = table.accept(cmdbus::command_id::generate(), job_info(), route, false);
  table.settle(id, cmdbus::command_status::dead, cmdbus::consistency_token{id}, "gone");
  EXPECT_EQ(table.accept(id, job_info(), route, true), id);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(id)->attempts, 0U);
  table.forget(id);
  EXPECT_FALSE(table.find(id)) << "not accepted after all";
}

}  // namespace
