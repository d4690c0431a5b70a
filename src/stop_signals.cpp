#include "cmdbus/stop_signals.hpp"

#include <pthread.h>
#include <signal.h>

namespace cmdbus {
namespace {

sigset_t stop_set() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

stop_signals::stop_signals() {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  waiter_ = std::jthread([this] {
    const sigset_t wanted = stop_set();
    int signal = 0;
    if (sigwait(&wanted, &signal) == 0) {
      source_.request_stop();
    }
  });
}

stop_signals::~stop_signals() {
  if (!source_.stop_requested()) {
    // The waiter still sits in sigwait: wake it with a SIGTERM of our own, addressed to it alone. It has SIGTERM
    // blocked and takes it from sigwait: nothing is terminated.
    pthread_kill(waiter_.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread): see above
  }
  waiter_.join();
}

}  // namespace cmdbus
