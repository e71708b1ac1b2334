// OnInterrupt: runs a callback once when SIGINT or SIGTERM arrives, on a
// thread of its own (never inside the signal handler), while it lives. For
// commands that run until interrupted (metactl watch).
#ifndef METAD_CLIENTS_CPP_INTERRUPT_H_
#define METAD_CLIENTS_CPP_INTERRUPT_H_

#include <signal.h>

#include <functional>
#include <thread>

namespace metad::metactl {

class OnInterrupt {
 public:
  // Installs the handlers; the previous ones come back in the destructor.
  explicit OnInterrupt(std::function<void()> callback);
  ~OnInterrupt();
  OnInterrupt(const OnInterrupt&) = delete;
  OnInterrupt& operator=(const OnInterrupt&) = delete;

 private:
  std::function<void()> callback_;
  // The handler writes the signal number to this pipe (self-pipe): the
  // only thing it may safely do.
  int pipe_[2] = {-1, -1};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  std::thread waiter_;
};

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_INTERRUPT_H_
