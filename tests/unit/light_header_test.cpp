// The main header stays light: `#include <cmdbus/cmdbus.hpp>` reaches no thread, lock, file-system or logging header
// (what needs them has a header of its own: cmdbus/run_workers.hpp, cmdbus/logging.hpp). Each library header's own
// include guard says whether it was reached; the checks are taken before anything else is included.
#include "cmdbus/cmdbus.hpp"

namespace reached {
#ifdef _GLIBCXX_MUTEX
constexpr bool mutex = true;
#else
constexpr bool mutex = false;
#endif
#ifdef _GLIBCXX_THREAD
constexpr bool thread = true;
#else
constexpr bool thread = false;
#endif
#ifdef _GLIBCXX_SEMAPHORE
constexpr bool semaphore = true;
#else
constexpr bool semaphore = false;
#endif
#ifdef _GLIBCXX_STOP_TOKEN
constexpr bool stop_token = true;
#else
constexpr bool stop_token = false;
#endif
#ifdef _GLIBCXX_CONDITION_VARIABLE
constexpr bool condition_variable = true;
#else
constexpr bool condition_variable = false;
#endif
#ifdef _GLIBCXX_FILESYSTEM
constexpr bool filesystem = true;
#else
constexpr bool filesystem = false;
#endif
#ifdef SPDLOG_VER_MAJOR
constexpr bool spdlog = true;
#else
constexpr bool spdlog = false;
#endif
}  // namespace reached

#include <gtest/gtest.h>

#include <mutex>

TEST(LightHeader, CmdbusHppReachesNoThreadLockFileSystemOrLoggingHeader) {
  EXPECT_FALSE(reached::mutex) << "<cmdbus/cmdbus.hpp> includes <mutex>";
  EXPECT_FALSE(reached::thread) << "<cmdbus/cmdbus.hpp> includes <thread>";
  EXPECT_FALSE(reached::semaphore) << "<cmdbus/cmdbus.hpp> includes <semaphore>";
  EXPECT_FALSE(reached::stop_token) << "<cmdbus/cmdbus.hpp> includes <stop_token>";
  EXPECT_FALSE(reached::condition_variable) << "<cmdbus/cmdbus.hpp> includes <condition_variable>";
  EXPECT_FALSE(reached::filesystem) << "<cmdbus/cmdbus.hpp> includes <filesystem>";
  EXPECT_FALSE(reached::spdlog) << "<cmdbus/cmdbus.hpp> includes spdlog";
}

// The checks above can see a header when it is there: <mutex>, included since, sets the guard they read.
TEST(LightHeader, TheGuardsTheCheckReadsAreTheLibrarysOwn) {
#ifdef _GLIBCXX_MUTEX
  SUCCEED();
#else
  FAIL() << "<mutex> no longer defines _GLIBCXX_MUTEX: the light-header check reads the wrong guards";
#endif
}
