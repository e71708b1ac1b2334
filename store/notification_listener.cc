#include "store/notification_listener.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"

namespace metad::store {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel)
      : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string& payload, int) override {
    received->push_back(payload);
  }
  std::vector<std::string>* received = nullptr;
};

}  // namespace

struct NotificationListener::Impl {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;
  int backend_pid = 0;
  ~Impl() { receiver.reset(); }  // before its connection
};

NotificationListener::NotificationListener(std::string url,
                                           std::string channel)
    : url_(std::move(url)), channel_(std::move(channel)) {}

NotificationListener::~NotificationListener() = default;

absl::Status NotificationListener::Connect() {
  Close();
  auto impl = std::make_unique<Impl>();
  try {
    impl->conn = std::make_unique<pqxx::connection>(url_);
    impl->receiver = std::make_unique<Receiver>(*impl->conn, channel_);
    impl->backend_pid = impl->conn->backendpid();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot LISTEN ", channel_, ": ", e.what()));
  }
  impl_ = std::move(impl);
  return absl::OkStatus();
}

absl::Status NotificationListener::Wait(absl::Duration timeout,
                                        std::vector<std::string>* payloads,
                                        bool* missed) {
  *missed = false;
  if (impl_ == nullptr) return absl::UnavailableError("not listening");
  impl_->receiver->received = payloads;
  try {
    int64_t us = absl::ToInt64Microseconds(timeout);
    impl_->conn->await_notification(us / 1000000, us % 1000000);
    if (impl_->conn->backendpid() != impl_->backend_pid) {
      impl_->backend_pid = impl_->conn->backendpid();
      *missed = true;
    }
  } catch (const std::exception& e) {
    Close();
    return absl::UnavailableError(
        absl::StrCat("LISTEN ", channel_, " lost: ", e.what()));
  }
  impl_->receiver->received = nullptr;
  return absl::OkStatus();
}

void NotificationListener::Close() { impl_.reset(); }

}  // namespace metad::store
