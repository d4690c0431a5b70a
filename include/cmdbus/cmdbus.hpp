// cmdbus/cmdbus.hpp — everything a user of the core needs in one include.
//
//   #include <cmdbus/cmdbus.hpp>
//   struct Ping { static constexpr std::string_view command_name = "demo.ping"; using result_type = int; int n; };
//   cmdbus::bus_builder b;
//   b.handle<Ping>([](const Ping& p) { return p.n + 1; });
//   cmdbus::bus bus{std::move(b)};
//   int r = bus.execute(Ping{41});   // 42
#pragma once

#include "cmdbus/builder.hpp"
#include "cmdbus/bus.hpp"
#include "cmdbus/command_status.hpp"
#include "cmdbus/consistency.hpp"
#include "cmdbus/context.hpp"
#include "cmdbus/dead_letters.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/handle.hpp"
#include "cmdbus/id.hpp"
#include "cmdbus/message.hpp"
#include "cmdbus/metrics.hpp"
#include "cmdbus/middleware.hpp"
#include "cmdbus/retry.hpp"
#include "cmdbus/unit_of_work.hpp"
#include "cmdbus/validation.hpp"
