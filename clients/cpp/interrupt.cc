#include "clients/cpp/interrupt.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>

namespace metad::metactl {
namespace {

// The write end of the live OnInterrupt's pipe (one at a time).
std::atomic<int> signal_fd{-1};

void Handle(int signo) {
  int saved = errno;
  int fd = signal_fd.load();
  if (fd >= 0) {
    char byte = static_cast<char>(signo);
    [[maybe_unused]] ssize_t n = write(fd, &byte, 1);
  }
  errno = saved;
}

}  // namespace

OnInterrupt::OnInterrupt(std::function<void()> callback)
    : callback_(std::move(callback)) {
  if (pipe2(pipe_, O_CLOEXEC) != 0) return;
  signal_fd.store(pipe_[1]);
  struct sigaction action {};
  action.sa_handler = Handle;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &old_int_);
  sigaction(SIGTERM, &action, &old_term_);
  waiter_ = std::thread([this] {
    char byte = 0;
    ssize_t n;
    do {
      n = read(pipe_[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    // 0 is the destructor's wake-up, not a signal.
    if (n == 1 && byte != 0) callback_();
  });
}

OnInterrupt::~OnInterrupt() {
  if (pipe_[0] < 0) return;
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  signal_fd.store(-1);
  char wake = 0;
  [[maybe_unused]] ssize_t n = write(pipe_[1], &wake, 1);
  waiter_.join();
  close(pipe_[0]);
  close(pipe_[1]);
}

}  // namespace metad::metactl
