// Turns gRPC 1.51's answer to an unparsable request into INVALID_ARGUMENT.
//
// When protobuf refuses a request (a proto3 string field holding invalid
// UTF-8, or bytes that are not the request message at all), the callback
// server never runs the handler and answers UNIMPLEMENTED with an empty
// message (grpc::internal::CallbackUnaryHandler::RunHandler): the caller
// cannot tell a broken request from a missing method. This server
// interceptor notices the failed parse (POST_RECV_MESSAGE with no message)
// and rewrites that status, before it is sent, to INVALID_ARGUMENT naming
// the field when protobuf said which one, e.g.
//   "file.source: must be valid UTF-8 (string field metad.v1.FileSpec.source;
//    the request is not a valid metad.v1.RegisterFileRequest)".
//
// Installed by daemon/app/server.cc (SetInterceptorCreators before
// BuildAndStart).
#ifndef METAD_DAEMON_RPC_MALFORMED_REQUEST_H_
#define METAD_DAEMON_RPC_MALFORMED_REQUEST_H_

#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <string>

#include "daemon/rpc/call_runner.h"

namespace metad::daemon {

class MalformedRequestInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `observer` (may be empty) is told about every call answered here, like
  // CallRunner's observer is about the calls that reach a handler.
  explicit MalformedRequestInterceptorFactory(
      std::function<void(const CallRecord&)> observer = {});

  // An interceptor for unary and server-streaming calls (gRPC parses their
  // one request before the handler); none (nullptr) for other streams.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::function<void(const CallRecord&)> observer_;
};

// The INVALID_ARGUMENT message for a request of `method` ("/pkg.Service/M")
// that protobuf could not parse; `utf8_field` is the full name of the string
// field protobuf reported as invalid UTF-8 ("" when it reported none).
// Exposed for tests.
std::string MalformedRequestMessage(const std::string& method,
                                    const std::string& utf8_field);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_MALFORMED_REQUEST_H_
