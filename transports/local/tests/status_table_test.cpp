// The status table behind bus::status() (src/status_table.hpp), on its own: a worker's ring (notices written by
// senders, records by the worker), and the overflow map that keeps every command known that cannot stay in its ring.
#include "status_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cmdbus/detail/cycle_clock.hpp"
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

std::uint64_t now() {
  return cmdbus::detail::cycle_clock::now();
}

TEST(StatusTable, ACommandGoesFromPendingToSettledUnderTheIdItWasGiven) {
  using namespace std::chrono_literals;
  const auto before = cmdbus::clock::now();
  cmdbus::detail::status_table table(16);
  const auto ring = table.add_ring(route, 16);
  const auto given = cmdbus::command_id::generate();
  const auto id = table.accept(ring, given, job_info(), false);
  EXPECT_NE(id, given) << "the id carries its slot";
  EXPECT_EQ(std::vector<unsigned char>(id.bytes().begin(), id.bytes().begin() + 10),
            std::vector<unsigned char>(given.bytes().begin(), given.bytes().begin() + 10))
      << "only the last six (random) bytes change: time order, version and variant stay";
  EXPECT_FALSE(table.find(given)) << "the untagged id is not the command's";
  ASSERT_TRUE(table.find(id));
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(id)->command, "test.job");
  EXPECT_EQ(table.find(id)->route, "work");
  table.running(id, job_info(), 1, now(), false);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::running);
  EXPECT_EQ(table.find(id)->command, "test.job");
  table.retrying(id, "briefly down", false);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(id)->error, "briefly down");
  table.running(id, job_info(), 2, now(), false);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::running);
  table.settle(id, cmdbus::command_status::succeeded, cmdbus::consistency_token{id, &route, 7}, {}, false);
  const auto st = table.find(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(st->attempts, 2U);
  EXPECT_EQ(st->token.version, 7U);
  EXPECT_TRUE(st->settled());
  // Accepted: the time in the id, to the millisecond, from a clock that may lag by a tick.
  EXPECT_GE(st->accepted, before - 50ms);
  EXPECT_LE(st->updated, cmdbus::clock::now());
}

TEST(StatusTable, ACommandWaitingForARetryStaysKnownWhileItsWorkerLapsTheRing) {
  cmdbus::detail::status_table table(0);
  const auto ring = table.add_ring(route, 16);  // the smallest ring: 1024 slots
  const auto waiting = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
  table.running(waiting, job_info(), 1, now(), false);
  table.retrying(waiting, "briefly down", false);
  for (int i = 0; i < 3000; ++i) {  // three laps: the waiting command's slot is reused
    const auto id = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
    table.running(id, job_info(), 1, now(), false);
    table.settle(id, cmdbus::command_status::succeeded, cmdbus::consistency_token{id}, {}, false);
  }
  ASSERT_TRUE(table.find(waiting)) << "a command waiting for its retry is never forgotten";
  EXPECT_EQ(table.find(waiting)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(waiting)->attempts, 1U);
  table.running(waiting, job_info(), 2, now(), false);
  table.settle(waiting, cmdbus::command_status::succeeded, cmdbus::consistency_token{waiting}, {}, false);
  EXPECT_EQ(table.find(waiting)->status, cmdbus::command_status::succeeded);
  EXPECT_EQ(table.find(waiting)->attempts, 2U);
}

TEST(StatusTable, MoreCommandsWaitingThanSlotsAreAllKnownAndBoundedOnceSettled) {
  cmdbus::detail::status_table table(0);
  // A capacity as large as the ring (1024 slots): a sender looks whether a slot's previous command was picked up
  // before it reuses the slot.
  const auto ring = table.add_ring(route, 1024);
  std::vector<cmdbus::command_id> ids;
  for (int i = 0; i < 3000; ++i) {  // none is picked up: from the 1025th on, they go to the overflow map
    ids.push_back(table.accept(ring, cmdbus::command_id::generate(), job_info(), false));
  }
  for (const auto& id : ids) {
    const auto st = table.find(id);
    ASSERT_TRUE(st) << "a pending command is never forgotten";
    EXPECT_EQ(st->status, cmdbus::command_status::pending);
  }
  for (const auto& id : ids) {
    table.running(id, job_info(), 1, now(), false);
    table.settle(id, cmdbus::command_status::failed, cmdbus::consistency_token{id}, "no", false);
  }
  EXPECT_EQ(table.find(ids.back())->status, cmdbus::command_status::failed);
  EXPECT_EQ(table.find(ids.back())->error, "no");
  EXPECT_EQ(table.find(ids.front())->error, "no");
  std::size_t known = 0;
  for (const auto& id : ids) {
    known += table.find(id) ? 1U : 0U;
  }
  EXPECT_LE(known, 2U * 1024U) << "settled outcomes are bounded, in the ring and in the overflow map";
  EXPECT_GE(known, 1024U);
}

