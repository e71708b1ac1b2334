// LISTEN on a dedicated connection: how the daemon hears that another
// process (or replica) committed events. Kept out of the pool because a
// pooled connection's LISTEN would be shared, and lost on reconnect.
//
// Notifications are hints only: every user must also look on a timer, since
// one can be lost while the connection is being replaced.
#ifndef METAD_STORE_NOTIFICATION_LISTENER_H_
#define METAD_STORE_NOTIFICATION_LISTENER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace metad::store {

class NotificationListener {
 public:
  // Does not connect.
  NotificationListener(std::string url, std::string channel);
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  // Opens the connection and LISTENs. UNAVAILABLE (the database's message)
  // when it cannot; the listener stays closed.
  absl::Status Connect();
  bool connected() const { return impl_ != nullptr; }

  // Waits up to `timeout` for notifications and appends their payloads to
  // *payloads. Sets *missed when the connection was silently re-opened
  // (libpqxx does that), so notifications may have been missed. UNAVAILABLE
  // when the connection broke: it is closed, Connect again.
  absl::Status Wait(absl::Duration timeout, std::vector<std::string>* payloads,
                    bool* missed);

  void Close();

 private:
  struct Impl;
  const std::string url_;
  const std::string channel_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace metad::store

#endif  // METAD_STORE_NOTIFICATION_LISTENER_H_
