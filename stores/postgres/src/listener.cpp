#include "cmdbus/postgres/listener.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "cmdbus/postgres/errors.hpp"

namespace cmdbus::postgres {

listener::listener(const std::string& conninfo, std::string channel) : conn_(conninfo), channel_(std::move(channel)) {
  if (channel_.empty() || !std::all_of(channel_.begin(), channel_.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
      })) {
    throw std::invalid_argument(
        fmt::format("cmdbus: a listener's channel is letters, digits and '_'; not '{}'", channel_));
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    throw std::runtime_error(fmt::format("cmdbus: cannot make an eventfd: {}", std::strerror(errno)));
  }
  try {
    conn_.exec_script(fmt::format("LISTEN \"{}\"", channel_));
  } catch (...) {
    ::close(wake_fd_);
    throw;
  }
}

listener::~listener() {
  ::close(wake_fd_);
}

void listener::interrupt() noexcept {
  const std::uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
}

std::vector<std::string> listener::wait(std::chrono::milliseconds timeout) {
  pg_conn* c = conn_.native();
  std::vector<std::string> out;
  const auto collect = [&] {
    while (PGnotify* n = PQnotifies(c)) {
      if (channel_ == n->relname) {
        out.emplace_back(n->extra != nullptr ? n->extra : "");
      }
      PQfreemem(n);
    }
  };
  collect();  // some may have come in with an earlier read
  if (!out.empty()) {
    return out;
  }
  pollfd fds[2] = {{PQsocket(c), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int ready = ::poll(fds, 2, static_cast<int>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0)));
  if (ready < 0 && errno != EINTR) {
    throw connection_lost_error(fmt::format("cmdbus: waiting for notifications from PostgreSQL at {}: {}",
                                            conn_.endpoint(), std::strerror(errno)));
  }
  if (fds[1].revents != 0) {
    std::uint64_t count = 0;
    (void)::read(wake_fd_, &count, sizeof count);
  }
  if (fds[0].revents != 0) {
    if (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK) {
      std::string why = PQerrorMessage(c);
      std::replace(why.begin(), why.end(), '\n', ' ');
      while (!why.empty() && why.back() == ' ') {
        why.pop_back();
      }
      throw connection_lost_error(fmt::format("lost the connection to PostgreSQL at {} while listening on '{}': {}",
                                              conn_.endpoint(), channel_, why));
    }
    collect();
  }
  return out;
}

}  // namespace cmdbus::postgres