TEST(StatusTable, ACommandNotYetPickedUpKeepsItsSlotWhileOthersLapTheRing) {
  // A worker does not always pick commands up in ticket order (one waits behind its key; the queue is FIFO only per
  // sending thread): the ones that would reuse its slot meanwhile go to the overflow map, and it keeps its slot.
  cmdbus::detail::status_table table(0);
  const auto ring = table.add_ring(route, 16);  // 1024 slots
  const auto held = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
  std::vector<cmdbus::command_id> others;
  for (int i = 0; i < 3000; ++i) {
    const auto id = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
    table.running(id, job_info(), 1, now(), false);
    table.settle(id, cmdbus::command_status::succeeded, cmdbus::consistency_token{id}, {}, false);
    others.push_back(id);
  }
  ASSERT_TRUE(table.find(held)) << "a pending command is never forgotten";
  EXPECT_EQ(table.find(held)->status, cmdbus::command_status::pending);
  const auto entry = table.start(ring, held, job_info(), now());
  EXPECT_EQ(table.find(held)->status, cmdbus::command_status::running);
  table.succeeded(entry, held, cmdbus::consistency_token{held});
  EXPECT_EQ(table.find(held)->status, cmdbus::command_status::succeeded);
  const auto latest = table.find(others.back());
  ASSERT_TRUE(latest) << "the latest outcomes are kept, wherever they went";
  EXPECT_EQ(latest->status, cmdbus::command_status::succeeded);
}

TEST(StatusTable, IdsItNeverAcceptedAreUnknown) {
  cmdbus::detail::status_table table(16);
  const auto ring = table.add_ring(route, 16);
  std::vector<cmdbus::command_id> accepted;
  for (int i = 0; i < 100; ++i) {
    accepted.push_back(table.accept(ring, cmdbus::command_id::generate(), job_info(), false));
  }
  for (const auto& id : accepted) {
    auto other = id.bytes();
    other[15] ^= 1U;  // the same slot bytes but one: another ticket, or another command's id in the same slot
    EXPECT_FALSE(table.find(cmdbus::command_id::from_bytes(other)));
    other = id.bytes();
    other[0] ^= 1U;  // the same slot, another time: not this command
    EXPECT_FALSE(table.find(cmdbus::command_id::from_bytes(other)));
    EXPECT_TRUE(table.find(id));
  }
  EXPECT_FALSE(table.find(cmdbus::command_id{}));  // (a guard: the nil id decodes to some slot of no ring, as a rule)
}

TEST(StatusTable, ACommandSettledWithoutRunningIsKnownWithItsOutcome) {
  cmdbus::detail::status_table table(16);
  const auto ring = table.add_ring(route, 16);
  const auto id = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
  table.settle(id, cmdbus::command_status::dead, cmdbus::consistency_token{id}, "stopped", false);
  ASSERT_TRUE(table.find(id));
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::dead);
  EXPECT_EQ(table.find(id)->command, "test.job");
  EXPECT_EQ(table.find(id)->attempts, 0U);
  EXPECT_EQ(table.find(id)->error, "stopped");
}

TEST(StatusTable, ARequeuedCommandKeepsItsIdAndIsTrackedAgain) {
  cmdbus::detail::status_table table(0);
  const auto ring = table.add_ring(route, 16);
  const auto id = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
  table.running(id, job_info(), 1, now(), false);
  table.settle(id, cmdbus::command_status::dead, cmdbus::consistency_token{id}, "gone", false);
  EXPECT_EQ(table.accept(ring, id, job_info(), true), id);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::pending);
  EXPECT_EQ(table.find(id)->attempts, 0U);
  table.running(id, job_info(), 1, now(), true);
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::running);
  table.forget(id, true);
  ASSERT_TRUE(table.find(id)) << "the requeue was undone: the dead letter's outcome stands";
  EXPECT_EQ(table.find(id)->status, cmdbus::command_status::dead);
}

TEST(StatusTable, ACommandTheQueueRefusedIsForgotten) {
  cmdbus::detail::status_table table(16);
  const auto ring = table.add_ring(route, 16);
  const auto id = table.accept(ring, cmdbus::command_id::generate(), job_info(), false);
  table.forget(id, false);
  EXPECT_FALSE(table.find(id)) << "not accepted after all";
}

}  // namespace
