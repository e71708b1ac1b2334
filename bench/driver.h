// Keeps N operations in flight against metad through gRPC's callback API.
//
// An operation is one or more chained RPCs (StartRun then FinishRun, say);
// it reports back through `done`. Closed loop (the default): each of
// `concurrency` slots starts its next operation as soon as the previous one
// ends. Paced (rate > 0): operations start on a fixed schedule, at most
// `concurrency` in flight, and latency counts from the scheduled start, so a
// daemon that falls behind shows up in the percentiles (no coordinated
// omission).
#ifndef METAD_BENCH_DRIVER_H_
#define METAD_BENCH_DRIVER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "bench/stats.h"

namespace metad::bench {

struct DriveOptions {
  int concurrency = 32;
  absl::Duration duration = absl::Seconds(5);
  // Stop after this many operations (0: only the duration counts).
  int64_t max_ops = 0;
  // Operations per second, paced (0: closed loop).
  double rate = 0;
};

// Called with `more` = false when the operation found nothing left to do
// (e.g. the backlog is empty): its slot stops.
using Done = std::function<void(bool more)>;
// Starts one operation for `slot`; `t0` is when it was due (for latency).
using Operation =
    std::function<void(int slot, Clock::time_point t0, Done done)>;

// Runs operations until the duration or max_ops is reached (or every slot
// stopped), waits for those in flight, and returns the seconds elapsed.
double Drive(const DriveOptions& options, const Operation& op);

// Starts one unary RPC through the callback API and records it in
// `recorder` under `method`, with latency from `t0`. `start` is, e.g.,
//   [stub](auto* ctx, auto* req, auto* resp, auto cb) {
//     stub->async()->RegisterFile(ctx, req, resp, std::move(cb)); }
// `then` runs on a gRPC thread when the call ended; it must not block.
template <typename Request, typename Response, typename Start>
void Unary(Recorder* recorder, const char* method, Clock::time_point t0,
           absl::Duration deadline, Request request, Start start,
           std::function<void(const grpc::Status&, Response*)> then) {
  struct Call {
    grpc::ClientContext context;
    Request request;
    Response response;
  };
  auto* call = new Call;
  call->request = std::move(request);
  if (deadline > absl::ZeroDuration()) {
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoMicroseconds(deadline));
  }
  start(&call->context, &call->request, &call->response,
        [recorder, method, t0, call, then = std::move(then)](grpc::Status s) {
          recorder->Record(method, s, Clock::now() - t0);
          then(s, &call->response);
          delete call;
        });
}

}  // namespace metad::bench

#endif  // METAD_BENCH_DRIVER_H_
