// bus::run_workers' wait (cmdbus/bus.hpp): blocks until a stop token is stopped. Defined here and instantiated for
// std::stop_token, so that bus.hpp names no <stop_token> (and through it <semaphore> and the atomic waits).
#include <condition_variable>
#include <mutex>
#include <stop_token>

#include "cmdbus/bus.hpp"

namespace cmdbus::detail {

template <class StopToken>
void wait_for_stop(const StopToken& token) {
  std::mutex m;
  std::condition_variable_any until;
  std::unique_lock lock(m);
  until.wait(lock, token, [] { return false; });
}

template void wait_for_stop<std::stop_token>(const std::stop_token& token);

}  // namespace cmdbus::detail
